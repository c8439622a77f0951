"""Annotations drawn over a viewport from the model: lines, value labels and drag handles.

Items are rebuilt from the database rows after every command (data flows one way); while a
handle is dragged only the tool's preview moves, and the release becomes one command.
Geometry is pixel (x=column, y=row, origin at the centre of the top-left pixel), placed in the
view with :func:`collarreader.ui.viewport.pixel_to_view`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from collarreader.model import Annotation, AnnotationKind, Calibration
from collarreader.session import rll_caliper_px, rll_line_px
from collarreader.tools import Preview
from collarreader.ui.viewport import Viewport, pixel_to_view

KIND_COLOURS: dict[AnnotationKind, str] = {
    AnnotationKind.INTERFACE_LINE: "#4fc3f7",
    AnnotationKind.BRIDGED_SEGMENT: "#81c784",
    AnnotationKind.RLL: "#ffb74d",
    AnnotationKind.CORTICAL_CALIPER: "#ce93d8",
    AnnotationKind.CALIBRATION_LINE: "#fff176",
}
KIND_LABELS: dict[AnnotationKind, str] = {
    AnnotationKind.INTERFACE_LINE: "interface",
    AnnotationKind.BRIDGED_SEGMENT: "bridged",
    AnnotationKind.RLL: "RLL",
    AnnotationKind.CORTICAL_CALIPER: "cortex",
    AnnotationKind.CALIBRATION_LINE: "calibration",
}
_HANDLE_PX = 10
"""Handles of the selected mark (and of every mark while none is selected)."""
_SMALL_HANDLE_PX = 6
"""Handles of the other marks while one is selected: small enough that interface, bridged
and RLL marks drawn on the same edge never hide the selected mark's handles."""
_LINE_WIDTHS = {AnnotationKind.BRIDGED_SEGMENT: 4.5}
"""Lines drawn thicker than the 2 px default: a bridged segment lies on the interface line
and must stay visible on it at fit zoom."""
# Where each kind's label sits relative to its last point (pyqtgraph TextItem anchors), so
# the labels of a zone's interface, bridged segment and caliper do not cover each other.
_LABEL_ANCHORS: dict[AnnotationKind, tuple[float, float]] = {
    AnnotationKind.INTERFACE_LINE: (0.5, 1.5),
    AnnotationKind.BRIDGED_SEGMENT: (0.5, -0.5),
    AnnotationKind.RLL: (-0.12, 0.5),
    AnnotationKind.CORTICAL_CALIPER: (-0.1, 0.5),
    AnnotationKind.CALIBRATION_LINE: (-0.1, 1.2),
}
_SELECTED_COLOUR = "#ffffff"


def value_text(annotation: Annotation) -> str:
    """``"1.2 mm"`` (or ``"14.0 px"`` without a spacing)."""
    if annotation.value_mm is not None:
        return f"{annotation.value_mm:.1f} mm"
    return f"{annotation.value_px:.1f} px"


def _path(points_px: Sequence[Sequence[float]]) -> QtGui.QPainterPath:
    path = QtGui.QPainterPath()
    for i, (x, y) in enumerate(points_px):
        vx, vy = pixel_to_view(float(x), float(y))
        if i == 0:
            path.moveTo(vx, vy)
        else:
            path.lineTo(vx, vy)
    return path


def circle_points_px(x: float, y: float, radius: float) -> list[tuple[float, float]]:
    """A closed polygon of 96 points on a circle, pixel (x, y)."""
    return [
        (
            x + radius * math.cos(2.0 * math.pi * k / 96),
            y + radius * math.sin(2.0 * math.pi * k / 96),
        )
        for k in range(97)
    ]


def _pen(colour: str, width: float, *, dashed: bool = False) -> QtGui.QPen:
    pen = QtGui.QPen(QtGui.QColor(colour))
    pen.setCosmetic(True)  # the same on-screen width at every zoom
    pen.setWidthF(width)
    if dashed:
        pen.setStyle(QtCore.Qt.PenStyle.DashLine)
    return pen


def _label_point(annotation: Annotation) -> tuple[float, float]:
    # Lines are labelled at their middle (above or below), calipers beside their end.
    points = annotation.points_px
    if annotation.kind in (AnnotationKind.INTERFACE_LINE, AnnotationKind.BRIDGED_SEGMENT):
        return ((points[0][0] + points[-1][0]) / 2, (points[0][1] + points[-1][1]) / 2)
    if annotation.kind is AnnotationKind.RLL:
        (x0, y0), (x1, y1) = rll_caliper_px(points)
        # Beside the caliper end farther right on screen, clear of the line it crosses.
        return (x0, y0) if x0 > x1 else (x1, y1)
    return points[-1]


