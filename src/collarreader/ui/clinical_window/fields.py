"""What the clinical forms share: labels, colours, the style sheet and small field helpers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6 import QtWidgets

from collarreader.clinical.oxford import ITEM_NAMES, Instrument, OxfordBand, OxfordScale, Timepoint

__all__ = [
    "BAND_COLOURS",
    "INSTRUMENT_LABELS",
    "MISSING",
    "SCALE_LABELS",
    "STYLE",
    "TIMEPOINT_LABELS",
    "enum_combo",
    "escape_html",
    "problem_lines",
    "reason_text",
    "select_data",
    "set_invalid",
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

STYLE = """
QLineEdit[invalid="true"], QComboBox[invalid="true"], QPlainTextEdit[invalid="true"] {
    border: 1px solid #e06666;
}
QLabel#problems { color: #f08080; }
QLabel#total { font-size: 22px; font-weight: 600; }
QLabel#band { font-size: 15px; font-weight: 600; }
QLabel#mode { color: #a0a0a0; }
"""

TIMEPOINT_LABELS = {Timepoint.SIX_MONTHS: "6 months", Timepoint.TWELVE_MONTHS: "12 months"}
INSTRUMENT_LABELS = {Instrument.HIP: "Oxford Hip Score", Instrument.KNEE: "Oxford Knee Score"}
SCALE_LABELS = {
    OxfordScale.CURRENT: "0–48 (answers 0 worst … 4 best)",
    OxfordScale.LEGACY: "legacy 12–60 (answers 1 best … 5 worst)",
}


def set_invalid(widget: QtWidgets.QWidget, invalid: bool) -> None:
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


def problem_lines(shown: dict[str, str]) -> str:
    """One line per shown problem: the field's label, then the reason."""
    return "\n".join(
        f"{_FIELD_LABELS.get(name, name.capitalize())}: {reason}." for name, reason in shown.items()
    )


def reason_text(error: Exception) -> str:
    """An error's message without its final full stop (it joins a longer sentence)."""
    return str(error).rstrip(".")


def escape_html(text: str) -> str:
    """``text`` safe to show in a rich-text label (data, not markup)."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def enum_combo(
    members: Sequence[Any], label: Callable[[Any], str], placeholder: str | None
) -> QtWidgets.QComboBox:
    """A combo box of enum ``members`` shown by ``label``, holding each member's value.

    With a ``placeholder``, the first item holds None (nothing chosen yet).
    """
    combo = QtWidgets.QComboBox()
    if placeholder is not None:
        combo.addItem(placeholder, None)
    for member in members:
        combo.addItem(label(member), member.value)
    return combo


def select_data(combo: QtWidgets.QComboBox, value: object) -> None:
    """Choose the item holding ``value`` (the first item when none does)."""
    index = combo.findData(value)
    combo.setCurrentIndex(max(index, 0))
