"""Bonett (2002) sample sizes for an ICC interval of chosen width."""

from __future__ import annotations

import pytest

from collarreader.analysis.planning import icc_ci_width, icc_sample_size
from collarreader.errors import AnalysisError


def test_bonett_2002_example() -> None:
    # Bonett (2002) Stat Med 21:1331–1335: ρ = 0.8, k = 2, w = 0.2, 95 % → 51 cases.
    assert icc_sample_size(icc=0.8, ci_width=0.2, raters=2) == 51


@pytest.mark.parametrize(
    ("icc", "width", "raters", "cases"),
    [
        # By hand, z = 1.95996, z² = 3.84146; n = 8z²(1−ρ)²(1+(k−1)ρ)²/(k(k−1)w²) + 1:
        # 8·3.84146·0.16·2.56/(2·0.04) + 1 = 158.35 → 159
        (0.6, 0.2, 2, 159),
        # 8·3.84146·0.09·5.76/(6·0.09) + 1 = 30.50 → 31
        (0.7, 0.3, 3, 31),
        # 8·3.84146·0.01·13.69/(12·0.01) + 1 = 36.06 → 37
        (0.9, 0.1, 4, 37),
    ],
)
def test_hand_computed_cases(icc: float, width: float, raters: int, cases: int) -> None:
    assert icc_sample_size(icc=icc, ci_width=width, raters=raters) == cases


def test_more_confidence_needs_more_cases_and_width_inverts_size() -> None:
    assert icc_sample_size(icc=0.8, ci_width=0.2, raters=2, confidence=0.99) > 51
    width = icc_ci_width(icc=0.8, n=51, raters=2)
    assert 0.19 < width <= 0.2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"icc": 1.0, "ci_width": 0.2, "raters": 2}, "below 1"),
        ({"icc": 0.8, "ci_width": 0.0, "raters": 2}, "width"),
        ({"icc": 0.8, "ci_width": 0.2, "raters": 1}, "at least 2 raters"),
        ({"icc": 0.8, "ci_width": 0.2, "raters": 2, "confidence": 95}, "confidence"),
    ],
)
def test_bad_values_raise(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        icc_sample_size(**kwargs)  # type: ignore[arg-type]


def test_plan_command_prints_the_cases(capsys: pytest.CaptureFixture[str]) -> None:
    from collarreader import cli

    assert cli.main(["plan", "--icc", "0.8", "--ci-width", "0.2", "--raters", "2"]) == 0
    assert capsys.readouterr().out.startswith("51 cases")
    assert cli.main(["plan", "--icc", "1.2", "--ci-width", "0.2", "--raters", "2"]) == 1
    assert "expected ICC must be at least 0 and below 1; got 1.2" in capsys.readouterr().err
