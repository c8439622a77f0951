"""Interpretation bands: Koo & Li 2016, Landis & Koch 1977, Krippendorff 2004."""

from __future__ import annotations

import math

import pytest

from collarreader.analysis.bands import BandScale, alpha_band, icc_band, kappa_band
from collarreader.errors import AnalysisError


@pytest.mark.parametrize(
    ("value", "label", "rank"),
    [
        # Koo & Li (2016) J Chiropr Med 15:155, "Interpretation": < 0.5 poor,
        # 0.5–0.75 moderate, 0.75–0.9 good, > 0.90 excellent.
        (-0.2, "poor", 0),
        (0.499, "poor", 0),
        (0.5, "moderate", 1),
        (0.749, "moderate", 1),
        (0.75, "good", 2),
        (0.9, "good", 2),
        (0.901, "excellent", 3),
        (1.0, "excellent", 3),
    ],
)
def test_icc_band_koo_li(value: float, label: str, rank: int) -> None:
    band = icc_band(value)
    assert (band.label, band.rank, band.n_bands) == (label, rank, 4)
    assert band.scale is BandScale.KOO_LI_2016


@pytest.mark.parametrize(
    ("value", "label", "rank"),
    [
        # Landis & Koch (1977) Biometrics 33:159, Table "Kappa statistic / strength of
        # agreement": < 0.00 poor, 0.00–0.20 slight, 0.21–0.40 fair, 0.41–0.60 moderate,
        # 0.61–0.80 substantial, 0.81–1.00 almost perfect.
        (-0.01, "poor", 0),
        (0.0, "slight", 1),
        (0.20, "slight", 1),
        (0.21, "fair", 2),
        (0.40, "fair", 2),
        (0.41, "moderate", 3),
        (0.60, "moderate", 3),
        (0.61, "substantial", 4),
        (0.80, "substantial", 4),
        (0.81, "almost perfect", 5),
        (1.0, "almost perfect", 5),
    ],
)
def test_kappa_band_landis_koch(value: float, label: str, rank: int) -> None:
    band = kappa_band(value)
    assert (band.label, band.rank, band.n_bands) == (label, rank, 6)
    assert band.scale is BandScale.LANDIS_KOCH_1977


def test_kappa_band_gap_between_printed_bounds_goes_up() -> None:
    # 0.205 lies between the printed 0.20 and 0.21: above 0.20, so fair.
    assert kappa_band(0.205).label == "fair"


@pytest.mark.parametrize(
    ("value", "label", "rank"),
    [
        # Krippendorff (2004) Content Analysis 2nd ed. §11.4.4: rely on variables with
        # α ≥ .800, tentative conclusions for .667 ≤ α < .800, discard below .667.
        (0.5, "unacceptable", 0),
        (0.6669, "unacceptable", 0),
        (0.667, "tentative", 1),
        (0.799, "tentative", 1),
        (0.8, "acceptable", 2),
        (1.0, "acceptable", 2),
    ],
)
def test_alpha_band_krippendorff(value: float, label: str, rank: int) -> None:
    band = alpha_band(value)
    assert (band.label, band.rank, band.n_bands) == (label, rank, 3)
    assert band.scale is BandScale.KRIPPENDORFF_2004


def test_sorting_by_rank_puts_poor_agreement_first() -> None:
    values = [0.95, 0.3, 0.8, 0.6]
    ordered = sorted(values, key=lambda value: icc_band(value).rank)
    assert ordered == [0.3, 0.6, 0.8, 0.95]
    assert icc_band(0.3).is_worst
    assert not icc_band(0.6).is_worst


@pytest.mark.parametrize("band", [icc_band, kappa_band, alpha_band])
def test_nan_is_refused_with_a_message(band: object) -> None:
    with pytest.raises(AnalysisError, match="NaN"):
        band(math.nan)  # type: ignore[operator]
