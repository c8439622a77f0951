"""The tidy long table: reading, validation with file/line errors, coding, protocol rules."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collarreader.analysis.tidy import (
    TIDY_COLUMNS,
    apply_protocol_rules,
    entry_codes,
    format_code,
    read_tidy,
    validate_tidy,
)
from collarreader.errors import AnalysisError
from collarreader.protocol import Protocol, load_protocol


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
        "joint": "hip",
        "view": view,
        "timepoint": timepoint,
        "zone": zone,
        "field": field,
        "value": value,
        "unit": "mm" if field.endswith("_mm") else "",
        "calibration_source": "pixel_spacing" if field.endswith("_mm") else "",
        "source": "entered",
        "submitted": submitted,
    }


def table(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(TIDY_COLUMNS))


def write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    frame = table(rows)
    frame["submitted"] = frame["submitted"].map({True: "true", False: "false"})
    frame.to_csv(path, index=False)
    return path


def test_read_tidy_round_trip_keeps_text_and_parses_submitted(tmp_path: Path) -> None:
    rows = [
        value_row("A", "C1", "rll_width_mm", "1.50"),
        value_row("A", "C1", "bridging", "", submitted=False),
    ]
    frame = read_tidy(write_csv(tmp_path / "tidy.csv", rows))
    assert list(frame.columns) == list(TIDY_COLUMNS)
    assert frame["value"].tolist() == ["1.50", ""]  # text kept, "" not NaN
    assert frame["submitted"].tolist() == [True, False]
    assert frame.attrs["source"].endswith("tidy.csv")


def test_read_tidy_reads_the_xlsx_export(tmp_path: Path) -> None:
    path = tmp_path / "tidy.xlsx"
    table([value_row("A", "C1", "bridging", "partial")]).to_excel(path, index=False)
    frame = read_tidy(path)
    assert frame.loc[0, "value"] == "partial"
    assert bool(frame.loc[0, "submitted"]) is True


def test_missing_column_names_the_file_and_column(tmp_path: Path) -> None:
    path = tmp_path / "tidy.csv"
    table([value_row("A", "C1", "bridging", "none")]).drop(columns=["repeat_of"]).to_csv(
        path, index=False
    )
    with pytest.raises(AnalysisError, match=r"tidy\.csv: missing column\(s\) repeat_of"):
        read_tidy(path)


def test_missing_file_says_to_export_first(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match="collarreader export"):
        read_tidy(tmp_path / "absent.csv")


def test_bad_kind_names_the_csv_line(tmp_path: Path) -> None:
    rows = [value_row("A", "C1", "bridging", "none"), value_row("A", "C2", "bridging", "none")]
    rows[1]["kind"] = "second"
    with pytest.raises(AnalysisError, match=r"tidy\.csv, line 3: kind is 'second'"):
        read_tidy(write_csv(tmp_path / "tidy.csv", rows))


def test_repeat_without_repeat_of_is_refused() -> None:
    rows = [value_row("A", "X1", "bridging", "none", kind="repeat")]
    with pytest.raises(AnalysisError, match="repeat read without repeat_of"):
        validate_tidy(table(rows))


def test_primary_with_repeat_of_is_refused() -> None:
    rows = [value_row("A", "C1", "bridging", "none", repeat_of="C0")]
    with pytest.raises(AnalysisError, match="primary read with repeat_of"):
        validate_tidy(table(rows))


def test_bad_submitted_flag_is_refused() -> None:
    frame = table([value_row("A", "C1", "bridging", "none")])
    frame["submitted"] = "maybe"
    with pytest.raises(AnalysisError, match="submitted is 'maybe'"):
        validate_tidy(frame)


def test_duplicate_value_names_the_line(tmp_path: Path) -> None:
    rows = [value_row("A", "C1", "bridging", "none"), value_row("A", "C1", "bridging", "partial")]
    with pytest.raises(AnalysisError, match=r"line 3: a second value for reader A, case C1"):
        read_tidy(write_csv(tmp_path / "tidy.csv", rows))


def test_entry_codes_follow_protocol_order_and_types(protocol: Protocol) -> None:
    rows = [
        value_row("A", "C1", "bridging", "complete"),
        value_row("A", "C1", "rll_present", "yes"),
        value_row("A", "C1", "rll_width_mm", "1.25"),
        value_row("A", "C1", "remodeling", "resorption"),
        value_row("A", "C1", "image_quality", "poor", zone=""),
        value_row("A", "C1", "cortical_thickness_medial_mm", "", zone="", view=""),
        value_row("A", "C1", "comment", "hello", zone="", view=""),
    ]
    entries = entry_codes(table(rows), protocol)
    zone = entries[entries["zone"] == "medial"].iloc[0]
    assert zone["bridging"] == 2.0  # none, partial, complete
    assert zone["rll_present"] == 1.0
    assert zone["rll_width_mm"] == pytest.approx(1.25)
    assert zone["remodeling"] == 2.0
    assert math.isnan(zone["osteolysis"])  # not entered
    view = entries[(entries["zone"] == "") & (entries["view"] == "AP")].iloc[0]
    assert view["image_quality"] == 2.0
    assert "comment" not in entries.columns  # text is not analysed
    assert len(entries) == 3  # zone, view and case entries


def test_entry_codes_leave_out_unsubmitted_readings(protocol: Protocol) -> None:
    rows = [
        value_row("A", "C1", "bridging", "none"),
        value_row("B", "C1", "bridging", "none", submitted=False),
    ]
    assert entry_codes(table(rows), protocol)["reader"].tolist() == ["A"]
    assert sorted(entry_codes(table(rows), protocol, submitted_only=False)["reader"]) == ["A", "B"]


def test_value_outside_choices_names_the_line(tmp_path: Path, protocol: Protocol) -> None:
    rows = [value_row("A", "C1", "bridging", "none"), value_row("A", "C2", "bridging", "lots")]
    frame = read_tidy(write_csv(tmp_path / "tidy.csv", rows))
    with pytest.raises(AnalysisError, match=r"line 3: bridging value 'lots' is not one of"):
        entry_codes(frame, protocol)


def test_bad_number_names_the_line(tmp_path: Path, protocol: Protocol) -> None:
    rows = [value_row("A", "C1", "rll_width_mm", "1,5")]
    frame = read_tidy(write_csv(tmp_path / "tidy.csv", rows))
    with pytest.raises(AnalysisError, match=r"line 2: rll_width_mm value '1,5' is not a number"):
        entry_codes(frame, protocol)


def test_unknown_field_and_zone_are_refused(protocol: Protocol) -> None:
    with pytest.raises(AnalysisError, match="field 'gruen_1' is not in protocol collar-default"):
        entry_codes(table([value_row("A", "C1", "gruen_1", "x")]), protocol)
    with pytest.raises(AnalysisError, match="zone 'gruen1' is not in protocol"):
        entry_codes(table([value_row("A", "C1", "bridging", "none", zone="gruen1")]), protocol)


def test_protocol_rules_skip_zero_and_derive(protocol: Protocol) -> None:
    rows = [
        # Not assessable: the bridging value entered anyway is ignored.
        value_row("A", "C1", "assessable", "no"),
        value_row("A", "C1", "bridging", "complete"),
        # No line and no width: 0 mm, grade "none".
        value_row("A", "C1", "assessable", "yes", zone="lateral"),
        value_row("A", "C1", "rll_present", "no", zone="lateral"),
        # 0.95 mm rounds half up to 1.0 mm: grade "1 – < 2 mm", as Protocol.derive says.
        value_row("A", "C1", "rll_present", "yes", zone="anterior", view="LAT"),
        value_row("A", "C1", "rll_width_mm", "0.95", zone="anterior", view="LAT"),
        # A line marked present but not measured has no width and no grade.
        value_row("A", "C1", "rll_present", "yes", zone="posterior", view="LAT"),
    ]
    values = apply_protocol_rules(entry_codes(table(rows), protocol), protocol).set_index("zone")
    assert values.loc["medial", "assessable"] == 1.0  # "no" is the second choice
    assert math.isnan(values.loc["medial", "bridging"])
    assert values.loc["lateral", "rll_width_mm"] == 0.0
    assert values.loc["lateral", "rll_grade"] == 0.0
    grade = protocol.field("rll_grade")
    expected = protocol.derive("rll_grade", {"rll_present": True, "rll_width_mm": 0.95})
    assert grade.choices[int(values.loc["anterior", "rll_grade"])] == expected == "1to2mm"
    assert math.isnan(values.loc["posterior", "rll_width_mm"])
    assert math.isnan(values.loc["posterior", "rll_grade"])


def test_format_code_uses_labels_and_decimals(protocol: Protocol) -> None:
    assert format_code(protocol.field("rll_grade"), 3.0) == "≥ 2 mm"
    assert format_code(protocol.field("rll_width_mm"), 1.25) == "1.3"  # half up
    assert format_code(protocol.field("osteolysis"), 1.0) == "yes"
    assert format_code(protocol.field("bridging"), np.nan) == ""
