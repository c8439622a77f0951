"""The reader's worklist: case codes in reading order with their status and the progress."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

from PySide6 import QtCore, QtGui, QtWidgets

from collarreader.model import Case


class CaseStatus(StrEnum):
    """Where a case stands for this reader."""

    not_started = "not started"
    in_progress = "in progress"
    submitted = "submitted"


_STATUS_COLOURS = {
    CaseStatus.not_started: "#9e9e9e",
    CaseStatus.in_progress: "#ffb74d",
    CaseStatus.submitted: "#81c784",
}
_STATUS_MARKS = {
    CaseStatus.not_started: "○",
    CaseStatus.in_progress: "◐",
    CaseStatus.submitted: "●",
}


class WorklistPanel(QtWidgets.QWidget):
    """Cases in the reader's order; a click opens one.

    Repeat reads are listed like any case (the reader is not told which cases repeat).

    Signals
    -------
    case_chosen(str)
        The reader chose a case (click or Return on a row).
    """

    case_chosen = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.progress_label = QtWidgets.QLabel("", self)
        self.progress_label.setStyleSheet("font-weight: bold; padding: 2px;")
        layout.addWidget(self.progress_label)
        self.progress_bar = QtWidgets.QProgressBar(self)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(6)
        layout.addWidget(self.progress_bar)
        self.list = QtWidgets.QListWidget(self)
        self.list.setUniformItemSizes(True)
        self.list.itemActivated.connect(self._chosen)
        self.list.itemClicked.connect(self._chosen)
        layout.addWidget(self.list, 1)
        self._codes: list[str] = []
        self._status: dict[str, CaseStatus] = {}

    def set_cases(self, cases: Sequence[Case]) -> None:
        """List the worklist (reading order)."""
        self._codes = [case.case_code for case in cases]
        self.list.clear()
        for case in cases:
            item = QtWidgets.QListWidgetItem(case.case_code)
            item.setData(QtCore.Qt.ItemDataRole.UserRole, case.case_code)
            self.list.addItem(item)
        self.set_status({})

    def set_status(self, status: Mapping[str, CaseStatus]) -> None:
        """Show each case's status and the "k of N submitted" progress."""
        self._status = {code: status.get(code, CaseStatus.not_started) for code in self._codes}
        for row, code in enumerate(self._codes):
            item = self.list.item(row)
            state = self._status[code]
            item.setText(f"{_STATUS_MARKS[state]}  {code}    {state}")
            item.setForeground(QtGui.QColor(_STATUS_COLOURS[state]))
        done = sum(1 for s in self._status.values() if s is CaseStatus.submitted)
        total = len(self._codes)
        self.progress_label.setText(f"{done} of {total} submitted")
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(done)

    def status(self, case_code: str) -> CaseStatus:
        """The status shown for a case."""
        return self._status.get(case_code, CaseStatus.not_started)

    @property
    def progress_text(self) -> str:
        """``"k of N submitted"``."""
        return str(self.progress_label.text())

    def set_current(self, case_code: str) -> None:
        """Highlight the open case (without emitting)."""
        if case_code in self._codes:
            blocker = QtCore.QSignalBlocker(self.list)
            self.list.setCurrentRow(self._codes.index(case_code))
            del blocker

    def _chosen(self, item: QtWidgets.QListWidgetItem) -> None:
        self.case_chosen.emit(str(item.data(QtCore.Qt.ItemDataRole.UserRole)))
