"""CSV import of Oxford scores and adverse events: parsing, validation and row-numbered errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from collarreader.clinical.adverse_events import Action, Category, Outcome, Relation, Severity
from collarreader.clinical.csv_import import MAX_LISTED_PROBLEMS, parse_ae_csv, parse_oxford_csv
from collarreader.clinical.oxford import Instrument, OxfordBand, OxfordScale, Timepoint
from collarreader.errors import ClinicalDataError

TODAY = dt.date(2025, 6, 30)
OXFORD_HEADER = "patient,instrument,timepoint,date," + ",".join(f"q{n}" for n in range(1, 13))
AE_HEADER = "patient,onset_date,description,category,severity,relation,action,outcome"


def oxford_row(
    patient: str = "P001",
    instrument: str = "hip",
    timepoint: str = "6m",
    date: str = "2024-09-01",
    items: str = "4,4,4,4,3,3,3,3,2,2,2,2",
    *extra: str,
) -> str:
    return ",".join([patient, instrument, timepoint, date, items, *extra])


def write(tmp_path: Path, text: str, name: str = "scores.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def problems_of(path: Path, **options: object) -> str:
    with pytest.raises(ClinicalDataError) as caught:
        parse_oxford_csv(path, today=TODAY, **options)  # type: ignore[arg-type]
    return str(caught.value)


# ---------------------------------------------------------------- Oxford: good files


def test_a_good_oxford_file_parses(tmp_path: Path) -> None:
    text = "\n".join(
        [
            OXFORD_HEADER + ",source",
            oxford_row("P001", "hip", "6m", "2024-09-01", "4,4,4,4,3,3,3,3,2,2,2,2", "paper"),
            "",  # an empty row is skipped but still counted, as in a spreadsheet
            oxford_row("P001", "hip", "12m", "2025-03-01", "4,4,4,4,4,4,4,4,4,4,,3", "phone"),
            oxford_row("P002", "KNEE", "12M", "2025-01-15", "1,,,1,1,1,1,1,1,1,1,1", ""),
        ]
    )
    records = parse_oxford_csv(write(tmp_path, text), today=TODAY)
    assert [r.row for r in records] == [2, 4, 5]
    first, second, third = records
    assert first.patient == "P001"
    assert first.instrument is Instrument.HIP
    assert first.timepoint is Timepoint.SIX_MONTHS
    assert first.date == dt.date(2024, 9, 1)
    assert first.items == (4, 4, 4, 4, 3, 3, 3, 3, 2, 2, 2, 2)
    assert first.source == "paper"
    assert first.scale is OxfordScale.CURRENT
    assert first.score.total == 36
    assert first.score.band is OxfordBand.MILD_TO_MODERATE
    assert second.items[10] is None
    assert second.score.total == round(12 * 43 / 11)  # 46.9 → 47
    assert second.score.imputed is True
    assert third.instrument is Instrument.KNEE
    assert third.timepoint is Timepoint.TWELVE_MONTHS
    assert third.items_as_entered == (1, None, None, *([1] * 9))
    assert third.score.total == 12


def test_bom_spaces_case_crlf_and_column_order_are_tolerated(tmp_path: Path) -> None:
    names = [f"Q{n}" for n in range(12, 0, -1)]
    header = " Date , PATIENT,Timepoint,instrument," + ",".join(names) + ",Scale"
    row = "2024-09-01, P007 ,6m,hip," + ",".join(str(n % 5) for n in range(12, 0, -1)) + ",0-48"
    path = write(tmp_path, "\ufeff" + header + "\r\n" + row + "\r\n")
    (record,) = parse_oxford_csv(path, today=TODAY)
    assert record.patient == "P007"
    assert record.items == tuple(n % 5 for n in range(1, 13))
    assert record.row == 2


def test_whole_numbers_written_as_decimals_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, OXFORD_HEADER + "\n" + oxford_row(items="4.0,4,4,4,4,4,4,4,4,4,4,4"))
    (record,) = parse_oxford_csv(path, today=TODAY)
    assert record.items[0] == 4
    assert type(record.items[0]) is int


def test_a_quoted_multi_line_cell_keeps_spreadsheet_row_numbers(tmp_path: Path) -> None:
    text = "\n".join(
        [
            OXFORD_HEADER + ",source",
            oxford_row(
                "P001", "hip", "6m", "2024-09-01", "4,4,4,4,4,4,4,4,4,4,4,4", '"two\nlines"'
            ),
            oxford_row("P002", "hip", "6m", "2024-09-01", "4,4,4,4,4,4,4,4,4,4,4,9", ""),
        ]
    )
    message = problems_of(write(tmp_path, text))
    assert "row 3, column q12: 9 is outside 0–4" in message


# ---------------------------------------------------------------- Oxford: bad rows


def test_every_bad_row_and_column_is_named_in_one_error(tmp_path: Path) -> None:
    text = "\n".join(
        [
            OXFORD_HEADER,
            oxford_row("P001"),
            oxford_row("P002", items="4,4,5,4,4,4,4,4,4,4,4,4"),
            oxford_row("P003", "shoulder", "9m", "2024-13-01", "4,4,4,4,4,4,x,4,4,4,4,NA"),
            oxford_row("", items="4,4,4,4,4,4,4,4,4,4,4,2.5"),
            oxford_row("P005", date="01/09/2024"),
            oxford_row("P006", date="2025-07-01"),
        ]
    )
    path = write(tmp_path, text)
    message = problems_of(path)
    assert message.startswith(
        f"{path}: 10 problems in this Oxford score file; nothing was imported"
    )
    expected = [
        "row 3, column q3: 5 is outside 0–4 (0 = worst, 4 = best)",
        "row 4, column instrument: 'shoulder' is not an Oxford instrument",
        "row 4, column timepoint: '9m' is not a time point",
        "row 4, column date: '2024-13-01' is not a real calendar date",
        "row 4, column q7: 'x' is not a number",
        (
            "row 4, column q12: 'NA' is not a number; write the answer as a digit, and leave "
            "the cell blank for a missing answer"
        ),
        "row 5, column patient: the patient ID is empty",
        "row 5, column q12: 2.5 is not a whole number",
        "row 6, column date: '01/09/2024' is not a date written YYYY-MM-DD",
        "row 7, column date: 2025-07-01 is in the future",
    ]
    for line in expected:
        assert line in message
    assert "row 2" not in message


def test_the_list_of_problems_is_capped(tmp_path: Path) -> None:
    rows = [oxford_row(f"P{n:03}", items="9,4,4,4,4,4,4,4,4,4,4,4") for n in range(60)]
    message = problems_of(write(tmp_path, "\n".join([OXFORD_HEADER, *rows])))
    assert "60 problems" in message
    assert f"row {MAX_LISTED_PROBLEMS + 1}, column q1" in message
    assert f"row {MAX_LISTED_PROBLEMS + 2}, column q1" not in message
    assert "… and 10 more problems not listed" in message


def test_a_duplicate_questionnaire_names_both_rows(tmp_path: Path) -> None:
    text = "\n".join(
        [
            OXFORD_HEADER,
            oxford_row("P001", "hip", "6m"),
            oxford_row("P001", "hip", "12m"),
            oxford_row("P001", "knee", "6m"),
            oxford_row("P001", "Hip", "6m", "2024-09-02"),
        ]
    )
    message = problems_of(write(tmp_path, text))
    assert "row 5: patient P001, hip, 6m is also on row 2; keep one of the two rows" in message
    assert "1 problem in" in message


def test_a_wrong_number_of_cells_is_named(tmp_path: Path) -> None:
    text = "\n".join([OXFORD_HEADER, oxford_row() + ",extra", oxford_row("P002")[:-2]])
    message = problems_of(write(tmp_path, text))
    assert "row 2: has 17 cells but the header has 16 columns" in message
    assert "row 3: has 15 cells but the header has 16 columns" in message


def test_unknown_patients_are_refused_when_the_study_ids_are_known(tmp_path: Path) -> None:
    text = "\n".join([OXFORD_HEADER, oxford_row("P001"), oxford_row("P999")])
    path = write(tmp_path, text)
    message = problems_of(path, known_patients={"P001", "P002"})
    assert "row 3, column patient: 'P999' is not a patient of this study" in message
    assert len(parse_oxford_csv(path, today=TODAY)) == 2


# ---------------------------------------------------------------- Oxford: legacy scale


def test_legacy_rows_are_converted_only_when_the_file_says_so(tmp_path: Path) -> None:
    text = "\n".join(
        [
            OXFORD_HEADER + ",scale",
            oxford_row("P001", "hip", "6m", "2024-09-01", "1,1,1,1,2,2,2,2,5,5,5,", "legacy-12-60"),
            oxford_row("P002", "hip", "6m", "2024-09-01", "4,4,4,4,3,3,3,3,0,0,0,0", ""),
            oxford_row("P003", "hip", "6m", "2024-09-01", "4,4,4,4,3,3,3,3,0,0,0,0", "0-48"),
        ]
    )
    legacy, current, explicit = parse_oxford_csv(write(tmp_path, text), today=TODAY)
    assert legacy.scale is OxfordScale.LEGACY
    assert legacy.items_as_entered == (1, 1, 1, 1, 2, 2, 2, 2, 5, 5, 5, None)
    assert legacy.items == (4, 4, 4, 4, 3, 3, 3, 3, 0, 0, 0, None)
    assert legacy.score.total == round(12 * 28 / 11)  # 30.5454… → 31
    assert current.scale is explicit.scale is OxfordScale.CURRENT
    assert current.score.total == explicit.score.total == 28


def test_the_whole_file_can_be_declared_legacy(tmp_path: Path) -> None:
    path = write(tmp_path, OXFORD_HEADER + "\n" + oxford_row(items="1,1,1,1,1,1,5,5,5,5,5,5"))
    (record,) = parse_oxford_csv(path, legacy=True, today=TODAY)
    assert record.items == (4,) * 6 + (0,) * 6
    assert record.score.total == 24
    message = problems_of(
        write(tmp_path, OXFORD_HEADER + "\n" + oxford_row(items="0" + ",1" * 11)), legacy=True
    )
    assert "row 2, column q1: 0 is outside 1–5" in message


def test_a_legacy_declaration_contradicted_by_a_row_is_an_error(tmp_path: Path) -> None:
    text = (
        OXFORD_HEADER
        + ",scale\n"
        + oxford_row("P001", "hip", "6m", "2024-09-01", "1," * 11 + "1", "0-48")
    )
    message = problems_of(write(tmp_path, text), legacy=True)
    assert (
        "row 2, column scale: this row says 0-48 but the whole file was declared legacy" in message
    )


def test_an_unknown_scale_is_refused(tmp_path: Path) -> None:
    text = (
        OXFORD_HEADER
        + ",scale\n"
        + oxford_row("P001", "hip", "6m", "2024-09-01", "1," * 11 + "1", "1-5")
    )
    assert "row 2, column scale: '1-5' is not a scale" in problems_of(write(tmp_path, text))


def test_a_five_on_the_current_scale_suggests_the_legacy_scale(tmp_path: Path) -> None:
    path = write(tmp_path, OXFORD_HEADER + "\n" + oxford_row(items="1,2,5,1,1,1,1,1,1,1,1,1"))
    message = problems_of(path)
    assert "row 2, column q3: 5 is outside 0–4" in message
    assert "set its scale column to legacy-12-60" in message


# ---------------------------------------------------------------- file-level problems


@pytest.mark.parametrize("content", ["", "\n\n", "\ufeff", "  \r\n"])
def test_an_empty_file_is_refused(tmp_path: Path, content: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ClinicalDataError, match=r"is empty\. A Oxford score file starts"):
        parse_oxford_csv(path)


def test_a_header_without_rows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClinicalDataError, match="has a header but no data rows"):
        parse_oxford_csv(write(tmp_path, OXFORD_HEADER + "\n,,,\n"))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ClinicalDataError, match=r"absent\.csv: no such file"):
        parse_oxford_csv(tmp_path / "absent.csv")


@pytest.mark.parametrize(("separator", "word"), [(";", "semicolons"), ("\t", "tabs")])
def test_other_separators_are_refused(tmp_path: Path, separator: str, word: str) -> None:
    text = OXFORD_HEADER.replace(",", separator) + "\n" + oxford_row().replace(",", separator)
    with pytest.raises(ClinicalDataError, match=f"separated by {word}, not commas"):
        parse_oxford_csv(write(tmp_path, text))


def test_a_latin1_file_is_refused_naming_file_and_byte(tmp_path: Path) -> None:
    text = (
        OXFORD_HEADER
        + ",source\n"
        + oxford_row("P001", "hip", "6m", "2024-09-01", "4,4,4,4,4,4,4,4,4,4,4,4", "Dr Müller")
    )
    path = write(tmp_path, text, name="latin.csv", encoding="latin-1")
    with pytest.raises(ClinicalDataError) as caught:
        parse_oxford_csv(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert "not UTF-8 text (byte 0xFC on line 2" in message
    assert "Windows-1252" in message


def test_a_utf16_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, OXFORD_HEADER + "\n", encoding="utf-16")
    with pytest.raises(ClinicalDataError, match="UTF-16"):
        parse_oxford_csv(path)


def test_header_problems_are_listed_together(tmp_path: Path) -> None:
    header = OXFORD_HEADER.replace("patient", "pateint").replace(",q12", "") + ",q13,source,source"
    message = problems_of(write(tmp_path, header + "\n" + oxford_row()))
    assert "row 1, column pateint: unknown column (did you mean 'patient'?)" in message
    assert "row 1, column q13: unknown column" in message
    assert "row 1, column source: this column appears more than once" in message
    assert "row 1: missing required column(s): patient, q12" in message


def test_broken_quoting_is_refused(tmp_path: Path) -> None:
    text = OXFORD_HEADER + ",source\n" + oxford_row() + ',"unterminated'
    with pytest.raises(ClinicalDataError, match="not valid CSV"):
        parse_oxford_csv(write(tmp_path, text))


# ---------------------------------------------------------------- idempotent keys


def test_reimporting_the_same_data_gives_the_same_keys_and_hashes(tmp_path: Path) -> None:
    rows = [
        oxford_row("P001", "hip", "6m"),
        oxford_row("P001", "hip", "12m", "2025-03-01", "4,4,4,4,4,4,4,4,4,4,,3"),
        oxford_row("P002", "knee", "6m"),
    ]
    first = parse_oxford_csv(
        write(tmp_path, "\n".join([OXFORD_HEADER, *rows]), "a.csv"), today=TODAY
    )
    # the same data exported again: other row order, blank lines, CRLF, a BOM
    shuffled = "\ufeff" + "\r\n".join([OXFORD_HEADER, "", rows[2], rows[0], "", rows[1]])
    second = parse_oxford_csv(write(tmp_path, shuffled, "b.csv"), today=TODAY)
    assert {r.natural_key: r.content_sha256 for r in first} == {
        r.natural_key: r.content_sha256 for r in second
    }
    assert [r.row for r in second] == [3, 4, 6]
    edited = [*rows[:2], oxford_row("P002", "knee", "6m", items="4,4,4,4,3,3,3,3,2,2,2,1")]
    third = parse_oxford_csv(
        write(tmp_path, "\n".join([OXFORD_HEADER, *edited]), "c.csv"), today=TODAY
    )
    old = {r.natural_key: r.content_sha256 for r in first}
    assert {r.natural_key for r in third} == set(old)
    assert [r.natural_key for r in third if old[r.natural_key] != r.content_sha256] == [
        ("P002", "knee", "6m")
    ]


# ---------------------------------------------------------------- adverse events


def ae_row(  # noqa: PLR0917  # a row reads best as positional cells
    patient: str = "P001",
    onset: str = "2025-01-10",
    description: str = "Wound dehiscence",
    category: str = "type 1",
    severity: str = "moderate",
    relation: str = "possible",
    action: str = "reoperation",
    outcome: str = "recovered",
) -> str:
    return ",".join([patient, onset, description, category, severity, relation, action, outcome])


def test_a_good_adverse_event_file_parses(tmp_path: Path) -> None:
    text = "\n".join(
        [
            AE_HEADER,
            ae_row(),
            ae_row(
                "P002",
                "2025-03-02",
                '"Periprosthetic infection, early"',
                "4",
                "Grade 3",
                "probable",
                "Revision",
                "recovering",
            ),
            ae_row(
                "P002",
                "2025-03-02",
                "Deep-vein thrombosis",
                "other",
                "moderate",
                "unrelated",
                "medication",
                "recovered with sequelae",
            ),
        ]
    )
    events = parse_ae_csv(write(tmp_path, text, "ae.csv"), today=TODAY)
    assert len(events) == 3
    infection = events[1]
    assert infection.description == "Periprosthetic infection, early"
    assert infection.category is Category.INFECTION
    assert infection.category.henderson_type == 4
    assert infection.severity is Severity.SEVERE
    assert infection.relation is Relation.PROBABLE
    assert infection.action is Action.REVISION
    assert infection.outcome is Outcome.RECOVERING
    assert events[2].category is Category.OTHER
    again = parse_ae_csv(write(tmp_path, text, "ae-again.csv"), today=TODAY)
    assert [e.content_sha256 for e in again] == [e.content_sha256 for e in events]
    assert len({e.natural_key for e in events}) == 3


def test_bad_adverse_event_rows_are_named_by_row_and_column(tmp_path: Path) -> None:
    text = "\n".join(
        [
            AE_HEADER,
            ae_row(),
            ae_row("P002", category="type 7", severity="grave"),
            ae_row("P003", onset="2025-08-01", description=""),
            ae_row("P004", severity="death", outcome="recovered"),
            ae_row("P005", relation="related", action="surgery", outcome="healed"),
        ]
    )
    path = write(tmp_path, text, "ae.csv")
    with pytest.raises(ClinicalDataError) as caught:
        parse_ae_csv(path, today=TODAY)
    message = str(caught.value)
    assert message.startswith(f"{path}: 8 problems in this adverse-event file")
    for line in (
        "row 3, column category: 'type 7' is not a Henderson failure type",
        "row 3, column severity: 'grave' is not a known severity",
        "row 4, column onset_date: 2025-08-01 is in the future",
        "row 4, column description: the description is empty",
        "row 5, column outcome: severity is 'death' but the outcome is 'recovered'",
        "row 6, column relation: 'related' is not a known relation",
        "row 6, column action: 'surgery' is not a known action",
        "row 6, column outcome: 'healed' is not a known outcome",
    ):
        assert line in message
    assert "row 2" not in message


def test_a_duplicate_adverse_event_names_both_rows(tmp_path: Path) -> None:
    text = "\n".join(
        [AE_HEADER, ae_row(), ae_row(description="Wound  DEHISCENCE", outcome="recovering")]
    )
    with pytest.raises(ClinicalDataError, match=r"row 3: the same event .* is also on row 2"):
        parse_ae_csv(write(tmp_path, text, "ae.csv"), today=TODAY)


def test_an_adverse_event_file_needs_every_column(tmp_path: Path) -> None:
    header = AE_HEADER.replace(",outcome", "") + ",notes"
    with pytest.raises(ClinicalDataError) as caught:
        parse_ae_csv(write(tmp_path, header + "\n" + ae_row(), "ae.csv"), today=TODAY)
    message = str(caught.value)
    assert "row 1, column notes: unknown column" in message
    assert "missing required column(s): outcome" in message


def test_adverse_events_of_unknown_patients_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, AE_HEADER + "\n" + ae_row("P404"), "ae.csv")
    with pytest.raises(ClinicalDataError, match="row 2, column patient: 'P404' is not a patient"):
        parse_ae_csv(path, known_patients=["P001"], today=TODAY)
