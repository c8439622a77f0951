"""Agreement tables: method per level, n counts, intra via repeat_of, awkward data, ranking."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from collarreader.analysis import agreement
from collarreader.analysis.tables import (
    AGREEMENT_COLUMNS,
    BLAND_ALTMAN_COLUMNS,
    DISAGREEMENT_COLUMNS,
    agreement_tables,
)
from collarreader.analysis.tidy import TIDY_COLUMNS
from collarreader.protocol import Protocol, load_protocol

BRIDGING = ("none", "partial", "complete")


@pytest.fixture(scope="module")
def protocol() -> Protocol:
    return load_protocol("collar-default")


def value_row(
    reader: str,
    case: str,
    field: str,
    value: str,
    *,
    zone: str = "medial",
    view: str = "AP",
    timepoint: str = "6m",
    kind: str = "primary",
    repeat_of: str = "",
    submitted: bool = True,
) -> dict[str, object]:
    return {
        "reader": reader,
        "case_code": case,
        "kind": kind,
        "repeat_of": repeat_of,
        "joint": "knee",
        "view": view,
        "timepoint": timepoint,
        "zone": zone,
        "field": field,
        "value": value,
        "unit": "",
        "calibration_source": "",
        "source": "entered",
        "submitted": submitted,
    }


def table(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(TIDY_COLUMNS))


def rows_of(frame: pd.DataFrame, **where: str) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    return frame[mask]


def one(frame: pd.DataFrame, **where: str) -> pd.Series:
    found = rows_of(frame, **where)
    assert len(found) == 1, found
    return found.iloc[0]


# ---------------------------------------------------------------- two readers

EXTENT_A = [10, 20, 35, 50, 60, 80, 90, 15]
EXTENT_B = [12, 18, 40, 45, 65, 85, np.nan, 20]  # B left case 7 empty
GRADE_A = ["none", "partial", "complete", "partial", "none", "complete", "partial", "none"]
GRADE_B = ["none", "partial", "partial", "partial", "partial", "complete", "partial", "none"]


def two_reader_rows() -> list[dict[str, object]]:
    rows = []
    for index in range(8):
        case = f"C{index}"
        for reader, extent, grade in (
            ("A", EXTENT_A[index], GRADE_A[index]),
            ("B", EXTENT_B[index], GRADE_B[index]),
        ):
            text = "" if isinstance(extent, float) and math.isnan(extent) else str(extent)
            rows.append(value_row(reader, case, "bridging_extent", text))
            rows.append(value_row(reader, case, "bridging", grade))
            rows.append(value_row(reader, case, "osteolysis", "yes" if index % 3 == 0 else "no"))
    return rows


def test_two_readers_method_per_level(protocol: Protocol) -> None:
    result = agreement_tables(table(two_reader_rows()), protocol, n_boot=0)
    inter = result.inter
    assert list(inter.columns) == list(AGREEMENT_COLUMNS)
    assert list(result.bland_altman.columns) == list(BLAND_ALTMAN_COLUMNS)

    icc_row = one(inter, field="bridging_extent")
    expected = agreement.icc(np.column_stack([EXTENT_A, EXTENT_B]), form="A,1")
    assert icc_row["method"] == "ICC(A,1)"
    assert icc_row["n"] == 7  # complete cases only
    assert icc_row["value"] == pytest.approx(expected.value)
    assert (icc_row["ci_low"], icc_row["ci_high"]) == pytest.approx(expected.ci)
    assert icc_row["band"] in {"poor", "moderate", "good", "excellent"}
    assert "1 case without a value from every reader" in icc_row["note"]

    bridging = rows_of(inter, field="bridging")
    assert sorted(bridging["method"]) == [
        "Krippendorff's alpha (ordinal)",
        "weighted kappa (quadratic)",
    ]
    kappa = one(inter, field="bridging", method="weighted kappa (quadratic)")
    codes = {choice: index for index, choice in enumerate(BRIDGING)}
    expected_kappa = agreement.cohen_kappa(
        [codes[g] for g in GRADE_A],
        [codes[g] for g in GRADE_B],
        weights="quadratic",
        categories=[0, 1, 2],
    )
    assert kappa["value"] == pytest.approx(expected_kappa.value)
    assert kappa["n"] == 8
    assert kappa["readers"] == "A – B"
    assert kappa["band_scale"] == "Landis & Koch 1977"

    assert sorted(rows_of(inter, field="osteolysis")["method"]) == [
        "Cohen's kappa",
        "Krippendorff's alpha (nominal)",
    ]

    ba = one(result.bland_altman, field="bridging_extent")
    differences = np.array(EXTENT_A[:6] + EXTENT_A[7:]) - np.array(EXTENT_B[:6] + EXTENT_B[7:])
    assert ba["n"] == 7
    assert ba["bias"] == pytest.approx(differences.mean())
    assert ba["loa_high"] == pytest.approx(differences.mean() + 1.96 * differences.std(ddof=1))
    assert ba["sdd"] == pytest.approx(1.96 * differences.std(ddof=1))
    assert (ba["reader_a"], ba["reader_b"]) == ("A", "B")
    assert len(rows_of(result.points, field="bridging_extent")) == 7


def test_counts_and_unsubmitted_readings_are_left_out(protocol: Protocol) -> None:
    rows = two_reader_rows()
    rows += [value_row("C", f"C{i}", "bridging", "complete", submitted=False) for i in range(8)]
    result = agreement_tables(table(rows), protocol, n_boot=0)
    assert result.counts.readers == ("A", "B")
    assert result.counts.n_cases == 8
    assert result.counts.n_primary_readings == 16
    assert result.counts.n_unsubmitted == 8
    # Reader C's unsubmitted reads would make it three readers (Fleiss, pairwise kappas).
    assert one(result.inter, field="bridging", role="headline")["readers"] == "A – B"


# ---------------------------------------------------------------- three readers

THREE = {
    "A": ["none", "partial", "complete", "partial", "none", "complete"],
    "B": ["none", "partial", "partial", "partial", "partial", "complete"],
    "C": ["partial", "partial", "complete", "none", "none", "complete"],
}
REMODELING = {
    "A": ["none", "hypertrophy", "resorption", "none", "none", "none"],
    "B": ["none", "hypertrophy", "none", "none", "", "none"],
    "C": ["none", "resorption", "resorption", "none", "none", "hypertrophy"],
}


def three_reader_rows() -> list[dict[str, object]]:
    rows = []
    for reader in THREE:
        for index in range(6):
            rows.append(value_row(reader, f"C{index}", "bridging", THREE[reader][index]))
            rows.append(value_row(reader, f"C{index}", "remodeling", REMODELING[reader][index]))
    return rows


def test_three_readers_pairwise_weighted_kappa_and_mean(protocol: Protocol) -> None:
    result = agreement_tables(table(three_reader_rows()), protocol, n_boot=0)
    pairs = rows_of(result.inter, field="bridging", role="pairwise")
    assert sorted(pairs["readers"]) == ["A – B", "A – C", "B – C"]
    codes = {choice: float(index) for index, choice in enumerate(BRIDGING)}
    expected = []
    for first, second in (("A", "B"), ("A", "C"), ("B", "C")):
        value = agreement.cohen_kappa(
            [codes[g] for g in THREE[first]],
            [codes[g] for g in THREE[second]],
            weights="quadratic",
            categories=[0.0, 1.0, 2.0],
        ).value
        assert one(pairs, readers=f"{first} – {second}")["value"] == pytest.approx(value)
        expected.append(value)
    headline = one(result.inter, field="bridging", role="headline")
    assert headline["method"] == "mean pairwise weighted kappa (quadratic)"
    assert headline["value"] == pytest.approx(np.mean(expected))
    assert headline["readers"] == "all (3)"
    assert math.isnan(headline["ci_low"])
    assert "Mean of 3 of 3 pairwise kappas" in headline["note"]
    alpha = one(result.inter, field="bridging", role="secondary")
    assert alpha["method"] == "Krippendorff's alpha (ordinal)"
    assert alpha["n"] == 6


def test_three_readers_nominal_uses_fleiss_on_complete_cases(protocol: Protocol) -> None:
    result = agreement_tables(table(three_reader_rows()), protocol, n_boot=0)
    fleiss = one(result.inter, field="remodeling", role="headline")
    assert fleiss["method"] == "Fleiss' kappa"
    assert fleiss["n"] == 5  # B left case 4 empty
    choices = ("none", "hypertrophy", "resorption")
    counts = np.zeros((5, 3))
    for row, case in enumerate([0, 1, 2, 3, 5]):
        for reader in REMODELING:
            counts[row, choices.index(REMODELING[reader][case])] += 1
    assert fleiss["value"] == pytest.approx(agreement.fleiss_kappa(counts, n_boot=0).value)
    alpha = one(result.inter, field="remodeling", role="secondary")
    assert alpha["n"] == 6  # alpha keeps case 4: two readers still pair there


def test_worst_first_sorting(protocol: Protocol) -> None:
    inter = agreement_tables(table(three_reader_rows()), protocol, n_boot=0).inter
    scores = inter["band_score"].to_numpy()
    defined = scores[~np.isnan(scores)]
    assert (np.diff(defined) >= 0).all()
    # Rows without a band come last.
    assert np.isnan(scores[len(defined) :]).all()


# ---------------------------------------------------------------- intra-observer


def repeat_rows() -> tuple[list[dict[str, object]], list[float], list[float]]:
    """Reader A reads 6 cases and repeats 4 of them; reader B repeats none."""
    primary = [1.0, 2.5, 0.0, 3.0, 1.5, 0.5]
    repeat = {0: 1.2, 1: 2.4, 3: 2.6, 4: 1.5}
    rows = []
    for index, width in enumerate(primary):
        rows.append(value_row("A", f"C{index}", "rll_width_mm", f"{width}"))
        rows.append(value_row("A", f"C{index}", "rll_present", "yes"))
        rows.append(value_row("B", f"C{index}", "rll_width_mm", f"{width + 0.3}"))
        rows.append(value_row("B", f"C{index}", "rll_present", "yes"))
    for index, width in repeat.items():
        code = f"R{index}"
        rows.append(
            value_row("A", code, "rll_width_mm", f"{width}", kind="repeat", repeat_of=f"C{index}")
        )
        rows.append(
            value_row("A", code, "rll_present", "yes", kind="repeat", repeat_of=f"C{index}")
        )
    # A repeat of another zone must not meet the medial primary.
    rows.append(
        value_row("A", "R0", "rll_width_mm", "9.0", kind="repeat", repeat_of="C0", zone="lateral")
    )
    first = [primary[i] for i in repeat]
    second = list(repeat.values())
    return rows, first, second


def test_intra_matches_repeats_through_repeat_of(protocol: Protocol) -> None:
    rows, first, second = repeat_rows()
    result = agreement_tables(table(rows), protocol, n_boot=0)
    assert result.counts.n_repeat_readings == 4
    assert result.counts.n_repeat_pairs == 4
    intra = rows_of(result.intra, field="rll_width_mm", zone="medial")
    assert set(intra["readers"]) == {"A"}  # B has no repeats
    icc_row = one(intra, method="ICC(A,1)")
    expected = agreement.icc(np.column_stack([first, second]), form="A,1")
    assert icc_row["n"] == 4
    assert icc_row["value"] == pytest.approx(expected.value)
    ba = one(result.bland_altman, analysis="intra", field="rll_width_mm", zone="medial")
    assert ba["bias"] == pytest.approx(np.mean(np.subtract(first, second)))
    assert (ba["reader_a"], ba["reader_b"]) == ("A", "A")
    # The lateral repeat has no lateral primary: no lateral intra rows.
    assert rows_of(result.intra, zone="lateral").empty


def test_one_reader_gives_intra_only(protocol: Protocol) -> None:
    rows, _, _ = repeat_rows()
    only_a = [row for row in rows if row["reader"] == "A"]
    result = agreement_tables(table(only_a), protocol, n_boot=0)
    inter = one(result.inter, field="rll_width_mm", zone="medial")
    assert math.isnan(inter["value"])
    assert "needs ≥ 2 readers" in inter["note"]
    assert inter["band"] == ""
    assert result.bland_altman[result.bland_altman["analysis"] == "inter"].empty
    assert not rows_of(result.intra, field="rll_width_mm", zone="medial").empty


# ---------------------------------------------------------------- awkward data


def test_not_assessable_zone_removes_its_other_values(protocol: Protocol) -> None:
    rows = []
    for index in range(6):
        for reader in ("A", "B"):
            rows.append(value_row(reader, f"C{index}", "bridging_extent", f"{10 * index + 5}"))
            assessable = "no" if (reader == "B" and index < 2) else "yes"
            rows.append(value_row(reader, f"C{index}", "assessable", assessable))
    result = agreement_tables(table(rows), protocol, n_boot=0)
    assert one(result.inter, field="bridging_extent")["n"] == 4
    assert one(result.inter, field="assessable", role="headline")["n"] == 6


def test_constant_field_is_reported_not_raised(protocol: Protocol) -> None:
    rows = [
        value_row(reader, f"C{index}", "osteolysis", "no")
        for reader in ("A", "B", "C")
        for index in range(5)
    ]
    result = agreement_tables(table(rows), protocol, n_boot=200)
    fleiss = one(result.inter, field="osteolysis", role="headline")
    assert fleiss["method"] == "Fleiss' kappa"
    assert math.isnan(fleiss["value"])
    assert "undefined" in fleiss["note"]
    assert fleiss["band"] == ""
    alpha = one(result.inter, field="osteolysis", role="secondary")
    assert math.isnan(alpha["value"])
    assert "undefined" in alpha["note"].lower()
    assert result.disagreements.empty


def test_too_few_cases_gives_a_note(protocol: Protocol) -> None:
    rows = [value_row(r, "C0", "rll_width_mm", w) for r, w in (("A", "1.0"), ("B", "1.5"))]
    rows += [value_row(r, "C0", "rll_present", "yes") for r in ("A", "B")]
    result = agreement_tables(table(rows), protocol, n_boot=0)
    icc_row = one(result.inter, field="rll_width_mm")
    assert math.isnan(icc_row["value"])
    assert "at least 2 targets" in icc_row["note"]
    ba = one(result.bland_altman, field="rll_width_mm")
    assert "at least 2 complete pairs" in ba["note"]


def test_two_cases_two_readers_is_too_few_for_the_icc(protocol: Protocol) -> None:
    rows = [
        value_row(r, c, "rll_width_mm", w)
        for r, c, w in (
            ("A", "C0", "1.0"),
            ("B", "C0", "1.5"),
            ("A", "C1", "2.0"),
            ("B", "C1", "2.0"),
        )
    ]
    rows += [value_row(r, c, "rll_present", "yes") for r in ("A", "B") for c in ("C0", "C1")]
    icc_row = one(agreement_tables(table(rows), protocol, n_boot=0).inter, field="rll_width_mm")
    assert math.isnan(icc_row["value"])
    assert icc_row["n"] == 2
    assert "at least 5 ratings" in icc_row["note"]


# ---------------------------------------------------------------- disagreement list


def test_disagreement_list_ranks_the_largest_spread_first(protocol: Protocol) -> None:
    rows = []
    widths = {"C0": ("1.0", "1.1"), "C1": ("0.5", "4.5"), "C2": ("2.0", "3.0")}
    for case, (a, b) in widths.items():
        for reader, width in (("A", a), ("B", b)):
            rows.append(value_row(reader, case, "rll_present", "yes"))
            rows.append(value_row(reader, case, "rll_width_mm", width))
    rows.append(value_row("A", "C0", "bridging", "none"))
    rows.append(value_row("B", "C0", "bridging", "complete"))
    rows.append(value_row("A", "C1", "bridging", "partial"))
    rows.append(value_row("B", "C1", "bridging", "partial"))
    result = agreement_tables(table(rows), protocol, n_boot=0, top_n=3)
    disagreements = result.disagreements
    assert list(disagreements.columns) == list(DISAGREEMENT_COLUMNS)
    assert len(disagreements) == 3
    # none vs complete: two categories apart of two → score 1; grade none→≥2 mm (C1: 0.5 vs
    # 4.5 mm is "< 1 mm" vs "≥ 2 mm", 2 of 3 categories) → 0.667; width C1 4 mm of 10 → 0.4.
    first, second, third = (disagreements.iloc[i] for i in range(3))
    assert (first["case_code"], first["field"], first["score"]) == ("C0", "bridging", 1.0)
    assert first["values"] == "A: none; B: complete"
    assert (second["case_code"], second["field"]) == ("C1", "rll_grade")
    assert second["score"] == pytest.approx(2 / 3)
    assert (third["case_code"], third["field"]) == ("C1", "rll_width_mm")
    assert third["spread"] == pytest.approx(4.0)
    assert third["unit"] == "mm"
    assert third["score"] == pytest.approx(0.4)
    assert third["values"] == "A: 0.5; B: 4.5"


def test_nominal_disagreement_score_is_scaled_by_readers(protocol: Protocol) -> None:
    answers = {"A": "yes", "B": "yes", "C": "no"}
    rows = [value_row(r, "C0", "osteolysis", v) for r, v in answers.items()]
    rows += [value_row(r, "C1", "osteolysis", "no") for r in answers]
    disagreements = agreement_tables(table(rows), protocol, n_boot=0).disagreements
    row = one(disagreements, case_code="C0")
    assert row["fraction_disagreeing"] == pytest.approx(1 / 3)
    assert row["score"] == pytest.approx((1 / 3) / (2 / 3))
    assert row["n_distinct"] == 2
    assert rows_of(disagreements, case_code="C1").empty


# ---------------------------------------------------------------- simulation


def test_simulated_readers_give_an_icc_whose_ci_holds_the_truth(protocol: Protocol) -> None:
    """Truth N(50, 10²), reader biases −3/0/+3 %, noise SD 5 %, values rounded to 1 %.

    ICC(A,1) = σ²_cases / (σ²_cases + σ²_readers + σ²_error) with σ²_readers = Σb²/(k − 1) = 9
    and σ²_error = 25 + 1/12 (rounding): 100 / 134.08 = 0.746.
    """
    rng = np.random.default_rng(20240601)
    n_cases = 300
    truth = rng.normal(50.0, 10.0, size=n_cases)
    biases = {"A": -3.0, "B": 0.0, "C": 3.0}
    rows = []
    for reader, bias in biases.items():
        values = np.clip(np.round(truth + bias + rng.normal(0.0, 5.0, size=n_cases)), 0, 100)
        rows.extend(
            value_row(reader, f"C{index:03d}", "bridging_extent", f"{value:.0f}")
            for index, value in enumerate(values)
        )
    result = agreement_tables(table(rows), protocol, n_boot=0)
    icc_row = one(result.inter, field="bridging_extent")
    theoretical = 100.0 / (100.0 + 9.0 + 25.0 + 1.0 / 12.0)
    assert icc_row["n"] == n_cases
    assert icc_row["ci_low"] < theoretical < icc_row["ci_high"]
    assert icc_row["band"] in {"moderate", "good"}
    # The Bland–Altman bias of A − C is −6 % by construction (SE √50/√300 ≈ 0.41 %).
    ba = one(result.bland_altman, reader_a="A", reader_b="C")
    assert ba["bias"] == pytest.approx(-6.0, abs=1.5)
    assert ba["sd"] == pytest.approx(math.sqrt(50.0), rel=0.2)


# ---------------------------------------------------------------- measurement error, names


def test_sem_mdc_and_named_icc_per_continuous_field(protocol: Protocol) -> None:
    result = agreement_tables(table(two_reader_rows()), protocol, n_boot=0)
    from collarreader.analysis.tables import MEASUREMENT_ERROR_COLUMNS

    errors = result.measurement_error
    assert list(errors.columns) == list(MEASUREMENT_ERROR_COLUMNS)
    row = one(errors, field="bridging_extent", analysis="inter")
    complete = ~np.isnan(np.array(EXTENT_B, dtype=float))
    matrix = np.column_stack([EXTENT_A, EXTENT_B])[complete]
    expected = agreement.measurement_error(matrix)
    assert row["sem"] == pytest.approx(expected.sem)
    assert row["mdc95"] == pytest.approx(1.96 * np.sqrt(2) * expected.sem)
    assert row["n"] == 7
    icc_row = one(result.inter, field="bridging_extent")
    assert row["icc_ci_width"] == pytest.approx(icc_row["ci_high"] - icc_row["ci_low"])
    assert "Shrout & Fleiss ICC(2,1)" in icc_row["definition"]
    assert "two-way random effects, absolute agreement, single rater" in icc_row["definition"]
    assert "pingouin" in icc_row["definition"]
    kappa_row = one(result.inter, field="bridging", method="weighted kappa (quadratic)")
    assert "Cohen (1968)" in kappa_row["definition"]


def test_bland_altman_rows_carry_exact_intervals_and_the_slope(protocol: Protocol) -> None:
    result = agreement_tables(table(two_reader_rows()), protocol, n_boot=0)
    row = one(result.bland_altman, field="bridging_extent", analysis="inter")
    complete = ~np.isnan(np.array(EXTENT_B, dtype=float))
    a = np.array(EXTENT_A, dtype=float)[complete]
    b = np.array(EXTENT_B, dtype=float)[complete]
    expected = agreement.bland_altman(a, b)
    assert (row["loa_high_ci_low"], row["loa_high_ci_high"]) == pytest.approx(expected.upper_ci)
    assert row["loa_high_approx_ci_high"] == pytest.approx(expected.upper_ci_approx[1])
    assert expected.proportional is not None
    assert row["slope"] == pytest.approx(expected.proportional.slope)
    assert bool(row["proportional_bias"]) == expected.proportional.detected
