"""The study lead's clinical window: live Oxford total, validation, audited saves, corrections."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6 import QtCore, QtGui, QtWidgets
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from collarreader.clinical.adverse_events import AdverseEvent
from collarreader.clinical.oxford import Instrument, OxfordRecord, Timepoint
from collarreader.clinical.store import (
    add_adverse_event,
    add_oxford,
    adverse_events,
    open_study_database,
    oxford_questionnaires,
)
from collarreader.db.engine import Database, open_database
from collarreader.db.models import AuditEvent
from collarreader.db.verify import verify_database
from collarreader.errors import DatabaseError
from collarreader.ui.clinical_window import ClinicalWindow, ReasonDialog, run_clinical_window

LEFT = QtCore.Qt.MouseButton.LeftButton


@pytest.fixture
def study_path(tmp_path: Path) -> Path:
    path = tmp_path / "study.sqlite"
    open_database(path, create=True, role="study").close()
    return path


@pytest.fixture
def study(study_path: Path) -> Iterator[Database]:
    """A second connection to the window's database, to check what it wrote."""
    database = open_study_database(study_path)
    yield database
    database.close()


def make_window(qtbot: QtBot, path: Path) -> ClinicalWindow:
    window = ClinicalWindow(path)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def type_into(qtbot: QtBot, combo: QtWidgets.QComboBox, text: str) -> None:
    """Pick an entry by typing its first characters, as a keyboard user does.

    Qt joins keys typed into one combo within the keyboard interval into one search, so
    this is for a combo's first choice in a test; later choices use :func:`choose`.
    """
    combo.setFocus()
    qtbot.keyClicks(combo, text)


def choose(combo: QtWidgets.QComboBox, text: str) -> None:
    """Pick the entry that reads ``text`` as the popup list would (index change + activated)."""
    index = combo.findText(text, QtCore.Qt.MatchFlag.MatchStartsWith)
    assert index >= 0, f"{text!r} is not offered"
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def click_cell(qtbot: QtBot, table: QtWidgets.QTableWidget, row: int, column: int) -> None:
    rect = table.visualRect(table.model().index(row, column))
    qtbot.mouseClick(table.viewport(), LEFT, pos=rect.center())


def audit(database: Database, entity: str) -> list[dict[str, object]]:
    table = AuditEvent.__table__
    with database.read() as connection:
        rows = connection.execute(
            select(table).where(table.c.entity == entity).order_by(table.c.seq)
        ).all()
    return [dict(row._mapping) for row in rows]


def oxford(patient: str = "P001", timepoint: Timepoint = Timepoint.SIX_MONTHS) -> OxfordRecord:
    return OxfordRecord(
        patient=patient,
        instrument=Instrument.HIP,
        timepoint=timepoint,
        date=dt.date(2024, 9, 1),
        items_as_entered=(3,) * 12,
        source="paper",
    )


# ---------------------------------------------------------------- Oxford


def test_total_and_band_update_live_as_answers_are_typed(qtbot: QtBot, study_path: Path) -> None:
    window = make_window(qtbot, study_path)
    form = window.oxford_form
    assert form.total_label.text() == "no score"
    assert "12 answers missing" in form.detail_label.text()
    for combo in form.item_boxes[:10]:
        type_into(qtbot, combo, "3")
    assert form.items_as_entered()[:10] == (3,) * 10
    # 10 answered: 12 × 30 / 10 = 36, two answers imputed.
    assert form.total_label.text() == "36 / 48"
    assert form.band_label.text() == "mild to moderate"
    assert "2 missing answers replaced" in form.detail_label.text()
    type_into(qtbot, form.item_boxes[10], "4")
    type_into(qtbot, form.item_boxes[11], "4")
    assert form.total_label.text() == "38 / 48"
    assert form.detail_label.text() == "All 12 answers given."
    for combo in form.item_boxes[:6]:
        choose(combo, "4")
    assert form.total_label.text() == "44 / 48"
    assert form.band_label.text() == "satisfactory"
    for combo in form.item_boxes:
        choose(combo, "0")
    assert form.total_label.text() == "0 / 48"
    assert form.band_label.text() == "severe"


def test_invalid_entries_are_flagged_as_typed_and_block_saving(
    qtbot: QtBot, study_path: Path
) -> None:
    window = make_window(qtbot, study_path)
    form = window.oxford_form
    assert not form.patient_edit.property("invalid")  # untouched fields are not flagged yet
    qtbot.keyClicks(form.patient_edit, "P001")
    qtbot.keyClicks(form.date_edit, "2024-02-30")
    for combo in form.item_boxes:
        choose(combo, "2")
    assert form.date_edit.property("invalid") is True
    assert "Completed on: '2024-02-30' is not a real calendar date." in form.problems_label.text()
    assert not form.save_button.isEnabled()
    form.date_edit.clear()
    qtbot.keyClicks(form.date_edit, "2024-02-28")
    assert not form.date_edit.property("invalid")
    assert form.problems_label.text() == ""
    assert form.save_button.isEnabled()

    choose(form.item_boxes[4], "5")  # outside 0–4 on the current scale
    assert form.item_boxes[4].property("invalid") is True
    assert "Q5: 5 is outside 0–4" in form.problems_label.text()
    assert form.total_label.text() == "—"
    assert not form.save_button.isEnabled()
    # On the legacy scale 5 is an answer (worst) and 0 is not.
    form.scale_combo.setCurrentIndex(1)
    assert not form.item_boxes[4].property("invalid")
    choose(form.item_boxes[0], "0")
    assert form.item_boxes[0].property("invalid") is True

    form.patient_edit.clear()
    qtbot.keyClicks(form.patient_edit, " ")
    assert form.patient_edit.property("invalid") is True


