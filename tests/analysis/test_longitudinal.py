"""6 m → 12 m change per patient: per zone, summary scores, consensus median, missing data."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from collarreader.analysis.longitudinal import (
    CONSENSUS,
    LONGITUDINAL_COLUMNS,
    consensus_summary,
    longitudinal_table,
)
from collarreader.analysis.tidy import TIDY_COLUMNS, UNBLINDED_COLUMNS
from collarreader.errors import AnalysisError
from collarreader.protocol import Protocol, load_protocol

VIEW = {"medial": "AP", "lateral": "AP", "anterior": "LAT", "posterior": "LAT"}
# Blinded labels: the reader saw "A" for the 12-month and "B" for the 6-month image.
LABEL = {"6m": "B", "12m": "A"}


@pytest.fixture(scope="module")
def protocol() -> Protocol:
    return load_protocol("collar-default")


def zone_scores(timepoint: str, medial_width_12m: float) -> dict[str, dict[str, str]]:
    """One reading's zone values (text as exported)."""
    if timepoint == "6m":
        return {
            # bridged, < 1 mm line, no osteolysis: osseointegrated
            "medial": {"bridging": "partial", "rll_present": "yes", "rll_width_mm": "0.5"},
            # no bridging: not osseointegrated; no line counts 0 mm
            "lateral": {"bridging": "none", "rll_present": "no", "bridging_extent": "0"},
            # line ≥ 2 mm: not osseointegrated
            "anterior": {"bridging": "complete", "rll_present": "yes", "rll_width_mm": "2.5"},
            "posterior": {"assessable": "no"},
        }
    return {
        "medial": {
            "bridging": "partial",
            "rll_present": "yes",
            "rll_width_mm": f"{medial_width_12m}",
        },
        "lateral": {"bridging": "complete", "rll_present": "no", "bridging_extent": "50"},
        "anterior": {"bridging": "complete", "rll_present": "yes", "rll_width_mm": "2.0"},
        "posterior": {"bridging": "partial", "rll_present": "no", "bridging_extent": "30"},
    }


def rows_for(
    reader: str, case: str, patient: str, timepoint: str, medial_width_12m: float = 1.5
) -> list[dict[str, object]]:
    extents = {"medial": "40", "anterior": "90"} if timepoint == "6m" else {"medial": "60"}
    rows = []
    for zone, scores in zone_scores(timepoint, medial_width_12m).items():
        values = {"assessable": "yes", "osteolysis": "no", **scores}
        if values["assessable"] == "yes" and zone in extents:
            values["bridging_extent"] = extents[zone]
        if values["assessable"] == "no":
            values = {"assessable": "no"}
        rows.extend(
            {
                "reader": reader,
                "case_code": case,
                "kind": "primary",
                "repeat_of": "",
                "joint": "hip",
                "view": VIEW[zone],
                "timepoint": LABEL[timepoint],
                "zone": zone,
                "field": field,
                "value": value,
                "unit": "",
                "calibration_source": "",
                "source": "entered",
                "submitted": True,
                "site": "S1",
                "patient": patient,
                "true_timepoint": timepoint,
            }
            for field, value in values.items()
        )
    return rows


def study() -> pd.DataFrame:
    rows = []
    for reader, width in (("R1", 1.5), ("R2", 1.9), ("R3", 2.5)):
        rows += rows_for(reader, "C1", "P1", "6m")
        rows += rows_for(reader, "C1", "P1", "12m", medial_width_12m=width)
    # Patient 2 was read at 6 months only (no 1-year image yet).
    rows += rows_for("R1", "C2", "P2", "6m")
    return pd.DataFrame(rows, columns=[*TIDY_COLUMNS, *UNBLINDED_COLUMNS])


def pick(frame: pd.DataFrame, **where: str) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == value
    found = frame[mask]
    assert len(found) == 1, found
    return found.iloc[0]


def test_columns_and_true_timepoints_are_used(protocol: Protocol) -> None:
    table = longitudinal_table(study(), protocol)
    assert list(table.columns) == list(LONGITUDINAL_COLUMNS)
    row = pick(table, patient="P1", reader="R1", measure="rll_width_mm", zone="medial")
    # Label "B" was the 6-month image: baseline 0.5 mm, follow-up 1.5 mm.
    assert (row["baseline"], row["follow_up"]) == ("6m", "12m")
    assert row["value_baseline"] == pytest.approx(0.5)
    assert row["value_follow_up"] == pytest.approx(1.5)
    assert row["change"] == pytest.approx(1.0)
    assert row["unit"] == "mm"


def test_zone_rules_no_line_is_zero_and_not_assessable_is_missing(protocol: Protocol) -> None:
    table = longitudinal_table(study(), protocol)
    lateral = pick(table, patient="P1", reader="R1", measure="rll_width_mm", zone="lateral")
    assert (lateral["value_baseline"], lateral["value_follow_up"]) == (0.0, 0.0)
    posterior = pick(table, patient="P1", reader="R1", measure="rll_width_mm", zone="posterior")
    assert math.isnan(posterior["value_baseline"])
    assert posterior["value_follow_up"] == 0.0
    assert "no value at 6m" in posterior["note"]


