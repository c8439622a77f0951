"""Agreement statistics: ICC, Cohen's and Fleiss' kappa, Krippendorff's alpha, Bland–Altman.

Thin, checked wrappers over well-kept libraries (DESIGN §8): pingouin for the ICC,
statsmodels (and scikit-learn in the tests) for the kappas, the ``krippendorff`` package for
alpha. What is written here by hand is input checking, the Bland–Altman arithmetic (a mean
and a standard deviation), two vectorised bootstrap engines whose point estimate is checked
against the libraries in the tests, and two numeric fast paths that a study-sized report
needs (DESIGN §10: 10 readers × 500 cases call the ICC hundreds and kappa thousands of times,
and the libraries' per-call setup cost more than the statistics):

- :func:`icc` computes pingouin's figures in closed form from the complete-case matrix: the
  two-way ANOVA mean squares (Shrout & Fleiss 1979, Table 2), the ICC formulas of McGraw &
  Wong (1996, Table 4) and the F-based intervals of Shrout & Fleiss (1979, eqs. 6–8) and
  McGraw & Wong (1996, Table 7, Satterthwaite's degrees of freedom for the absolute-agreement
  forms), in the order ``pingouin.intraclass_corr`` (0.7) evaluates them. It is used only
  where that arithmetic is well conditioned (residual and between-target sums of squares at
  least 1e-6 of the total); anything else — near-exact agreement — goes to pingouin. The tests
  prove value, both interval bounds, F and p equal to pingouin to 1e-9 on hypothesis-generated
  matrices of many shapes, for all six forms; pingouin stays the reference.
- :func:`cohen_kappa` tabulates numeric labels with numpy and evaluates statsmodels'
  ``cohens_kappa`` formulas (kappa and the Fleiss–Cohen–Everitt variance, unweighted, linear,
  quadratic) directly; the tests prove both equal to statsmodels on generated tables, and the
  numeric tabulation equal to the label-by-label one.

Bootstrap resamples are drawn as uniform indices counted with ``bincount`` (multinomial
counts, as ``Generator.multinomial`` gives, in a third of the time), seeded, so intervals are
reproducible run to run.

Policy for awkward data, the same for every statistic:

- Invalid input raises :class:`~collarreader.errors.AnalysisError` with a message saying what
  to fix: wrong shape, mismatched lengths, unknown form/weights/level, labels outside the
  given categories, fewer than 2 targets/subjects/units after dropping missing values, a
  single rater, nothing left after dropping missing values.
- Valid input for which the statistic is mathematically undefined (all ratings identical, a
  single category used by everybody: chance agreement is 1, so kappa is 0/0) gives a result
  with ``value=None`` and a ``note`` saying why. Likewise ``ci=None`` with a note when an
  interval cannot be formed. No NaN is ever returned and no RuntimeWarning escapes.

Every result is a frozen dataclass; ``n`` counts what was actually used, ``n_dropped`` what
was dropped for missing values.
"""

from __future__ import annotations

import functools
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

__all__ = [
    "AlphaLevel",
    "AlphaResult",
    "BlandAltmanResult",
    "FleissKappaResult",
    "IccForm",
    "IccResult",
    "KappaResult",
    "KappaWeights",
    "bland_altman",
    "cohen_kappa",
    "fleiss_kappa",
    "icc",
    "krippendorff_alpha",
]

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
class BlandAltmanResult:
    """Bland–Altman analysis of two paired measurement series (differences ``a − b``).

    Attributes
    ----------
    bias : mean difference a − b (in the measurements' unit).
    sd : standard deviation of the differences (n − 1 denominator).
    lower, upper : 95 % limits of agreement, bias ∓ 1.96 · sd.
    bias_ci, lower_ci, upper_ci : 95 % confidence intervals (Bland & Altman 1986, 1999):
        bias ± t · sd/√n and limit ± t · sd·√(3/n), t the 0.975 quantile of Student's t with
        n − 1 degrees of freedom.
    sdd : smallest detectable difference, 1.96 · sd (the "smallest real difference",
        1.96 · √2 · SEM with SEM = sd/√2: Beckerman et al. 2001, Qual Life Res 10:571–578).
    n : pairs used.
    n_dropped : pairs dropped because a value was missing.
    differences : a − b per pair (read-only), for plotting.
    means : (a + b)/2 per pair (read-only), for plotting.
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


# ---------------------------------------------------------------- ICC

_PINGOUIN_TYPE = {
    IccForm.ONE_WAY_SINGLE: "ICC(1,1)",
    IccForm.AGREEMENT_SINGLE: "ICC(A,1)",
    IccForm.CONSISTENCY_SINGLE: "ICC(C,1)",
    IccForm.ONE_WAY_AVERAGE: "ICC(1,k)",
    IccForm.AGREEMENT_AVERAGE: "ICC(A,k)",
    IccForm.CONSISTENCY_AVERAGE: "ICC(C,k)",
}

#: Fewest ratings (targets × raters) for an ICC: pingouin's two-way ANOVA refuses fewer.
_MIN_ICC_RATINGS = 5

# The closed-form path below is used only when the target and residual sums of squares are
# both at least this fraction of the total: then the rounding of the subtraction that gives
# the residual (≈ 1e-16 of the total) moves F, the ICC and its bounds by far less than 1e-9.
# Anything closer to exact agreement (or to no between-target variance) goes to pingouin.
_ICC_CONDITION = 1e-6
_CI_LEVEL = 0.95


@dataclass(frozen=True)
class _IccFigures:
    """One row of pingouin's ``intraclass_corr`` table, as plain floats."""

    value: float
    f_value: float
    df1: int
    df2: int
    p_value: float
    low: float
    high: float


