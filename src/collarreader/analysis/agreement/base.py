"""Shared parts of the agreement statistics: choices, result types, input checks, bootstrap."""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from collarreader.errors import AnalysisError

FloatArray = npt.NDArray[np.float64]
ConfidenceInterval = tuple[float, float]

#: Bootstrap resamples used by default for Fleiss' kappa and Krippendorff's alpha.
DEFAULT_N_BOOT = 1000
#: Seed of the bootstrap: results are reproducible run to run.
DEFAULT_SEED = 20_240_601

# Krippendorff's package builds (units × values × values) arrays; above this many elements
# the memory use stops being reasonable, so ask the caller to round the values instead.
_MAX_ALPHA_CELLS = 20_000_000


# ---------------------------------------------------------------- choices


class IccForm(StrEnum):
    """ICC forms, in McGraw & Wong's (1996) naming.

    Shrout & Fleiss (1979) equivalents: ``1,1`` = ICC(1,1), ``A,1`` = ICC(2,1),
    ``C,1`` = ICC(3,1), ``1,k`` = ICC(1,k), ``A,k`` = ICC(2,k), ``C,k`` = ICC(3,k).
    """

    ONE_WAY_SINGLE = "1,1"
    AGREEMENT_SINGLE = "A,1"
    CONSISTENCY_SINGLE = "C,1"
    ONE_WAY_AVERAGE = "1,k"
    AGREEMENT_AVERAGE = "A,k"
    CONSISTENCY_AVERAGE = "C,k"


class KappaWeights(StrEnum):
    """Disagreement weights for weighted kappa (categories must be ordered)."""

    LINEAR = "linear"  # Cicchetti–Allison: |i − j| / (K − 1)
    QUADRATIC = "quadratic"  # Fleiss–Cohen: (i − j)² / (K − 1)²


class AlphaLevel(StrEnum):
    """Level of measurement for Krippendorff's alpha."""

    NOMINAL = "nominal"
    ORDINAL = "ordinal"
    INTERVAL = "interval"
    RATIO = "ratio"


