"""The study lead's window for Oxford scores and adverse events (``collarreader clinical edit``).

Two tabs, each a table beside an editor form:

* **Oxford scores** — one row per patient and instrument, the 6-month and 12-month totals
  with their bands and the change. Clicking a time point opens that questionnaire in the form
  (or starts it, with patient, instrument and time point filled in). The form shows the
  computed total and band live while the twelve answers are chosen.
* **Adverse events** — every event; the form offers the vocabularies as combo boxes.

Fields are checked as they are typed: a problem outlines the field in red and is listed under
the form; Save stays disabled until the form is valid. Saving a new record is an audited
insert. Saving a change to a recorded one first asks for a reason (:class:`ReasonDialog`,
window-modal, non-blocking) and is audited with it. Warnings and results go to the status bar,
never to a blocking message box. The store functions do the writing; nothing here touches
the database directly.

Only study patient IDs (pseudonyms) are shown; the window holds no other identity.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from collarreader.clinical.adverse_events import (
    MAX_DESCRIPTION_CHARS,
    Action,
    AdverseEvent,
    Category,
    Outcome,
    Relation,
    Severity,
    check_date,
    check_patient_id,
    parse_iso_date,
)
from collarreader.clinical.oxford import (
    ITEM_NAMES,
    Instrument,
    OxfordBand,
    OxfordRecord,
    OxfordScale,
    OxfordScore,
    Timepoint,
    check_item,
    from_legacy_items,
    score,
)
from collarreader.clinical.store import (
    AE_FIELDS,
    StoredAdverseEvent,
    StoredOxford,
    add_adverse_event,
    add_oxford,
    adverse_events,
    correct_adverse_event,
    correct_oxford,
    describe_ae_changes,
    describe_oxford_changes,
    open_study_database,
    oxford_questionnaires,
)
from collarreader.db.engine import STUDY_LEAD
from collarreader.errors import ClinicalDataError, CollarReaderError

__all__ = [
    "AdverseEventForm",
    "ClinicalWindow",
    "OxfordForm",
    "ReasonDialog",
    "run_clinical_window",
]

MISSING = "—"
"""How a missing answer is shown and chosen."""

BAND_COLOURS: dict[OxfordBand, str] = {
    OxfordBand.SEVERE: "#e06666",
    OxfordBand.MODERATE_TO_SEVERE: "#e69c55",
    OxfordBand.MILD_TO_MODERATE: "#d9c85a",
    OxfordBand.SATISFACTORY: "#6cc070",
}
"""Text colour of each band on the dark palette (worst red … best green)."""

_STYLE = """
QLineEdit[invalid="true"], QComboBox[invalid="true"], QPlainTextEdit[invalid="true"] {
    border: 1px solid #e06666;
}
QLabel#problems { color: #f08080; }
QLabel#total { font-size: 22px; font-weight: 600; }
QLabel#band { font-size: 15px; font-weight: 600; }
QLabel#mode { color: #a0a0a0; }
"""

_TIMEPOINT_LABELS = {Timepoint.SIX_MONTHS: "6 months", Timepoint.TWELVE_MONTHS: "12 months"}
_INSTRUMENT_LABELS = {Instrument.HIP: "Oxford Hip Score", Instrument.KNEE: "Oxford Knee Score"}
_SCALE_LABELS = {
    OxfordScale.CURRENT: "0–48 (answers 0 worst … 4 best)",
    OxfordScale.LEGACY: "legacy 12–60 (answers 1 best … 5 worst)",
}


def _set_invalid(widget: QtWidgets.QWidget, invalid: bool) -> None:
    """Outline ``widget`` in red (via the style sheet's ``invalid`` property) or not."""
    if bool(widget.property("invalid")) == invalid:
        return
    widget.setProperty("invalid", invalid)
    # A dynamic property change does not restyle by itself.
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)


_FIELD_LABELS = {
    "patient": "Patient",
    "date": "Completed on",
    "onset_date": "Onset date",
    "description": "Description",
    **{name: f"Q{number}" for number, name in enumerate(ITEM_NAMES, start=1)},
}


def _problem_lines(shown: dict[str, str]) -> str:
    return "\n".join(
        f"{_FIELD_LABELS.get(name, name.capitalize())}: {reason}." for name, reason in shown.items()
    )


def _reason_text(error: Exception) -> str:
    return str(error).rstrip(".")