def shapes_px(
    kind: AnnotationKind, points_px: Sequence[Sequence[float]]
) -> list[tuple[list[tuple[float, float]], bool]]:
    """The polylines that draw an annotation: (points, is_secondary) pairs.

    An RLL with a traced line is two shapes: its caliper (primary) and the line (secondary,
    drawn thinner and dashed so the caliper, which is the measurement, stands out).
    """
    points = [(float(x), float(y)) for x, y in points_px]
    if kind is AnnotationKind.RLL and len(points) >= 4:
        caliper = [(x, y) for x, y in rll_caliper_px(points)]
        line = [(x, y) for x, y in rll_line_px(points)]
        return [(line, True), (caliper, False)]
    return [(points, False)]


HandleCallback = Callable[[str, int, float, float], None]
MenuCallback = Callable[[str, QtCore.QPoint], None]
"""Right-click on an annotation: (annotation id, global screen position)."""


class HandleItem(QtWidgets.QGraphicsRectItem):
    """A square, constant-size handle on one point of an annotation.

    Left press/move/release call ``on_press(annotation_id, index, x_px, y_px)``,
    ``on_move`` and ``on_release`` with pixel coordinates; the handle follows the pointer
    until the model is redrawn.
    """

    def __init__(
        self,
        viewport: Viewport,
        annotation_id: str,
        index: int,
        point_px: tuple[float, float],
        *,
        colour: str,
        callbacks: tuple[HandleCallback, HandleCallback, HandleCallback],
        on_menu: MenuCallback | None = None,
        size_px: float = _HANDLE_PX,
        on_top: bool = False,
    ) -> None:
        half = size_px / 2
        super().__init__(-half, -half, size_px, size_px)
        self.size_px = size_px
        self.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setPos(*pixel_to_view(*point_px))
        self.setPen(_pen("#000000", 1.0))
        self.setBrush(QtGui.QBrush(QtGui.QColor(colour)))
        buttons = QtCore.Qt.MouseButton.LeftButton
        if on_menu is not None:
            # A right press ON a handle opens the annotation's menu; elsewhere the right
            # button still drags the window/level (the handle takes only its own presses).
            buttons |= QtCore.Qt.MouseButton.RightButton
        self.setAcceptedMouseButtons(buttons)
        self._on_menu = on_menu
        self.setCursor(QtCore.Qt.CursorShape.SizeAllCursor)
        # The selected mark's handles above every other handle (and above the labels).
        self.setZValue(32 if on_top else 30)
        self.viewport = viewport
        self.annotation_id = annotation_id
        self.index = index
        self._press, self._move, self._release = callbacks

    def _pixel(self, event: QtWidgets.QGraphicsSceneMouseEvent) -> tuple[float, float]:
        return self.viewport.scene_to_pixel(event.scenePos())

    def mousePressEvent(self, event: QtWidgets.QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        """Start a handle drag (left) or open the annotation's menu (right)."""
        event.accept()
        if event.button() == QtCore.Qt.MouseButton.RightButton:
            if self._on_menu is not None:
                self._on_menu(self.annotation_id, event.screenPos())
            return
        self._press(self.annotation_id, self.index, *self._pixel(event))

    def mouseMoveEvent(self, event: QtWidgets.QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        """Follow the pointer."""
        if not event.buttons() & QtCore.Qt.MouseButton.LeftButton:
            return
        x, y = self._pixel(event)
        self.setPos(*pixel_to_view(x, y))
        self._move(self.annotation_id, self.index, x, y)

    def mouseReleaseEvent(self, event: QtWidgets.QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        """Finish the drag (one command)."""
        if event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        self._release(self.annotation_id, self.index, *self._pixel(event))


class AnnotationOverlay:
    """The drawn annotations, calibration and preview of one viewport.

    Parameters
    ----------
    viewport : where to draw
    callbacks : handle press, move and release (see :class:`HandleItem`)
    on_menu : right-click on a handle (the annotation's context menu)
    """

    def __init__(
        self,
        viewport: Viewport,
        callbacks: tuple[HandleCallback, HandleCallback, HandleCallback],
        on_menu: MenuCallback | None = None,
    ) -> None:
        self.viewport = viewport
        self._callbacks = callbacks
        self._on_menu = on_menu
        self._labels: list[tuple[pg.TextItem, tuple[float, float]]] = []
        viewport.view_changed.connect(self.layout_labels)
        self._items: list[QtWidgets.QGraphicsItem] = []
        self._preview_item: QtWidgets.QGraphicsPathItem | None = None
        self.handles: list[HandleItem] = []

    def clear(self) -> None:
        """Remove every drawn item."""
        for item in self._items:
            self.viewport.remove_overlay_item(item)
        self._items = []
        self._labels = []
        self.handles = []
        self.set_preview(None)

    def _add(self, item: QtWidgets.QGraphicsItem) -> None:
        self.viewport.add_overlay_item(item)
        self._items.append(item)

    def show(
        self,
        annotations: Sequence[Annotation],
        calibration: Calibration | None,
        selected: str | None,
        *,
        editable: bool,
    ) -> None:
        """Draw the rows of this viewport's image (replacing what was drawn)."""
        self.clear()
        if self.viewport.radiograph is None:
            return
        if calibration is not None:
            colour = KIND_COLOURS[AnnotationKind.CALIBRATION_LINE]
            line = QtWidgets.QGraphicsPathItem(_path(calibration.points_px))
            line.setPen(_pen(colour, 1.5, dashed=True))
            self._add(line)
            self._label(
                calibration.points_px[-1],
                f"cal {calibration.known_size_mm:g} mm",
                colour,
                _LABEL_ANCHORS[AnnotationKind.CALIBRATION_LINE],
            )
        known = {a.id for a in annotations}
        for annotation in annotations:
            chosen = annotation.id == selected
            colour = KIND_COLOURS[annotation.kind]
            base = _LINE_WIDTHS.get(annotation.kind, 2.0)
            for points, secondary in shapes_px(annotation.kind, annotation.points_px):
                line = QtWidgets.QGraphicsPathItem(_path(points))
                width = (
                    (1.5 if secondary else base + 1.0) if chosen else (1.2 if secondary else base)
                )
                line.setPen(_pen(_SELECTED_COLOUR if chosen else colour, width, dashed=secondary))
                if chosen:
                    line.setZValue(5)  # the selected mark's line over the others'
                self._add(line)
            zone = f" · {annotation.zone}" if annotation.zone else ""
            text = f"{KIND_LABELS[annotation.kind]} {value_text(annotation)}{zone}"
            self._label(_label_point(annotation), text, colour, _LABEL_ANCHORS[annotation.kind])
            if editable:
                for index, point in enumerate(annotation.points_px):
                    handle = HandleItem(
                        self.viewport,
                        annotation.id,
                        index,
                        point,
                        colour=_SELECTED_COLOUR if chosen else colour,
                        callbacks=self._callbacks,
                        on_menu=self._on_menu,
                        size_px=_HANDLE_PX if chosen or selected not in known else _SMALL_HANDLE_PX,
                        on_top=chosen,
                    )
                    self._add(handle)
                    self.handles.append(handle)
        self.layout_labels()

    def _label(
        self, point_px: Sequence[float], text: str, colour: str, anchor: tuple[float, float]
    ) -> None:
        label = pg.TextItem(text, color=colour, anchor=anchor, fill=(0, 0, 0, 170))
        label.setPos(*pixel_to_view(float(point_px[0]), float(point_px[1])))
        label.setZValue(25)
        self._add(label)
        self._labels.append((label, (float(point_px[0]), float(point_px[1]))))

    def label_rects(self) -> list[QtCore.QRectF]:
        """The labels' rectangles on the screen (scene coordinates), in drawing order."""
        rects = []
        for label, _point in self._labels:
            label.updateTransform(force=True)
            rects.append(label.sceneBoundingRect())
        return rects

    def layout_labels(self) -> None:
        """Keep labels off each other and off the handles (at the current zoom).

        Each label starts at its annotation's anchor; while it overlaps a handle or a label
        placed before it, it steps down or up by its own height on the screen.
        """
        if not self._labels:
            return
        box = self.viewport.view_box
        taken = [
            QtCore.QRectF(h.scenePos().x() - 7, h.scenePos().y() - 7, 14, 14) for h in self.handles
        ]
        for label, point in self._labels:
            label.setPos(*pixel_to_view(*point))
            label.updateTransform(force=True)
            rect = label.sceneBoundingRect()
            step = rect.height() + 2
            chosen = rect
            for k in (0, 1, -1, 2, -2, 3, -3, 4, -4):
                moved = rect.translated(0, k * step)
                if not any(moved.intersects(other) for other in taken):
                    chosen = moved
                    break
            if chosen is not rect:
                base = box.mapViewToScene(QtCore.QPointF(*pixel_to_view(*point)))
                target = box.mapSceneToView(base + QtCore.QPointF(0, chosen.top() - rect.top()))
                label.setPos(target)
                label.updateTransform(force=True)
            taken.append(chosen)

    def set_preview(self, preview: Preview | None) -> None:
        """Draw (or remove) the gesture in progress."""
        if preview is None or (len(preview.points_px) < 1 and not preview.line_px):
            if self._preview_item is not None:
                self.viewport.remove_overlay_item(self._preview_item)
                self._preview_item = None
            return
        if self._preview_item is None:
            self._preview_item = QtWidgets.QGraphicsPathItem()
            self._preview_item.setZValue(28)
            self.viewport.add_overlay_item(self._preview_item)
        colour = KIND_COLOURS.get(preview.kind, "#ffffff")
        if preview.annotation_id is not None:
            colour = _SELECTED_COLOUR
        self._preview_item.setPen(_pen(colour, 2.0, dashed=True))
        path = QtGui.QPainterPath()
        if preview.line_px:
            path.addPath(_path(preview.line_px))
        for points, _secondary in shapes_px(preview.kind, preview.points_px):
            path.addPath(_path(points))
        if preview.circle_px is not None:  # a fitted calibration ball, proposed to the reader
            x, y, radius = preview.circle_px
            path.addPath(_path(circle_points_px(x, y, radius)))
        self._preview_item.setPath(path)
