"""What both clinical editors do alike: patient field, buttons, live checking, dirty state."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from PySide6 import QtCore, QtWidgets

from collarreader.clinical.adverse_events import check_date, check_patient_id, parse_iso_date
from collarreader.errors import ClinicalDataError
from collarreader.ui.clinical_window.fields import problem_lines, reason_text, set_invalid

__all__ = ["ClinicalForm"]


class ClinicalForm(QtWidgets.QWidget):
    """An editor of one clinical record beside its table (base of the two forms).

    A subclass builds its own fields, fills :attr:`field_widgets` (field name → the widget
    outlined when that field has a problem), connects its fields, then calls
    :meth:`_assemble` with the sections between the mode line and the problem list. It
    defines the methods declared below the constructor (``problems``, ``start_new``, ``load``,
    ``_current``, ``_has_entry``, ``_stored_loaded``); the base has no default for them.

    Signals
    -------
    changed : the form's content or validity changed
    save_requested : the Save button was pressed (the window decides insert or correction)
    """

    changed = QtCore.Signal()
    save_requested = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.loaded: Any = None
        self._touched: set[str] = set()
        self._loading = False
        self.field_widgets: dict[str, QtWidgets.QWidget] = {}

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
        self.problems_label = QtWidgets.QLabel()
        self.problems_label.setObjectName("problems")
        self.problems_label.setWordWrap(True)
        self.new_button = QtWidgets.QPushButton("New")
        self.revert_button = QtWidgets.QPushButton("Revert")
        self.save_button = QtWidgets.QPushButton("Save")
        self.save_button.setDefault(True)

    def _assemble(self, *sections: QtWidgets.QLayout | QtWidgets.QWidget) -> None:
        """Lay the form out (mode line, ``sections``, problems, buttons) and start a new record.

        The layout is made last so that the fields join the widget, and so the Tab order, in
        the order they are shown.
        """
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.mode_label)
        for section in sections:
            if isinstance(section, QtWidgets.QLayout):
                layout.addLayout(section)
            else:
                layout.addWidget(section)
        layout.addWidget(self.problems_label)
        layout.addStretch(1)
        layout.addLayout(buttons)

        self.patient_edit.textEdited.connect(lambda _text: self._touch("patient"))
        # clicked passes a 'checked' flag, which start_new must not take for a patient.
        self.new_button.clicked.connect(lambda _checked=False: self.start_new())
        self.revert_button.clicked.connect(self.revert)
        self.save_button.clicked.connect(self.save_requested)
        self.start_new()

    # ---- what each form defines (declared here for the type checker; no default exists)
    problems: Callable[[], dict[str, str]]
    """Every problem of the form by field name."""
    start_new: Callable[..., None]
    """Empty the form for a new record."""
    load: Callable[[Any], None]
    """Show a recorded record (a stored questionnaire or event) for correction."""
    _current: Callable[[], Any]
    """The record the form describes (with a ``content_sha256``), or None while invalid."""
    _has_entry: Callable[[], bool]
    """True when a new record has anything entered."""
    _stored_loaded: Callable[[], Any]
    """The loaded record as stored (for Revert), or None for a new one."""

    def _shown_untouched(self, name: str) -> bool:
        """True for a field whose problem shows before the field was edited."""
        return False

    def _refreshed(self) -> None:
        """Update what the subclass shows besides the problems (after each check)."""

    # ---- shared behaviour
    def _check_patient_and_date(
        self, patient: str, date_field: str, date_text: str
    ) -> tuple[dict[str, str], dt.date | None]:
        """The problems of the patient ID and of the date field, and the date when valid."""
        found: dict[str, str] = {}
        try:
            check_patient_id(patient)
        except ClinicalDataError as error:
            found["patient"] = reason_text(error)
        date: dt.date | None = None
        try:
            date = check_date(parse_iso_date(date_text))
        except ClinicalDataError as error:
            found[date_field] = reason_text(error)
        return found, date

    @contextlib.contextmanager
    def _filling(self, mode: str, touched: set[str]) -> Iterator[None]:
        """Set the fields in the ``with`` block unchecked, then show ``mode`` and check once.

        ``touched`` are the fields whose problems show from the start.
        """
        self._loading = True
        yield
        self._touched = touched
        self._loading = False
        self.mode_label.setText(mode)
        self._refresh()

    def is_dirty(self) -> bool:
        """True when the form differs from the loaded record (or a new one has any entry)."""
        if self.loaded is None:
            return self._has_entry()
        current = self._current()
        return current is None or current.content_sha256 != self.loaded.content_sha256

    def revert(self) -> None:
        """Discard the form's changes."""
        stored = self._stored_loaded()
        if stored is not None:
            label = self.mode_label.text()
            self.load(stored)
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
        shown = {
            name: reason
            for name, reason in problems.items()
            if self._shown_untouched(name) or name in self._touched
        }
        for name, widget in self.field_widgets.items():
            set_invalid(widget, name in shown)
        self.problems_label.setText(problem_lines(shown))
        self._refreshed()
        self.save_button.setEnabled(not problems and self.is_dirty())
        self.revert_button.setEnabled(self.is_dirty())
        self.changed.emit()