class ReasonDialog(QtWidgets.QDialog):
    """Asks why a recorded record is changed; OK only with a reason.

    Parameters
    ----------
    what : the record, e.g. "patient P001, hip, 6m"
    changes : the changes, as :func:`~collarreader.clinical.store.describe_oxford_changes`
        words them
    """

    def __init__(self, what: str, changes: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Reason for the correction")
        self.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
        layout = QtWidgets.QVBoxLayout(self)
        intro = QtWidgets.QLabel()
        intro.setTextFormat(QtCore.Qt.TextFormat.RichText)
        intro.setWordWrap(True)
        # The record and change texts are data, not markup.
        intro.setText(
            f"<b>Correcting {_html(what)}</b><br>{_html(changes)}<br><br>"
            "Why is the recorded data changed? The reason is kept in the audit trail."
        )
        layout.addWidget(intro)
        self.text_edit = QtWidgets.QPlainTextEdit()
        self.text_edit.setPlaceholderText(
            "e.g. transcription error, checked against the paper form"
        )
        self.text_edit.setTabChangesFocus(True)
        layout.addWidget(self.text_edit)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Save correction")
        self.ok_button.setEnabled(False)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.text_edit.textChanged.connect(self._update_ok)
        self.resize(460, 240)

    def reason(self) -> str:
        """The reason typed, stripped."""
        return self.text_edit.toPlainText().strip()

    def _update_ok(self) -> None:
        self.ok_button.setEnabled(bool(self.reason()))


def _html(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _enum_combo(
    members: Sequence[Any], label: Callable[[Any], str], placeholder: str | None
) -> QtWidgets.QComboBox:
    combo = QtWidgets.QComboBox()
    if placeholder is not None:
        combo.addItem(placeholder, None)
    for member in members:
        combo.addItem(label(member), member.value)
    return combo


def _select_data(combo: QtWidgets.QComboBox, value: object) -> None:
    index = combo.findData(value)
    combo.setCurrentIndex(max(index, 0))


# ---------------------------------------------------------------------------- Oxford form


class OxfordForm(QtWidgets.QWidget):
    """The questionnaire editor: identification, the twelve answers, the live total and band.

    Signals
    -------
    changed : the form's content or validity changed
    save_requested : the Save button was pressed (the window decides insert or correction)
    """

    changed = QtCore.Signal()
    save_requested = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.record_id: str | None = None
        self.loaded: OxfordRecord | None = None
        self._touched: set[str] = set()
        self._loading = False

        self.mode_label = QtWidgets.QLabel()
        self.mode_label.setObjectName("mode")
        self.mode_label.setWordWrap(True)
        self.patient_edit = QtWidgets.QLineEdit()
        self.patient_edit.setPlaceholderText("study ID, e.g. P001")
        self.patient_completer = QtWidgets.QCompleter([])
        self.patient_completer.setCaseSensitivity(QtCore.Qt.CaseSensitivity.CaseInsensitive)
        # Inline: the known ID is completed in the field itself, no popup to dismiss.
        self.patient_completer.setCompletionMode(
            QtWidgets.QCompleter.CompletionMode.InlineCompletion
        )
        self.patient_edit.setCompleter(self.patient_completer)
        self.instrument_combo = _enum_combo(list(Instrument), lambda m: _INSTRUMENT_LABELS[m], None)
        self.timepoint_combo = _enum_combo(list(Timepoint), lambda m: _TIMEPOINT_LABELS[m], None)
        self.date_edit = QtWidgets.QLineEdit()
        self.date_edit.setPlaceholderText("YYYY-MM-DD")
        self.date_edit.setMaxLength(10)
        self.scale_combo = _enum_combo(list(OxfordScale), lambda m: _SCALE_LABELS[m], None)
        self.source_edit = QtWidgets.QLineEdit()
        self.source_edit.setPlaceholderText("paper, phone, …")
        self.source_edit.setMaxLength(255)

        identity = QtWidgets.QFormLayout()
        identity.addRow("Patient", self.patient_edit)
        identity.addRow("Instrument", self.instrument_combo)
        identity.addRow("Time point", self.timepoint_combo)
        identity.addRow("Completed on", self.date_edit)
        identity.addRow("Scale", self.scale_combo)
        identity.addRow("Source", self.source_edit)

        answers = QtWidgets.QGroupBox("Answers (— = missing)")
        grid = QtWidgets.QGridLayout(answers)
        self.item_boxes: list[QtWidgets.QComboBox] = []
        for index, name in enumerate(ITEM_NAMES):
            combo = QtWidgets.QComboBox()
            combo.addItem(MISSING, None)
            # 0–5 covers both scales; a value outside the chosen scale is flagged, not hidden.
            for value in range(6):
                combo.addItem(str(value), value)
            combo.setObjectName(name)
            combo.setMinimumWidth(64)
            label = QtWidgets.QLabel(f"Q{index + 1}")
            label.setBuddy(combo)
            row, column = divmod(index, 4)
            grid.addWidget(label, row, 2 * column, QtCore.Qt.AlignmentFlag.AlignRight)
            grid.addWidget(combo, row, 2 * column + 1)
            self.item_boxes.append(combo)

        self.total_label = QtWidgets.QLabel()
        self.total_label.setObjectName("total")
        self.band_label = QtWidgets.QLabel()
        self.band_label.setObjectName("band")
        self.detail_label = QtWidgets.QLabel()
        self.detail_label.setWordWrap(True)
        result = QtWidgets.QGroupBox("Score")
        result_layout = QtWidgets.QGridLayout(result)
        result_layout.addWidget(self.total_label, 0, 0)
        result_layout.addWidget(self.band_label, 0, 1)
        result_layout.addWidget(self.detail_label, 1, 0, 1, 2)
        result_layout.setColumnStretch(1, 1)

        self.problems_label = QtWidgets.QLabel()
        self.problems_label.setObjectName("problems")
        self.problems_label.setWordWrap(True)

        self.new_button = QtWidgets.QPushButton("New")
        self.revert_button = QtWidgets.QPushButton("Revert")
        self.save_button = QtWidgets.QPushButton("Save")
        self.save_button.setDefault(True)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.mode_label)
        layout.addLayout(identity)
        layout.addWidget(answers)
        layout.addWidget(result)
        layout.addWidget(self.problems_label)
        layout.addStretch(1)
        layout.addLayout(buttons)

        self.patient_edit.textEdited.connect(lambda _text: self._touch("patient"))
        self.date_edit.textEdited.connect(lambda _text: self._touch("date"))
        self.source_edit.textEdited.connect(lambda _text: self._touch("source"))
        for combo in (self.instrument_combo, self.timepoint_combo, self.scale_combo):
            combo.currentIndexChanged.connect(lambda _index: self._refresh())
        for combo in self.item_boxes:
            combo.currentIndexChanged.connect(lambda _index: self._refresh())
        # clicked passes a 'checked' flag, which start_new must not take for a patient.
        self.new_button.clicked.connect(lambda _checked=False: self.start_new())
        self.revert_button.clicked.connect(self.revert)
        self.save_button.clicked.connect(self.save_requested)
        self.start_new()

    # ---- content
    def items_as_entered(self) -> tuple[int | None, ...]:
        """The twelve answers as chosen (None = missing)."""
        return tuple(combo.currentData() for combo in self.item_boxes)

    def scale(self) -> OxfordScale:
        """The scale the answers are entered on."""
        return OxfordScale(self.scale_combo.currentData())

    def instrument(self) -> Instrument:
        """The chosen instrument."""
        return Instrument(self.instrument_combo.currentData())

    def timepoint(self) -> Timepoint:
        """The chosen time point."""
        return Timepoint(self.timepoint_combo.currentData())

    def live_score(self) -> OxfordScore | None:
        """The score of the answers as they stand, or None while an answer is out of range."""
        try:
            items = self.items_as_entered()
            if self.scale() is OxfordScale.LEGACY:
                items = from_legacy_items(items)
            return score(items, self.instrument())
        except ClinicalDataError:
            return None

    def problems(self) -> dict[str, str]:
        """Every problem of the form by field name (``patient``, ``date``, ``q1`` …)."""
        found: dict[str, str] = {}
        try:
            check_patient_id(self.patient_edit.text().strip())
        except ClinicalDataError as error:
            found["patient"] = _reason_text(error)
        try:
            check_date(parse_iso_date(self.date_edit.text()))
        except ClinicalDataError as error:
            found["date"] = _reason_text(error)
        for name, value in zip(ITEM_NAMES, self.items_as_entered(), strict=True):
            try:
                check_item(value, scale=self.scale())
            except ClinicalDataError as error:
                found[name] = _reason_text(error)
        return found

    def record(self) -> OxfordRecord | None:
        """The questionnaire the form describes, or None while it has a problem."""
        if self.problems():
            return None
        return OxfordRecord(
            patient=self.patient_edit.text().strip(),
            instrument=self.instrument(),
            timepoint=self.timepoint(),
            date=parse_iso_date(self.date_edit.text()),
            items_as_entered=self.items_as_entered(),
            source=self.source_edit.text().strip(),
            scale=self.scale(),
        )

    def is_dirty(self) -> bool:
        """True when the form differs from the loaded record (or a new one has any entry)."""
        if self.loaded is None:
            return bool(
                self.patient_edit.text().strip()
                or self.date_edit.text().strip()
                or self.source_edit.text().strip()
                or any(value is not None for value in self.items_as_entered())
            )
        current = self.record()
        return current is None or current.content_sha256 != self.loaded.content_sha256

    # ---- loading
    def start_new(
        self,
        patient: str = "",
        instrument: Instrument = Instrument.HIP,
        timepoint: Timepoint = Timepoint.SIX_MONTHS,
    ) -> None:
        """Empty the form for a new questionnaire (optionally for a given patient and visit)."""
        self._loading = True
        self.record_id = None
        self.loaded = None
        self.patient_edit.setText(patient)
        _select_data(self.instrument_combo, instrument.value)
        _select_data(self.timepoint_combo, timepoint.value)
        self.date_edit.clear()
        _select_data(self.scale_combo, OxfordScale.CURRENT.value)
        self.source_edit.clear()
        for combo in self.item_boxes:
            combo.setCurrentIndex(0)
        self._touched = {"patient"} if patient else set()
        self._loading = False
        self.mode_label.setText("New questionnaire")
        self._refresh()

    def load(self, stored: StoredOxford) -> None:
        """Show a recorded questionnaire for correction."""
        record = stored.record
        self._loading = True
        self.record_id = stored.id
        self.loaded = record
        self.patient_edit.setText(record.patient)
        _select_data(self.instrument_combo, record.instrument.value)
        _select_data(self.timepoint_combo, record.timepoint.value)
        self.date_edit.setText(record.date.isoformat())
        _select_data(self.scale_combo, record.scale.value)
        self.source_edit.setText(record.source)
        for combo, value in zip(self.item_boxes, record.items_as_entered, strict=True):
            _select_data(combo, value)
        self._touched = {"patient", "date", "source"}
        self._loading = False
        self.mode_label.setText(
            f"Recorded questionnaire: {record.patient} · {record.instrument.value} · "
            f"{_TIMEPOINT_LABELS[record.timepoint]} — last changed "
            f"{stored.updated_at[:16].replace('T', ' ')} UTC"
        )
        self._refresh()

    def revert(self) -> None:
        """Discard the form's changes."""
        if self.loaded is not None and self.record_id is not None:
            stored = StoredOxford(self.record_id, self.loaded, "", "")
            label = self.mode_label.text()
            self.load(stored)
            self.mode_label.setText(label)
        else:
            self.start_new()

    # ---- feedback
    def _touch(self, name: str) -> None:
        self._touched.add(name)
        self._refresh()

    def _refresh(self) -> None:
        if self._loading:
            return
        problems = self.problems()
        shown = {
            name: reason
            for name, reason in problems.items()
            if name.startswith("q") or name in self._touched
        }
        _set_invalid(self.patient_edit, "patient" in shown)
        _set_invalid(self.date_edit, "date" in shown)
        for name, combo in zip(ITEM_NAMES, self.item_boxes, strict=True):
            _set_invalid(combo, name in shown)
        self.problems_label.setText(_problem_lines(shown))
        self._show_score(self.live_score())
        self.save_button.setEnabled(not problems and self.is_dirty())
        self.revert_button.setEnabled(self.is_dirty())
        self.changed.emit()

    def _show_score(self, result: OxfordScore | None) -> None:
        if result is None:
            self.total_label.setText("—")
            self.band_label.setText("")
            self.detail_label.setText("An answer is outside the scale.")
            return
        if result.total is None or result.band is None:
            self.total_label.setText("no score")
            self.band_label.setText("")
            self.detail_label.setText(
                f"{result.n_missing} answers missing; at most 2 may be missing for a score."
            )
            return
        self.total_label.setText(f"{result.total} / 48")
        self.band_label.setText(result.band.value)
        self.band_label.setStyleSheet(f"color: {BAND_COLOURS[result.band]};")
        if result.imputed:
            plural = "answer" if result.n_missing == 1 else "answers"
            self.detail_label.setText(
                f"{result.n_missing} missing {plural} replaced by the mean of the others "
                f"({result.total_unrounded:.2f} before rounding)."
            )
        else:
            self.detail_label.setText("All 12 answers given.")


# ---------------------------------------------------------------------------- AE form

_AE_CHOICES: tuple[tuple[str, type[StrEnum], Callable[[Any], str]], ...] = (
    (
        "category",
        Category,
        lambda m: m.value if m.henderson_type is None else f"type {m.henderson_type} — {m.value}",
    ),
    ("severity", Severity, lambda m: f"grade {m.grade} — {m.value}"),
    ("relation", Relation, lambda m: m.value),
    ("action", Action, lambda m: m.value),
    ("outcome", Outcome, lambda m: m.value),
)


class AdverseEventForm(QtWidgets.QWidget):
    """The adverse-event editor: patient, onset, description and the five vocabularies."""

    changed = QtCore.Signal()
    save_requested = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.event_id: str | None = None
        self.loaded: AdverseEvent | None = None
        self._touched: set[str] = set()
        self._loading = False

        self.mode_label = QtWidgets.QLabel()
        self.mode_label.setObjectName("mode")
        self.mode_label.setWordWrap(True)
        self.patient_edit = QtWidgets.QLineEdit()
        self.patient_edit.setPlaceholderText("study ID, e.g. P001")
        self.patient_completer = QtWidgets.QCompleter([])
        self.patient_completer.setCaseSensitivity(QtCore.Qt.CaseSensitivity.CaseInsensitive)
        # Inline: the known ID is completed in the field itself, no popup to dismiss.
        self.patient_completer.setCompletionMode(
            QtWidgets.QCompleter.CompletionMode.InlineCompletion
        )
        self.patient_edit.setCompleter(self.patient_completer)
        self.onset_edit = QtWidgets.QLineEdit()
        self.onset_edit.setPlaceholderText("YYYY-MM-DD")
        self.onset_edit.setMaxLength(10)
        self.description_edit = QtWidgets.QPlainTextEdit()
        self.description_edit.setPlaceholderText("What happened (no names or other identity).")
        self.description_edit.setTabChangesFocus(True)
        self.description_edit.setFixedHeight(84)
        self.combos: dict[str, QtWidgets.QComboBox] = {
            name: _enum_combo(list(enum), label, "— choose —") for name, enum, label in _AE_CHOICES
        }

        form = QtWidgets.QFormLayout()
        form.addRow("Patient", self.patient_edit)
        form.addRow("Onset date", self.onset_edit)
        form.addRow("Description", self.description_edit)
        for name, _enum, _label in _AE_CHOICES:
            form.addRow(name.capitalize(), self.combos[name])

        self.problems_label = QtWidgets.QLabel()
        self.problems_label.setObjectName("problems")
        self.problems_label.setWordWrap(True)
        self.new_button = QtWidgets.QPushButton("New")
        self.revert_button = QtWidgets.QPushButton("Revert")
        self.save_button = QtWidgets.QPushButton("Save")
        self.save_button.setDefault(True)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.mode_label)
        layout.addLayout(form)
        layout.addWidget(self.problems_label)
        layout.addStretch(1)
        layout.addLayout(buttons)

        self.patient_edit.textEdited.connect(lambda _text: self._touch("patient"))
        self.onset_edit.textEdited.connect(lambda _text: self._touch("onset_date"))
        self.description_edit.textChanged.connect(self._description_changed)
        for name, combo in self.combos.items():
            combo.activated.connect(lambda _index, name=name: self._touch(name))
            combo.currentIndexChanged.connect(lambda _index: self._refresh())
        # clicked passes a 'checked' flag, which start_new must not take for a patient.
        self.new_button.clicked.connect(lambda _checked=False: self.start_new())
        self.revert_button.clicked.connect(self.revert)
        self.save_button.clicked.connect(self.save_requested)
        self.start_new()

    def _description_changed(self) -> None:
        if not self._loading:
            self._touch("description")

    def _values(self) -> dict[str, Any]:
        return {
            "patient": self.patient_edit.text().strip(),
            "onset_date": self.onset_edit.text(),
            "description": self.description_edit.toPlainText().strip(),
            **{name: combo.currentData() for name, combo in self.combos.items()},
        }

    def problems(self) -> dict[str, str]:
        """Every problem of the form by field name (``patient``, ``onset_date``, …)."""
        values = self._values()
        found: dict[str, str] = {}
        try:
            check_patient_id(values["patient"])
        except ClinicalDataError as error:
            found["patient"] = _reason_text(error)
        onset: dt.date | None = None
        try:
            onset = check_date(parse_iso_date(values["onset_date"]))
        except ClinicalDataError as error:
            found["onset_date"] = _reason_text(error)
        if not values["description"]:
            found["description"] = "say what happened"
        elif len(values["description"]) > MAX_DESCRIPTION_CHARS:
            found["description"] = f"at most {MAX_DESCRIPTION_CHARS} characters"
        for name, _enum, _label in _AE_CHOICES:
            if values[name] is None:
                found[name] = f"choose the {name}"
        if not found and onset is not None:
            event = self._event(values, onset)
            for name, reason in event.problems():
                found.setdefault(name, reason.rstrip("."))
        return found

    @staticmethod
    def _event(values: dict[str, Any], onset: dt.date) -> AdverseEvent:
        return AdverseEvent(
            patient=values["patient"],
            onset_date=onset,
            description=values["description"],
            category=Category(values["category"]),
            severity=Severity(values["severity"]),
            relation=Relation(values["relation"]),
            action=Action(values["action"]),
            outcome=Outcome(values["outcome"]),
        )

    def adverse_event(self) -> AdverseEvent | None:
        """The event the form describes, or None while it has a problem."""
        if self.problems():
            return None
        values = self._values()
        return self._event(values, parse_iso_date(values["onset_date"]))

    def is_dirty(self) -> bool:
        """True when the form differs from the loaded event (or a new one has any entry)."""
        if self.loaded is None:
            values = self._values()
            return any(bool(value) for value in values.values())
        current = self.adverse_event()
        return current is None or current.content_sha256 != self.loaded.content_sha256

    def start_new(self, patient: str = "") -> None:
        """Empty the form for a new event."""
        self._loading = True
        self.event_id = None
        self.loaded = None
        self.patient_edit.setText(patient)
        self.onset_edit.clear()
        self.description_edit.clear()
        for combo in self.combos.values():
            combo.setCurrentIndex(0)
        self._touched = {"patient"} if patient else set()
        self._loading = False
        self.mode_label.setText("New adverse event")
        self._refresh()

    def load(self, stored: StoredAdverseEvent) -> None:
        """Show a recorded event for correction."""
        event = stored.event
        self._loading = True
        self.event_id = stored.id
        self.loaded = event
        self.patient_edit.setText(event.patient)
        self.onset_edit.setText(event.onset_date.isoformat())
        self.description_edit.setPlainText(event.description)
        for name, combo in self.combos.items():
            _select_data(combo, getattr(event, name).value)
        self._touched = {"patient", "onset_date", "description", *self.combos}
        self._loading = False
        self.mode_label.setText(
            f"Recorded adverse event of {event.patient} — last changed "
            f"{stored.updated_at[:16].replace('T', ' ')} UTC"
        )
        self._refresh()

    def revert(self) -> None:
        """Discard the form's changes."""
        if self.loaded is not None and self.event_id is not None:
            label = self.mode_label.text()
            self.load(StoredAdverseEvent(self.event_id, self.loaded, "", ""))
            self.mode_label.setText(label)
        else:
            self.start_new()

    def _touch(self, name: str) -> None:
        self._touched.add(name)
        self._refresh()

    def _refresh(self) -> None:
        if self._loading:
            return
        problems = self.problems()
        shown = {name: reason for name, reason in problems.items() if name in self._touched}
        _set_invalid(self.patient_edit, "patient" in shown)
        _set_invalid(self.onset_edit, "onset_date" in shown)
        _set_invalid(self.description_edit, "description" in shown)
        for name, combo in self.combos.items():
            _set_invalid(combo, name in shown)
        self.problems_label.setText(_problem_lines(shown))
        self.save_button.setEnabled(not problems and self.is_dirty())
        self.revert_button.setEnabled(self.is_dirty())
        self.changed.emit()