def test_saving_a_new_questionnaire_inserts_an_audited_row(
    qtbot: QtBot, study_path: Path, study: Database
) -> None:
    window = make_window(qtbot, study_path)
    form = window.oxford_form
    qtbot.keyClicks(form.patient_edit, "P007")
    choose(form.instrument_combo, "Oxford Knee")
    choose(form.timepoint_combo, "12")
    qtbot.keyClicks(form.date_edit, "2025-01-15")
    qtbot.keyClicks(form.source_edit, "phone")
    for combo in form.item_boxes[:11]:
        choose(combo, "4")
    assert form.save_button.isEnabled()
    qtbot.mouseClick(form.save_button, LEFT)

    (stored,) = oxford_questionnaires(study)
    record = stored.record
    assert record.patient == "P007"
    assert record.instrument is Instrument.KNEE
    assert record.timepoint is Timepoint.TWELVE_MONTHS
    assert record.items_as_entered == (4,) * 11 + (None,)
    assert record.source == "phone"
    (created,) = audit(study, "oxford_questionnaires")
    assert created["action"] == "create"
    assert created["entity_id"] == stored.id
    assert window.oxford_table.rowCount() == 1
    assert window.oxford_table.item(0, 3).text() == "48  satisfactory"
    assert form.record_id == stored.id  # the form now shows the recorded questionnaire
    assert not form.save_button.isEnabled()
    assert "recorded" in window.statusBar().currentMessage()
    assert verify_database(study_path) == []


def test_a_duplicate_questionnaire_is_refused_in_the_status_bar(
    qtbot: QtBot, study_path: Path, study: Database
) -> None:
    add_oxford(study, oxford())
    window = make_window(qtbot, study_path)
    form = window.oxford_form
    qtbot.keyClicks(form.patient_edit, "P001")
    qtbot.keyClicks(form.date_edit, "2024-09-02")
    for combo in form.item_boxes:
        choose(combo, "1")
    qtbot.mouseClick(form.save_button, LEFT)
    assert "already recorded" in window.statusBar().currentMessage()
    assert len(oxford_questionnaires(study)) == 1


def test_changing_a_recorded_questionnaire_asks_a_reason_and_audits_it(
    qtbot: QtBot, study_path: Path, study: Database
) -> None:
    record_id = add_oxford(study, oxford())
    window = make_window(qtbot, study_path)
    form = window.oxford_form
    assert window.oxford_table.item(0, 3).text() == "—  (click to enter)"
    click_cell(qtbot, window.oxford_table, 0, 2)
    assert form.record_id == record_id
    assert form.total_label.text() == "36 / 48"
    choose(form.item_boxes[2], "1")
    assert form.total_label.text() == "34 / 48"

    # Cancel: nothing is written, the form keeps the change.
    qtbot.mouseClick(form.save_button, LEFT)
    dialog = window.reason_dialog
    assert isinstance(dialog, ReasonDialog)
    assert dialog.isVisible()
    dialog.reject()
    assert "needs a reason" in window.statusBar().currentMessage()
    assert oxford_questionnaires(study)[0].record.items_as_entered[2] == 3
    assert form.items_as_entered()[2] == 1

    qtbot.mouseClick(form.save_button, LEFT)
    dialog = window.reason_dialog
    assert dialog is not None
    assert not dialog.ok_button.isEnabled()
    qtbot.keyClicks(dialog.text_edit, "transcription error, checked on paper form")
    assert dialog.ok_button.isEnabled()
    qtbot.mouseClick(dialog.ok_button, LEFT)

    assert oxford_questionnaires(study)[0].record.items_as_entered[2] == 1
    last = audit(study, "oxford_questionnaires")[-1]
    assert last["action"] == "correct"
    assert last["reason"] == "transcription error, checked on paper form"
    assert json.loads(str(last["before"]))["q3"] == 3
    assert json.loads(str(last["after"]))["q3"] == 1
    assert window.oxford_table.item(0, 2).text() == "34  mild to moderate"
    assert verify_database(study_path) == []


