"""SEM and MDC95 against Shrout & Fleiss's printed ANOVA and the paired-difference identity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from collarreader.analysis.agreement import bland_altman, measurement_error
from collarreader.errors import AnalysisError

# Shrout & Fleiss (1979) Psychol Bull 86:420–428, Table 2: 6 targets × 4 judges.
SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
    dtype=float,
)


def test_sem_from_the_printed_mean_squares() -> None:
    result = measurement_error(SHROUT_FLEISS)
    # Printed ANOVA (Table 2): JMS 32.49, EMS 1.02, n = 6 targets. By hand:
    # σ²_rater = (32.49 − 1.02)/6 = 5.245; SEM = √(5.245 + 1.02) = 2.503;
    # SEM_consistency = √1.02 = 1.010; MDC95 = 1.96·√2·2.503 = 6.94.
    assert result.variance_error == pytest.approx(1.02, abs=0.005)
    assert result.variance_rater == pytest.approx(5.245, abs=0.005)
    assert round(result.sem, 2) == 2.50
    assert round(result.sem_consistency, 2) == 1.01
    assert round(result.mdc95, 2) == 6.94
    assert (result.n, result.k, result.n_dropped) == (6, 4, 0)


def test_two_reads_without_systematic_difference_give_sd_of_differences_over_root_two() -> None:
    # For two reads, EMS = SD(d)²/2 (Bland & Altman 1996 BMJ 313:744): SEM_consistency =
    # SD(d)/√2 and MDC95 from it = 1.96·SD(d), the Bland–Altman smallest detectable difference.
    rng = np.random.default_rng(5)
    first = rng.normal(3.0, 1.0, 40)
    second = first + rng.normal(0.0, 0.3, 40)
    result = measurement_error(np.column_stack([first, second]))
    ba = bland_altman(first, second)
    assert result.sem_consistency == pytest.approx(ba.sd / math.sqrt(2))
    assert 1.96 * math.sqrt(2) * result.sem_consistency == pytest.approx(ba.sdd)
    assert result.sem >= result.sem_consistency


def test_missing_rows_are_dropped_and_counted() -> None:
    with_gap = np.vstack([SHROUT_FLEISS, [[3, np.nan, 4, 5]]])
    result = measurement_error(with_gap)
    assert result.n_dropped == 1
    assert result.sem == pytest.approx(measurement_error(SHROUT_FLEISS).sem)


@pytest.mark.parametrize(
    ("ratings", "message"),
    [
        (SHROUT_FLEISS[:, :1], "at least 2 raters"),
        (SHROUT_FLEISS[:1], "at least 2 cases"),
        ([1.0, 2.0], "2-D"),
    ],
)
def test_bad_input_raises(ratings: object, message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        measurement_error(ratings)  # type: ignore[arg-type]