def _choice(enum: type[StrEnum], value: str, what: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(f'"{member.value}"' for member in enum)
        raise AnalysisError(f"Unknown {what} {value!r}: use one of {allowed}.") from None


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class IccResult:
    """Intraclass correlation coefficient with its 95 % confidence interval.

    Attributes
    ----------
    value : ICC estimate, or None when undefined (see ``note``).
    ci : 95 % confidence interval (lower, upper) — the F-based intervals of Shrout & Fleiss
        (1979) / McGraw & Wong (1996), as pingouin computes them — or None.
    n : targets used (rows without a missing rating).
    k : raters (columns).
    form : the ICC form.
    f_value, df1, df2, p_value : F test of the form's null hypothesis ICC = 0 (for ``1,*``
        the one-way F = MSR/MSW, otherwise MSR/MSE); None when not finite.
    n_dropped : targets dropped because a rating was missing.
    note : why ``value`` or ``ci`` is None, or other caveats; empty when all is well.
    """

    value: float | None
    ci: ConfidenceInterval | None
    n: int
    k: int
    form: IccForm
    f_value: float | None
    df1: int
    df2: int
    p_value: float | None
    n_dropped: int = 0
    note: str = ""


@dataclass(frozen=True)
class KappaResult:
    """Cohen's kappa (unweighted or weighted) for two raters.

    Attributes
    ----------
    value : kappa, or None when undefined (chance agreement 1: see ``note``).
    ci : asymptotic 95 % confidence interval, value ± 1.96 · ``se`` (not clipped to
        [−1, 1], as SAS prints it), or None.
    se : asymptotic standard error (Fleiss, Cohen & Everitt 1969), or None.
    n : pairs of labels used.
    weights : None for unweighted kappa, else the weighting scheme.
    categories : the category order used (matters for weighted kappa).
    observed_agreement : proportion of pairs with identical labels.
    n_dropped : pairs dropped because a label was missing.
    note : why ``value`` or ``ci`` is None; empty when all is well.
    """

    value: float | None
    ci: ConfidenceInterval | None
    se: float | None
    n: int
    weights: KappaWeights | None
    categories: tuple[Hashable, ...]
    observed_agreement: float
    n_dropped: int = 0
    note: str = ""


@dataclass(frozen=True)
class FleissKappaResult:
    """Fleiss' kappa for a fixed number of raters per subject.

    Attributes
    ----------
    value : kappa, or None when undefined (every rating in one category).
    ci : 95 % percentile bootstrap interval over subjects (``n_boot`` resamples, seeded), or
        None. Fleiss' (1971) standard error is valid only under κ = 0, for testing, so it is
        not used for an interval.
    n : subjects.
    n_raters : ratings per subject.
    n_categories : categories (columns of the counts).
    n_boot : bootstrap resamples drawn (0 when no interval was attempted).
    note : why ``value`` or ``ci`` is None, or how many resamples were undefined.
    """

    value: float | None
    ci: ConfidenceInterval | None
    n: int
    n_raters: int
    n_categories: int
    n_boot: int
    note: str = ""


@dataclass(frozen=True)
class AlphaResult:
    """Krippendorff's alpha.

    Attributes
    ----------
    value : alpha, or None when undefined (every pairable value identical).
    ci : 95 % percentile bootstrap interval over units (``n_boot`` resamples, seeded), or None.
    n_units : pairable units (rated by at least two raters): the units that carry information
        and the ones resampled.
    n_values : pairable values (ratings in those units).
    level : the level of measurement.
    n_boot : bootstrap resamples drawn.
    note : why ``value`` or ``ci`` is None, or how many resamples were undefined.
    """

    value: float | None
    ci: ConfidenceInterval | None
    n_units: int
    n_values: int
    level: AlphaLevel
    n_boot: int
    note: str = ""


@dataclass(frozen=True)
class ProportionalBias:
    """Proportional bias: the differences regressed on the means (Bland & Altman 1999, §3.2).

    Attributes
    ----------
    slope, intercept : ordinary least squares fit difference = intercept + slope · mean.
    slope_ci : 95 % confidence interval of the slope (Student's t, n − 2 df).
    p_value : two-sided test of slope = 0.
    detected : True when p < 0.05: then the regression-based limits below describe agreement
        better than the constant ones.
    abs_intercept, abs_slope : fit |residual| = abs_intercept + abs_slope · mean; the
        regression-based 95 % limits are (intercept + slope · m) ∓ 1.96 · √(π/2) ·
        (abs_intercept + abs_slope · m) at mean m (Bland & Altman 1999, eq. 3.2: the mean
        absolute residual times √(π/2) estimates the SD of normal residuals).
    """

    slope: float
    intercept: float
    slope_ci: ConfidenceInterval
    p_value: float
    detected: bool
    abs_intercept: float
    abs_slope: float

    def limits_at(self, mean: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Regression-based bias, lower and upper limit at the given means (same unit)."""
        at = np.asarray(mean, dtype=np.float64)
        centre = self.intercept + self.slope * at
        spread = 1.96 * math.sqrt(math.pi / 2.0) * (self.abs_intercept + self.abs_slope * at)
        return centre, centre - spread, centre + spread


@dataclass(frozen=True)
class BlandAltmanResult:
    """Bland–Altman analysis of two paired measurement series (differences ``a − b``).

    Attributes
    ----------
    bias : mean difference a − b (in the measurements' unit).
    sd : standard deviation of the differences (n − 1 denominator).
    lower, upper : 95 % limits of agreement, bias ∓ 1.96 · sd.
    bias_ci : 95 % confidence interval of the bias, bias ± t · sd/√n (Student's t, n − 1 df).
    lower_ci, upper_ci : exact 95 % confidence intervals of the limits (Carkeet 2015, *Optom
        Vis Sci* 92:e71–e80, limits considered individually): bias ± sd · K/√n with K the
        2.5 % and 97.5 % quantiles of the non-central t on n − 1 degrees of freedom with
        non-centrality 1.96 · √n (one-sided normal tolerance factors). Not symmetric about the
        limit; wider than the approximate intervals below ~80 pairs.
    lower_ci_approx, upper_ci_approx : Bland & Altman's (1986, 1999) approximate intervals,
        limit ± t · sd·√(3/n), kept to show how far off they are.
    sdd : smallest detectable difference, 1.96 · sd (the "smallest real difference",
        1.96 · √2 · SEM with SEM = sd/√2: Beckerman et al. 2001, Qual Life Res 10:571–578).
    n : pairs used.
    n_dropped : pairs dropped because a value was missing.
    differences : a − b per pair (read-only), for plotting.
    means : (a + b)/2 per pair (read-only), for plotting.
    proportional : test of proportional bias (differences regressed on means) and the
        regression-based limits; None with fewer than 3 pairs or means that do not vary.
    """

    bias: float
    sd: float
    lower: float
    upper: float
    bias_ci: ConfidenceInterval
    lower_ci: ConfidenceInterval
    upper_ci: ConfidenceInterval
    sdd: float
    n: int
    n_dropped: int
    differences: FloatArray = field(repr=False, compare=False)
    means: FloatArray = field(repr=False, compare=False)
    lower_ci_approx: ConfidenceInterval = (math.nan, math.nan)
    upper_ci_approx: ConfidenceInterval = (math.nan, math.nan)
    proportional: ProportionalBias | None = None

    @property
    def value(self) -> float:
        """The bias, so every result has a ``.value``."""
        return self.bias


# ---------------------------------------------------------------- helpers


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run the bootstrap's matrix products on one BLAS thread.

    They are small (resamples × units); a second OpenBLAS thread buys nothing and, on a busy
    2-core machine, spins waiting for a core: the analysis of a 500-case study took 1.7 times
    the CPU time with two threads. ``threadpoolctl`` (scikit-learn's) restores the setting.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence floating-point warnings and library chatter; undefined results are handled."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _finite_or_none(value: float) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _numeric_matrix(data: npt.ArrayLike, what: str, shape_doc: str) -> FloatArray:
    try:
        matrix = np.array(data, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise AnalysisError(
            f"{what} must be numbers ({shape_doc}, NaN for missing): {error}."
        ) from None
    if matrix.ndim != 2:
        raise AnalysisError(f"{what} must be a 2-D array ({shape_doc}); got shape {matrix.shape}.")
    if np.isinf(matrix).any():
        raise AnalysisError(f"{what} contain infinite values; use NaN for missing ratings.")
    return matrix


def _is_missing(label: object) -> bool:
    if label is None:
        return True
    try:
        return bool(isinstance(label, float | np.floating) and math.isnan(float(label)))
    except (TypeError, ValueError):
        return False


def _percentile_ci(samples: FloatArray, n_boot: int) -> tuple[ConfidenceInterval | None, str]:
    finite = samples[np.isfinite(samples)]
    undefined = n_boot - finite.size
    if finite.size < max(20, n_boot // 2):
        return None, (
            f"No bootstrap interval: the statistic was undefined in {undefined} of {n_boot} "
            "resamples (too little variation in the data)."
        )
    low, high = np.quantile(finite, [0.025, 0.975])
    note = ""
    if undefined:
        note = (
            f"Bootstrap interval from the {finite.size} of {n_boot} resamples in which the "
            "statistic was defined."
        )
    return (float(low), float(high)), note


def _join(*notes: str) -> str:
    return " ".join(note for note in notes if note)


def _bootstrap_weights(n_items: int, n_boot: int, seed: int) -> FloatArray:
    """How often each item is drawn in each of ``n_boot`` resamples with replacement (rows).

    Each row is a sample of ``n_items`` uniform draws with replacement, counted with
    ``bincount``: multinomial(n, 1/n) counts, the same distribution as
    ``Generator.multinomial`` gives but about 2.5 times faster for hundreds of items.
    Seeded, so intervals are reproducible run to run.
    """
    rng = np.random.default_rng(seed)
    # 32-bit indices when they fit: half the memory traffic of the default 64-bit draws.
    dtype = np.int32 if n_boot * n_items < 2**31 else np.int64
    picks = rng.integers(0, n_items, size=(n_boot, n_items), dtype=dtype)
    # Resample b's draws land in bins b·n … b·n + n − 1, so one bincount counts them all.
    offsets: npt.NDArray[np.integer[Any]] = np.arange(0, n_boot * n_items, n_items, dtype=dtype)
    counts = np.bincount((picks + offsets[:, None]).ravel(), minlength=n_boot * n_items)
    return counts.reshape(n_boot, n_items).astype(np.float64)


def _categories_for(
    labels: Sequence[Hashable], categories: Sequence[Hashable] | None
) -> tuple[Hashable, ...]:
    if categories is not None:
        order = tuple(categories)
        known = set(order)
        if len(known) != len(order):
            raise AnalysisError(f"categories must not repeat a label; got {list(order)}.")
        unknown = sorted({repr(label) for label in labels if label not in known})
        if unknown:
            raise AnalysisError(
                f"Labels {', '.join(unknown)} are not among categories {list(order)}; add them "
                "to categories= or correct the data."
            )
        return order
    try:
        return tuple(sorted(set(labels)))  # type: ignore[type-var]
    except TypeError:
        raise AnalysisError(
            "Labels mix types that cannot be sorted (e.g. numbers and text); pass "
            "categories= in the intended order."
        ) from None


def _is_plain_number(label: object) -> bool:
    return (
        isinstance(label, int | float | np.integer | np.floating)
        and not isinstance(label, bool)
        and math.isfinite(float(label))
    )
