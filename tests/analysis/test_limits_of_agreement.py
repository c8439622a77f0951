"""Exact intervals of the limits of agreement and the proportional-bias test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from collarreader.analysis.agreement import bland_altman, tolerance_factors

# Bland & Altman (1986) Lancet 327:307–310, Table 1 (PEFR, l/min; large vs mini Wright meter).
WRIGHT_LARGE = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427]
WRIGHT_MINI = [512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451]


@pytest.mark.parametrize(
    ("n", "printed"),
    # Natrella (1963) Experimental Statistics, NBS Handbook 91, Table A-7 (also Odeh & Owen
    # 1980): one-sided normal tolerance factors K for γ = 0.95, P = 0.95, as printed.
    [(5, 4.203), (10, 2.911), (20, 2.396), (30, 2.220)],
)
def test_tolerance_factor_matches_the_printed_table(n: int, printed: float) -> None:
    # The upper factor of a 90 % two-sided interval is the 95 % one-sided factor.
    z_95 = float(stats.norm.ppf(0.95))
    _, k_high = tolerance_factors(n, z_95, confidence=0.90)
    assert round(k_high, 3) == printed


def test_exact_limits_on_the_pefr_example() -> None:
    result = bland_altman(WRIGHT_LARGE, WRIGHT_MINI)
    # Carkeet (2015) Optom Vis Sci 92:e71–e80 uses one-sided factors with P = 0.975 (z = 1.96)
    # and γ = 0.975 / 0.025 for the two ends; for 17 pairs (16 df) these are the quantiles
    # of a non-central t with non-centrality 1.96·√17, divided by √17.
    k_low, k_high = tolerance_factors(17)
    nc = 1.96 * math.sqrt(17)
    assert k_high == pytest.approx(stats.nct.ppf(0.975, 16, nc) / math.sqrt(17), rel=1e-12)
    assert k_low == pytest.approx(stats.nct.ppf(0.025, 16, nc) / math.sqrt(17), rel=1e-12)
    assert result.upper_ci == pytest.approx(
        (result.bias + k_low * result.sd, result.bias + k_high * result.sd)
    )
    assert result.lower_ci == pytest.approx(
        (result.bias - k_high * result.sd, result.bias - k_low * result.sd)
    )
    # The exact interval is not symmetric about the limit, and its outer end lies beyond the
    # approximate one's below ~80 pairs (Carkeet & Goh 2018): the approximation is too narrow.
    assert result.upper_ci[1] > result.upper_ci_approx[1]
    assert result.lower_ci[0] < result.lower_ci_approx[0]
    assert result.upper_ci[1] - result.upper > result.upper - result.upper_ci[0]
    assert round(result.upper, 1) == pytest.approx(73.9, abs=0.1)  # printed −2.1 + 1.96·38.8


def test_exact_and_approximate_intervals_converge_for_many_pairs() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(10, 1, 5000)
    b = a + rng.normal(0, 0.5, 5000)
    result = bland_altman(a, b)
    assert result.upper_ci == pytest.approx(result.upper_ci_approx, abs=0.01 * result.sd)


def test_no_proportional_bias_in_the_pefr_example() -> None:
    result = bland_altman(WRIGHT_LARGE, WRIGHT_MINI)
    assert result.proportional is not None
    reference = stats.linregress(result.means, result.differences)
    assert result.proportional.slope == pytest.approx(reference.slope)
    assert result.proportional.p_value == pytest.approx(reference.pvalue)
    assert not result.proportional.detected


def test_proportional_bias_is_detected_and_gives_widening_limits() -> None:
    rng = np.random.default_rng(7)
    truth = rng.uniform(1.0, 10.0, 60)
    # Reader a over-reads by 10 % of the value, with noise that grows with the value.
    a = truth * 1.1 + rng.normal(0, 0.05, 60) * truth
    b = truth + rng.normal(0, 0.05, 60) * truth
    result = bland_altman(a, b)
    bias = result.proportional
    assert bias is not None
    assert bias.detected
    # The closed form gives scipy.stats.linregress's figures.
    reference = stats.linregress(result.means, result.differences)
    t = stats.t.ppf(0.975, 58)
    assert (bias.slope, bias.intercept, bias.p_value) == pytest.approx(
        (reference.slope, reference.intercept, reference.pvalue), rel=1e-9
    )
    assert bias.slope_ci == pytest.approx(
        (reference.slope - t * reference.stderr, reference.slope + t * reference.stderr)
    )
    residuals = result.differences - (reference.intercept + reference.slope * result.means)
    spread = stats.linregress(result.means, np.abs(residuals))
    assert (bias.abs_intercept, bias.abs_slope) == pytest.approx(
        (spread.intercept, spread.slope), rel=1e-9
    )
    assert 0.05 < bias.slope < 0.15
    centre, low, high = bias.limits_at([2.0, 9.0])
    assert (high - low)[1] > 2 * (high - low)[0]
    # Bland & Altman (1999) §3.2: the half width is 1.96·√(π/2) times the fitted |residual|.
    assert (high - centre)[0] == pytest.approx(
        1.96 * math.sqrt(math.pi / 2) * (bias.abs_intercept + 2.0 * bias.abs_slope)
    )


def test_too_few_pairs_or_constant_means_have_no_regression() -> None:
    assert bland_altman([1.0, 2.0], [1.5, 2.5]).proportional is None
    assert bland_altman([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]).proportional is None


def test_differences_exactly_on_a_line_are_not_called_proportional_bias() -> None:
    # Zero-inflated reads: reader b saw no line (0 mm) where a measured one: d = 2·mean exactly
    # for those, d = 0 at (0, 0); two distinct points always lie on a line.
    a = [0.0, 0.0, 0.0, 0.0, 0.6, 0.6]
    b = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert bland_altman(a, b).proportional is None
