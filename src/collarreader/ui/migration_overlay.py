"""The migration tool in the reader window: its action, pointer routing and drawing.

The gesture logic is Qt-free (:class:`collarreader.migration_tool.MigrationTool`); this
module gives it the window's films, undo stack and size dialog, draws the marks placed so far
(dashed until the migration is recorded) and says in the status bar what to place next. The
main window only creates one :class:`MigrationOverlay` and routes the ``tool_migration``
shortcut to :meth:`MigrationOverlay.toggle`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui, QtWidgets

from collarreader.errors import CollarReaderError
from collarreader.measure.migration import snap_to_edges
from collarreader.migration_tool import FilmMarks, MigrationTool
from collarreader.tools import Tool
from collarreader.ui.viewport import PointerEvent, pixel_to_view

if TYPE_CHECKING:
    from collarreader.ui.main_window import MainWindow

__all__ = ["ACTION", "MigrationOverlay"]

ACTION = "tool_migration"
"""The shortcut table's row (and the action's object name)."""

_COLOUR = "#4dd0e1"
_CROSS_PX = 4.0
_PROMPT_MS = 60000


def _pen(colour: str) -> QtGui.QPen:
    pen = QtGui.QPen(QtGui.QColor(colour))
    pen.setCosmetic(True)  # the same on-screen width at every zoom
    pen.setWidthF(2.0)
    pen.setStyle(QtCore.Qt.PenStyle.DashLine)
    return pen


def _line(path: QtGui.QPainterPath, points_px: Sequence[Sequence[float]]) -> None:
    for i, (x, y) in enumerate(points_px):
        vx, vy = pixel_to_view(float(x), float(y))
        if i == 0:
            path.moveTo(vx, vy)
        else:
            path.lineTo(vx, vy)


def marks_path(marks: FilmMarks) -> QtGui.QPainterPath:
    """Crosses on the two landmarks, a line between them and the caliper, in view coordinates."""
    path = QtGui.QPainterPath()
    for point in (marks.implant_px, marks.bone_px):
        if point is not None:
            x, y = point
            _line(path, [(x - _CROSS_PX, y), (x + _CROSS_PX, y)])
            _line(path, [(x, y - _CROSS_PX), (x, y + _CROSS_PX)])
    if marks.implant_px is not None and marks.bone_px is not None:
        _line(path, [marks.implant_px, marks.bone_px])
    if len(marks.reference_px) >= 2:
        _line(path, marks.reference_px[:2])
    return path


class MigrationOverlay(QtCore.QObject):
    """Wires a :class:`MigrationTool` into a :class:`MainWindow` (see the module docstring)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.tool = MigrationTool(
            lambda: window.session.context,
            window._execute,
            timepoints=window.grid.timepoints,
            ask_size=lambda length_px: window.ask_size(window, length_px),
            snap=self._snap,
        )
        self.active = False
        self._refused = False
        self._items: dict[int, QtWidgets.QGraphicsPathItem] = {}
        self.action = window.actions_by_name[ACTION]
        self.action.setCheckable(True)
        toolbar_actions = window.toolbar.actions()
        thickness = window.actions_by_name["tool_thickness"]
        after = toolbar_actions.index(thickness) + 1 if thickness in toolbar_actions else -1
        if 0 < after < len(toolbar_actions):
            window.toolbar.insertAction(toolbar_actions[after], self.action)
        else:
            window.toolbar.addAction(self.action)
        for name, action in window.actions_by_name.items():
            if name.startswith("tool_") and name not in (ACTION, "tool_none"):
                action.triggered.connect(lambda _checked=False: self.deactivate())
        window.actions_by_name["tool_none"].triggered.connect(self._escape)
        window.images_ready.connect(self._case_shown)
        for index, viewport in enumerate(window.grid.viewports):
            viewport.mouse_pressed.connect(lambda ev, i=index: self._pointer("press", i, ev))
            viewport.mouse_moved.connect(lambda ev, i=index: self._pointer("move", i, ev))
            viewport.mouse_released.connect(lambda ev, i=index: self._pointer("release", i, ev))

    # ---------------------------------------------------------------- on and off

    def toggle(self) -> None:
        """The key and the tool-bar button: the migration tool on, or off."""
        if self.active:
            self.deactivate()
        else:
            self.activate()

    def activate(self) -> None:
        """Give the left button to the migration tool (another tool is left)."""
        window = self.window
        if window.tools.read_only or window.session.context is None:
            self.action.setChecked(False)
            window.statusBar().showMessage(
                "Migration: open a case that is not submitted (reopen it to change it).", 8000
            )
            return
        window.set_tool(Tool.none)
        self.active = True
        self.action.setChecked(True)
        for viewport in window.grid.viewports:
            viewport.set_tool_active(True)
        window.tool_label.setText("Tool: migration")
        self._prompt()

    def deactivate(self) -> None:
        """Leave the tool; the marks not yet recorded are dropped."""
        was_active = self.active
        self.active = False
        self.tool.cancel()
        self.action.setChecked(False)
        self.redraw()
        if was_active and self.window.tools.tool is Tool.none:
            for viewport in self.window.grid.viewports:
                viewport.set_tool_active(False)
            self.window.tool_label.setText("Tool: no tool (pan)")

    def _escape(self) -> None:
        # Esc first drops the marks placed (the tool stays), a second Esc leaves the tool.
        if not self.active:
            return
        if self.tool.cancel():
            for viewport in self.window.grid.viewports:
                viewport.set_tool_active(True)
            self.window.tool_label.setText("Tool: migration")
            self.redraw()
            self._prompt()
        else:
            self.deactivate()

    def _case_shown(self, case_code: str) -> None:
        # Marks belong to the case they were placed on: another case drops them.
        if self.tool.case_code not in (None, case_code):
            self.tool.cancel()
            self.redraw()
            if self.active:
                self._prompt()

    # ---------------------------------------------------------------- gestures

    def _pointer(self, what: str, index: int, event: PointerEvent) -> None:
        if not self.active:
            return
        window = self.window
        code = window._image_codes.get(index)
        if code is None:
            return
        if window.tools.read_only:
            self.deactivate()
            return
        recorded = self.tool.last_recorded
        if what == "press":
            self._refused = False
        try:
            getattr(self.tool, what)(code, event)
        except CollarReaderError as error:
            window.report_error(error)
            self._refused = True  # the release must not cover the refusal with the prompt
            self.redraw()
            return
        self.redraw()
        if what == "move":
            return
        if self.tool.last_recorded is not recorded and self.tool.last_recorded is not None:
            migration = self.tool.last_recorded.migration
            window.statusBar().showMessage(
                f"Migration ({self.tool.last_recorded.earlier_image.view}) recorded: "
                f"{migration.migration_mm:+.2f} mm (Ctrl+Z undoes it).",
                _PROMPT_MS,
            )
        elif what == "release" and not self._refused:
            self._prompt()

    def _prompt(self) -> None:
        self.window.statusBar().showMessage(self.tool.prompt(), _PROMPT_MS)

    def _snap(
        self, image_code: str, start_px: tuple[float, float], end_px: tuple[float, float]
    ) -> Sequence[Sequence[float]]:
        loaded = self.window._pixels_of(image_code)
        if loaded is None:
            return [start_px, end_px]
        pixels, invert = loaded
        return snap_to_edges(pixels, start_px, end_px, invert=invert)

    # ---------------------------------------------------------------- drawing

    def redraw(self) -> None:
        """Draw the marks placed so far on their films (and nothing elsewhere)."""
        marks = self.tool.marks() if self.active else {}
        codes = self.window._image_codes
        for index, viewport in enumerate(self.window.grid.viewports):
            film = marks.get(codes.get(index, ""))
            item = self._items.get(index)
            if film is None:
                if item is not None:
                    viewport.remove_overlay_item(item)
                    del self._items[index]
                continue
            if item is None:
                item = QtWidgets.QGraphicsPathItem()
                item.setZValue(29)
                item.setPen(_pen(_COLOUR))
                viewport.add_overlay_item(item)
                self._items[index] = item
            item.setPath(marks_path(film))