# ---------------------------------------------------------------------------- the window

_ID_ROLE = QtCore.Qt.ItemDataRole.UserRole
_KEY_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1


def _read_only_table(headers: Sequence[str]) -> QtWidgets.QTableWidget:
    table = QtWidgets.QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
    table.setAlternatingRowColors(True)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setHighlightSections(False)
    return table


class ClinicalWindow(QtWidgets.QMainWindow):
    """Oxford scores and adverse events of one study database.

    Parameters
    ----------
    db_path : the study database (SQLite path or URL); a reader database is refused
    actor : who the audit names

    Raises
    ------
    DatabaseError
        When the database is missing, not a study database, or unreadable.
    """

    def __init__(
        self,
        db_path: str | Path,
        *,
        actor: str = STUDY_LEAD,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.database = open_study_database(db_path)
        self.actor = actor
        self.reason_dialog: ReasonDialog | None = None
        self._oxford: list[StoredOxford] = []
        self._events: list[StoredAdverseEvent] = []
        self.setWindowTitle(f"collarreader — clinical data — {Path(self.database.label).name}")
        self.setStyleSheet(_STYLE)

        self.oxford_table = _read_only_table(
            ["Patient", "Score", "6 months", "12 months", "Change 6→12 m"]
        )
        self.oxford_table.setSelectionBehavior(
            QtWidgets.QAbstractItemView.SelectionBehavior.SelectItems
        )
        self.oxford_form = OxfordForm()
        self.ae_table = _read_only_table(
            [
                "Patient",
                "Onset",
                "Category",
                "Severity",
                "Relation",
                "Action",
                "Outcome",
                "Description",
            ]
        )
        self.ae_table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.ae_form = AdverseEventForm()

        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self._split(self.oxford_table, self.oxford_form), "Oxford scores")
        self.tabs.addTab(self._split(self.ae_table, self.ae_form), "Adverse events")
        self.setCentralWidget(self.tabs)
        self.count_label = QtWidgets.QLabel()
        self.statusBar().addPermanentWidget(self.count_label)

        self.oxford_table.cellClicked.connect(self._oxford_cell_clicked)
        self.ae_table.cellClicked.connect(self._ae_row_clicked)
        self.oxford_form.save_requested.connect(self.save_oxford)
        self.ae_form.save_requested.connect(self.save_adverse_event)

        save = QtGui.QShortcut(QtGui.QKeySequence.StandardKey.Save, self)
        save.activated.connect(self._save_current)
        new = QtGui.QShortcut(QtGui.QKeySequence.StandardKey.New, self)
        new.activated.connect(self._new_current)

        self.reload()
        self.resize(1180, 700)

    @staticmethod
    def _split(table: QtWidgets.QWidget, form: QtWidgets.QWidget) -> QtWidgets.QSplitter:
        splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        splitter.addWidget(table)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidget(form)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([640, 540])
        return splitter

    # ---- data
    def reload(self) -> None:
        """Read both tables again from the database."""
        self._oxford = oxford_questionnaires(self.database)
        self._events = adverse_events(self.database)
        self._fill_oxford_table()
        self._fill_ae_table()
        patients = sorted(
            {s.record.patient for s in self._oxford} | {s.event.patient for s in self._events}
        )
        for form in (self.oxford_form, self.ae_form):
            model = QtCore.QStringListModel(patients, form)
            form.patient_completer.setModel(model)
        self.count_label.setText(
            f"{len(self._oxford)} questionnaires · {len(self._events)} adverse events"
        )

    def _fill_oxford_table(self) -> None:
        table = self.oxford_table
        by_key: dict[tuple[str, str], dict[Timepoint, StoredOxford]] = {}
        for stored in self._oxford:
            record = stored.record
            by_key.setdefault((record.patient, record.instrument.value), {})[record.timepoint] = (
                stored
            )
        table.setRowCount(len(by_key))
        for row, ((patient, instrument), visits) in enumerate(sorted(by_key.items())):
            cells = [
                QtWidgets.QTableWidgetItem(patient),
                QtWidgets.QTableWidgetItem(_INSTRUMENT_LABELS[Instrument(instrument)]),
            ]
            totals: list[int | None] = []
            for timepoint in Timepoint:
                stored_visit = visits.get(timepoint)
                item = QtWidgets.QTableWidgetItem()
                item.setData(_KEY_ROLE, (patient, instrument, timepoint.value))
                if stored_visit is None:
                    item.setText("—  (click to enter)")
                    item.setForeground(QtGui.QColor("#7a7a7a"))
                    totals.append(None)
                else:
                    result = stored_visit.record.score
                    item.setData(_ID_ROLE, stored_visit.id)
                    totals.append(result.total)
                    if result.total is None or result.band is None:
                        item.setText(f"no score ({result.n_missing} missing)")
                    else:
                        item.setText(f"{result.total}  {result.band.value}")
                        item.setForeground(QtGui.QColor(BAND_COLOURS[result.band]))
                cells.append(item)
            first, last = totals
            change = "" if first is None or last is None else f"{last - first:+d}"
            change_item = QtWidgets.QTableWidgetItem(change)
            change_item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            cells.append(change_item)
            for column, item in enumerate(cells):
                if column < 2 or column == 4:
                    item.setData(_KEY_ROLE, (patient, instrument, None))
                table.setItem(row, column, item)
        table.resizeColumnsToContents()

    def _fill_ae_table(self) -> None:
        table = self.ae_table
        table.setWordWrap(False)
        table.setRowCount(len(self._events))
        for row, stored in enumerate(self._events):
            event = stored.event
            category = event.category.value
            if event.category.henderson_type is not None:
                category = f"type {event.category.henderson_type} {category}"
            texts = [
                event.patient,
                event.onset_date.isoformat(),
                category,
                event.severity.value,
                event.relation.value,
                event.action.value,
                event.outcome.value,
                " ".join(event.description.split()),
            ]
            for column, text in enumerate(texts):
                item = QtWidgets.QTableWidgetItem(text)
                item.setData(_ID_ROLE, stored.id)
                if column == len(texts) - 1:
                    item.setToolTip(event.description)
                table.setItem(row, column, item)
        table.resizeColumnsToContents()
        # The description takes the room left and is elided, so no column scrolls away.
        table.horizontalHeader().setSectionResizeMode(7, QtWidgets.QHeaderView.ResizeMode.Stretch)

    # ---- selection
    def _form_busy(self, form: OxfordForm | AdverseEventForm) -> bool:
        if form.is_dirty():
            self.statusBar().showMessage(
                "The form has unsaved changes: save them (Ctrl+S) or press Revert first.", 8000
            )
            return True
        return False

    def _oxford_cell_clicked(self, row: int, column: int) -> None:
        item = self.oxford_table.item(row, column)
        if item is None or self._form_busy(self.oxford_form):
            return
        patient, instrument, timepoint = item.data(_KEY_ROLE)
        record_id = item.data(_ID_ROLE)
        if timepoint is None:
            # Patient, score or change column: open the first recorded visit.
            for visit in (2, 3):
                visit_item = self.oxford_table.item(row, visit)
                if visit_item is not None and visit_item.data(_ID_ROLE):
                    record_id = visit_item.data(_ID_ROLE)
                    break
        if record_id:
            self.show_oxford(record_id)
        else:
            self.oxford_form.start_new(patient, Instrument(instrument), Timepoint(timepoint))
            self.oxford_form.date_edit.setFocus()

    def _ae_row_clicked(self, row: int, _column: int) -> None:
        item = self.ae_table.item(row, 0)
        if item is None or self._form_busy(self.ae_form):
            return
        self.show_adverse_event(item.data(_ID_ROLE))

    def show_oxford(self, record_id: str) -> None:
        """Load a recorded questionnaire into the form."""
        for stored in self._oxford:
            if stored.id == record_id:
                self.oxford_form.load(stored)
                return

    def show_adverse_event(self, event_id: str) -> None:
        """Load a recorded adverse event into the form."""
        for stored in self._events:
            if stored.id == event_id:
                self.ae_form.load(stored)
                return

    def _save_current(self) -> None:
        if self.tabs.currentIndex() == 0:
            if self.oxford_form.save_button.isEnabled():
                self.save_oxford()
        elif self.ae_form.save_button.isEnabled():
            self.save_adverse_event()

    def _new_current(self) -> None:
        form = self.oxford_form if self.tabs.currentIndex() == 0 else self.ae_form
        if not self._form_busy(form):
            form.start_new()

    # ---- saving
    def _fail(self, error: CollarReaderError) -> None:
        self.statusBar().showMessage(f"Not saved: {error}", 15000)

    def save_oxford(self) -> None:
        """Insert the form's new questionnaire, or ask a reason and correct the recorded one."""
        form = self.oxford_form
        record = form.record()
        if record is None:
            problems = "; ".join(f"{k}: {v}" for k, v in form.problems().items())
            self.statusBar().showMessage(f"Not saved: {problems}.", 15000)
            return
        if form.record_id is None or form.loaded is None:
            try:
                record_id = add_oxford(self.database, record, actor=self.actor)
            except CollarReaderError as error:
                self._fail(error)
                return
            self._after_oxford_save(record_id, "Questionnaire recorded")
            return
        changes = describe_oxford_changes(form.loaded, record)
        what = (
            f"patient {form.loaded.patient}, {form.loaded.instrument.value}, "
            f"{form.loaded.timepoint.value}"
        )
        record_id = form.record_id

        def apply(reason: str) -> None:
            try:
                correct_oxford(
                    self.database,
                    record_id,
                    {
                        "patient": record.patient,
                        "instrument": record.instrument,
                        "timepoint": record.timepoint,
                        "date": record.date,
                        "items": list(record.items_as_entered),
                        "source": record.source,
                        "scale": record.scale,
                    },
                    reason=reason,
                    actor=self.actor,
                )
            except CollarReaderError as error:
                self._fail(error)
                return
            self._after_oxford_save(record_id, "Correction saved")

        self._ask_reason(what, changes, apply)

    def _after_oxford_save(self, record_id: str, message: str) -> None:
        self.reload()
        self.show_oxford(record_id)
        self.statusBar().showMessage(f"{message} (audited).", 8000)

    def save_adverse_event(self) -> None:
        """Insert the form's new event, or ask a reason and correct the recorded one."""
        form = self.ae_form
        event = form.adverse_event()
        if event is None:
            problems = "; ".join(f"{k}: {v}" for k, v in form.problems().items())
            self.statusBar().showMessage(f"Not saved: {problems}.", 15000)
            return
        if form.event_id is None or form.loaded is None:
            try:
                event_id = add_adverse_event(self.database, event, actor=self.actor)
            except CollarReaderError as error:
                self._fail(error)
                return
            self._after_ae_save(event_id, "Adverse event recorded")
            return
        changes = describe_ae_changes(form.loaded, event)
        what = f"the adverse event of patient {form.loaded.patient}"
        event_id = form.event_id

        def apply(reason: str) -> None:
            try:
                correct_adverse_event(
                    self.database,
                    event_id,
                    {name: getattr(event, name) for name in AE_FIELDS},
                    reason=reason,
                    actor=self.actor,
                )
            except CollarReaderError as error:
                self._fail(error)
                return
            self._after_ae_save(event_id, "Correction saved")

        self._ask_reason(what, changes, apply)

    def _after_ae_save(self, event_id: str, message: str) -> None:
        self.reload()
        self.show_adverse_event(event_id)
        self.statusBar().showMessage(f"{message} (audited).", 8000)

    def _ask_reason(self, what: str, changes: str, apply: Callable[[str], None]) -> None:
        """Open the reason dialog (window-modal, not blocking); ``apply`` runs on OK."""
        dialog = ReasonDialog(what, changes, self)
        self.reason_dialog = dialog

        def accepted() -> None:
            self.reason_dialog = None
            apply(dialog.reason())
            dialog.deleteLater()

        def rejected() -> None:
            self.reason_dialog = None
            self.statusBar().showMessage(
                "Correction not saved: it needs a reason. The form keeps your changes.", 8000
            )
            dialog.deleteLater()

        dialog.accepted.connect(accepted)
        dialog.rejected.connect(rejected)
        dialog.open()

    # ---- closing
    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt's name
        """Close the database with the window."""
        self.database.close()
        super().closeEvent(event)


def run_clinical_window(
    db_path: str | Path, *, actor: str = STUDY_LEAD, screenshot: str | Path | None = None
) -> int:
    """Open the clinical window on a study database and run until it is closed.

    Parameters
    ----------
    db_path : the study database (SQLite path or URL)
    actor : who the audit names
    screenshot : write a PNG of the window there and return at once (no event loop), e.g.
        on a machine without a display

    Returns
    -------
    int
        The exit code (0).

    Raises
    ------
    DatabaseError
        When the database is missing, not a study database, or unreadable.
    """
    from collarreader.ui.app import create_application

    app = create_application()
    window = ClinicalWindow(db_path, actor=actor)
    window.show()
    if screenshot is not None:
        app.processEvents()
        window.grab().save(str(screenshot))
        window.close()
        return 0
    return int(app.exec())
