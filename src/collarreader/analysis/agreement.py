"""Agreement statistics: ICC, Cohen's and Fleiss' kappa, Krippendorff's alpha, Bland–Altman.

Thin, checked wrappers over well-kept libraries (DESIGN §8): pingouin for the ICC,
statsmodels (and scikit-learn in the tests) for the kappas, the ``krippendorff`` package for
alpha. What is written here by hand is only input checking, the Bland–Altman arithmetic (a mean
and a standard deviation), and two vectorised bootstrap engines whose point estimate is
checked against the libraries in the tests.

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


# ---------------------------------------------------------------- ICC

_PINGOUIN_TYPE = {
    IccForm.ONE_WAY_SINGLE: "ICC(1,1)",
    IccForm.AGREEMENT_SINGLE: "ICC(A,1)",
    IccForm.CONSISTENCY_SINGLE: "ICC(C,1)",
    IccForm.ONE_WAY_AVERAGE: "ICC(1,k)",
    IccForm.AGREEMENT_AVERAGE: "ICC(A,k)",
    IccForm.CONSISTENCY_AVERAGE: "ICC(C,k)",
}


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


def icc(ratings: npt.ArrayLike, form: IccForm | str = IccForm.AGREEMENT_SINGLE) -> IccResult:
    """Intraclass correlation coefficient with its 95 % confidence interval.

    A thin mapping over :func:`pingouin.intraclass_corr` (two-way ANOVA mean squares; the
    F-based intervals of Shrout & Fleiss 1979 / McGraw & Wong 1996, with Satterthwaite's
    degrees of freedom for the absolute-agreement forms — checked against R ``psych::ICC``
    in pingouin's own tests and, here, against Shrout & Fleiss's worked example).

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
        If the shape is wrong, ``form`` is unknown, fewer than 2 raters are given, or fewer
        than 2 targets remain after dropping missing ratings.
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

    import pandas as pd  # type: ignore[import-untyped]
    import pingouin

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
    row = table.loc[_PINGOUIN_TYPE[chosen]]
    value = _finite_or_none(row["ICC"])
    low, high = (float(bound) for bound in row["CI95"])
    notes: list[str] = []
    ci: ConfidenceInterval | None = None
    if value is None:
        notes.append(
            "ICC undefined (0/0): no variation between targets or residual variation left "
            "for this form once rater means are removed."
        )
    elif math.isfinite(low) and math.isfinite(high):
        ci = (low, high)
    elif not math.isfinite(float(row["F"])):
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
        f_value=_finite_or_none(row["F"]),
        df1=int(row["df1"]),
        df2=int(row["df2"]),
        p_value=_finite_or_none(row["pval"]),
        n_dropped=n_dropped,
        note=_join(*notes),
    )


# ---------------------------------------------------------------- Cohen's kappa


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


def cohen_kappa(
    a: Sequence[Hashable] | npt.ArrayLike,
    b: Sequence[Hashable] | npt.ArrayLike,
    weights: KappaWeights | str | None = None,
    categories: Sequence[Hashable] | None = None,
) -> KappaResult:
    """Cohen's kappa for two raters, unweighted or with linear/quadratic weights.

    Computed by :func:`statsmodels.stats.inter_rater.cohens_kappa` on the contingency table
    (equal to :func:`sklearn.metrics.cohen_kappa_score`, checked in the tests). Its standard
    error is the large-sample, non-null one of Fleiss, Cohen & Everitt (1969), *Psychol Bull*
    72:323–327, also for weighted kappa — the formula SAS PROC FREQ prints as "ASE".

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

    from statsmodels.stats.inter_rater import (  # type: ignore[import-untyped]
        cohens_kappa as statsmodels_kappa,
    )

    with _quiet():
        result = statsmodels_kappa(table, wt=None if chosen is None else chosen.value)
    value = float(result.kappa)
    variance = float(result.var_kappa)
    note = ""
    se: float | None = None
    ci: ConfidenceInterval | None = None
    # Exact agreement gives a variance of zero that rounding can push a hair below it.
    if math.isfinite(variance) and variance > -1e-12:
        se = math.sqrt(max(variance, 0.0))
        ci = (float(result.kappa_low), float(result.kappa_upp))
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

    from statsmodels.stats.inter_rater import (
        fleiss_kappa as statsmodels_fleiss,
    )

    with _quiet():
        value = _finite_or_none(statsmodels_fleiss(matrix, method="fleiss"))
    ci: ConfidenceInterval | None = None
    note = ""
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        resample = rng.multinomial(
            n_subjects, np.full(n_subjects, 1.0 / n_subjects), size=n_boot
        ).astype(np.float64)
        ci, note = _percentile_ci(_fleiss_engine(matrix, resample), n_boot)
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
        rng = np.random.default_rng(seed)
        resample = rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_boot).astype(
            np.float64
        )
        ci, note = _percentile_ci(_alpha_engine(value_counts, domain, chosen, resample), n_boot)
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
    from scipy import stats

    differences = first[complete] - second[complete]
    means = (first[complete] + second[complete]) / 2.0
    differences.setflags(write=False)
    means.setflags(write=False)
    bias = float(differences.mean())
    sd = float(differences.std(ddof=1))
    # Bland & Altman's conventional 1.96, so limits match published analyses digit for digit.
    z = 1.96
    t = float(stats.t.ppf(0.975, n - 1))
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