@contextmanager
def _pingouin_full_precision() -> Iterator[None]:
    # pingouin rounds its CI95 column to 2 decimals by default (pingouin.options); the
    # report needs full precision, so switch the documented options off for the call.
    import pingouin  # type: ignore[import-untyped]

    saved = dict(pingouin.options)
    for key in [key for key in pingouin.options if str(key).startswith("round.")]:
        del pingouin.options[key]
    pingouin.options["round"] = None
    try:
        yield
    finally:
        pingouin.options.clear()
        pingouin.options.update(saved)


def _icc_pingouin(used: FloatArray, form: IccForm) -> _IccFigures:
    """The reference path: :func:`pingouin.intraclass_corr` on complete data."""
    import pandas as pd  # type: ignore[import-untyped]
    import pingouin

    n, k = used.shape
    long = pd.DataFrame(
        {
            "target": np.repeat(np.arange(n), k),
            "rater": np.tile(np.arange(k), n),
            "rating": used.ravel(),
        }
    )
    with _quiet(), _pingouin_full_precision():
        table = pingouin.intraclass_corr(
            data=long, targets="target", raters="rater", ratings="rating"
        ).set_index("Type")
    row = table.loc[_PINGOUIN_TYPE[form]]
    low, high = (float(bound) for bound in row["CI95"])
    return _IccFigures(
        value=float(row["ICC"]),
        f_value=float(row["F"]),
        df1=int(row["df1"]),
        df2=int(row["df2"]),
        p_value=float(row["pval"]),
        low=low,
        high=high,
    )


def _icc_closed_form(used: FloatArray, form: IccForm) -> _IccFigures | None:
    """The same figures as :func:`_icc_pingouin`, from the mean squares in closed form.

    Mean squares of the two-way ANOVA without replication (Shrout & Fleiss 1979, Table 2:
    BMS, JMS, EMS and the one-way WMS), the ICC formulas of McGraw & Wong (1996) Table 4, and
    the F-based 95 % intervals of Shrout & Fleiss (1979) eqs. 6–8 and McGraw & Wong (1996)
    Table 7, with Satterthwaite's degrees of freedom for the absolute-agreement forms — the
    arithmetic of ``pingouin.intraclass_corr`` (pingouin 0.7, ``reliability.py``) step for
    step, with :mod:`scipy.stats` for the F distribution. Returns None when the residual or
    between-target sum of squares is too small a fraction of the total for this arithmetic
    to match pingouin to 1e-9 (see ``_ICC_CONDITION``); the caller then uses pingouin.
    """
    from scipy import stats

    n, k = used.shape
    grand = float(used.mean())
    ss_total = float(((used - grand) ** 2).sum())
    ss_targets = k * float(((used.mean(axis=1) - grand) ** 2).sum())
    ss_raters = n * float(((used.mean(axis=0) - grand) ** 2).sum())
    ss_error = ss_total - (ss_targets + ss_raters)
    floor = _ICC_CONDITION * ss_total
    if not (ss_total > 0 and ss_targets > floor and ss_error > floor):
        return None
    df1 = n - 1
    df_one_way = n * (k - 1)
    df_two_way = (n - 1) * (k - 1)
    msb = ss_targets / df1  # between targets (BMS)
    msj = ss_raters / (k - 1)  # between raters (JMS)
    mse = ss_error / df_two_way  # residual (EMS)
    msw = (ss_raters + ss_error) / df_one_way  # within targets, one-way (WMS)
    tail = 1.0 - (1.0 - _CI_LEVEL) / 2.0
    f_dist = stats.f
    with _quiet():
        if form in (IccForm.ONE_WAY_SINGLE, IccForm.ONE_WAY_AVERAGE):
            f_value = msb / msw
            df2 = df_one_way
            lower_f = f_value / float(f_dist.ppf(tail, df1, df2))
            upper_f = f_value * float(f_dist.ppf(tail, df2, df1))
            if form is IccForm.ONE_WAY_SINGLE:
                value = (msb - msw) / (msb + (k - 1) * msw)
                low = (lower_f - 1) / (lower_f + (k - 1))
                high = (upper_f - 1) / (upper_f + (k - 1))
            else:
                value = (msb - msw) / msb
                low, high = 1 - 1 / lower_f, 1 - 1 / upper_f
        elif form in (IccForm.CONSISTENCY_SINGLE, IccForm.CONSISTENCY_AVERAGE):
            f_value = msb / mse
            df2 = df_two_way
            lower_f = f_value / float(f_dist.ppf(tail, df1, df2))
            upper_f = f_value * float(f_dist.ppf(tail, df2, df1))
            if form is IccForm.CONSISTENCY_SINGLE:
                value = (msb - mse) / (msb + (k - 1) * mse)
                low = (lower_f - 1) / (lower_f + (k - 1))
                high = (upper_f - 1) / (upper_f + (k - 1))
            else:
                value = (msb - mse) / msb
                low, high = 1 - 1 / lower_f, 1 - 1 / upper_f
        else:
            f_value = msb / mse
            df2 = df_two_way
            single = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
            # McGraw & Wong (1996) Table 7, case 2A: Satterthwaite's degrees of freedom.
            f_raters = msj / mse
            v_num = (
                df_two_way * (k * single * f_raters + n * (1 + (k - 1) * single) - k * single) ** 2
            )
            v_den = (
                df1 * k**2 * single**2 * f_raters**2
                + (n * (1 + (k - 1) * single) - k * single) ** 2
            )
            v = v_num / v_den
            upper_crit = float(f_dist.ppf(tail, n - 1, v))
            lower_crit = float(f_dist.ppf(tail, v, n - 1))
            spread = k * msj + (k * n - k - n) * mse
            low = n * (msb - upper_crit * mse) / (upper_crit * spread + n * msb)
            high = n * (lower_crit * msb - mse) / (spread + n * lower_crit * msb)
            if form is IccForm.AGREEMENT_SINGLE:
                value = single
            else:
                value = (msb - mse) / (msb + (msj - mse) / n)
                low, high = low * k / (1 + low * (k - 1)), high * k / (1 + high * (k - 1))
        p_value = float(f_dist.sf(f_value, df1, df2))
    return _IccFigures(
        value=float(value),
        f_value=float(f_value),
        df1=df1,
        df2=df2,
        p_value=p_value,
        low=float(low),
        high=float(high),
    )


