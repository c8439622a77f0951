"""Agreement statistics against published worked examples, degenerate input and simulation.

Every worked example cites where its data and printed figures come from; figures are
compared to the decimals the source prints.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

from collarreader.analysis import agreement
from collarreader.analysis.agreement import (
    AlphaLevel,
    IccForm,
    KappaWeights,
    alpha,
    base,
    bland_altman,
    cohen_kappa,
    fleiss_kappa,
    icc,
    intraclass,
    kappa,
    krippendorff_alpha,
)
from collarreader.errors import AnalysisError

# Any warning (RuntimeWarning from 0/0, library chatter) is a failure: none may leak.
pytestmark = pytest.mark.filterwarnings("error")

# ---------------------------------------------------------------- ICC

# Shrout & Fleiss (1979) Psychol Bull 86:420–428, Table 2: 6 targets × 4 judges.
SHROUT_FLEISS = np.array(
    [
        [9, 2, 5, 8],
        [6, 1, 3, 2],
        [8, 4, 6, 8],
        [7, 1, 2, 6],
        [10, 5, 6, 9],
        [6, 2, 4, 7],
    ],
    dtype=float,
)


@pytest.mark.parametrize(
    ("form", "published"),
    [
        # Shrout & Fleiss (1979) Table 4: ICC(1,1)=.17, ICC(2,1)=.29, ICC(3,1)=.71,
        # ICC(1,4)=.44, ICC(2,4)=.62, ICC(3,4)=.91.
        ("1,1", 0.17),
        ("A,1", 0.29),
        ("C,1", 0.71),
        ("1,k", 0.44),
        ("A,k", 0.62),
        ("C,k", 0.91),
    ],
)
def test_icc_shrout_fleiss_values(form: str, published: float) -> None:
    result = icc(SHROUT_FLEISS, form)
    assert result.value is not None
    assert round(result.value, 2) == published
    assert (result.n, result.k, result.n_dropped, result.note) == (6, 4, 0, "")
    assert result.form == IccForm(form)


@pytest.mark.parametrize(
    ("form", "printed"),
    [
        # R psych::ICC help page, example `ICC(sf)` on the Shrout & Fleiss data, as printed:
        # (lower bound to 3 decimals, upper bound to 2, F to 1, df2, p to 5).
        ("1,1", (-0.133, 0.72, 1.8, 18, 0.16477)),
        ("A,1", (0.019, 0.76, 11.0, 15, 0.00013)),
        ("C,1", (0.342, 0.95, 11.0, 15, 0.00013)),
        ("1,k", (-0.884, 0.91, 1.8, 18, 0.16477)),
        ("A,k", (0.071, 0.93, 11.0, 15, 0.00013)),
        ("C,k", (0.676, 0.99, 11.0, 15, 0.00013)),
    ],
)
def test_icc_shrout_fleiss_intervals_match_psych(
    form: str, printed: tuple[float, float, float, int, float]
) -> None:
    lower, upper, f_value, df2, p_value = printed
    result = icc(SHROUT_FLEISS, form)
    assert result.ci is not None
    assert round(result.ci[0], 3) == lower
    assert round(result.ci[1], 2) == upper
    assert result.f_value is not None
    assert round(result.f_value, 1) == f_value
    assert (result.df1, result.df2) == (5, df2)
    assert result.p_value is not None
    assert round(result.p_value, 5) == p_value


def test_icc_f_ratios_match_shrout_fleiss_mean_squares() -> None:
    # Shrout & Fleiss (1979) Table 2 ANOVA: BMS 11.24, WMS 6.26, JMS 32.49, EMS 1.02;
    # the one-way F is BMS/WMS and the two-way F is BMS/EMS (rounded mean squares, so 2%).
    one_way, two_way = icc(SHROUT_FLEISS, "1,1"), icc(SHROUT_FLEISS, "C,1")
    assert one_way.f_value == pytest.approx(11.24 / 6.26, rel=0.02)
    assert two_way.f_value == pytest.approx(11.24 / 1.02, rel=0.02)


def test_icc_drops_targets_with_a_missing_rating() -> None:
    with_gap = np.vstack([SHROUT_FLEISS, [[3, np.nan, 4, 5]]])
    result = icc(with_gap, "A,1")
    assert (result.n, result.n_dropped) == (6, 1)
    assert result.value == pytest.approx(icc(SHROUT_FLEISS, "A,1").value)


def test_icc_shifted_but_consistent_rater() -> None:
    truth = np.array([1.0, 4.0, 2.0, 8.0, 5.0, 7.0])
    ratings = np.column_stack([truth, truth + 3.0])
    consistency = icc(ratings, IccForm.CONSISTENCY_SINGLE)
    absolute = icc(ratings, IccForm.AGREEMENT_SINGLE)
    assert consistency.value == pytest.approx(1.0)
    assert absolute.value is not None
    assert 0.0 < absolute.value < 1.0
    # Zero residual: infinite F, so no interval, and the note says why.
    assert consistency.ci is None
    assert "residual mean square is zero" in consistency.note
    assert icc(ratings, "1,1").ci is not None


def test_icc_identical_raters_is_one() -> None:
    truth = np.array([1.0, 4.0, 2.0, 8.0, 5.0])
    for form in IccForm:
        assert icc(np.column_stack([truth, truth, truth]), form).value == pytest.approx(1.0)


def test_icc_all_ratings_identical_is_undefined_not_nan() -> None:
    result = icc(np.full((5, 3), 2.0), "A,1")
    assert result.value is None
    assert result.ci is None
    assert "identical" in result.note


def test_icc_no_between_target_variance_gives_defined_negative_value() -> None:
    # Each rater constant across targets but raters disagree: one-way ICC = −1/(k − 1).
    ratings = np.column_stack([np.full(5, 1.0), np.full(5, 2.0)])
    assert icc(ratings, "1,1").value == pytest.approx(-1.0)
    consistency = icc(ratings, "C,1")
    assert consistency.value is None
    assert "undefined" in consistency.note


@pytest.mark.parametrize(
    ("ratings", "form", "message"),
    [
        (SHROUT_FLEISS, "2,1", "Unknown ICC form"),
        (SHROUT_FLEISS[:, :1], "A,1", "at least 2 raters"),
        (SHROUT_FLEISS[:1], "A,1", "at least 2 targets"),
        (np.full((4, 3), np.nan), "A,1", "all 4 targets have a missing rating"),
        (np.array([[1.0, np.nan], [np.nan, 2.0], [3.0, 3.0]]), "A,1", "1 remain"),
        (np.ones((2, 2, 2)), "A,1", "2-D"),
        ([[1.0, np.inf], [2.0, 3.0]], "A,1", "infinite"),
        ([["a", "b"], ["c", "d"]], "A,1", "must be numbers"),
    ],
)
def test_icc_invalid_input_raises(ratings: object, form: str, message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        icc(ratings, form)  # type: ignore[arg-type]


def _simulated_readers(
    rng: np.random.Generator, biases: np.ndarray, n_targets: int, sd_true: float, sd_error: float
) -> np.ndarray:
    truth = rng.normal(20.0, sd_true, n_targets)
    noise = rng.normal(0.0, sd_error, (n_targets, biases.size))
    return truth[:, None] + biases[None, :] + noise


def test_icc_simulated_readers_with_fixed_bias() -> None:
    # Readers j = true + b_j + N(0, σ_e²); with the biases' variance σ_b² (k − 1 divisor,
    # what the rater mean square estimates) ICC(A,1) = σ_t² / (σ_t² + σ_b² + σ_e²).
    biases = np.array([-1.0, 0.0, 0.5, 1.5])
    sd_true, sd_error = 2.0, 1.0
    theory = sd_true**2 / (sd_true**2 + biases.var(ddof=1) + sd_error**2)
    ratings = _simulated_readers(np.random.default_rng(7), biases, 60, sd_true, sd_error)
    result = icc(ratings, "A,1")
    assert result.ci is not None
    assert result.ci[0] <= theory <= result.ci[1]
    assert result.value == pytest.approx(theory, abs=0.15)
    # Consistency ignores the biases: σ_t² / (σ_t² + σ_e²).
    consistency = icc(ratings, "C,1")
    assert consistency.ci is not None
    assert consistency.ci[0] <= sd_true**2 / (sd_true**2 + sd_error**2) <= consistency.ci[1]


@pytest.mark.slow
def test_icc_interval_coverage_over_simulated_studies() -> None:
    # Two-way random model (the one the ICC(A,1) interval is built for): reader biases drawn
    # afresh each study, b_j ~ N(0, σ_b²). 200 seeded studies, 30 cases × 5 readers.
    sd_true, sd_bias, sd_error = 2.0, 0.5, 1.0
    theory = sd_true**2 / (sd_true**2 + sd_bias**2 + sd_error**2)
    covered = 0
    runs = 200
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        biases = rng.normal(0.0, sd_bias, 5)
        result = icc(_simulated_readers(rng, biases, 30, sd_true, sd_error), "A,1")
        assert result.ci is not None
        covered += result.ci[0] <= theory <= result.ci[1]
    assert 0.90 <= covered / runs <= 0.99


# ---------------------------------------------------------------- Cohen's kappa


def _labels_from_table(table: list[list[int]], categories: list[object]) -> tuple[list, list]:
    first: list[object] = []
    second: list[object] = []
    for row_index, row in enumerate(table):
        for column_index, count in enumerate(row):
            first += [categories[row_index]] * count
            second += [categories[column_index]] * count
    return first, second


def test_cohen_kappa_wikipedia_example() -> None:
    # Wikipedia "Cohen's kappa", worked example: 50 grant proposals, Yes/Yes 20, Yes/No 5,
    # No/Yes 10, No/No 15: p_o = 0.7, p_e = 0.5, κ = 0.4.
    a, b = _labels_from_table([[20, 5], [10, 15]], ["Yes", "No"])
    result = cohen_kappa(a, b)
    assert result.value == pytest.approx(0.4)
    assert result.observed_agreement == pytest.approx(0.7)
    assert result.n == 50


# SAS PROC FREQ (AGREE option) output for the 3 × 3 table below, as recorded in statsmodels'
# own test suite (statsmodels/stats/tests/test_inter_rater.py, TestUnweightedCohens and
# TestWeightedCohens). SAS's ASE is the Fleiss, Cohen & Everitt (1969) standard error and its
# default weights are Cicchetti–Allison (linear).
SAS_TABLE = [[0, 4, 1], [0, 8, 0], [0, 1, 5]]


def test_cohen_kappa_sas_unweighted() -> None:
    a, b = _labels_from_table(SAS_TABLE, [1, 2, 3])
    result = cohen_kappa(a, b, categories=[1, 2, 3])
    assert result.value is not None
    assert result.se is not None
    assert result.ci is not None
    assert round(result.value, 4) == 0.4842
    assert round(result.se, 4) == 0.1380
    assert (round(result.ci[0], 4), round(result.ci[1], 4)) == (0.2137, 0.7547)


def test_cohen_kappa_sas_weighted_linear() -> None:
    a, b = _labels_from_table(SAS_TABLE, [1, 2, 3])
    result = cohen_kappa(a, b, weights="linear", categories=[1, 2, 3])
    assert result.value is not None
    assert result.se is not None
    assert result.ci is not None
    assert round(result.value, 4) == 0.4701
    assert round(result.se, 4) == 0.1457
    assert (round(result.ci[0], 4), round(result.ci[1], 4)) == (0.1845, 0.7558)
    assert result.weights is KappaWeights.LINEAR


# R package irr, dataset `anxiety` (20 subjects rated 1–6 by 3 raters); raters 2 and 3.
# irr::kappa2 output as recorded in statsmodels' test_inter_rater.py (test_cohens_kappa_irr).
ANXIETY_RATER2 = [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4]
ANXIETY_RATER3 = [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2]


@pytest.mark.parametrize(
    ("weights", "irr_value"),
    [
        (None, -0.006289308),  # kappa2(anxiety[,2:3])
        ("linear", 0.1459075),  # kappa2(anxiety[,2:3], "equal")
        ("quadratic", 0.2520325),  # kappa2(anxiety[,2:3], "squared")
    ],
)
def test_cohen_kappa_matches_r_irr(weights: str | None, irr_value: float) -> None:
    # irr uses the categories that occur (1, 2, 3, 4, 6), as our default does.
    result = cohen_kappa(ANXIETY_RATER2, ANXIETY_RATER3, weights=weights)
    assert result.categories == (1, 2, 3, 4, 6)
    assert result.value == pytest.approx(irr_value, abs=5e-7)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_equals_scikit_learn(weights: str | None) -> None:
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(3)
    a = rng.integers(0, 4, 80)
    b = np.clip(a + rng.integers(-1, 2, 80), 0, 3)
    ours = cohen_kappa(a, b, weights=weights)
    assert ours.value == pytest.approx(cohen_kappa_score(a, b, weights=weights), abs=1e-12)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_identical_sequences_is_one(weights: str | None) -> None:
    labels = ["none", "partial", "full", "partial", "none", "full"]
    result = cohen_kappa(labels, list(labels), weights=weights)
    assert result.value == pytest.approx(1.0)
    assert result.ci == pytest.approx((1.0, 1.0))


def test_cohen_kappa_weighted_follows_given_category_order() -> None:
    order = ["none", "partial", "full"]
    a = ["none", "none", "partial", "full", "full", "partial", "none", "full"]
    b = ["partial", "none", "full", "full", "partial", "partial", "none", "none"]
    clinical = cohen_kappa(a, b, weights="linear", categories=order)
    alphabetical = cohen_kappa(a, b, weights="linear")
    assert alphabetical.categories == ("full", "none", "partial")
    assert clinical.categories == tuple(order)
    assert clinical.value != pytest.approx(alphabetical.value)
    # The unweighted statistic does not depend on the order.
    assert cohen_kappa(a, b, categories=order).value == pytest.approx(cohen_kappa(a, b).value)


def test_cohen_kappa_single_shared_category_is_undefined() -> None:
    result = cohen_kappa(["none"] * 6, ["none"] * 6)
    assert result.value is None
    assert result.ci is None
    assert "chance agreement is 1" in result.note
    assert result.observed_agreement == 1.0
    # Declaring the other categories does not make chance agreement any less than 1.
    weighted = cohen_kappa(["none"] * 6, ["none"] * 6, "quadratic", ["none", "partial", "full"])
    assert weighted.value is None


def test_cohen_kappa_drops_missing_labels() -> None:
    a = ["x", "y", None, "x", "y", float("nan")]
    b = ["x", "y", "x", None, "x", "y"]
    result = cohen_kappa(a, b)
    assert (result.n, result.n_dropped) == (3, 3)
    assert result.value == pytest.approx(cohen_kappa(["x", "y", "y"], ["x", "y", "x"]).value)


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "message"),
    [
        (["x", "y"], ["x"], {}, "same length"),
        (["x", "y"], ["x", "y"], {"weights": "cubic"}, "Unknown kappa weights"),
        (["x", "y"], ["x", "z"], {"categories": ["x", "y"]}, "not among categories"),
        (["x", "y"], ["x", "y"], {"categories": ["x", "y", "x"]}, "must not repeat"),
        (["x", None], ["x", "y"], {}, "at least 2 subjects"),
        ([1, "x"], [1, "x"], {}, "cannot be sorted"),
        ([["x", "y"]], [["x", "y"]], {}, "1-D"),
    ],
)
def test_cohen_kappa_invalid_input_raises(
    a: list[object], b: list[object], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(AnalysisError, match=message):
        cohen_kappa(a, b, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- Fleiss' kappa

# Wikipedia "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories; κ = 0.210.
WIKIPEDIA_FLEISS = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)

# Fleiss (1971) Psychol Bull 76:378–382: 30 patients, 6 psychiatrists, 5 diagnoses; the raw
# ratings as distributed in R package irr (dataset `diagnoses`), κ = 0.430 in the paper,
# 0.4302445 from irr::kappam.fleiss.
FLEISS_1971_DIAGNOSES = np.array(
    [
        [4, 4, 4, 4, 4, 4],
        [2, 2, 2, 5, 5, 5],
        [2, 3, 3, 3, 3, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4],
        [1, 1, 3, 3, 3, 3],
        [3, 3, 3, 3, 5, 5],
        [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4],
        [5, 5, 5, 5, 5, 5],
        [1, 4, 4, 4, 4, 4],
        [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3],
        [1, 4, 4, 4, 4, 4],
        [2, 2, 4, 4, 4, 5],
        [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5],
        [1, 1, 1, 1, 1, 2],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 4, 4, 4, 4, 4],
        [2, 2, 4, 5, 5, 5],
        [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5],
        [2, 2, 2, 2, 2, 4],
        [1, 1, 1, 1, 5, 5],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3],
        [5, 5, 5, 5, 5, 5],
    ]
)


def _counts(ratings: np.ndarray, categories: list[int]) -> np.ndarray:
    return np.stack([(ratings == category).sum(axis=1) for category in categories], axis=1)


def test_fleiss_kappa_wikipedia_example() -> None:
    result = fleiss_kappa(WIKIPEDIA_FLEISS)
    assert result.value is not None
    assert round(result.value, 3) == 0.210
    assert (result.n, result.n_raters, result.n_categories) == (10, 14, 5)


def test_fleiss_kappa_fleiss_1971_example() -> None:
    result = fleiss_kappa(_counts(FLEISS_1971_DIAGNOSES, [1, 2, 3, 4, 5]))
    assert result.value is not None
    assert round(result.value, 3) == 0.430
    assert result.value == pytest.approx(0.4302445, abs=5e-8)
    assert result.ci is not None
    assert result.ci[0] < result.value < result.ci[1]
    assert result.n_boot == agreement.DEFAULT_N_BOOT


def test_fleiss_bootstrap_engine_equals_statsmodels_on_resamples() -> None:
    counts = _counts(FLEISS_1971_DIAGNOSES, [1, 2, 3, 4, 5]).astype(float)
    rng = np.random.default_rng(11)
    picks = rng.integers(0, len(counts), size=(5, len(counts)))
    weights = np.stack([np.bincount(pick, minlength=len(counts)) for pick in picks])
    engine = kappa._fleiss_engine(counts, weights.astype(float))
    expected = [statsmodels_fleiss(counts[pick]) for pick in picks]
    assert engine == pytest.approx(expected, abs=1e-12)
    assert kappa._fleiss_engine(counts, np.ones((1, len(counts))))[0] == pytest.approx(
        statsmodels_fleiss(counts), abs=1e-12
    )


def test_fleiss_kappa_bootstrap_is_seeded() -> None:
    first = fleiss_kappa(WIKIPEDIA_FLEISS, seed=5)
    assert fleiss_kappa(WIKIPEDIA_FLEISS, seed=5).ci == first.ci
    assert fleiss_kappa(WIKIPEDIA_FLEISS, seed=6).ci != first.ci
    no_interval = fleiss_kappa(WIKIPEDIA_FLEISS, n_boot=0)
    assert (no_interval.ci, no_interval.n_boot) == (None, 0)
    assert no_interval.value == first.value


def test_fleiss_kappa_perfect_agreement_is_one() -> None:
    result = fleiss_kappa([[3, 0], [0, 3], [3, 0], [0, 3]])
    assert result.value == pytest.approx(1.0)


def test_fleiss_kappa_single_category_is_undefined() -> None:
    result = fleiss_kappa([[4, 0, 0], [4, 0, 0], [4, 0, 0]])
    assert result.value is None
    assert result.ci is None
    assert "one category" in result.note


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ([[2, 1], [1, 1]], "same number of ratings"),
        ([[2, -1], [1, 0]], "non-negative whole numbers"),
        ([[1.5, 1.5], [2, 1]], "non-negative whole numbers"),
        ([[1, 2]], "at least 2 subjects"),
        ([[1, 0], [0, 1]], "at least 2 raters"),
        ([[1, np.nan], [1, 1]], "NaN"),
        ([1, 2, 3], "2-D"),
    ],
)
def test_fleiss_kappa_invalid_input_raises(counts: object, message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        fleiss_kappa(counts)  # type: ignore[arg-type]


# ---------------------------------------------------------------- Krippendorff's alpha

# Krippendorff (2011) "Computing Krippendorff's alpha-reliability", Annenberg School for
# Communication, section C (multiple coders, missing values): 4 observers × 12 units.
# Printed: nominal α = 0.743, ordinal α = 0.815, interval α = 0.849, ratio α = 0.797.
NAN = np.nan
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_2011_worked_example(level: str, published: float) -> None:
    result = krippendorff_alpha(KRIPPENDORFF_2011, level)
    assert result.value is not None
    assert round(result.value, 3) == published
    # Unit 12 has a single value and is not pairable; 40 pairable values remain.
    assert (result.n_units, result.n_values) == (11, 40)
    assert result.level == AlphaLevel(level)
    assert result.ci is not None
    assert result.ci[0] < result.value < result.ci[1]


def test_krippendorff_text_labels_with_ordered_categories() -> None:
    # The same example coded as words (the krippendorff package's docstring uses this form).
    words = ["very low", "low", "mid", "high", "very high"]
    labels = [
        [None if np.isnan(v) else words[int(v) - 1] for v in row] for row in KRIPPENDORFF_2011
    ]
    ordinal = krippendorff_alpha(labels, "ordinal", categories=words)
    nominal = krippendorff_alpha(labels, "nominal")
    assert ordinal.value is not None
    assert nominal.value is not None
    assert round(ordinal.value, 3) == 0.815
    assert round(nominal.value, 3) == 0.743


@pytest.mark.parametrize("level", list(AlphaLevel))
def test_alpha_bootstrap_engine_equals_package_on_resamples(level: AlphaLevel) -> None:
    import krippendorff

    rng = np.random.default_rng(2)
    data = rng.integers(1, 6, size=(4, 40)).astype(float)
    data[0] = np.clip(data[1] + rng.integers(-1, 2, 40), 1, 5)
    data[rng.random(data.shape) < 0.15] = np.nan
    domain = np.arange(1.0, 6.0)
    value_counts = (data.T[:, :, None] == domain).sum(axis=1).astype(float)
    value_counts = value_counts[value_counts.sum(axis=1) >= 2]
    n_units = len(value_counts)
    picks = rng.integers(0, n_units, size=(4, n_units))
    weights = np.stack([np.bincount(pick, minlength=n_units) for pick in picks]).astype(float)
    engine = alpha._alpha_engine(value_counts, domain, level, weights)
    expected = [
        krippendorff.alpha(
            value_counts=value_counts[pick], value_domain=domain, level_of_measurement=level
        )
        for pick in picks
    ]
    assert engine == pytest.approx(expected, abs=1e-12)
    whole = alpha._alpha_engine(value_counts, domain, level, np.ones((1, n_units)))
    assert whole[0] == pytest.approx(krippendorff_alpha(data, level, n_boot=0).value, abs=1e-12)


def test_krippendorff_bootstrap_is_seeded() -> None:
    first = krippendorff_alpha(KRIPPENDORFF_2011, "ordinal", seed=1)
    assert krippendorff_alpha(KRIPPENDORFF_2011, "ordinal", seed=1).ci == first.ci
    assert krippendorff_alpha(KRIPPENDORFF_2011, "ordinal", seed=2).ci != first.ci
    assert krippendorff_alpha(KRIPPENDORFF_2011, "ordinal", n_boot=0).ci is None


def test_krippendorff_single_value_is_undefined_not_nan() -> None:
    # Every rating the same value: no disagreement is expected, so alpha is 0/0.
    result = krippendorff_alpha([[2, 2, 2, 2], [2, 2, NAN, 2]], "nominal")
    assert result.value is None
    assert result.ci is None
    assert (result.n_units, result.n_values, result.n_boot) == (3, 6, 0)
    assert result.note.startswith("Alpha undefined: every rating is the same value")


def test_krippendorff_perfect_agreement_is_one() -> None:
    data = [[1, 2, 3, 1, 2], [1, 2, 3, 1, 2], [1, 2, NAN, 1, 2]]
    result = krippendorff_alpha(data, "nominal")
    assert result.value == pytest.approx(1.0)
    # Every resample is perfect too (or undefined when only one value is drawn).
    assert result.ci is not None
    assert result.ci == pytest.approx((1.0, 1.0))


def test_krippendorff_single_value_everywhere_is_undefined() -> None:
    result = krippendorff_alpha([[2, 2, 2, NAN], [2, 2, NAN, 2]], "interval")
    assert result.value is None
    assert result.ci is None
    assert "same value" in result.note


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        (KRIPPENDORFF_2011, {"level": "cardinal"}, "Unknown Krippendorff level"),
        (KRIPPENDORFF_2011[:1], {}, "at least 2 raters"),
        ([[1, NAN, 2], [NAN, 1, NAN]], {}, "at least 2 units"),
        ([[NAN, NAN], [NAN, NAN]], {}, "at least 2 units"),
        ([["a", "b"], ["a", "b"]], {"level": "interval"}, "needs numeric data"),
        ([["a", "b"], ["a", "b"]], {"level": "ordinal"}, "needs categories"),
        ([["a", "b"], ["a", "c"]], {"categories": ["a", "b"]}, "not among categories"),
        ([1, 2, 3], {}, "2-D"),
        ([[0, -1, 2], [0, -1, 1]], {"level": "ratio"}, "non-negative"),
    ],
)
def test_krippendorff_invalid_input_raises(
    data: object, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(AnalysisError, match=message):
        krippendorff_alpha(data, **kwargs)  # type: ignore[arg-type]


def test_krippendorff_refuses_a_huge_value_domain_with_advice() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(2, 400))
    with pytest.raises(AnalysisError, match="round the values"):
        krippendorff_alpha(data, "interval")


# ---------------------------------------------------------------- Bland–Altman

# Bland & Altman (1986) Lancet 327:307–310, Table 1: peak expiratory flow rate (l/min) of 17
# subjects, first reading with the large Wright meter and with the mini Wright meter.
WRIGHT_LARGE = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427]
WRIGHT_MINI = [512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451]


def test_bland_altman_pefr_example() -> None:
    result = bland_altman(WRIGHT_LARGE, WRIGHT_MINI)
    # Printed: mean difference −2.1 l/min, SD 38.8 l/min.
    assert round(result.bias, 1) == -2.1
    assert round(result.sd, 1) == 38.8
    # Printed limits use d̄ ± 2s from the rounded figures: −79.7 and 75.5 l/min.
    assert result.bias - 2 * result.sd == pytest.approx(-79.7, abs=0.1)
    assert result.bias + 2 * result.sd == pytest.approx(75.5, abs=0.1)
    # Printed: SE of the mean difference 9.4, of each limit √(3s²/n) = 16.3; the 95 % CI of
    # the bias (t = 2.12, 16 df) −22.0 to 17.8 l/min.
    assert round(result.sd / np.sqrt(result.n), 1) == 9.4
    assert round(result.sd * np.sqrt(3 / result.n), 1) == 16.3
    assert (round(result.bias_ci[0], 1), round(result.bias_ci[1], 1)) == (-22.0, 17.8)
    # With the 1.96 multiplier used here the limits are −78 to 74 l/min.
    assert (round(result.lower), round(result.upper)) == (-78, 74)
    half_width = result.upper_ci_approx[1] - result.upper
    assert half_width == pytest.approx(2.12 * 16.28, rel=0.01)
    assert result.lower_ci_approx[1] - result.lower == pytest.approx(half_width)
    assert result.sdd == pytest.approx(1.96 * result.sd)
    assert result.value == result.bias
    assert (result.n, result.n_dropped) == (17, 0)
    assert result.differences.shape == result.means.shape == (17,)
    assert result.differences[0] == 494 - 512
    assert result.means[0] == (494 + 512) / 2


def test_bland_altman_identical_series() -> None:
    result = bland_altman([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert (result.bias, result.sd, result.lower, result.upper, result.sdd) == (0, 0, 0, 0, 0)
    assert result.bias_ci == (0.0, 0.0)


def test_bland_altman_drops_missing_pairs_and_arrays_are_read_only() -> None:
    result = bland_altman([1.0, np.nan, 3.0, 4.0], [1.5, 2.0, np.nan, 4.5])
    assert (result.n, result.n_dropped) == (2, 2)
    assert result.bias == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="read-only"):
        result.differences[0] = 0.0


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ([1.0, 2.0], [1.0], "same length"),
        ([1.0, np.nan], [1.0, 2.0], "at least 2 complete pairs"),
        ([[1.0, 2.0]], [[1.0, 2.0]], "1-D"),
        ([1.0, np.inf], [1.0, 2.0], "infinite"),
        (["a", "b"], [1.0, 2.0], "needs numbers"),
    ],
)
def test_bland_altman_invalid_input_raises(a: object, b: object, message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        bland_altman(a, b)  # type: ignore[arg-type]


# ---------------------------------------------------------------- fast paths = the libraries
#
# icc() and cohen_kappa() compute pingouin's and statsmodels' figures with the same formulas
# in numpy (speed: DESIGN §10). These properties prove them equal to the libraries, which stay
# the reference, on generated data of many shapes.

_ratings = st.tuples(st.integers(2, 40), st.integers(2, 8), st.booleans()).flatmap(
    lambda shape: hnp.arrays(
        np.float64,
        shape[:2],
        elements=(
            st.integers(0, 10).map(float)
            if shape[2]
            else st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)
        ),
    )
)


def _same(ours: float, reference: float, *, rel: float = 0.0) -> bool:
    if math.isnan(reference) or math.isinf(reference):
        return ours == reference or (math.isnan(ours) and math.isnan(reference))
    return abs(ours - reference) <= 1e-9 + rel * abs(reference)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ratings=_ratings)
# Found by hypothesis: the A,k lower bound lands on (or within rounding of) −1/(k − 1), the
# pole of the Spearman–Brown step; the closed form must leave such data to pingouin.
@example(ratings=np.array([[0.0, 0.0, 0.0, 0.0], [0.0, -80.0, 169.0, 0.0]]))
@example(ratings=np.array([[0.0, 0.0, 0.0, 0.0, 0.0], [-239.0, 0.0, 0.0, 170.0, 0.0]]))
@example(ratings=np.array([[-111.0, 335.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]]))
def test_icc_closed_form_equals_pingouin(ratings: np.ndarray) -> None:
    n, k = ratings.shape
    assume(n * k >= 5 and np.ptp(ratings) > 0)
    for form in IccForm:
        reference = intraclass._icc_pingouin(ratings, form)
        ours = intraclass._icc_closed_form(ratings, form)
        if ours is None:  # too close to exact agreement: icc() itself uses pingouin
            continue
        assert (ours.df1, ours.df2) == (reference.df1, reference.df2)
        assert _same(ours.value, reference.value), form
        assert _same(ours.low, reference.low), form
        assert _same(ours.high, reference.high), form
        assert _same(ours.f_value, reference.f_value, rel=1e-9), form
        assert _same(ours.p_value, reference.p_value), form


def test_icc_uses_the_closed_form_on_ordinary_data_and_pingouin_near_exact_agreement() -> None:
    for form in IccForm:
        ours = intraclass._icc_closed_form(SHROUT_FLEISS, form)
        assert ours is not None
        reference = intraclass._icc_pingouin(SHROUT_FLEISS, form)
        assert ours.value == pytest.approx(reference.value, abs=1e-12)
        assert (ours.low, ours.high) == pytest.approx((reference.low, reference.high), abs=1e-12)
    # Residual sum of squares ~1e-8 of the total: left to pingouin.
    truth = np.arange(10.0)
    shifted = np.column_stack([truth, truth + 3.0, truth + 1e-4 * (truth % 2)])
    assert intraclass._icc_closed_form(shifted, "A,1") is None
    assert icc(shifted, "A,1").value == pytest.approx(
        intraclass._icc_pingouin(shifted, IccForm.AGREEMENT_SINGLE).value
    )


def test_icc_two_targets_two_raters_is_too_few_in_words() -> None:
    # pingouin's ANOVA asserts on fewer than 5 ratings; icc() says so as an AnalysisError.
    with pytest.raises(AnalysisError, match="at least 5 ratings; 2 complete targets × 2 raters"):
        icc([[1.0, 1.5], [2.0, 2.0]], "A,1")
    assert icc([[1.0, 1.5], [2.0, 2.0], [3.0, 2.5]], "A,1").value is not None


_tables = st.integers(2, 6).flatmap(
    lambda size: hnp.arrays(np.float64, (size, size), elements=st.integers(0, 20).map(float))
)


@settings(max_examples=150, deadline=None)
@given(table=_tables, weights=st.sampled_from([None, "linear", "quadratic"]))
def test_kappa_statistics_equal_statsmodels(table: np.ndarray, weights: str | None) -> None:
    from statsmodels.stats.inter_rater import cohens_kappa

    assume(table.sum() >= 2)
    chosen = None if weights is None else KappaWeights(weights)
    n = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n**2
    assume((kappa._kappa_disagreement_weights(len(table), chosen) * expected).sum() > 0)
    value, variance = kappa._kappa_statistics(table, chosen)
    with np.errstate(all="ignore"):
        reference = cohens_kappa(table, wt=weights)
    assert value == pytest.approx(float(reference.kappa), abs=1e-12)
    assert variance == pytest.approx(float(reference.var_kappa), abs=1e-12)


def test_kappa_interval_multiplier_is_the_normal_quantile() -> None:
    from scipy import stats

    assert float(stats.norm.isf(0.025)) == kappa._Z_975


_label_pairs = st.integers(2, 60).flatmap(
    lambda size: st.tuples(
        hnp.arrays(np.float64, size, elements=st.sampled_from([0.0, 1.0, 2.0, 3.0, np.nan])),
        hnp.arrays(np.float64, size, elements=st.sampled_from([0.0, 1.0, 2.0, 3.0, np.nan])),
    )
)


@settings(max_examples=100, deadline=None)
@given(
    pair=_label_pairs,
    weights=st.sampled_from([None, "quadratic"]),
    categories=st.sampled_from([None, [0.0, 1.0, 2.0, 3.0], [3, 2, 1, 0]]),
)
def test_cohen_kappa_numeric_path_equals_label_path(
    pair: tuple[np.ndarray, np.ndarray], weights: str | None, categories: list[float] | None
) -> None:
    first, second = pair

    def outcome(a: object, b: object) -> object:
        try:
            return cohen_kappa(a, b, weights=weights, categories=categories)  # type: ignore[arg-type]
        except AnalysisError as error:
            return str(error)

    # Python lists of floats take the label-by-label path.
    assert outcome(first, second) == outcome(first.tolist(), second.tolist())


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_alpha_numeric_path_equals_label_path(level: str) -> None:
    data = KRIPPENDORFF_2011.copy()
    categories = [1.0, 2.0, 3.0, 4.0, 5.0]
    fast = krippendorff_alpha(data, level, categories=categories)
    labels = [[None if np.isnan(v) else float(v) for v in row] for row in data]
    slow = krippendorff_alpha(labels, level, categories=categories)
    assert fast == slow
    with pytest.raises(AnalysisError, match="not among categories"):
        krippendorff_alpha(data, level, categories=categories[:-1])


def test_bootstrap_weights_are_seeded_multinomial_counts() -> None:
    weights = base._bootstrap_weights(50, 4000, seed=3)
    assert weights.shape == (4000, 50)
    assert (weights.sum(axis=1) == 50).all()
    np.testing.assert_array_equal(weights, base._bootstrap_weights(50, 4000, seed=3))
    assert not np.array_equal(weights, base._bootstrap_weights(50, 4000, seed=4))
    # Multinomial(50, 1/50) per row: each count has mean 1 and variance 1 − 1/50.
    assert weights.mean() == pytest.approx(1.0)
    assert weights.var(axis=0).mean() == pytest.approx(1 - 1 / 50, abs=0.03)
