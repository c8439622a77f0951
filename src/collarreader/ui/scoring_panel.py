"""The scoring form, generated from the protocol: nothing about fields is written here.

One tab per time point of the case; in each, per view the zone fields as a grid (rows: fields,
columns: zones, two zones per grid so protocols with many zones stay narrow) and the view's
fields, then the case fields. Every edit is emitted as a :class:`FieldEdit` (the main window
turns it into a ``SetScore``/``ClearScore`` command); the form is refreshed from the scores in
the database with its signals blocked, so a refresh never echoes back as an edit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from PySide6 import QtCore, QtWidgets

from collarreader.model import Score, ScoreSource
from collarreader.protocol import Field, FieldType, FieldValue, Protocol, Scope
from collarreader.session import SubmissionProblem, parse_value, score_target

_ZONES_PER_GRID = 2
_TAG_STYLE = {
    "measured": "color: #4fc3f7; font-size: 10px;",
    "override": "color: #ffb74d; font-size: 10px;",
    "derived": "color: #9e9e9e; font-size: 10px;",
}
_INVALID_STYLE = "QLineEdit { border: 1px solid #e57373; }"
_MISSING_COLOUR = "#ffb74d"
_MISSING_STYLE = f"QComboBox, QLineEdit {{ border: 2px solid {_MISSING_COLOUR}; }}"
_EMPTY = "—"


@dataclass(frozen=True)
class FieldEdit:
    """The reader changed a field: ``value`` None means cleared."""

    field_key: str
    timepoint: str
    view: str | None
    zone: str | None
    value: FieldValue


@dataclass(frozen=True)
class Slot:
    """Where one editor writes: field, time point, view and zone."""

    field: Field
    timepoint: str
    view: str | None
    zone: str | None

    @property
    def target(self) -> str:
        """The score target key (see :func:`collarreader.session.score_target`)."""
        return score_target(self.timepoint, self.view, self.zone)


class FieldEditor(QtWidgets.QWidget):
    """The editor of one slot: a combo box, a number/text line, or a derived label, plus a tag."""

    edited = QtCore.Signal(object)  # FieldEdit
    problem = QtCore.Signal(str)

    def __init__(self, slot: Slot, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.slot = slot
        fld = slot.field
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        self.combo: QtWidgets.QComboBox | None = None
        self.line: QtWidgets.QLineEdit | None = None
        self.label: QtWidgets.QLabel | None = None
        tip = fld.help or fld.label
        if fld.type in (FieldType.CHOICE, FieldType.BOOL):
            self.combo = QtWidgets.QComboBox(self)
            self.combo.addItem(_EMPTY, None)
            if fld.type is FieldType.BOOL:
                self.combo.addItem("yes", True)
                self.combo.addItem("no", False)
            else:
                for choice in fld.choices:
                    self.combo.addItem(fld.choice_label(choice), choice)
            self.combo.activated.connect(self._combo_changed)
            self.combo.setMinimumWidth(78)
            layout.addWidget(self.combo, 1)
        elif fld.type in (FieldType.NUMBER, FieldType.TEXT):
            self.line = QtWidgets.QLineEdit(self)
            if fld.type is FieldType.NUMBER:
                bounds = f"{fld.minimum:g}–{fld.maximum:g}" if fld.maximum is not None else ""
                self.line.setPlaceholderText(f"{fld.unit or ''} {bounds}".strip())
                self.line.setMaximumWidth(90)
            self.line.editingFinished.connect(self._line_changed)
            layout.addWidget(self.line, 1)
        else:
            self.label = QtWidgets.QLabel(_EMPTY, self)
            layout.addWidget(self.label, 1)
        self.tag = QtWidgets.QLabel("", self)
        self.tag.setFixedWidth(54)
        layout.addWidget(self.tag)
        self.setToolTip(tip)
        self._value: FieldValue = None
        self._source: str | None = None
        self.outlined = False

    def set_outlined(self, outlined: bool) -> None:
        """Outline the editor in the warning colour (a field submit found missing or invalid)."""
        self.outlined = outlined
        widget = self.combo if self.combo is not None else self.line
        if widget is not None:
            widget.setStyleSheet(_MISSING_STYLE if outlined else "")

    def take_focus(self) -> None:
        """Give the keyboard focus to the editor's dropdown or field."""
        widget = self.combo if self.combo is not None else self.line
        (widget or self).setFocus(QtCore.Qt.FocusReason.OtherFocusReason)

    # ---------------------------------------------------------------- model → widget

    def show_value(self, value: FieldValue, source: str | None) -> None:
        """Display a stored value (signals blocked: no echo)."""
        self._value, self._source = value, source
        fld = self.slot.field
        if self.combo is not None:
            blocker = QtCore.QSignalBlocker(self.combo)
            index = self.combo.findData(value) if value is not None else 0
            self.combo.setCurrentIndex(max(0, index))
            del blocker
        elif self.line is not None:
            blocker = QtCore.QSignalBlocker(self.line)
            text = "" if value is None else self._format(value)
            if self.line.text() != text:
                self.line.setText(text)
            self.line.setStyleSheet("")
            del blocker
        elif self.label is not None:
            self.label.setText(_EMPTY if value is None else fld.choice_label(str(value)))
        tag = ""
        if source == ScoreSource.MEASURED:
            tag = "measured"
        elif source == ScoreSource.ENTERED and fld.measured_by is not None:
            tag = "override"
        elif source == ScoreSource.DERIVED:
            tag = "derived"
        self.tag.setText(tag)
        self.tag.setStyleSheet(_TAG_STYLE.get(tag, ""))

    def _format(self, value: FieldValue) -> str:
        fld = self.slot.field
        if fld.type is FieldType.NUMBER and isinstance(value, int | float):
            return f"{value:.{fld.decimals}f}" if fld.decimals is not None else f"{value:g}"
        return str(value)

    @property
    def value(self) -> FieldValue:
        """The value shown (as stored)."""
        return self._value

    @property
    def source(self) -> str | None:
        """Where the stored value came from (measured, entered, derived) or None."""
        return self._source

    # ---------------------------------------------------------------- widget → edit

    def _emit(self, value: FieldValue) -> None:
        slot = self.slot
        self.edited.emit(FieldEdit(slot.field.key, slot.timepoint, slot.view, slot.zone, value))

    def _combo_changed(self, _index: int) -> None:
        if self.combo is None:
            return
        value = self.combo.currentData()
        if value != self._value:
            self._emit(value)

    def _line_changed(self) -> None:
        if self.line is None:
            return
        text = self.line.text().strip()
        fld = self.slot.field
        if not text:
            if self._value is not None:
                self._emit(None)
            return
        value: FieldValue = text
        if fld.type is FieldType.NUMBER:
            try:
                value = float(text.replace(",", "."))
            except ValueError:
                self._invalid(f"{fld.label}: {text!r} is not a number.")
                return
            value = fld.round(value)
        problem = fld.check_value(value)
        if problem:
            self._invalid(f"{fld.label}: {problem.split(': ', 1)[-1]}.")
            return
        self.line.setStyleSheet("")
        if value != self._value or self._source != ScoreSource.ENTERED:
            self._emit(value)

    def _invalid(self, message: str) -> None:
        if self.line is not None:
            self.line.setStyleSheet(_INVALID_STYLE)
        self.problem.emit(message)

    def set_value_text(self, text: str) -> None:
        """Type ``text`` and finish the edit (what a reader does; used by tests and demos)."""
        if self.line is not None:
            self.line.setText(text)
            self._line_changed()

    def choose(self, value: FieldValue) -> None:
        """Pick ``value`` in the combo box (what a reader does; used by tests and demos)."""
        if self.combo is not None:
            self.combo.setCurrentIndex(max(0, self.combo.findData(value)))
            self._combo_changed(self.combo.currentIndex())


