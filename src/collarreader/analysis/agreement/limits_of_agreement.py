"""Bland–Altman bias and limits of agreement with their confidence intervals."""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt

from collarreader.analysis.agreement.base import (
    BlandAltmanResult,
    ConfidenceInterval,
    FloatArray,
    ProportionalBias,
)
from collarreader.errors import AnalysisError

# ---------------------------------------------------------------- Bland–Altman


@functools.lru_cache(maxsize=1024)
def _t_975(degrees_of_freedom: int) -> float:
    """The 0.975 quantile of Student's t (a study asks for the same few sample sizes often)."""
    from scipy import stats

    return float(stats.t.ppf(0.975, degrees_of_freedom))


#: Bland & Altman's conventional multiplier of the SD for the 95 % limits.
LOA_Z = 1.96


@functools.lru_cache(maxsize=1024)
def tolerance_factors(n: int, z: float = LOA_Z, confidence: float = 0.95) -> tuple[float, float]:
    """Exact factors K for a confidence interval of the limit bias + z · sd (Carkeet 2015).

    The limit estimates a normal percentile; ``(limit − bias)·√n / sd`` follows a non-central t
    with n − 1 degrees of freedom and non-centrality z·√n, so the interval of the upper limit is
    bias + sd · (K_low, K_high) with K the (1 ∓ confidence)/2 quantiles of that distribution
    divided by √n — the one-sided normal tolerance factors (Odeh & Owen 1980; Natrella 1963,
    Table A-7). The lower limit is the mirror image, bias − sd · (K_high, K_low).

    Parameters
    ----------
    n : pairs (≥ 2).
    z : the limit's multiplier of the SD (1.96 for 95 % limits of agreement).
    confidence : coverage of the interval (0.95).
    """
    from scipy import stats

    root_n = math.sqrt(n)
    tail = (1.0 - confidence) / 2.0
    low, high = stats.nct.ppf([tail, 1.0 - tail], n - 1, z * root_n)
    return float(low) / root_n, float(high) / root_n


def proportional_bias(means: FloatArray, differences: FloatArray) -> ProportionalBias | None:
    """Regress differences on means; None when impossible or meaningless.

    None with fewer than 3 pairs, constant means, or differences exactly on a line.

    Parameters
    ----------
    means, differences : 1-D float arrays of the pairs' means (a + b)/2 and differences a − b.
    """
    from scipy import stats

    n = means.size
    if n < 3 or float(np.ptp(means)) == 0.0:
        return None
    # Least squares in closed form (scipy.stats.linregress's figures, checked in the tests):
    # a study calls this for every reader pair, zone and time point, and linregress's setup
    # cost more than the arithmetic.
    centred = means - means.mean()
    sxx = float(centred @ centred)
    slope = float(centred @ (differences - differences.mean())) / sxx
    intercept = float(differences.mean()) - slope * float(means.mean())
    residuals = differences - (intercept + slope * means)
    scale = max(float(np.abs(differences).max()), float(np.abs(means).max()), 1e-300)
    if float(np.abs(residuals).max()) <= 1e-9 * scale:
        # Differences exactly on a line — in reading studies mostly one reader scoring 0 where
        # another measured (d = −2·mean): a line with no scatter has no limits to regress, and
        # its p of ~1e-40 would flag an artefact of zero-inflated data as proportional bias.
        return None
    slope_se = math.sqrt(float(residuals @ residuals) / (n - 2) / sxx)
    p_value = float(2.0 * stats.t.sf(abs(slope / slope_se), n - 2))
    t = _t_975(n - 2)
    absolute = np.abs(residuals)
    abs_slope = float(centred @ (absolute - absolute.mean())) / sxx
    abs_intercept = float(absolute.mean()) - abs_slope * float(means.mean())
    slope_ci: ConfidenceInterval = (slope - t * slope_se, slope + t * slope_se)
    return ProportionalBias(
        slope=slope,
        intercept=intercept,
        slope_ci=slope_ci,
        p_value=p_value,
        detected=p_value < 0.05,
        abs_intercept=abs_intercept,
        abs_slope=abs_slope,
    )


def bland_altman(a: npt.ArrayLike, b: npt.ArrayLike) -> BlandAltmanResult:
    """Bland–Altman bias and 95 % limits of agreement, with their confidence intervals.

    Bland & Altman (1986), *Lancet* 327:307–310, and (1999), *Stat Methods Med Res* 8:135–160:
    differences d = a − b, bias = mean(d), limits = bias ∓ 1.96 · SD(d); the bias's interval
    with Student's t on n − 1 degrees of freedom; the limits' intervals exact (Carkeet 2015,
    :func:`tolerance_factors`), the approximate ≈ SD·√(3/n) ones kept beside them; and the
    test for proportional bias with regression-based limits (Bland & Altman 1999, §3.2).

    Parameters
    ----------
    a, b : 1-D array-likes of numbers, same length, same unit
        Paired measurements (e.g. two readers on the same cases); NaN marks a missing value
        and drops the pair.

    Returns
    -------
    BlandAltmanResult
        Identical series give bias 0, SD 0 and zero-width intervals (a defined answer).

    Raises
    ------
    AnalysisError
        If the inputs are not 1-D numbers of equal length, contain infinities, or fewer than
        2 complete pairs remain.
    """
    try:
        first = np.array(a, dtype=np.float64)
        second = np.array(b, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise AnalysisError(f"Bland–Altman needs numbers: {error}.") from None
    if first.ndim != 1 or second.ndim != 1:
        raise AnalysisError(
            f"Bland–Altman needs two 1-D series; got shapes {first.shape} and {second.shape}."
        )
    if first.shape != second.shape:
        raise AnalysisError(
            f"Bland–Altman needs paired series of the same length; got {first.size} and "
            f"{second.size}."
        )
    if np.isinf(first).any() or np.isinf(second).any():
        raise AnalysisError("Bland–Altman input contains infinite values; use NaN for missing.")
    complete = ~(np.isnan(first) | np.isnan(second))
    n = int(complete.sum())
    n_dropped = first.size - n
    if n < 2:
        raise AnalysisError(
            f"Bland–Altman needs at least 2 complete pairs; {n} remain after dropping "
            f"{n_dropped} with a missing value."
        )
    differences = first[complete] - second[complete]
    means = (first[complete] + second[complete]) / 2.0
    differences.setflags(write=False)
    means.setflags(write=False)
    bias = float(differences.mean())
    sd = float(differences.std(ddof=1))
    # Bland & Altman's conventional 1.96, so limits match published analyses digit for digit.
    z = LOA_Z
    t = _t_975(n - 1)
    lower, upper = bias - z * sd, bias + z * sd
    se_bias = sd / math.sqrt(n)
    se_limit = sd * math.sqrt(3.0 / n)
    k_low, k_high = tolerance_factors(n, z)
    return BlandAltmanResult(
        bias=bias,
        sd=sd,
        lower=lower,
        upper=upper,
        bias_ci=(bias - t * se_bias, bias + t * se_bias),
        lower_ci=(bias - sd * k_high, bias - sd * k_low),
        upper_ci=(bias + sd * k_low, bias + sd * k_high),
        sdd=z * sd,
        n=n,
        n_dropped=n_dropped,
        differences=differences,
        means=means,
        lower_ci_approx=(lower - t * se_limit, lower + t * se_limit),
        upper_ci_approx=(upper - t * se_limit, upper + t * se_limit),
        proportional=proportional_bias(means, differences),
    )
