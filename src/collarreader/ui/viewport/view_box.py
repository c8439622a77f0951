"""The pyqtgraph view box of a viewport: pointer events handed to the reader's tools.

Part of :mod:`collarreader.ui.viewport` (see its docstring).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from PySide6 import QtCore

if TYPE_CHECKING:
    from collarreader.ui.viewport.widget import Viewport


# ------------------------------------------------------------------ the view box


class _ReaderViewBox(pg.ViewBox):
    """ViewBox whose right-drag sets the window and whose left button can belong to a tool.

    pyqtgraph offers drags only to items that did not take them, so ROI items added on
    top keep their own handles; what falls through to the image arrives here.
    """

    def __init__(self, owner: Viewport) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._owner = owner

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:  # noqa: N802
        button = ev.button()
        if button == QtCore.Qt.MouseButton.RightButton:
            ev.accept()
            self._owner._window_drag(ev)
            return
        if button == QtCore.Qt.MouseButton.LeftButton and self._owner.tool_active:
            ev.accept()
            self._owner._tool_drag(ev)
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.double():
            if ev.button() == QtCore.Qt.MouseButton.LeftButton:
                ev.accept()
                self._owner.double_clicked.emit()
            return
        if ev.button() == QtCore.Qt.MouseButton.LeftButton and self._owner.tool_active:
            ev.accept()
            self._owner._tool_click(ev)
            return
        super().mouseClickEvent(ev)
