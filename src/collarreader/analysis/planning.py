"""Planning a reliability study: how many cases give an ICC interval of a chosen width.

Bonett (2002), "Sample size requirements for estimating intraclass correlations with desired
precision", *Stat Med* 21:1331–1335, eq. 5: for an ICC ρ expected from k raters, the number of
cases for a (1 − α) confidence interval of width w is

    n = 8 · z²_{α/2} · (1 − ρ)² · (1 + (k − 1)ρ)² / (k · (k − 1) · w²) + 1,

rounded up. Inverting the same approximation gives the width a study of n cases achieves,
which the report prints beside each field's interval.
"""

from __future__ import annotations

import math

from collarreader.errors import AnalysisError

__all__ = ["icc_ci_width", "icc_sample_size"]


def _z(confidence: float) -> float:
    from scipy import stats

    if not 0.0 < confidence < 1.0:
        raise AnalysisError(f"confidence must be between 0 and 1 (e.g. 0.95); got {confidence}.")
    return float(stats.norm.ppf(1.0 - (1.0 - confidence) / 2.0))


def _check(icc: float, raters: int) -> None:
    if not 0.0 <= icc < 1.0:
        raise AnalysisError(f"The expected ICC must be at least 0 and below 1; got {icc}.")
    if int(raters) != raters or raters < 2:
        raise AnalysisError(f"A reliability study needs at least 2 raters; got {raters}.")


def _variance_factor(icc: float, raters: int, z: float) -> float:
    return 8.0 * z**2 * (1.0 - icc) ** 2 * (1.0 + (raters - 1) * icc) ** 2 / (raters * (raters - 1))


def icc_sample_size(*, icc: float, ci_width: float, raters: int, confidence: float = 0.95) -> int:
    """Cases needed for an ICC confidence interval of the given total width (Bonett 2002).

    Parameters
    ----------
    icc : the ICC the study expects (planning value ρ, 0 ≤ ρ < 1).
    ci_width : the total width w of the interval wanted (upper − lower bound, 0 < w < 1).
    raters : readers k who each read every case (≥ 2).
    confidence : the interval's confidence level (0.95).

    Returns
    -------
    int
        Cases n, rounded up (Bonett 2002 eq. 5: ρ = 0.8, k = 2, w = 0.2 gives 51).

    Raises
    ------
    AnalysisError
        If a value is outside its range.
    """
    _check(icc, raters)
    if not 0.0 < ci_width < 1.0:
        raise AnalysisError(f"The interval width must be between 0 and 1; got {ci_width}.")
    n = _variance_factor(icc, raters, _z(confidence)) / ci_width**2 + 1.0
    # A float a hair above an integer (e.g. 51.0000000001) must not add a case.
    return math.ceil(round(n, 9))


def icc_ci_width(*, icc: float, n: int, raters: int, confidence: float = 0.95) -> float:
    """The total interval width n cases achieve for an ICC near ``icc`` (Bonett 2002, inverted).

    Parameters
    ----------
    icc : the ICC (the study's estimate, or a planning value).
    n : cases (≥ 2).
    raters : readers per case (≥ 2).
    confidence : the interval's confidence level (0.95).

    Returns
    -------
    float
        Expected total width w of the interval.
    """
    _check(max(icc, 0.0), raters)
    if n < 2:
        raise AnalysisError(f"An ICC interval needs at least 2 cases; got {n}.")
    return math.sqrt(_variance_factor(max(icc, 0.0), raters, _z(confidence)) / (n - 1))
