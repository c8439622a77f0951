"""Bland–Altman bias and limits of agreement with their confidence intervals."""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt

from collarreader.analysis.agreement.base import BlandAltmanResult
from collarreader.errors import AnalysisError

# ---------------------------------------------------------------- Bland–Altman


@functools.lru_cache(maxsize=1024)
def _t_975(degrees_of_freedom: int) -> float:
    """The 0.975 quantile of Student's t (a study asks for the same few sample sizes often)."""
    from scipy import stats

    return float(stats.t.ppf(0.975, degrees_of_freedom))


def bland_altman(a: npt.ArrayLike, b: npt.ArrayLike) -> BlandAltmanResult:
    """Bland–Altman bias and 95 % limits of agreement, with their confidence intervals.

    Bland & Altman (1986), *Lancet* 327:307–310, and (1999), *Stat Methods Med Res* 8:135–160:
    differences d = a − b, bias = mean(d), limits = bias ∓ 1.96 · SD(d); standard errors
    SD/√n for the bias and ≈ SD·√(3/n) for each limit, intervals with Student's t on n − 1
    degrees of freedom.

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
    z = 1.96
    t = _t_975(n - 1)
    lower, upper = bias - z * sd, bias + z * sd
    se_bias = sd / math.sqrt(n)
    se_limit = sd * math.sqrt(3.0 / n)
    return BlandAltmanResult(
        bias=bias,
        sd=sd,
        lower=lower,
        upper=upper,
        bias_ci=(bias - t * se_bias, bias + t * se_bias),
        lower_ci=(lower - t * se_limit, lower + t * se_limit),
        upper_ci=(upper - t * se_limit, upper + t * se_limit),
        sdd=z * sd,
        n=n,
        n_dropped=n_dropped,
        differences=differences,
        means=means,
    )
