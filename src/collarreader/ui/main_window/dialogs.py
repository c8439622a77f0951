"""The window's injectable dialogs: the known size of a calibration line, a reopen reason.

Part of :mod:`collarreader.ui.main_window` (see its docstring).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtWidgets

from collarreader.tools import BALL_DIAMETER_MM, CalibrationAnswer

AskSize = Callable[[QtWidgets.QWidget, float], CalibrationAnswer | None]
AskReason = Callable[[QtWidgets.QWidget, str], str | None]


# ------------------------------------------------------------------ dialogs (injectable)


class KnownSizeDialog(QtWidgets.QDialog):
    """Asks what a drawn calibration line spans: the 25 mm ball, the collar, or another size."""

    def __init__(self, parent: QtWidgets.QWidget | None, length_px: float) -> None:
        super().__init__(parent)
        self.setWindowTitle("Calibration")
        layout = QtWidgets.QFormLayout(self)
        layout.addRow(QtWidgets.QLabel(f"The line drawn is {length_px:.1f} px long. It spans:"))
        self.what = QtWidgets.QComboBox(self)
        self.what.addItem(f"Calibration ball ({BALL_DIAMETER_MM:g} mm)", "ball")
        self.what.addItem("Collar diameter", "line")
        self.what.addItem("Another known length", "line")
        layout.addRow("Object", self.what)
        self.size_box = QtWidgets.QDoubleSpinBox(self)
        self.size_box.setRange(1.0, 500.0)
        self.size_box.setDecimals(1)
        self.size_box.setSuffix(" mm")
        self.size_box.setValue(BALL_DIAMETER_MM)
        layout.addRow("Known size", self.size_box)
        self.what.currentIndexChanged.connect(self._changed)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addRow(buttons)

    def _changed(self, index: int) -> None:
        if index == 0:
            self.size_box.setValue(BALL_DIAMETER_MM)
        self.size_box.setEnabled(index != 0)

    def answer(self) -> CalibrationAnswer:
        """The size and method chosen."""
        return CalibrationAnswer(float(self.size_box.value()), str(self.what.currentData()))


def ask_known_size(parent: QtWidgets.QWidget, length_px: float) -> CalibrationAnswer | None:
    """Show :class:`KnownSizeDialog`; None when cancelled."""
    dialog = KnownSizeDialog(parent, length_px)
    if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted:
        return dialog.answer()
    return None


def ask_reopen_reason(parent: QtWidgets.QWidget, case_code: str) -> str | None:
    """Ask why a submitted case is reopened (kept in the audit trail); None when cancelled."""
    text, ok = QtWidgets.QInputDialog.getText(
        parent,
        "Reopen case",
        f"Case {case_code} is submitted. Why reopen it? (kept in the audit trail)",
    )
    return text.strip() if ok and text.strip() else None