def icc(ratings: npt.ArrayLike, form: IccForm | str = IccForm.AGREEMENT_SINGLE) -> IccResult:
    """Intraclass correlation coefficient with its 95 % confidence interval.

    The figures of :func:`pingouin.intraclass_corr` (two-way ANOVA mean squares; the F-based
    intervals of Shrout & Fleiss 1979 / McGraw & Wong 1996, with Satterthwaite's degrees of
    freedom for the absolute-agreement forms — checked against R ``psych::ICC`` in pingouin's
    own tests and, here, against Shrout & Fleiss's worked example). For speed they are
    computed in closed form from the complete-case matrix, the same formulas in the same order
    (see the module docstring; proven equal to pingouin to 1e-9 in the tests); data too close
    to exact agreement for that arithmetic go through pingouin itself.

    Parameters
    ----------
    ratings : (n_targets, k_raters) array-like of numbers
        One row per target (case), one column per rater; NaN marks a missing rating. Targets
        with any missing rating are dropped (listwise, as the ANOVA needs balanced data) and
        counted in ``n_dropped``.
    form : ``"1,1"``, ``"A,1"`` (default), ``"C,1"``, ``"1,k"``, ``"A,k"`` or ``"C,k"``
        McGraw & Wong's names; see :class:`IccForm` for Shrout & Fleiss's.

    Returns
    -------
    IccResult
        ``value`` is None when the ICC is 0/0 — every rating identical, or (consistency forms)
        no variation left once rater means are removed. ``ci`` is None when the residual mean
        square is zero (raters agree exactly up to a shift), because the F ratio is then
        infinite.

    Raises
    ------
    AnalysisError
        If the shape is wrong, ``form`` is unknown, fewer than 2 raters are given, fewer than
        2 targets remain after dropping missing ratings, or fewer than
        5 ratings remain (e.g. 2 targets × 2 raters).
    """
    chosen: IccForm = _choice(IccForm, str(form), "ICC form")
    matrix = _numeric_matrix(ratings, "ICC ratings", "targets × raters")
    n_targets, k = matrix.shape
    if k < 2:
        raise AnalysisError(
            f"ICC needs at least 2 raters (columns); got {k}. Pass ratings as targets × raters."
        )
    complete = ~np.isnan(matrix).any(axis=1)
    used = matrix[complete]
    n = used.shape[0]
    n_dropped = n_targets - n
    if n == 0:
        raise AnalysisError(
            f"ICC: all {n_targets} targets have a missing rating; no complete row to analyse."
        )
    if n < 2:
        raise AnalysisError(
            f"ICC needs at least 2 targets rated by every rater; {n} remain after dropping "
            f"{n_dropped} with missing ratings."
        )
    one_way = chosen in (IccForm.ONE_WAY_SINGLE, IccForm.ONE_WAY_AVERAGE)
    df1 = n - 1
    df2 = n * (k - 1) if one_way else (n - 1) * (k - 1)
    if np.ptp(used) == 0:
        return IccResult(
            value=None,
            ci=None,
            n=n,
            k=k,
            form=chosen,
            f_value=None,
            df1=df1,
            df2=df2,
            p_value=None,
            n_dropped=n_dropped,
            note="ICC undefined: every rating is identical, so there is no variance to share.",
        )
    if n * k < _MIN_ICC_RATINGS:
        raise AnalysisError(
            f"ICC needs at least {_MIN_ICC_RATINGS} ratings; {n} complete targets × {k} raters "
            "is too few. Add targets (cases) rated by every rater."
        )

    figures = _icc_closed_form(used, chosen) or _icc_pingouin(used, chosen)
    value = _finite_or_none(figures.value)
    low, high = figures.low, figures.high
    notes: list[str] = []
    ci: ConfidenceInterval | None = None
    if value is None:
        notes.append(
            "ICC undefined (0/0): no variation between targets or residual variation left "
            "for this form once rater means are removed."
        )
    elif math.isfinite(low) and math.isfinite(high):
        ci = (low, high)
    elif not math.isfinite(figures.f_value):
        notes.append(
            "No confidence interval: the raters agree exactly (up to a constant shift for the "
            "two-way forms), so the residual mean square is zero, the F ratio infinite and "
            "the F-based interval degenerate."
        )
    else:
        notes.append("No confidence interval: the F-based interval is not defined here.")
    return IccResult(
        value=value,
        ci=ci,
        n=n,
        k=k,
        form=chosen,
        f_value=_finite_or_none(figures.f_value),
        df1=figures.df1,
        df2=figures.df2,
        p_value=_finite_or_none(figures.p_value),
        n_dropped=n_dropped,
        note=_join(*notes),
    )


