"""Drawing tools on the images: pointer events, handles, the annotation menu, zones.

Part of :mod:`collarreader.ui.main_window` (see its docstring).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from collarreader.errors import CollarReaderError
from collarreader.model import AnnotationKind
from collarreader.tools import Tool
from collarreader.ui.main_window.editing import _Editing
from collarreader.ui.viewport import PointerEvent

if TYPE_CHECKING:
    from collarreader.measure.rll import RllMeasurement


class _Drawing(_Editing):
    """Tools, pointer events, the annotation context menu and the current zone."""

    # ---------------------------------------------------------------- tools

    def escape(self) -> None:
        """Esc: drop the line in progress, or else leave the tool."""
        if not self.tools.cancel():
            self.set_tool(Tool.none)
        self._update_previews()

    def _finish_or_maximise(self) -> None:
        if self.tools.finish():
            self._update_previews()
        else:
            self.grid.toggle_maximise()

    def _double_clicked(self) -> None:
        if self.tools.finish():
            self._update_previews()

    def _pointer(self, what: str, index: int, event: PointerEvent) -> None:
        code = self._image_codes.get(index)
        if code is None:
            return
        selected = self.tools.selected
        try:
            getattr(self.tools, what)(code, event)
        except CollarReaderError as error:
            self.tools.cancel()
            self.report_error(error)
        if self.tools.selected != selected:
            # The tool selects a new mark after its command redrew: draw it as selected
            # (handles on top) now, not at the next unrelated refresh.
            self.refresh()
        if what == "release" and self.tools.last_fit_message:
            # No ball at the click: the click stands as the first end of a hand line.
            self.statusBar().showMessage(self.tools.last_fit_message, 8000)
            self.tools.last_fit_message = None
        self._update_previews()

    def _handle_press(self, annotation_id: str, index: int, _x: float, _y: float) -> None:
        code = next((a.image_code for a in self._annotations if a.id == annotation_id), None)
        if code is not None and self.tools.begin_handle_drag(annotation_id, index, code):
            self._update_previews()

    def _handle_move(self, _annotation_id: str, _index: int, x: float, y: float) -> None:
        self.tools.drag_handle(x, y)
        self._update_previews()

    def _handle_release(self, _annotation_id: str, _index: int, x: float, y: float) -> None:
        self.tools.end_handle_drag(x, y)
        self._update_previews()
        self.refresh()

    def _image_of_annotation(self, annotation_id: str) -> str | None:
        return next((a.image_code for a in self._annotations if a.id == annotation_id), None)

    def _kind_of_annotation(self, annotation_id: str) -> AnnotationKind | None:
        return next((a.kind for a in self._annotations if a.id == annotation_id), None)

    def _pixels_of(self, image_code: str) -> tuple[Any, bool] | None:
        radiograph = self._radiographs.get(image_code)
        if radiograph is None:
            return None
        return radiograph.pixels, radiograph.photometric == "MONOCHROME1"

    def _auto_caliper(
        self, image_code: str, line_px: Sequence[Sequence[float]]
    ) -> RllMeasurement | None:
        from collarreader.measure.rll import measure_rll

        radiograph = self._radiographs.get(image_code)
        if radiograph is None:
            return None
        calibration = self._calibrations.get(image_code)
        spacing = (
            (calibration.spacing_row_mm, calibration.spacing_col_mm)
            if calibration is not None
            else (radiograph.spacing.row_mm, radiograph.spacing.col_mm)
            if radiograph.spacing is not None
            else None
        )
        return measure_rll(
            radiograph.pixels,
            line_px,
            invert=radiograph.photometric == "MONOCHROME1",
            spacing_mm=spacing,
        )

    def auto_width(self) -> None:
        """W: place the RLL caliper at the widest band along the traced line."""
        try:
            placed = self.tools.auto_width()
        except CollarReaderError as error:
            self.report_error(error)
            self._update_previews()
            return
        self._update_previews()
        if placed:
            selected = next((a for a in self._annotations if a.id == self.tools.selected), None)
            self.profile_plot.show_annotation(selected)
            self.statusBar().showMessage(
                "RLL width measured from intensity profiles; drag its handles to adjust.", 6000
            )
        else:
            self.statusBar().showMessage(
                "Trace the radiolucent line first (RLL tool: clicks, then Return), or select "
                "an RLL that has a traced line.",
                6000,
            )

    # ---- the annotation context menu
    def annotation_menu(self, annotation_id: str) -> QtWidgets.QMenu | None:
        """The context menu of an annotation: its zone, the semi-automatic width, delete."""
        annotation = next((a for a in self._annotations if a.id == annotation_id), None)
        context = self.session.context
        if annotation is None or context is None:
            return None
        menu = QtWidgets.QMenu(self)
        view = context.image(annotation.image_code).view
        zones = self.protocol.zones_for(view)
        group = QtGui.QActionGroup(menu)
        for zone in zones:
            action = menu.addAction(f"Zone: {view} {zone.label}")
            action.setObjectName(f"zone_{zone.key}")
            action.setCheckable(True)
            action.setChecked(annotation.zone == zone.key)
            action.setEnabled(not self._locked)
            group.addAction(action)
            action.triggered.connect(
                lambda _checked=False, z=zone.key: self._relabel(annotation_id, z)
            )
        menu.addSeparator()
        if annotation.kind is AnnotationKind.RLL and len(annotation.points_px) >= 4:
            auto = menu.addAction("Width from intensity profiles (W)")
            auto.setObjectName("auto_width")
            auto.setEnabled(not self._locked)
            auto.triggered.connect(lambda _checked=False: self._auto_for(annotation_id))
        delete = menu.addAction("Delete measurement")
        delete.setObjectName("delete")
        delete.setEnabled(not self._locked)
        delete.triggered.connect(lambda _checked=False: self._delete(annotation_id))
        return menu

    def show_annotation_menu(self, annotation_id: str, screen_pos: QtCore.QPoint) -> None:
        """Right-click on an annotation's handle: select it and pop its menu up."""
        self.tools.selected = annotation_id
        self.refresh()
        menu = self.annotation_menu(annotation_id)
        if menu is None:
            return
        self.context_menu = menu
        menu.popup(QtCore.QPoint(int(screen_pos.x()), int(screen_pos.y())))

    def _relabel(self, annotation_id: str, zone: str) -> None:
        self.tools.selected = annotation_id
        try:
            self.tools.relabel_selected(zone)
        except CollarReaderError as error:
            self.report_error(error)

    def _delete(self, annotation_id: str) -> None:
        self.tools.selected = annotation_id
        self.delete_selected()

    def _auto_for(self, annotation_id: str) -> None:
        self.tools.selected = annotation_id
        self.auto_width()

    def _select_annotation(self, annotation_id: str) -> None:
        self.tools.selected = annotation_id
        self.refresh()

    def delete_selected(self) -> None:
        """Delete the selected measurement."""
        if not self.tools.delete_selected():
            self.statusBar().showMessage("Select a measurement first (click a handle).", 4000)

    def relabel_selected(self) -> None:
        """Move the selected measurement to the next zone of its view."""
        selected = next((a for a in self._annotations if a.id == self.tools.selected), None)
        if selected is None or self.session.context is None:
            self.statusBar().showMessage("Select a measurement first (click a handle).", 4000)
            return
        view = self.session.context.image(selected.image_code).view
        zones = [z.key for z in self.protocol.zones_for(view)]
        if not zones:
            return
        current = zones.index(selected.zone) if selected.zone in zones else -1
        self.tools.relabel_selected(zones[(current + 1) % len(zones)])
