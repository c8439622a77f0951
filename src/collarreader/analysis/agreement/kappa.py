"""Cohen's kappa (unweighted and weighted) and Fleiss' kappa with a bootstrap interval."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
import numpy.typing as npt

from collarreader.analysis.agreement.base import (
    DEFAULT_N_BOOT,
    DEFAULT_SEED,
    ConfidenceInterval,
    FleissKappaResult,
    FloatArray,
    KappaResult,
    KappaWeights,
    _bootstrap_weights,
    _categories_for,
    _choice,
    _finite_or_none,
    _is_missing,
    _is_plain_number,
    _numeric_matrix,
    _one_blas_thread,
    _percentile_ci,
    _quiet,
)
from collarreader.errors import AnalysisError

# ---------------------------------------------------------------- Cohen's kappa

#: The 0.975 quantile of the standard normal, ``scipy.stats.norm.isf(0.025)`` (what
#: statsmodels' ``KappaResults`` multiplies the standard error by; checked in the tests).
_Z_975 = 1.9599639845400545


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