# ---------------------------------------------------------------- Cohen's kappa

#: The 0.975 quantile of the standard normal, ``scipy.stats.norm.isf(0.025)`` (what
#: statsmodels' ``KappaResults`` multiplies the standard error by; checked in the tests).
_Z_975 = 1.9599639845400545


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


def _kappa_table_numeric(
    a: object, b: object, categories: Sequence[Hashable] | None
) -> tuple[FloatArray, tuple[Hashable, ...], int, int] | None:
    """Contingency table, category order, n and n_dropped for numeric arrays, vectorised.

    The same table, order and errors as the label-by-label path, for the input ``tables``
    passes (float arrays with NaN for missing, numeric categories); None for anything else.
    """
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
        return None
    if a.dtype != b.dtype or a.dtype.kind not in "iuf" or a.ndim != 1 or b.ndim != 1:
        return None
    if a.size != b.size:
        return None  # the label path words the error
    if categories is not None and not all(_is_plain_number(c) for c in categories):
        return None
    first, second = a.astype(np.float64), b.astype(np.float64)
    complete = ~(np.isnan(first) | np.isnan(second))
    n = int(complete.sum())
    n_dropped = first.size - n
    if n < 2:
        return None  # the label path words the error
    first, second = first[complete], second[complete]
    if np.isinf(first).any() or np.isinf(second).any():
        return None
    # Labels as the label path sees them (Python scalars of the arrays' own type).
    present = np.unique(np.concatenate([first, second])).astype(a.dtype).tolist()
    order = _categories_for(present, categories)
    values = np.array(order, dtype=np.float64)
    sorter = np.argsort(values, kind="stable")
    size = len(order)
    index_a = sorter[np.searchsorted(values[sorter], first)]
    index_b = sorter[np.searchsorted(values[sorter], second)]
    table = np.bincount(index_a * size + index_b, minlength=size * size).reshape(size, size)
    return table.astype(np.float64), order, n, n_dropped


def _kappa_table_labels(
    a: object, b: object, categories: Sequence[Hashable] | None
) -> tuple[FloatArray, tuple[Hashable, ...], int, int]:
    """Contingency table, category order, n and n_dropped for any hashable labels."""
    first_array, second_array = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    if first_array.ndim != 1 or second_array.ndim != 1:
        raise AnalysisError(
            "Cohen's kappa needs two 1-D label sequences; got shapes "
            f"{first_array.shape} and {second_array.shape}."
        )
    first, second = list(first_array), list(second_array)
    if len(first) != len(second):
        raise AnalysisError(
            f"Cohen's kappa needs two label sequences of the same length; got {len(first)} "
            f"and {len(second)}."
        )
    pairs = [
        (x, y) for x, y in zip(first, second, strict=True) if not (_is_missing(x) or _is_missing(y))
    ]
    n = len(pairs)
    n_dropped = len(first) - n
    if n < 2:
        raise AnalysisError(
            f"Cohen's kappa needs at least 2 subjects rated by both raters; {n} remain after "
            f"dropping {n_dropped} with a missing label."
        )
    order = _categories_for([label for pair in pairs for label in pair], categories)
    index = {label: position for position, label in enumerate(order)}
    table = np.zeros((len(order), len(order)), dtype=np.float64)
    for x, y in pairs:
        table[index[x], index[y]] += 1
    return table, order, n, n_dropped


def _kappa_statistics(table: FloatArray, weights: KappaWeights | None) -> tuple[float, float]:
    """Kappa and its asymptotic variance from a contingency table (raters a in rows).

    The arithmetic of :func:`statsmodels.stats.inter_rater.cohens_kappa` (statsmodels 0.14,
    ``inter_rater.py``) step for step, with ``wt=None``, ``"linear"`` (Cicchetti–Allison) or
    ``"quadratic"`` (Fleiss–Cohen) and the default equally spaced category scores: kappa as
    1 − Σ w·p_obs / Σ w·p_exp for the weighted forms, and the large-sample non-null variance of
    Fleiss, Cohen & Everitt (1969), as SAS PROC FREQ computes its ASE. Written out because
    statsmodels' result object builds frozen scipy distributions on every call, which cost
    more than the statistic; value and variance are proven equal to statsmodels in the tests.
    """
    nobs = table.sum()
    probs = table / nobs
    freq_row = table.sum(1) / nobs
    freq_col = table.sum(0) / nobs
    prob_exp = freq_col * freq_row[:, None]
    if weights is None:
        agree_exp = np.diag(prob_exp).sum()
        kappa = (np.diag(table).sum() / nobs - agree_exp) / (1 - agree_exp)
        term_a = (np.diag(probs) * (1 - (freq_row + freq_col) * (1 - kappa)) ** 2).sum()
        term_b_cells = probs * (freq_col[:, None] + freq_row) ** 2
        np.fill_diagonal(term_b_cells, 0.0)
        term_b = (1 - kappa) ** 2 * term_b_cells.sum()
        term_c = (kappa - agree_exp * (1 - kappa)) ** 2
        variance = (term_a + term_b - term_c) / (1 - agree_exp) ** 2 / nobs
        return float(kappa), float(variance)
    scores = np.arange(table.shape[0], dtype=np.float64)
    if weights is KappaWeights.LINEAR:
        disagreement = np.abs(scores[:, None] - scores) / (scores[-1] - scores[0])
    else:
        disagreement = (scores[:, None] - scores) ** 2 / (scores[-1] - scores[0]) ** 2
    kappa = 1 - (disagreement * table).sum() / nobs / (disagreement * prob_exp).sum()
    agreement = 1.0 - disagreement
    w_row = (freq_col * agreement).sum(1)
    w_col = (freq_row[:, None] * agreement).sum(0)
    agree_wexp = (agreement * freq_col * freq_row[:, None]).sum()
    term_a = probs * (agreement - (w_col + w_row[:, None]) * (1 - kappa)) ** 2
    factor = 1.0 / ((1 - agree_wexp) ** 2 * nobs)
    variance = (term_a.sum() - (kappa - agree_wexp * (1 - kappa)) ** 2) * factor
    return float(kappa), float(variance)


