"""The adverse-event editor: patient, onset, description and the five vocabularies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from PySide6 import QtWidgets

from collarreader.clinical.adverse_events import (
    MAX_DESCRIPTION_CHARS,
    Action,
    AdverseEvent,
    Category,
    Outcome,
    Relation,
    Severity,
    parse_iso_date,
)
from collarreader.clinical.store import StoredAdverseEvent
from collarreader.ui.clinical_window.fields import enum_combo, select_data
from collarreader.ui.clinical_window.form_base import ClinicalForm

__all__ = ["AdverseEventForm"]

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


class AdverseEventForm(ClinicalForm):
    """The adverse-event editor: patient, onset, description and the five vocabularies."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.event_id: str | None = None
        self.loaded: AdverseEvent | None = None

        self.onset_edit = QtWidgets.QLineEdit()
        self.onset_edit.setPlaceholderText("YYYY-MM-DD")
        self.onset_edit.setMaxLength(10)
        self.description_edit = QtWidgets.QPlainTextEdit()
        self.description_edit.setPlaceholderText("What happened (no names or other identity).")
        self.description_edit.setTabChangesFocus(True)
        self.description_edit.setFixedHeight(84)
        self.combos: dict[str, QtWidgets.QComboBox] = {
            name: enum_combo(list(enum), label, "— choose —") for name, enum, label in _AE_CHOICES
        }

        form = QtWidgets.QFormLayout()
        form.addRow("Patient", self.patient_edit)
        form.addRow("Onset date", self.onset_edit)
        form.addRow("Description", self.description_edit)
        for name, _enum, _label in _AE_CHOICES:
            form.addRow(name.capitalize(), self.combos[name])

        self.field_widgets = {
            "patient": self.patient_edit,
            "onset_date": self.onset_edit,
            "description": self.description_edit,
            **self.combos,
        }

        self.onset_edit.textEdited.connect(lambda _text: self._touch("onset_date"))
        self.description_edit.textChanged.connect(self._description_changed)
        for name, combo in self.combos.items():
            combo.activated.connect(lambda _index, name=name: self._touch(name))
            combo.currentIndexChanged.connect(lambda _index: self._refresh())
        self._assemble(form)

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
        found, onset = self._check_patient_and_date(
            values["patient"], "onset_date", values["onset_date"]
        )
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

    def _current(self) -> AdverseEvent | None:
        return self.adverse_event()

    def _has_entry(self) -> bool:
        return any(bool(value) for value in self._values().values())

    def start_new(self, patient: str = "") -> None:
        """Empty the form for a new event."""
        with self._filling("New adverse event", {"patient"} if patient else set()):
            self.event_id = None
            self.loaded = None
            self.patient_edit.setText(patient)
            self.onset_edit.clear()
            self.description_edit.clear()
            for combo in self.combos.values():
                combo.setCurrentIndex(0)

    def load(self, stored: StoredAdverseEvent) -> None:
        """Show a recorded event for correction."""
        event = stored.event
        mode = (
            f"Recorded adverse event of {event.patient} — last changed "
            f"{stored.updated_at[:16].replace('T', ' ')} UTC"
        )
        with self._filling(mode, {"patient", "onset_date", "description", *self.combos}):
            self.event_id = stored.id
            self.loaded = event
            self.patient_edit.setText(event.patient)
            self.onset_edit.setText(event.onset_date.isoformat())
            self.description_edit.setPlainText(event.description)
            for name, combo in self.combos.items():
                select_data(combo, getattr(event, name).value)

    def _stored_loaded(self) -> StoredAdverseEvent | None:
        if self.loaded is None or self.event_id is None:
            return None
        return StoredAdverseEvent(self.event_id, self.loaded, "", "")