def _field_label(fld: Field) -> QtWidgets.QLabel:
    unit = f" ({fld.unit})" if fld.unit else ""
    star = " *" if fld.required else ""
    label = QtWidgets.QLabel(f"{fld.label}{unit}{star}")
    label.setToolTip(fld.help or fld.label)
    return label


class ScoringPanel(QtWidgets.QWidget):
    """The protocol's fields for the open case.

    Signals
    -------
    edit_requested(FieldEdit)
        The reader changed a value (None: cleared).
    problem(str)
        A value typed is invalid (shown in the status bar; nothing is written).
    """

    edit_requested = QtCore.Signal(object)
    problem = QtCore.Signal(str)

    _PROBLEM_ROLE = QtCore.Qt.ItemDataRole.UserRole

    def __init__(self, protocol: Protocol, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.protocol = protocol
        self.editors: dict[tuple[str, str], FieldEditor] = {}  # (target, field key) → editor
        self._layout_key: tuple[object, ...] | None = None
        self._locked = False
        self._timepoints: list[tuple[str, str]] = []
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = QtWidgets.QLabel(f"{protocol.title or protocol.name} · v{protocol.version}")
        self.title.setStyleSheet("color: #9e9e9e;")
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        self.tabs = QtWidgets.QTabWidget(self)
        layout.addWidget(self.tabs, 1)
        self.problems = QtWidgets.QLabel("", self)
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet(f"color: {_MISSING_COLOUR};")
        layout.addWidget(self.problems)
        # Persistent and clickable: a refused submit never hides in a status bar.
        self.missing_list = QtWidgets.QListWidget(self)
        self.missing_list.setMaximumHeight(120)
        self.missing_list.setToolTip("Click an entry to go to its field")
        self.missing_list.setStyleSheet(f"QListWidget {{ color: {_MISSING_COLOUR}; }}")
        self.missing_list.itemActivated.connect(self._problem_chosen)
        self.missing_list.itemClicked.connect(self._problem_chosen)
        layout.addWidget(self.missing_list)
        self._outline = False
        self._found: list[SubmissionProblem] = []

    # ---------------------------------------------------------------- building

    def set_case(
        self,
        timepoints: Sequence[tuple[str, str]],
        views_at: Mapping[str, Iterable[str]],
        rule_timepoint: Mapping[str, str | None],
    ) -> None:
        """Build the form for a case (reused when the layout is the same).

        Parameters
        ----------
        timepoints : (key, label) of the case's time points, left to right
        views_at : time point → the views the case has an image of
        rule_timepoint : time point → the protocol time point its restrictions use (None
            when blinded)
        """
        key = (
            tuple(timepoints),
            tuple((tp, tuple(sorted(views_at.get(tp, ())))) for tp, _ in timepoints),
        )
        if key == self._layout_key:
            return
        self._layout_key = key
        self._outline = False
        self._timepoints = list(timepoints)
        self.editors.clear()
        while self.tabs.count():
            page = self.tabs.widget(0)
            self.tabs.removeTab(0)
            if page is not None:
                page.deleteLater()
        for timepoint, label in timepoints:
            views = [v for v in self.protocol.views if v in set(views_at.get(timepoint, ()))]
            page = self._page(timepoint, views, rule_timepoint.get(timepoint))
            self.tabs.addTab(page, label)

    def _page(self, timepoint: str, views: list[str], rule_tp: str | None) -> QtWidgets.QWidget:
        protocol = self.protocol
        inner = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(inner)
        column.setContentsMargins(4, 4, 4, 4)
        column.setSpacing(6)
        zone_fields = protocol.fields_for(Scope.ZONE, timepoint=rule_tp)
        for view in views:
            box = QtWidgets.QGroupBox(view, inner)
            box_layout = QtWidgets.QVBoxLayout(box)
            box_layout.setContentsMargins(6, 6, 6, 6)
            zones = protocol.zones_for(view)
            for start in range(0, len(zones), _ZONES_PER_GRID):
                chunk = zones[start : start + _ZONES_PER_GRID]
                grid = QtWidgets.QGridLayout()
                grid.setHorizontalSpacing(6)
                grid.setVerticalSpacing(3)
                for col, zone in enumerate(chunk, start=1):
                    header = QtWidgets.QLabel(f"<b>{zone.label}</b>")
                    grid.addWidget(header, 0, col)
                for row, fld in enumerate(zone_fields, start=1):
                    grid.addWidget(_field_label(fld), row, 0)
                    for col, zone in enumerate(chunk, start=1):
                        grid.addWidget(self._editor(Slot(fld, timepoint, view, zone.key)), row, col)
                grid.setColumnStretch(1, 1)
                grid.setColumnStretch(2, 1)
                box_layout.addLayout(grid)
            view_fields = protocol.fields_for(Scope.VIEW, timepoint=rule_tp, view=view)
            if view_fields:
                form = QtWidgets.QFormLayout()
                for fld in view_fields:
                    form.addRow(_field_label(fld), self._editor(Slot(fld, timepoint, view, None)))
                box_layout.addLayout(form)
            column.addWidget(box)
        case_fields = [
            f
            for f in protocol.fields_for(Scope.CASE, timepoint=rule_tp)
            if f.view is None or f.view in views
        ]
        if case_fields:
            box = QtWidgets.QGroupBox("Case", inner)
            form = QtWidgets.QFormLayout(box)
            for fld in case_fields:
                form.addRow(_field_label(fld), self._editor(Slot(fld, timepoint, None, None)))
            column.addWidget(box)
        column.addStretch(1)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setWidget(inner)
        return scroll

    def _editor(self, slot: Slot) -> FieldEditor:
        editor = FieldEditor(slot)
        editor.edited.connect(self.edit_requested)
        editor.problem.connect(self.problem)
        self.editors[(slot.target, slot.field.key)] = editor
        return editor

    # ---------------------------------------------------------------- model → form

    def editor(
        self, field_key: str, *, timepoint: str, view: str | None = None, zone: str | None = None
    ) -> FieldEditor:
        """The editor of one slot (zone fields take the zone's view)."""
        if zone is not None:
            view = self.protocol.zone(zone).view
        if self.protocol.field(field_key).scope is Scope.CASE:
            view = None
        return self.editors[(score_target(timepoint, view, zone), field_key)]

    def set_scores(self, scores: Sequence[Score], *, locked: bool) -> None:
        """Show the stored scores; a locked (submitted) reading is read-only."""
        self._locked = locked
        stored = {(score_target(s.timepoint, s.view, s.zone), s.field_key): s for s in scores}
        by_target: dict[str, dict[str, FieldValue]] = {}
        for (target, key), each in stored.items():
            by_target.setdefault(target, {})[key] = parse_value(
                self.protocol.field(key), each.value
            )
        for (target, key), editor in self.editors.items():
            found = stored.get((target, key))
            fld = editor.slot.field
            value = None if found is None else parse_value(fld, found.value)
            editor.show_value(value, None if found is None else str(found.source))
            skipped = fld.scope is Scope.ZONE and self.protocol.is_skipped(
                key, by_target.get(target, {})
            )
            editor.setEnabled(not locked and not skipped and fld.type is not FieldType.DERIVED)

    def show_timepoint(self, timepoint: str) -> None:
        """Bring the tab of ``timepoint`` to the front."""
        for index, (key, _label) in enumerate(self._timepoints):
            if key == timepoint:
                self.tabs.setCurrentIndex(index)

    def set_problems(self, problems: Sequence[SubmissionProblem]) -> None:
        """Show what keeps the case from being submitted (empty: ready), as a clickable list.

        Parameters
        ----------
        problems : from :func:`collarreader.session.find_submission_problems`, in the panel's
            order; their fields are outlined once the reader has tried to submit
        """
        self._found = list(problems)
        self.missing_list.clear()
        if self._locked:
            self.problems.setText("Submitted and locked. Reopen (Ctrl+Shift+O) to change.")
            self.problems.setStyleSheet("color: #81c784;")
        elif problems:
            count = len(problems)
            self.problems.setText(
                f"To submit, {count} field{'s' if count != 1 else ''} to fill in "
                "(click one to go to it):"
            )
            self.problems.setStyleSheet(f"color: {_MISSING_COLOUR};")
            for problem in problems:
                item = QtWidgets.QListWidgetItem(problem.text)
                item.setData(self._PROBLEM_ROLE, problem)
                self.missing_list.addItem(item)
        else:
            self.problems.setText("Complete: ready to submit (Ctrl+Enter).")
            self.problems.setStyleSheet("color: #81c784;")
        self.missing_list.setVisible(bool(problems) and not self._locked)
        self._apply_outlines()

    def outline_problems(self) -> None:
        """Outline every field listed (after a refused submit; until the case changes)."""
        self._outline = True
        self._apply_outlines()

    def _apply_outlines(self) -> None:
        flagged = {
            (score_target(p.timepoint, p.view, p.zone), p.field_key)
            for p in self._found
            if self._outline and not self._locked
        }
        for slot_key, editor in self.editors.items():
            if (slot_key in flagged) != editor.outlined:
                editor.set_outlined(slot_key in flagged)

    def problem_texts(self) -> list[str]:
        """The entries of the list, top to bottom (what the reader reads)."""
        return [self.missing_list.item(i).text() for i in range(self.missing_list.count())]

    def _problem_chosen(self, item: QtWidgets.QListWidgetItem) -> None:
        problem = item.data(self._PROBLEM_ROLE)
        if isinstance(problem, SubmissionProblem):
            self.go_to(problem)

    def go_to(self, problem: SubmissionProblem) -> FieldEditor | None:
        """Open the problem's tab, scroll to its field and give it the keyboard focus."""
        editor = self.editors.get(
            (score_target(problem.timepoint, problem.view, problem.zone), problem.field_key)
        )
        if editor is None:
            return None
        self.show_timepoint(problem.timepoint)
        page = self.tabs.currentWidget()
        if isinstance(page, QtWidgets.QScrollArea):
            page.ensureWidgetVisible(editor)
        editor.take_focus()
        return editor