def test_an_empty_visit_cell_starts_that_questionnaire_and_unsaved_changes_are_kept(
    qtbot: QtBot, study_path: Path, study: Database
) -> None:
    add_oxford(study, oxford())
    add_oxford(study, oxford("P002"))
    window = make_window(qtbot, study_path)
    form = window.oxford_form
    click_cell(qtbot, window.oxford_table, 0, 3)
    assert form.record_id is None
    assert form.patient_edit.text() == "P001"
    assert form.timepoint() is Timepoint.TWELVE_MONTHS
    qtbot.keyClicks(form.date_edit, "2025-03-01")
    click_cell(qtbot, window.oxford_table, 1, 2)  # elsewhere, with an unsaved entry
    assert form.record_id is None
    assert form.date_edit.text() == "2025-03-01"
    assert "unsaved changes" in window.statusBar().currentMessage()
    qtbot.mouseClick(form.revert_button, LEFT)
    click_cell(qtbot, window.oxford_table, 1, 2)
    assert form.loaded is not None
    assert form.loaded.patient == "P002"


# ---------------------------------------------------------------- adverse events


def test_adverse_event_form_validates_as_typed_and_saves(
    qtbot: QtBot, study_path: Path, study: Database
) -> None:
    window = make_window(qtbot, study_path)
    window.tabs.setCurrentIndex(1)
    form = window.ae_form
    assert not form.save_button.isEnabled()
    qtbot.keyClicks(form.patient_edit, "P003")
    qtbot.keyClicks(form.onset_edit, "2024/11/02")
    assert form.onset_edit.property("invalid") is True
    assert "Onset date:" in form.problems_label.text()
    form.onset_edit.clear()
    qtbot.keyClicks(form.onset_edit, "2024-11-02")
    assert not form.onset_edit.property("invalid")
    qtbot.keyClicks(form.description_edit, "Deep infection <around> the collar")
    form.combos["category"].setCurrentIndex(form.combos["category"].findData("infection"))
    form.combos["severity"].setCurrentIndex(form.combos["severity"].findData("death"))
    form.combos["relation"].setCurrentIndex(form.combos["relation"].findData("probable"))
    form.combos["action"].setCurrentIndex(form.combos["action"].findData("revision"))
    form.combos["outcome"].setCurrentIndex(form.combos["outcome"].findData("recovered"))
    form.combos["outcome"].activated.emit(form.combos["outcome"].currentIndex())
    # Severity death needs outcome fatal: flagged on the outcome, saving blocked.
    assert form.combos["outcome"].property("invalid") is True
    assert "severity is 'death'" in form.problems_label.text()
    assert not form.save_button.isEnabled()
    choose(form.combos["severity"], "grade 3")
    assert form.combos["severity"].currentData() == "severe"
    assert form.problems() == {}
    assert form.save_button.isEnabled()
    qtbot.mouseClick(form.save_button, LEFT)

    (stored,) = adverse_events(study)
    assert stored.event.description == "Deep infection <around> the collar"
    assert stored.event.severity.value == "severe"
    assert audit(study, "adverse_events")[0]["action"] == "create"
    assert window.ae_table.rowCount() == 1
    assert window.ae_table.item(0, 2).text() == "type 4 infection"
    assert verify_database(study_path) == []


def test_correcting_an_adverse_event_asks_a_reason(
    qtbot: QtBot, study_path: Path, study: Database
) -> None:
    event_id = add_adverse_event(
        study,
        AdverseEvent.parse(
            patient="P004",
            onset_date="2024-10-01",
            description="Dislocation",
            category="soft tissue",
            severity="moderate",
            relation="possible",
            action="reoperation",
            outcome="recovering",
        ),
    )
    window = make_window(qtbot, study_path)
    window.tabs.setCurrentIndex(1)
    click_cell(qtbot, window.ae_table, 0, 3)
    form = window.ae_form
    assert form.event_id == event_id
    assert not form.save_button.isEnabled()
    choose(form.combos["outcome"], "recovered")
    assert form.combos["outcome"].currentData() == "recovered"
    qtbot.mouseClick(form.save_button, LEFT)
    dialog = window.reason_dialog
    assert dialog is not None
    qtbot.keyClicks(dialog.text_edit, "follow-up visit 2025-01")
    qtbot.mouseClick(dialog.ok_button, LEFT)
    assert adverse_events(study)[0].event.outcome.value == "recovered"
    last = audit(study, "adverse_events")[-1]
    assert last["action"] == "correct"
    assert last["reason"] == "follow-up visit 2025-01"
    assert verify_database(study_path) == []


def test_a_reader_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "reader.sqlite"
    open_database(path, create=True, role="reader", reader_id="A").close()
    with pytest.raises(DatabaseError, match="study database"):
        ClinicalWindow(path)


def test_run_with_a_screenshot_writes_the_picture_and_returns(
    qtbot: QtBot, study_path: Path, study: Database, tmp_path: Path
) -> None:
    add_oxford(study, oxford())
    picture = tmp_path / "clinical.png"
    assert run_clinical_window(study_path, screenshot=picture) == 0
    image = QtGui.QImage(str(picture))
    assert image.width() >= 800
    assert image.height() >= 500