def test_summary_scores_per_reader(protocol: Protocol) -> None:
    table = longitudinal_table(study(), protocol)
    count = pick(table, patient="P1", reader="R1", measure="osseointegrated_zones")
    # 6 m: medial only; 12 m: lateral and posterior (medial 1.5 mm is graded 1 – < 2 mm).
    assert (count["value_baseline"], count["value_follow_up"], count["change"]) == (1, 2, 1)
    total = pick(table, patient="P1", reader="R1", measure="rll_width_sum_mm")
    assert total["value_baseline"] == pytest.approx(3.0)  # 0.5 + 0 + 2.5 (posterior skipped)
    assert total["value_follow_up"] == pytest.approx(3.5)  # 1.5 + 0 + 2.0 + 0
    maximum = pick(table, patient="P1", reader="R1", measure="rll_width_max_mm")
    assert (maximum["value_baseline"], maximum["value_follow_up"]) == (2.5, 2.0)
    assert maximum["change"] == pytest.approx(-0.5)
    extent = pick(table, patient="P1", reader="R1", measure="bridging_extent_mean")
    assert extent["value_baseline"] == pytest.approx((40 + 0 + 90) / 3)
    assert extent["value_follow_up"] == pytest.approx((60 + 50 + 30) / 3)


def test_consensus_is_the_median_per_time_point(protocol: Protocol) -> None:
    table = longitudinal_table(study(), protocol)
    medial = pick(table, patient="P1", reader=CONSENSUS, measure="rll_width_mm", zone="medial")
    assert medial["value_baseline"] == pytest.approx(0.5)
    assert medial["value_follow_up"] == pytest.approx(1.9)  # median of 1.5, 1.9, 2.5
    assert medial["change"] == pytest.approx(1.4)
    assert medial["n_readers"] == 3
    assert medial["note"] == "median of 3 readers"
    # R3's 2.5 mm medial line is ≥ 2 mm: the sum changes, the count does not.
    total = pick(table, patient="P1", reader=CONSENSUS, measure="rll_width_sum_mm")
    assert total["value_follow_up"] == pytest.approx(3.9)  # median of 3.5, 3.9, 4.5
    # Consensus rows come first within a measure and zone.
    first = table[(table["patient"] == "P1") & (table["measure"] == "rll_width_sum_mm")]
    assert first.iloc[0]["reader"] == CONSENSUS


def test_missing_time_point_gives_nan_and_a_note(protocol: Protocol) -> None:
    table = longitudinal_table(study(), protocol)
    own = pick(table, patient="P2", reader="R1", measure="rll_width_sum_mm")
    assert own["value_baseline"] == pytest.approx(3.0)
    assert math.isnan(own["value_follow_up"])
    assert math.isnan(own["change"])
    assert own["note"] == "no value at 12m"
    consensus = pick(table, patient="P2", reader=CONSENSUS, measure="rll_width_sum_mm")
    assert math.isnan(consensus["change"])
    assert consensus["note"] == "no value at 12m"


def test_consensus_summary_has_one_row_per_case(protocol: Protocol) -> None:
    summary = consensus_summary(longitudinal_table(study(), protocol))
    assert summary["case_code"].tolist() == ["C1", "C2"]
    assert summary.loc[0, "Osseointegrated zones Δ"] == 1
    assert summary.loc[0, "Summed RLL width 12m"] == pytest.approx(3.9)


def test_blinded_table_is_refused(protocol: Protocol) -> None:
    blinded = study().drop(columns=list(UNBLINDED_COLUMNS))
    with pytest.raises(AnalysisError, match="--key"):
        longitudinal_table(blinded, protocol)


def test_adjudicated_reading_is_beside_the_readers_not_in_their_median(
    protocol: Protocol,
) -> None:
    from collarreader.analysis.longitudinal import ADJUDICATED_READER
    from collarreader.analysis.tables import CONSENSUS_READER

    assert ADJUDICATED_READER == CONSENSUS_READER
    frame = pd.concat(
        [
            study(),
            pd.DataFrame(
                rows_for(CONSENSUS_READER, "C1", "P1", "6m")
                + rows_for(CONSENSUS_READER, "C1", "P1", "12m", medial_width_12m=9.0),
                columns=[*TIDY_COLUMNS, *UNBLINDED_COLUMNS],
            ),
        ],
        ignore_index=True,
    )
    table = longitudinal_table(frame, protocol)
    medial = pick(table, patient="P1", reader=CONSENSUS, measure="rll_width_mm", zone="medial")
    # Still the median of R1–R3 (1.5, 1.9, 2.5), not pulled by the adjudicated 9 mm.
    assert medial["value_follow_up"] == pytest.approx(1.9)
    assert medial["n_readers"] == 3
    adjudicated = pick(
        table, patient="P1", reader=CONSENSUS_READER, measure="rll_width_mm", zone="medial"
    )
    assert adjudicated["value_follow_up"] == pytest.approx(9.0)
