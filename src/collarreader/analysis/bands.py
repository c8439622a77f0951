"""Interpretation bands printed beside agreement figures.

Three published scales, one per family of statistic:

- ICC: Koo & Li (2016), *A guideline of selecting and reporting intraclass correlation
  coefficients for reliability research*, J Chiropr Med 15(2):155–163 — poor < 0.5,
  moderate 0.5–0.75, good 0.75–0.9, excellent > 0.9.
- Kappa (Cohen's, weighted, Fleiss'): Landis & Koch (1977), *The measurement of observer
  agreement for categorical data*, Biometrics 33(1):159–174 — poor < 0, slight 0–0.20,
  fair 0.21–0.40, moderate 0.41–0.60, substantial 0.61–0.80, almost perfect 0.81–1.
- Krippendorff's alpha: Krippendorff (2004), *Content Analysis*, 2nd ed., §11.4 — data with
  α < 0.667 should be discarded, 0.667 ≤ α < 0.8 allows only tentative conclusions,
  α ≥ 0.8 is acceptable.

The published scales print boundaries to two decimals and leave the gaps between them
(0.20 vs 0.21) unassigned; here every real number falls in exactly one band, with each
boundary belonging to the band below it for Landis & Koch (0.20 is slight, 0.2001 is fair) and
Koo & Li's upper boundary (0.90 is good, above it excellent), and to the band above it at
Koo & Li's lower boundaries (0.50 is moderate, 0.75 is good) and at Krippendorff's
(0.667 is tentative, 0.8 is acceptable), following the wording of each source.

Koo & Li recommend reading the band off the 95 % confidence interval rather than the point
estimate; :func:`icc_band` takes any number, so the report can band the interval's ends too.

Each function returns a :class:`Band` whose ``rank`` is 0 for the worst band, so sorting by
``rank`` puts poor agreement first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from collarreader.errors import AnalysisError

__all__ = ["Band", "BandScale", "alpha_band", "icc_band", "kappa_band"]


class BandScale(StrEnum):
    """The published scale a band comes from."""

    KOO_LI_2016 = "Koo & Li 2016"
    LANDIS_KOCH_1977 = "Landis & Koch 1977"
    KRIPPENDORFF_2004 = "Krippendorff 2004"


@dataclass(frozen=True)
class Band:
    """One interpretation band.

    Attributes
    ----------
    label : the band's name as the source prints it, e.g. ``"moderate"``.
    rank : 0 for the worst band of the scale, rising to ``n_bands - 1`` for the best; sort by
        it to list poor agreement first.
    n_bands : number of bands on the scale, so ranks from different scales can be compared
        as ``rank / (n_bands - 1)``.
    scale : the source of the scale.
    """

    label: str
    rank: int
    n_bands: int
    scale: BandScale

    @property
    def is_worst(self) -> bool:
        """True for the lowest band of the scale (poor / unacceptable)."""
        return self.rank == 0


def _checked(value: float, what: str) -> float:
    number = float(value)
    if math.isnan(number):
        raise AnalysisError(
            f"Cannot give an interpretation band for {what} = NaN. "
            "Check the result's note for why the statistic is undefined."
        )
    return number


_ICC_LABELS = ("poor", "moderate", "good", "excellent")
_KAPPA_LABELS = ("poor", "slight", "fair", "moderate", "substantial", "almost perfect")
_ALPHA_LABELS = ("unacceptable", "tentative", "acceptable")

# Each band's upper bound, and whether the bound belongs to that band (True) or to the one
# above it (False), following the wording of each source (see the module docstring).
_ICC_BOUNDS = ((0.5, False), (0.75, False), (0.9, True))
_KAPPA_BOUNDS = ((0.0, False), (0.20, True), (0.40, True), (0.60, True), (0.80, True))
_ALPHA_BOUNDS = ((0.667, False), (0.8, False))


def _banded(
    value: float,
    what: str,
    upper_bounds: tuple[tuple[float, bool], ...],
    labels: tuple[str, ...],
    scale: BandScale,
) -> Band:
    v = _checked(value, what)
    rank = len(upper_bounds)
    for index, (bound, holds_bound) in enumerate(upper_bounds):
        if (v <= bound) if holds_bound else (v < bound):
            rank = index
            break
    return Band(labels[rank], rank, len(labels), scale)


def icc_band(value: float) -> Band:
    """Koo & Li (2016) band for an intraclass correlation coefficient.

    Parameters
    ----------
    value : ICC estimate (or a confidence limit of it).

    Returns
    -------
    Band
        ``poor`` (< 0.5), ``moderate`` (0.5 ≤ v < 0.75), ``good`` (0.75 ≤ v ≤ 0.9) or
        ``excellent`` (> 0.9).

    Raises
    ------
    AnalysisError
        If ``value`` is NaN.
    """
    return _banded(value, "an ICC", _ICC_BOUNDS, _ICC_LABELS, BandScale.KOO_LI_2016)


def kappa_band(value: float) -> Band:
    """Landis & Koch (1977) band for a kappa statistic (Cohen's, weighted or Fleiss').

    Parameters
    ----------
    value : kappa estimate.

    Returns
    -------
    Band
        ``poor`` (< 0), ``slight`` (0–0.20), ``fair`` (≤ 0.40), ``moderate`` (≤ 0.60),
        ``substantial`` (≤ 0.80) or ``almost perfect`` (> 0.80).

    Raises
    ------
    AnalysisError
        If ``value`` is NaN.
    """
    return _banded(value, "a kappa", _KAPPA_BOUNDS, _KAPPA_LABELS, BandScale.LANDIS_KOCH_1977)


def alpha_band(value: float) -> Band:
    """Krippendorff (2004) band for Krippendorff's alpha.

    Parameters
    ----------
    value : alpha estimate.

    Returns
    -------
    Band
        ``unacceptable`` (< 0.667, "discard the data"), ``tentative`` (0.667 ≤ α < 0.8) or
        ``acceptable`` (≥ 0.8).

    Raises
    ------
    AnalysisError
        If ``value`` is NaN.
    """
    return _banded(value, "an alpha", _ALPHA_BOUNDS, _ALPHA_LABELS, BandScale.KRIPPENDORFF_2004)
