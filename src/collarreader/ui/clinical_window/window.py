"""The clinical window: the two tables beside their forms, saving, and running the window."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from collarreader.clinical.oxford import Instrument, Timepoint
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
from collarreader.errors import CollarReaderError
from collarreader.ui.clinical_window.ae_form import AdverseEventForm
from collarreader.ui.clinical_window.fields import BAND_COLOURS, INSTRUMENT_LABELS, STYLE
from collarreader.ui.clinical_window.form_base import ClinicalForm
from collarreader.ui.clinical_window.oxford_form import OxfordForm
from collarreader.ui.clinical_window.reason_dialog import ReasonDialog

__all__ = ["ClinicalWindow", "run_clinical_window"]

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
        self.setStyleSheet(STYLE)

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
                QtWidgets.QTableWidgetItem(INSTRUMENT_LABELS[Instrument(instrument)]),
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
    def _form_busy(self, form: ClinicalForm) -> bool:
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
            self._refuse(form)
            return
        loaded, record_id = form.loaded, form.record_id
        if record_id is None or loaded is None:
            self._insert(
                lambda: add_oxford(self.database, record, actor=self.actor),
                self.show_oxford,
                "Questionnaire recorded",
            )
            return
        what = f"patient {loaded.patient}, {loaded.instrument.value}, {loaded.timepoint.value}"
        changes = {
            "patient": record.patient,
            "instrument": record.instrument,
            "timepoint": record.timepoint,
            "date": record.date,
            "items": list(record.items_as_entered),
            "source": record.source,
            "scale": record.scale,
        }
        self._correct(
            what,
            describe_oxford_changes(loaded, record),
            lambda reason: correct_oxford(
                self.database, record_id, changes, reason=reason, actor=self.actor
            ),
            record_id,
            self.show_oxford,
        )

    def save_adverse_event(self) -> None:
        """Insert the form's new event, or ask a reason and correct the recorded one."""
        form = self.ae_form
        event = form.adverse_event()
        if event is None:
            self._refuse(form)
            return
        loaded, event_id = form.loaded, form.event_id
        if event_id is None or loaded is None:
            self._insert(
                lambda: add_adverse_event(self.database, event, actor=self.actor),
                self.show_adverse_event,
                "Adverse event recorded",
            )
            return
        changes = {name: getattr(event, name) for name in AE_FIELDS}
        self._correct(
            f"the adverse event of patient {loaded.patient}",
            describe_ae_changes(loaded, event),
            lambda reason: correct_adverse_event(
                self.database, event_id, changes, reason=reason, actor=self.actor
            ),
            event_id,
            self.show_adverse_event,
        )

    def _refuse(self, form: ClinicalForm) -> None:
        problems = "; ".join(f"{k}: {v}" for k, v in form.problems().items())
        self.statusBar().showMessage(f"Not saved: {problems}.", 15000)

    def _insert(self, add: Callable[[], str], show: Callable[[str], None], message: str) -> None:
        """Run ``add`` (an audited insert returning the row id), then show the saved row."""
        try:
            row_id = add()
        except CollarReaderError as error:
            self._fail(error)
            return
        self._after_save(row_id, show, message)

    def _correct(
        self,
        what: str,
        changes: str,
        correct: Callable[[str], object],
        row_id: str,
        show: Callable[[str], None],
    ) -> None:
        """Ask the reason, then run ``correct(reason)`` (an audited correction of ``row_id``)."""

        def apply(reason: str) -> None:
            try:
                correct(reason)
            except CollarReaderError as error:
                self._fail(error)
                return
            self._after_save(row_id, show, "Correction saved")

        self._ask_reason(what, changes, apply)

    def _after_save(self, row_id: str, show: Callable[[str], None], message: str) -> None:
        self.reload()
        show(row_id)
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