def cohen_kappa(
    a: Sequence[Hashable] | npt.ArrayLike,
    b: Sequence[Hashable] | npt.ArrayLike,
    weights: KappaWeights | str | None = None,
    categories: Sequence[Hashable] | None = None,
) -> KappaResult:
    """Cohen's kappa for two raters, unweighted or with linear/quadratic weights.

    The figures of :func:`statsmodels.stats.inter_rater.cohens_kappa` on the contingency
    table, computed with its formulas in numpy (proven equal to statsmodels in the tests, and
    equal to :func:`sklearn.metrics.cohen_kappa_score`). Its standard error is the
    large-sample, non-null one of Fleiss, Cohen & Everitt (1969), *Psychol Bull* 72:323–327,
    also for weighted kappa — the formula SAS PROC FREQ prints as "ASE".

    Parameters
    ----------
    a, b : sequences of labels (text or numbers), one per subject, same length
        None or NaN marks a missing label; pairs with either missing are dropped.
    weights : None (unweighted), ``"linear"`` or ``"quadratic"``
        Weighted kappa treats the categories as ordered and equally spaced, in the order of
        ``categories``.
    categories : optional sequence of every possible label, in order
        Default: the sorted labels that occur. Give it for ordinal fields (the protocol's
        choices) so weights follow the clinical order and unused categories count.

    Returns
    -------
    KappaResult
        ``value`` is None when chance agreement is 1 (both raters used the same single
        category), where kappa is 0/0.

    Raises
    ------
    AnalysisError
        If the lengths differ, ``weights`` is unknown, a label is outside ``categories``, or
        fewer than 2 complete pairs remain.
    """
    chosen: KappaWeights | None = (
        None if weights is None else _choice(KappaWeights, str(weights), "kappa weights")
    )
    # Numeric arrays (what the agreement tables pass) are tabulated in one pass; anything
    # else label by label. Both give the same table, order and errors.
    found = _kappa_table_numeric(a, b, categories)
    table, order, n, n_dropped = found or _kappa_table_labels(a, b, categories)
    observed = float(np.trace(table) / n)

    disagreement = _kappa_disagreement_weights(len(order), chosen)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n**2
    if len(order) < 2 or float((disagreement * expected).sum()) == 0.0:
        return KappaResult(
            value=None,
            ci=None,
            se=None,
            n=n,
            weights=chosen,
            categories=order,
            observed_agreement=observed,
            n_dropped=n_dropped,
            note=(
                "Kappa undefined: both raters used one and the same category for every "
                "subject, so chance agreement is 1 (raw agreement is "
                f"{observed:.0%})."
            ),
        )

    with _quiet():
        value, variance = _kappa_statistics(table, chosen)
    note = ""
    se: float | None = None
    ci: ConfidenceInterval | None = None
    # Exact agreement gives a variance of zero that rounding can push a hair below it.
    if math.isfinite(variance) and variance > -1e-12:
        se = math.sqrt(max(variance, 0.0))
        ci = (value - _Z_975 * se, value + _Z_975 * se)
    else:
        note = "No confidence interval: the asymptotic variance is not defined for this table."
    return KappaResult(
        value=value,
        ci=ci,
        se=se,
        n=n,
        weights=chosen,
        categories=order,
        observed_agreement=observed,
        n_dropped=n_dropped,
        note=note,
    )


def _kappa_disagreement_weights(n_categories: int, weights: KappaWeights | None) -> FloatArray:
    positions = np.arange(n_categories, dtype=np.float64)
    distance = np.abs(positions[:, None] - positions[None, :])
    if weights is None:
        return (distance > 0).astype(np.float64)
    if weights is KappaWeights.LINEAR:
        return distance
    return distance**2


# ---------------------------------------------------------------- Fleiss' kappa


