"""Clinical summaries: Oxford totals, bands and change; adverse-event counts; report HTML."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from collarreader.clinical.adverse_events import AdverseEvent
from collarreader.clinical.oxford import Instrument, OxfordRecord, Timepoint
from collarreader.clinical.store import add_adverse_event, add_oxford, list_clinical
from collarreader.clinical.summary import (
    ae_counts,
    clinical_sections,
    events_per_patient,
    oxford_change,
    oxford_overview,
    oxford_totals,
)
from collarreader.db.engine import Database, open_database
from collarreader.errors import DatabaseError


def questionnaire(
    patient: str, timepoint: str, items: tuple[int | None, ...], instrument: str = "hip"
) -> OxfordRecord:
    return OxfordRecord(
        patient=patient,
        instrument=Instrument(instrument),
        timepoint=Timepoint(timepoint),
        date=dt.date(2024, 6, 1) if timepoint == "6m" else dt.date(2024, 12, 1),
        items_as_entered=items,
        source="paper",
    )


def adverse(patient: str, category: str, severity: str, **extra: str) -> AdverseEvent:
    fields = {
        "relation": "possible",
        "action": "none",
        "outcome": "recovered",
        "description": f"{category} event",
        "onset_date": "2024-08-01",
    }
    fields.update(extra)
    return AdverseEvent.parse(patient=patient, category=category, severity=severity, **fields)


@pytest.fixture
def study(tmp_path: Path) -> Iterator[Database]:
    database = open_database(tmp_path / "study.sqlite", create=True, role="study")
    for record in (
        questionnaire("P1", "6m", (2,) * 12),  # 24 moderate to severe
        questionnaire("P1", "12m", (4,) * 10 + (3, 3)),  # 46 satisfactory → change +22
        questionnaire("P2", "6m", (1,) * 12),  # 12 severe
        questionnaire("P2", "12m", (None, None, None) + (4,) * 9),  # not scored
        questionnaire("P<3>", "12m", (3,) * 12, instrument="knee"),  # 36, no 6 m
    ):
        add_oxford(database, record)
    for event in (
        adverse("P1", "infection", "severe", action="revision", relation="definite"),
        adverse("P1", "infection", "moderate", onset_date="2024-09-01"),
        adverse("P2", "other", "mild", relation="unrelated", description="DVT <left> & calf"),
        adverse("P<3>", "aseptic loosening", "severe", action="revision"),
    ):
        add_adverse_event(database, event)
    yield database
    database.close()


def test_totals_and_bands_per_patient_and_timepoint(study: Database) -> None:
    oxford, _ = list_clinical(study)
    totals = oxford_totals(oxford)
    assert list(zip(totals["patient"], totals["timepoint"], strict=True)) == [
        ("P1", "6m"),
        ("P1", "12m"),
        ("P2", "6m"),
        ("P2", "12m"),
        ("P<3>", "12m"),
    ]
    assert totals["total"].tolist()[:3] == [24, 46, 12]
    assert totals["total"].isna().tolist() == [False, False, False, True, False]
    assert totals["band"].tolist()[:3] == ["moderate to severe", "satisfactory", "severe"]
    assert totals.loc[3, "n_missing"] == 3


def test_change_from_6_to_12_months(study: Database) -> None:
    oxford, _ = list_clinical(study)
    change = oxford_change(oxford).set_index("patient")
    assert change.loc["P1", "total_6m"] == 24
    assert change.loc["P1", "total_12m"] == 46
    assert change.loc["P1", "change"] == 22
    assert change.loc["P1", "band_12m"] == "satisfactory"
    assert pd.isna(change.loc["P2", "change"])  # 12 m not scored
    assert pd.isna(change.loc["P<3>", "total_6m"])
    assert change.loc["P<3>", "instrument"] == "knee"
    assert str(change["change"].dtype) == "Int64"


def test_overview_per_instrument_and_timepoint(study: Database) -> None:
    oxford, _ = list_clinical(study)
    overview = oxford_overview(oxford).set_index(["instrument", "timepoint"])
    hip_6m = overview.loc[("hip", "6m")]
    assert hip_6m["questionnaires"] == 2
    assert hip_6m["scored"] == 2
    assert hip_6m["mean"] == pytest.approx(18.0)
    assert hip_6m["sd"] == pytest.approx(8.485, abs=1e-3)
    assert hip_6m["severe"] == 1
    assert hip_6m["moderate to severe"] == 1
    hip_12m = overview.loc[("hip", "12m")]
    assert hip_12m["questionnaires"] == 2
    assert hip_12m["scored"] == 1
    assert pd.isna(hip_12m["sd"])
    assert overview.loc[("knee", "6m")]["questionnaires"] == 0
    assert pd.isna(overview.loc[("knee", "6m")]["mean"])


def test_adverse_event_counts_by_category_and_severity(study: Database) -> None:
    _, events = list_clinical(study)
    counts = ae_counts(events).set_index("category")
    assert list(counts.index) == [
        "soft tissue",
        "aseptic loosening",
        "structural",
        "infection",
        "tumour progression",
        "other",
        "total",
    ]
    assert list(counts.columns) == [
        "henderson_type",
        "mild",
        "moderate",
        "severe",
        "life-threatening",
        "death",
        "total",
    ]
    assert counts.loc["infection", "severe"] == 1
    assert counts.loc["infection", "moderate"] == 1
    assert counts.loc["infection", "total"] == 2
    assert counts.loc["infection", "henderson_type"] == 4
    assert counts.loc["aseptic loosening", "severe"] == 1
    assert counts.loc["other", "mild"] == 1
    assert pd.isna(counts.loc["other", "henderson_type"])
    assert counts.loc["structural", "total"] == 0
    assert counts.loc["total", "severe"] == 2
    assert counts.loc["total", "total"] == 4


def test_events_per_patient_include_patients_without_events(study: Database) -> None:
    oxford, events = list_clinical(study)
    table = events_per_patient(events, ["P9", *oxford["patient"]]).set_index("patient")
    assert list(table.index) == ["P1", "P2", "P9", "P<3>"]
    assert table.loc["P1", "events"] == 2
    assert table.loc["P1", "implant_failures"] == 2
    assert table.loc["P1", "related"] == 2
    assert table.loc["P1", "revisions"] == 1
    assert table.loc["P1", "worst_severity"] == "severe"
    assert table.loc["P2", "implant_failures"] == 0
    assert table.loc["P2", "related"] == 0
    assert table.loc["P9", "events"] == 0
    assert pd.isna(table.loc["P9", "worst_severity"])


def test_sections_are_escaped_html(study: Database) -> None:
    sections = clinical_sections(study)
    assert [title for title, _ in sections] == ["Oxford Hip and Knee Scores", "Adverse events"]
    oxford_html, ae_html = (body for _, body in sections)
    assert "P&lt;3&gt;" in oxford_html
    assert "<3>" not in oxford_html
    assert "24 (moderate to severe)" in oxford_html
    assert "46 (satisfactory)" in oxford_html
    assert "+22" in oxford_html
    assert "no score (&gt; 2 missing)" in oxford_html
    assert "DVT &lt;left&gt; &amp; calf" in ae_html
    assert "<left>" not in ae_html
    assert "type 4: infection" in ae_html
    for body in (oxford_html, ae_html):
        assert "http" not in body
        assert "<script" not in body
        assert body.count("<table>") == body.count("</table>")


def test_sections_from_a_path_and_an_empty_study(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    open_database(path, create=True, role="study").close()
    sections = clinical_sections(path)
    assert "No Oxford questionnaire" in sections[0][1]
    assert "No adverse event" in sections[1][1]
    reader = tmp_path / "reader.sqlite"
    open_database(reader, create=True, role="reader", reader_id="A").close()
    with pytest.raises(DatabaseError, match="study database"):
        clinical_sections(reader)
