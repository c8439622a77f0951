"""The dialog that asks why recorded clinical data are corrected."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from collarreader.ui.clinical_window.fields import escape_html

__all__ = ["ReasonDialog"]


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
            f"<b>Correcting {escape_html(what)}</b><br>{escape_html(changes)}<br><br>"
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