def _fleiss_engine(counts: FloatArray, resample_weights: FloatArray) -> FloatArray:
    """Fleiss' kappa for many reweightings of the subjects at once (rows of the weights)."""
    n_raters = counts[0].sum()
    n_subjects = resample_weights.sum(axis=1)
    agreement_per_subject = ((counts**2).sum(axis=1) - n_raters) / (n_raters * (n_raters - 1))
    mean_agreement = resample_weights @ agreement_per_subject / n_subjects
    proportions = (resample_weights @ counts) / (n_subjects * n_raters)[:, None]
    chance = (proportions**2).sum(axis=1)
    with _quiet():
        kappas: FloatArray = (mean_agreement - chance) / (1.0 - chance)
    kappas[chance >= 1.0 - 1e-12] = np.nan
    return kappas


def fleiss_kappa(
    counts: npt.ArrayLike, n_boot: int = DEFAULT_N_BOOT, seed: int = DEFAULT_SEED
) -> FleissKappaResult:
    """Fleiss' kappa (Fleiss 1971) for several raters per subject.

    The value is :func:`statsmodels.stats.inter_rater.fleiss_kappa`; the confidence interval
    is a percentile bootstrap over subjects (``n_boot`` resamples with ``seed``; Zapf et al.
    2016, BMC Med Res Methodol 16:93, found it adequate for Fleiss' kappa), vectorised, with
    the resampled statistic computed by the same formula (checked equal to statsmodels in the
    tests).

    Parameters
    ----------
    counts : (n_subjects, n_categories) array-like of non-negative integers
        How many raters put each subject in each category; every row must add up to the same
        number of raters (use :func:`krippendorff_alpha` when reads are missing).
    n_boot : bootstrap resamples; 0 skips the interval.
    seed : seed of the bootstrap's random generator.

    Returns
    -------
    FleissKappaResult
        ``value`` is None when every rating falls in one category (chance agreement 1).

    Raises
    ------
    AnalysisError
        If the shape is wrong, counts are negative or fractional, rows have different totals,
        fewer than 2 raters per subject, or fewer than 2 subjects.
    """
    matrix = _numeric_matrix(counts, "Fleiss' kappa counts", "subjects × categories")
    if np.isnan(matrix).any():
        raise AnalysisError(
            "Fleiss' kappa counts contain NaN; counts cannot be missing (use 0), and for "
            "missing reads use krippendorff_alpha."
        )
    if (matrix < 0).any() or not np.array_equal(matrix, np.round(matrix)):
        raise AnalysisError("Fleiss' kappa counts must be non-negative whole numbers.")
    n_subjects, n_categories = matrix.shape
    if n_subjects < 2:
        raise AnalysisError(f"Fleiss' kappa needs at least 2 subjects; got {n_subjects}.")
    totals = matrix.sum(axis=1)
    if not (totals == totals[0]).all():
        rows = np.flatnonzero(totals != totals[0]) + 1
        raise AnalysisError(
            "Fleiss' kappa needs the same number of ratings for every subject; rows "
            f"{', '.join(str(row) for row in rows[:10])} differ from row 1 "
            f"({int(totals[0])} ratings). Use krippendorff_alpha for incomplete reads."
        )
    n_raters = int(totals[0])
    if n_raters < 2:
        raise AnalysisError(f"Fleiss' kappa needs at least 2 raters per subject; got {n_raters}.")
    chance_proportions = matrix.sum(axis=0) / matrix.sum()
    if float((chance_proportions**2).sum()) >= 1.0 - 1e-12:
        return FleissKappaResult(
            value=None,
            ci=None,
            n=n_subjects,
            n_raters=n_raters,
            n_categories=n_categories,
            n_boot=0,
            note=(
                "Fleiss' kappa undefined: every rating falls in one category, so chance "
                "agreement is 1."
            ),
        )

    from statsmodels.stats.inter_rater import (  # type: ignore[import-untyped]
        fleiss_kappa as statsmodels_fleiss,
    )

    with _quiet():
        value = _finite_or_none(statsmodels_fleiss(matrix, method="fleiss"))
    ci: ConfidenceInterval | None = None
    note = ""
    if n_boot > 0:
        resample = _bootstrap_weights(n_subjects, n_boot, seed)
        with _one_blas_thread():
            kappas = _fleiss_engine(matrix, resample)
        ci, note = _percentile_ci(kappas, n_boot)
    return FleissKappaResult(
        value=value,
        ci=ci,
        n=n_subjects,
        n_raters=n_raters,
        n_categories=n_categories,
        n_boot=max(n_boot, 0),
        note=note,
    )


# ---------------------------------------------------------------- Krippendorff's alpha


def _alpha_distances(domain: FloatArray, level: AlphaLevel) -> FloatArray:
    """Distance δ² between domain values for the levels whose metric is fixed."""
    first, second = domain[:, None], domain[None, :]
    if level is AlphaLevel.NOMINAL:
        return (first != second).astype(np.float64)
    if level is AlphaLevel.INTERVAL:
        return (first - second) ** 2
    total = first + second
    with _quiet():
        ratio = np.where(total != 0, (first - second) / total, 0.0)
    return np.asarray(ratio**2, dtype=np.float64)


