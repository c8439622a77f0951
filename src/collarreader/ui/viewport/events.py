"""What a viewport reports: pointer events, cursor samples, corners.

Part of :mod:`collarreader.ui.viewport` (see its docstring).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from PySide6 import QtCore

# ------------------------------------------------------------------ event payloads


class PointerButton(StrEnum):
    """Mouse button of a pointer event, independent of Qt."""

    left = "left"
    middle = "middle"
    right = "right"
    none = "none"


@dataclass(frozen=True)
class PointerEvent:
    """A mouse event in image pixel coordinates, for the Qt-free measurement tools.

    Attributes
    ----------
    x_px, y_px : pixel (x=column, y=row), origin at the centre of the top-left pixel;
        may lie outside the image
    button : the button pressed, moved with or released (``none`` for hover moves)
    shift, ctrl, alt : keyboard modifiers held (ctrl is Command on macOS)
    """

    x_px: float
    y_px: float
    button: PointerButton
    shift: bool = False
    ctrl: bool = False
    alt: bool = False


class CursorSample(NamedTuple):
    """Cursor position over a viewport and the pixel value under it (None outside the image)."""

    x_px: float
    y_px: float
    value: float | None


class Corner(StrEnum):
    """Corners of a viewport that carry overlay text."""

    top_left = "top_left"
    top_right = "top_right"
    bottom_left = "bottom_left"
    bottom_right = "bottom_right"


_BUTTONS = {
    QtCore.Qt.MouseButton.LeftButton: PointerButton.left,
    QtCore.Qt.MouseButton.MiddleButton: PointerButton.middle,
    QtCore.Qt.MouseButton.RightButton: PointerButton.right,
}


def _pointer_event(
    x_px: float, y_px: float, button: PointerButton, modifiers: QtCore.Qt.KeyboardModifier
) -> PointerEvent:
    mods = QtCore.Qt.KeyboardModifier
    return PointerEvent(
        x_px=x_px,
        y_px=y_px,
        button=button,
        shift=bool(modifiers & mods.ShiftModifier),
        ctrl=bool(modifiers & mods.ControlModifier),
        alt=bool(modifiers & mods.AltModifier),
    )
