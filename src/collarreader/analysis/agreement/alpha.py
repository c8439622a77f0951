"""Krippendorff's alpha at four levels of measurement, with a bootstrap interval."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import numpy.typing as npt

from collarreader.analysis.agreement.base import (
    _MAX_ALPHA_CELLS,
    DEFAULT_N_BOOT,
    DEFAULT_SEED,
    AlphaLevel,
    AlphaResult,
    ConfidenceInterval,
    FloatArray,
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

    def undefined(why: str) -> AlphaResult:
        return AlphaResult(
            value=None,
            ci=None,
            n_units=n_units,
            n_values=n_values,
            level=chosen,
            n_boot=0,
            note=f"Alpha undefined: {why}",
        )

    if len(domain) < 2 or (value_counts.sum(axis=0) > 0).sum() < 2:
        return undefined("every rating is the same value, so no disagreement is expected.")
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
        return undefined("no disagreement is expected between these values.")
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