def _alpha_engine(
    value_counts: FloatArray, domain: FloatArray, level: AlphaLevel, weights: FloatArray
) -> FloatArray:
    """Krippendorff's alpha for many reweightings of the units at once (rows of ``weights``).

    ``value_counts`` holds pairable units only (≥ 2 values each). Follows Krippendorff (2011)
    "Computing Krippendorff's alpha-reliability": coincidences o_ck = Σ_u (n_uc n_uk −
    [c=k] n_uc)/(m_u − 1), α = 1 − (n − 1) Σ o_ck δ²_ck / Σ n_c n_k δ²_ck. With a fixed metric
    the per-unit sums are precomputed, so a resample costs one matrix product.
    """
    values_per_unit = value_counts.sum(axis=1)
    if level is not AlphaLevel.ORDINAL:
        distances = _alpha_distances(domain, level)
        observed_per_unit = np.einsum("uc,ck,uk->u", value_counts, distances, value_counts) / (
            values_per_unit - 1
        )
        observed = weights @ observed_per_unit
        marginals = weights @ value_counts
        with _quiet():
            expected = np.einsum("bc,ck,bk->b", marginals, distances, marginals) / (
                marginals.sum(axis=1) - 1
            )
            alphas: FloatArray = 1.0 - observed / expected
        alphas[~(expected > 0)] = np.nan
        return alphas
    n_values = value_counts.shape[1]
    identity = np.eye(n_values)
    per_unit = (
        value_counts[:, :, None] * value_counts[:, None, :]
        - value_counts[:, :, None] * identity[None, :, :]
    ) / (values_per_unit - 1)[:, None, None]
    per_unit_flat = per_unit.reshape(len(value_counts), -1)
    alphas = np.empty(len(weights))
    chunk = max(1, 2_000_000 // max(n_values * n_values, 1))
    for start in range(0, len(weights), chunk):
        block = weights[start : start + chunk]
        coincidences = (block @ per_unit_flat).reshape(len(block), n_values, n_values)
        marginals = coincidences.sum(axis=1)
        cumulative = np.cumsum(marginals, axis=1)
        # Ordinal δ²_ck = (Σ_{g=c..k} n_g − (n_c + n_k)/2)² = (N_k − N_c + (n_c − n_k)/2)².
        distances = (
            cumulative[:, None, :]
            - cumulative[:, :, None]
            + (marginals[:, :, None] - marginals[:, None, :]) / 2.0
        ) ** 2
        total = marginals.sum(axis=1)
        random = (
            marginals[:, :, None] * marginals[:, None, :]
            - marginals[:, :, None] * identity[None, :, :]
        ) / (total - 1)[:, None, None]
        with _quiet():
            expected = (random * distances).sum(axis=(1, 2))
            block_alphas = 1.0 - (coincidences * distances).sum(axis=(1, 2)) / expected
        block_alphas[~(expected > 0)] = np.nan
        alphas[start : start + chunk] = block_alphas
    return alphas


def _alpha_codes_numeric(
    data: object, level: AlphaLevel, categories: Sequence[Hashable]
) -> tuple[FloatArray, FloatArray] | None:
    """:func:`_alpha_codes` for a numeric array with numeric categories, vectorised.

    The same codes, domain and errors as the label-by-label path, for the input ``tables``
    passes (float arrays with NaN for missing); None for anything else.
    """
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "iuf" or data.ndim != 2:
        return None
    if not all(_is_plain_number(c) for c in categories):
        return None
    values = data.astype(np.float64)
    if np.isinf(values).any():
        return None
    present_mask = ~np.isnan(values)
    present = np.unique(values[present_mask]).astype(data.dtype).tolist()
    order = _categories_for(present, categories)
    numeric_order = np.array(order, dtype=np.float64)
    if level in (AlphaLevel.INTERVAL, AlphaLevel.RATIO):
        if np.any(np.diff(numeric_order) <= 0):
            raise AnalysisError(
                f"categories for the {level} level must be increasing numbers; got {list(order)}."
            )
        return values, numeric_order
    # Nominal and ordinal distances depend only on the rank of a category.
    sorter = np.argsort(numeric_order, kind="stable")
    codes = np.full(values.shape, np.nan)
    codes[present_mask] = sorter[np.searchsorted(numeric_order[sorter], values[present_mask])]
    return codes, np.arange(len(order), dtype=np.float64)


def _alpha_codes(
    data: npt.ArrayLike, level: AlphaLevel, categories: Sequence[Hashable] | None
) -> tuple[FloatArray, FloatArray]:
    """Reliability data as floats (NaN missing) and the ordered value domain."""
    if categories is None:
        try:
            matrix = _numeric_matrix(data, "Krippendorff's alpha data", "raters × units")
        except AnalysisError:
            matrix = None
        if matrix is not None:
            return matrix, np.unique(matrix[~np.isnan(matrix)])
        if level in (AlphaLevel.INTERVAL, AlphaLevel.RATIO):
            raise AnalysisError(
                f"Krippendorff's alpha at the {level} level needs numeric data; got labels."
            )
        if level is AlphaLevel.ORDINAL:
            raise AnalysisError(
                "Krippendorff's alpha at the ordinal level on text labels needs categories= "
                "in their order."
            )
    if categories is not None:
        found = _alpha_codes_numeric(data, level, categories)
        if found is not None:
            return found
    labels = np.array(data, dtype=object)
    if labels.ndim != 2:
        raise AnalysisError(
            f"Krippendorff's alpha data must be a 2-D array (raters × units); got shape "
            f"{labels.shape}."
        )
    present = [label for label in labels.ravel() if not _is_missing(label)]
    order = _categories_for(present, categories)
    if categories is not None and level in (AlphaLevel.INTERVAL, AlphaLevel.RATIO):
        try:
            domain = np.array(order, dtype=np.float64)
        except (TypeError, ValueError):
            raise AnalysisError(
                f"Krippendorff's alpha at the {level} level needs numeric categories; "
                f"got {list(order)}."
            ) from None
        if np.any(np.diff(domain) <= 0):
            raise AnalysisError(
                f"categories for the {level} level must be increasing numbers; got {list(order)}."
            )
        index: dict[Hashable, float] = {label: float(label) for label in order}  # type: ignore[arg-type]
    else:
        # Nominal and ordinal distances depend only on the rank of a category.
        domain = np.arange(len(order), dtype=np.float64)
        index = {label: float(position) for position, label in enumerate(order)}
    codes = np.array(
        [[np.nan if _is_missing(label) else index[label] for label in row] for row in labels],
        dtype=np.float64,
    ).reshape(labels.shape)
    return codes, domain


def krippendorff_alpha(
    data: npt.ArrayLike,
    level: AlphaLevel | str = AlphaLevel.NOMINAL,
    categories: Sequence[Hashable] | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
) -> AlphaResult:
    """Krippendorff's alpha for any number of raters, missing reads allowed.

    The value is :func:`krippendorff.alpha` (package ``krippendorff``). The 95 % interval is a
    percentile bootstrap over pairable units (``n_boot`` resamples with ``seed``; the unit
    bootstrap recommended by Zapf et al. 2016, BMC Med Res Methodol 16:93 — not Krippendorff's
    own resampling of pairable values). Resamples are computed all at once from the
    coincidence matrix (checked equal to the package in the tests), so 1000 resamples of 500
    units take milliseconds.

    Parameters
    ----------
    data : (n_raters, n_units) array-like
        Numbers, or labels with ``categories``; NaN or None marks a missing rating.
    level : ``"nominal"`` (default), ``"ordinal"``, ``"interval"`` or ``"ratio"``
    categories : optional ordered sequence of every possible value
        Needed for text labels at the ordinal level; numeric data use the sorted values that
        occur unless this is given.
    n_boot : bootstrap resamples; 0 skips the interval.
    seed : seed of the bootstrap's random generator.

    Returns
    -------
    AlphaResult
        ``value`` is None when every pairable value is identical (no expected disagreement).

    Raises
    ------
    AnalysisError
        If the shape or level is wrong, fewer than 2 raters are given, fewer than 2 units are
        rated by at least two raters, a label is outside ``categories``, or the value domain is
        too large for the package (round the values or use :func:`icc`).
    """
    chosen: AlphaLevel = _choice(AlphaLevel, str(level), "Krippendorff level")
    codes, domain = _alpha_codes(data, chosen, categories)
    n_raters, n_units_total = codes.shape
    if n_raters < 2:
        raise AnalysisError(
            f"Krippendorff's alpha needs at least 2 raters (rows); got {n_raters}. Pass data "
            "as raters × units."
        )
    if not np.isin(codes[~np.isnan(codes)], domain).all():
        raise AnalysisError("Krippendorff's alpha data contain values outside categories.")
    value_counts = (codes.T[:, :, None] == domain[None, None, :]).sum(axis=1).astype(np.float64)
    pairable = value_counts.sum(axis=1) >= 2
    value_counts = value_counts[pairable]
    n_units = int(pairable.sum())
    n_values = int(value_counts.sum())
    if n_units < 2:
        raise AnalysisError(
            f"Krippendorff's alpha needs at least 2 units rated by two or more raters; "
            f"{n_units} of {n_units_total} are."
        )
    if chosen is AlphaLevel.RATIO and (domain < 0).any():
        raise AnalysisError(
            "Krippendorff's alpha at the ratio level needs non-negative values (a ratio scale "
            "has a true zero); use the interval level."
        )
    if len(domain) < 2 or (value_counts.sum(axis=0) > 0).sum() < 2:
        return AlphaResult(
            value=None,
            ci=None,
            n_units=n_units,
            n_values=n_values,
            level=chosen,
            n_boot=0,
            note="Alpha undefined: every rating is the same value, so no disagreement is expected.",
        )
    if n_units * len(domain) ** 2 > _MAX_ALPHA_CELLS:
        raise AnalysisError(
            f"Krippendorff's alpha: {len(domain)} distinct values over {n_units} units is too "
            "many for the krippendorff package; round the values to the protocol's decimals "
            "or use icc() for continuous measurements."
        )

    import krippendorff

    with _quiet():
        raw = krippendorff.alpha(
            value_counts=value_counts, value_domain=domain, level_of_measurement=chosen.value
        )
    value = _finite_or_none(raw)
    ci: ConfidenceInterval | None = None
    note = ""
    if value is None:
        return AlphaResult(
            value=None,
            ci=None,
            n_units=n_units,
            n_values=n_values,
            level=chosen,
            n_boot=0,
            note="Alpha undefined: no disagreement is expected between these values.",
        )
    if n_boot > 0:
        resample = _bootstrap_weights(n_units, n_boot, seed)
        with _one_blas_thread():
            alphas = _alpha_engine(value_counts, domain, chosen, resample)
        ci, note = _percentile_ci(alphas, n_boot)
    return AlphaResult(
        value=value,
        ci=ci,
        n_units=n_units,
        n_values=n_values,
        level=chosen,
        n_boot=max(n_boot, 0),
        note=note,
    )


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
