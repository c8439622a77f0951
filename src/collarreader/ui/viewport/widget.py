"""The :class:`Viewport` widget: one radiograph with its window, zoom, text, overlays and loupe.

Part of :mod:`collarreader.ui.viewport` (see its docstring).

Over 600 lines because it is one widget: its sections (content, text, window/level, zoom,
registered display, coordinates, overlays, tools) share the widget's state, and splitting the
class would only spread that state over mixins.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from collarreader.imaging import Radiograph, Spacing, Window
from collarreader.ui.magnifier import Magnifier
from collarreader.ui.viewport.coordinates import (
    PIXEL_CENTER_OFFSET,
    pixel_index,
    pixel_to_view,
    view_to_pixel,
)
from collarreader.ui.viewport.events import (
    _BUTTONS,
    Corner,
    CursorSample,
    PointerButton,
    _pointer_event,
)
from collarreader.ui.viewport.status_text import _format_value
from collarreader.ui.viewport.view_box import _ReaderViewBox
from collarreader.ui.windowing import (
    ValueRange,
    WindowPreset,
    drag_window,
    preset_window,
    robust_range,
    value_range,
    window_to_levels,
)

_INVERT_LUT = np.arange(255, -1, -1, dtype=np.uint8)
_BORDER_PX = 2
_BORDER_COLOUR = "#1c1c1c"
_FOCUS_COLOUR = "#3d8ee6"
_LABEL_STYLE = "color: #e0e0e0; background: rgba(0, 0, 0, 150); padding: 1px 5px; font-size: 12px;"
_BADGE_STYLE = (
    "color: #c8e6c9; background: rgba(0, 0, 0, 170); border: 1px solid #66bb6a; "
    "padding: 1px 5px; font-size: 12px;"
)
_BADGE_WARNING_STYLE = (
    "color: #1b1b1b; background: rgba(255, 183, 77, 225); border: 1px solid #ffb74d; "
    "padding: 1px 5px; font-size: 12px; font-weight: bold;"
)
_MESSAGE_STYLE = "color: #f0b060; background: transparent; font-size: 13px; padding: 12px;"
_PLACEHOLDER_STYLE = "color: #6a6a6a; background: transparent; font-size: 13px;"

# ------------------------------------------------------------------ the viewport


class Viewport(QtWidgets.QFrame):
    """One radiograph with window/level, zoom, inversion, a loupe and corner text.

    The widget is built once and reused: :meth:`set_radiograph` swaps the array in the same
    ImageItem. No identity is ever shown; the corner texts are what the caller passes.

    Signals
    -------
    cursor_moved(CursorSample | None)
        On every hover or drag move; None when the pointer leaves the viewport.
    view_changed()
        The visible range changed (pan, zoom, resize, fit); used for linking.
    window_changed(center: float, width: float)
        The display window changed.
    mouse_pressed(PointerEvent), mouse_moved(PointerEvent), mouse_released(PointerEvent)
        Left-button gestures on the image while a tool is active (a click gives a press
        then a release at the same point), and hover moves (button ``none``).
    activated()
        Any mouse press inside the viewport (the grid focuses it).
    double_clicked()
        Left double-click on the image.
    """

    cursor_moved = QtCore.Signal(object)
    view_changed = QtCore.Signal()
    window_changed = QtCore.Signal(float, float)
    mouse_pressed = QtCore.Signal(object)
    mouse_moved = QtCore.Signal(object)
    mouse_released = QtCore.Signal(object)
    activated = QtCore.Signal()
    double_clicked = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("viewport")
        self.setMinimumSize(120, 100)
        self._focused = False
        self._apply_border()

        self._radiograph: Radiograph | None = None
        self._error: str | None = None
        self._data = ValueRange(0.0, 1.0)
        self._robust: ValueRange | None = None
        self._integer = True
        self._window = Window(0.5, 1.0)
        self._header_window = Window(0.5, 1.0)
        self._invert = False
        self._tool_active = False
        self._tool_dragging = False
        self._drag_start_window: Window | None = None
        self._aspect_ratio = 1.0
        self.badge_calibrated = False

        self._graphics = pg.GraphicsView(background="k")
        self._box = _ReaderViewBox(self)
        self._box.setAspectLocked(True, ratio=1.0)
        self._box.disableAutoRange()
        self._graphics.setCentralItem(self._box)
        self._item = pg.ImageItem(axisOrder="row-major")
        self._item.setAutoDownsample(False)
        # The image and its overlays share one layer, whose transform shows the image
        # registered onto another film (identity unless set_display_transform says otherwise).
        self._layer = pg.ItemGroup()
        self._box.addItem(self._layer)
        self._item.setParentItem(self._layer)
        self._display = QtGui.QTransform()
        self._display_matrix: np.ndarray | None = None
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(_BORDER_PX, _BORDER_PX, _BORDER_PX, _BORDER_PX)
        layout.addWidget(self._graphics)

        self._corners: dict[Corner, QtWidgets.QLabel] = {}
        for corner in Corner:
            label = QtWidgets.QLabel(self)
            label.setStyleSheet(_LABEL_STYLE)
            label.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
            label.hide()
            self._corners[corner] = label
        self._message = QtWidgets.QLabel(self)
        self._message.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self._message.setWordWrap(True)
        self._message.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self._magnifier = Magnifier(self)
        self._magnifier_enabled = False
        self._show_message("no image", error=False)

        self._graphics.scene().sigMouseMoved.connect(self._hover)
        self._graphics.viewport().installEventFilter(self)
        self._box.sigRangeChanged.connect(self._range_changed)

    # ---------------------------------------------------------------- properties

    @property
    def view_box(self) -> pg.ViewBox:
        """The ViewBox; its child coordinates are view coordinates (see :func:`pixel_to_view`)."""
        return self._box

    @property
    def image_item(self) -> pg.ImageItem:
        """The ImageItem showing the radiograph (reused across images)."""
        return self._item

    @property
    def graphics_view(self) -> pg.GraphicsView:
        """The pyqtgraph GraphicsView holding the ViewBox."""
        return self._graphics

    @property
    def magnifier(self) -> Magnifier:
        """The loupe."""
        return self._magnifier

    @property
    def radiograph(self) -> Radiograph | None:
        """The radiograph shown, or None (empty or error)."""
        return self._radiograph

    @property
    def error_message(self) -> str | None:
        """The error text shown instead of an image, or None."""
        return self._error

    @property
    def display_window(self) -> Window:
        """Current display window (center, width), pixel value units."""
        return self._window

    @property
    def header_window(self) -> Window:
        """The radiograph's default window."""
        return self._header_window

    @property
    def data_range(self) -> ValueRange:
        """Exact value range of the radiograph shown."""
        return self._data

    @property
    def inverted(self) -> bool:
        """True when low values are shown white."""
        return self._invert

    @property
    def tool_active(self) -> bool:
        """True while a measurement tool owns the left button."""
        return self._tool_active

    @property
    def magnifier_enabled(self) -> bool:
        """True when the loupe follows the cursor."""
        return self._magnifier_enabled

    @property
    def focused(self) -> bool:
        """True when this viewport has the highlight border."""
        return self._focused

    # ---------------------------------------------------------------- content

    def set_radiograph(self, radiograph: Radiograph | None, *, title: str = "") -> None:
        """Show a radiograph (or nothing), reset window, inversion and zoom.

        Parameters
        ----------
        radiograph : the image, or None for an empty viewport
        title : top-left text, e.g. ``"AP · 6 m"`` (never anything identifying)
        """
        self._radiograph = radiograph
        self._error = None
        self.set_corner_text(Corner.top_left, title)
        self.set_display_transform(None)
        if radiograph is None:
            self._clear_image()
            self._show_message("no image", error=False)
            return
        pixels = radiograph.pixels
        if pixels.ndim != 2 or pixels.size == 0:
            raise ValueError(
                f"{radiograph.path}: the viewer needs a 2-D image, not an array of shape "
                f"{pixels.shape}."
            )
        self._message.hide()
        self._data = value_range(pixels)
        self._robust = None
        self._integer = pixels.dtype.kind in "iub"
        self._header_window = Window(float(radiograph.window[0]), float(radiograph.window[1]))
        self._window = self._header_window
        self._invert = bool(radiograph.invert)
        levels = window_to_levels(self._window)
        self._item.setImage(pixels, autoLevels=False, levels=levels, lut=self._lut())
        self._item.show()
        self._magnifier.set_image(pixels, levels, self._lut())
        self._set_aspect(radiograph.spacing)
        self.zoom_to_fit()
        self._update_window_label()
        self.window_changed.emit(self._window.center, self._window.width)

    def show_error(self, message: str) -> None:
        """Show an error text instead of an image (the title stays).

        Parameters
        ----------
        message : what went wrong and what to do, e.g. ``str(DicomReadError)``
        """
        self._radiograph = None
        self._error = message
        self._clear_image()
        self._show_message(f"Cannot show this image.\n\n{message}", error=True)

    def show_loading(self, text: str = "loading…") -> None:
        """Show a placeholder while the image is being verified and decoded."""
        self._radiograph = None
        self._error = None
        self._clear_image()
        self._show_message(text, error=False)

    @property
    def message_text(self) -> str:
        """The placeholder or error text shown instead of an image ("" when an image shows)."""
        return "" if self._radiograph is not None else self._message.text()

    def _clear_image(self) -> None:
        self._item.clear()
        self._item.hide()
        self._magnifier.set_image(None, (0.0, 1.0), None)
        self._corners[Corner.bottom_left].hide()
        self._corners[Corner.bottom_right].hide()
        self._corners[Corner.top_right].hide()

    def _show_message(self, text: str, *, error: bool) -> None:
        self._message.setText(text)
        self._message.setStyleSheet(_MESSAGE_STYLE if error else _PLACEHOLDER_STYLE)
        self._message.show()
        self._message.raise_()
        self._place_labels()

    # ---------------------------------------------------------------- text

    def set_title(self, text: str) -> None:
        """Top-left text (time point and view)."""
        self.set_corner_text(Corner.top_left, text)

    def set_corner_text(self, corner: Corner, text: str) -> None:
        """Set the overlay text of one corner; an empty text hides it.

        The bottom corners are rewritten with the window and zoom as they change.
        """
        label = self._corners[corner]
        label.setText(text)
        label.adjustSize()
        label.setVisible(bool(text))
        self._place_label(corner)

    def set_calibration_badge(self, text: str, *, calibrated: bool) -> None:
        """Show the image's calibration in the top-right corner; warning colour when not."""
        self._corners[Corner.top_right].setStyleSheet(
            _BADGE_STYLE if calibrated else _BADGE_WARNING_STYLE
        )
        self.badge_calibrated = calibrated
        self.set_corner_text(Corner.top_right, text if self._radiograph is not None else "")

    def corner_text(self, corner: Corner) -> str:
        """Text currently in a corner."""
        return str(self._corners[corner].text())

    def _update_window_label(self) -> None:
        if self._radiograph is None:
            return
        width = _format_value(round(self._window.width, 1))
        center = _format_value(round(self._window.center, 1))
        text = f"W {width}  C {center}"
        if self._invert:
            text += "  inv"
        self.set_corner_text(Corner.bottom_left, text)

    def _update_zoom_label(self) -> None:
        if self._radiograph is None:
            return
        device_zoom = self.zoom() * self.devicePixelRatioF()
        self.set_corner_text(Corner.bottom_right, f"×{device_zoom:.2f}")

    def _place_labels(self) -> None:
        for corner in Corner:
            self._place_label(corner)
        self._message.setGeometry(self._graphics.geometry())

    def _place_label(self, corner: Corner) -> None:
        label = self._corners[corner]
        area = self._graphics.geometry()
        margin = 4
        size = label.sizeHint()
        left = corner in (Corner.top_left, Corner.bottom_left)
        top = corner in (Corner.top_left, Corner.top_right)
        x = area.left() + margin if left else area.right() - margin - size.width() + 1
        y = area.top() + margin if top else area.bottom() - margin - size.height() + 1
        label.setGeometry(x, y, size.width(), size.height())
        label.raise_()

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802
        """Keep the corner texts in their corners."""
        super().resizeEvent(event)
        self._place_labels()

    # ---------------------------------------------------------------- window / level

    def set_window(self, center: float, width: float) -> None:
        """Set the display window without re-uploading the image.

        Parameters
        ----------
        center, width : DICOM linear window, pixel value units; width > 0
        """
        if not width > 0:
            raise ValueError(f"A window width must be positive, not {width}.")
        self._window = Window(float(center), float(width))
        levels = window_to_levels(self._window)
        self._item.setLevels(levels)
        if self._magnifier.isVisible():
            self._magnifier.set_levels(levels)
        else:
            self._magnifier.image_item.setLevels(levels, update=False)
        self._update_window_label()
        self.window_changed.emit(self._window.center, self._window.width)

    def apply_preset(self, preset: WindowPreset) -> Window:
        """Apply a window preset to the radiograph shown and return the window used."""
        if self._radiograph is None:
            return self._window
        if self._robust is None and preset in (WindowPreset.bone, WindowPreset.soft_tissue):
            self._robust = robust_range(self._radiograph.pixels)
        window = preset_window(
            preset,
            header=self._header_window,
            data=self._data,
            robust=self._robust or self._data,
            monochrome1=self._radiograph.invert,
        )
        self.set_window(window.center, window.width)
        return window

    def reset_window(self) -> None:
        """Back to the radiograph's default window and inversion."""
        if self._radiograph is None:
            return
        self.set_invert(self._radiograph.invert)
        self.set_window(*self._header_window)

    def reset(self) -> None:
        """Default window, default inversion and zoom to fit."""
        self.reset_window()
        self.zoom_to_fit()

    def set_invert(self, invert: bool) -> None:
        """Show low values white (True) or black (False)."""
        if invert == self._invert:
            return
        self._invert = invert
        self._item.setLookupTable(self._lut())
        self._magnifier.set_lut(self._lut())
        self._update_window_label()

    def toggle_invert(self) -> None:
        """Swap black and white."""
        self.set_invert(not self._invert)

    def _lut(self) -> np.ndarray | None:
        return _INVERT_LUT if self._invert else None

    def _window_drag(self, ev: Any) -> None:
        if self._radiograph is None:
            return
        if ev.isStart() or self._drag_start_window is None:
            self._drag_start_window = self._window
        delta = ev.pos() - ev.buttonDownPos(QtCore.Qt.MouseButton.RightButton)
        window = drag_window(
            self._drag_start_window,
            float(delta.x()),
            float(delta.y()),
            self._data,
            inverted_display=self._invert,
            integer=self._integer,
        )
        self.set_window(window.center, window.width)
        if ev.isFinish():
            self._drag_start_window = None

    # ---------------------------------------------------------------- zoom and pan

    def _set_aspect(self, spacing: Spacing | None) -> None:
        # Anisotropic pixels are drawn with their true proportions: xScale/yScale is the
        # ratio of screen pixels per column to screen pixels per row.
        ratio = 1.0
        if spacing is not None and spacing.row_mm > 0 and spacing.col_mm > 0:
            ratio = spacing.col_mm / spacing.row_mm
        self._aspect_ratio = ratio
        self._box.setAspectLocked(True, ratio=ratio)

    def image_rect(self) -> QtCore.QRectF:
        """The image's extent in view coordinates (empty when nothing is shown)."""
        if self._radiograph is None:
            return QtCore.QRectF()
        rows, cols = self._radiograph.pixels.shape[:2]
        return self._display.mapRect(QtCore.QRectF(0.0, 0.0, float(cols), float(rows)))

    # ---------------------------------------------------------------- registered display

    @property
    def display_matrix(self) -> np.ndarray | None:
        """The (2, 3) pixel map the image is shown through, or None (shown as stored)."""
        return None if self._display_matrix is None else self._display_matrix.copy()

    def set_display_transform(self, matrix: Any | None) -> None:
        """Show the image (and its overlays) through an affine pixel map.

        Parameters
        ----------
        matrix : (2, 3) array mapping this image's pixel (x, y, 1) to the pixel (x, y) of the
            frame shown (e.g. a 12 m film registered onto the 6 m film), or None for the image
            as stored. Pointer events and :meth:`pixel_to_scene` keep using this image's own
            pixels, so tools record geometry in the image's frame.
        """
        if matrix is None:
            self._display_matrix = None
            self._display = QtGui.QTransform()
        else:
            m = np.asarray(matrix, dtype=np.float64)
            if m.shape != (2, 3) or not np.all(np.isfinite(m)):
                raise ValueError(f"A display transform is a finite 2 x 3 matrix, not {m.shape}.")
            a, b, c = m[0]
            d, e, f = m[1]
            # View coordinates put pixel centres at +0.5: v' = A(v - 0.5) + 0.5.
            o = PIXEL_CENTER_OFFSET
            self._display = QtGui.QTransform(a, d, b, e, c + o - o * (a + b), f + o - o * (d + e))
            self._display_matrix = m.copy()
        self._layer.setTransform(self._display)

    def zoom_to_fit(self) -> None:
        """Show the whole image as large as the viewport allows."""
        rect = self.image_rect()
        if rect.isEmpty():
            return
        self._box.setRange(rect=rect, padding=0.0)

    def zoom(self) -> float:
        """Logical screen pixels per image column (0 before the widget has a size)."""
        width_view = self._box.viewRect().width()
        if width_view <= 0 or self._box.width() <= 0:
            return 0.0
        return float(self._box.width() / width_view)

    def view_center_px(self) -> tuple[float, float]:
        """Pixel (x, y) at the centre of the visible area."""
        center = self._box.viewRect().center()
        return view_to_pixel(center.x(), center.y())

    def set_view(self, center_px: tuple[float, float], zoom: float) -> None:
        """Centre the view on a pixel at a zoom.

        Parameters
        ----------
        center_px : pixel (x, y) to put at the centre
        zoom : logical screen pixels per image column, > 0
        """
        if not zoom > 0:
            raise ValueError(f"A zoom must be positive, not {zoom}.")
        width = self._box.width()
        height = self._box.height()
        if width <= 0 or height <= 0:
            size = self._graphics.viewport().size()
            width, height = size.width(), size.height()
        if width <= 0 or height <= 0:
            return
        half_w = width / zoom / 2.0
        half_h = height * self._aspect_ratio / zoom / 2.0
        vx, vy = pixel_to_view(*center_px)
        if self._display_matrix is not None:
            # A registered film is shown in another film's frame: centre on where its pixel is
            # shown, as pixel_to_scene does.
            shown = self._display.map(QtCore.QPointF(vx, vy))
            vx, vy = shown.x(), shown.y()
        self._box.setRange(
            xRange=(vx - half_w, vx + half_w), yRange=(vy - half_h, vy + half_h), padding=0.0
        )

    def one_to_one(self) -> None:
        """One image pixel per physical screen pixel, keeping the centre."""
        if self._radiograph is None:
            return
        self.set_view(self.view_center_px(), 1.0 / self.devicePixelRatioF())

    def target_rect(self) -> QtCore.QRectF:
        """The range last asked for, in view coordinates (the visible area may be larger)."""
        return QtCore.QRectF(self._box.targetRect())

    def set_target_rect(self, rect: QtCore.QRectF) -> None:
        """Ask the view to show at least ``rect`` (view coordinates), centred."""
        self._box.setRange(rect=rect, padding=0.0)

    def _range_changed(self, *_args: object) -> None:
        self._update_zoom_label()
        self.view_changed.emit()

    # ---------------------------------------------------------------- coordinates

    def scene_to_pixel(self, point: QtCore.QPointF) -> tuple[float, float]:
        """Image pixel ``(x, y)`` under a scene point (origin at the top-left pixel's centre)."""
        view = self._box.mapSceneToView(point)
        if self._display_matrix is not None:
            view = self._display.inverted()[0].map(view)
        return view_to_pixel(view.x(), view.y())

    def pixel_to_scene(self, x: float, y: float) -> QtCore.QPointF:
        """Scene point of image pixel ``(x, y)``."""
        view = self._display.map(QtCore.QPointF(*pixel_to_view(x, y)))
        return QtCore.QPointF(self._box.mapViewToScene(view))

    def pixel_to_widget(self, x: float, y: float) -> QtCore.QPoint:
        """Position, in :attr:`graphics_view`'s viewport widget, of image pixel ``(x, y)``."""
        return self._graphics.mapFromScene(self.pixel_to_scene(x, y))

    def value_at(self, x: float, y: float) -> float | None:
        """Pixel value at pixel ``(x, y)``, None outside the image or without one."""
        if self._radiograph is None:
            return None
        col, row = pixel_index(x, y)
        rows, cols = self._radiograph.pixels.shape[:2]
        if 0 <= col < cols and 0 <= row < rows:
            return float(self._radiograph.pixels[row, col])
        return None

    # ---------------------------------------------------------------- overlays

    def add_overlay_item(self, item: QtWidgets.QGraphicsItem) -> None:
        """Add a graphics item (ROI, line, text…) drawn over the image in view coordinates.

        Place it with :func:`pixel_to_view`. Items that accept mouse events take them
        before the viewport's own gestures.
        """
        if item.zValue() <= self._item.zValue():
            item.setZValue(self._item.zValue() + 10)
        self._box.addItem(item)
        # In the image's layer, so a registered display moves overlays with the image.
        item.setParentItem(self._layer)

    def remove_overlay_item(self, item: QtWidgets.QGraphicsItem) -> None:
        """Remove an item added with :meth:`add_overlay_item`."""
        self._box.removeItem(item)

    # ---------------------------------------------------------------- tools, focus, loupe

    def set_tool_active(self, active: bool) -> None:
        """Give the left button to a measurement tool (True) or to panning (False)."""
        self._tool_active = bool(active)
        self._tool_dragging = False

    def set_focused(self, focused: bool) -> None:
        """Show or remove the highlight border."""
        if focused != self._focused:
            self._focused = focused
            self._apply_border()

    def _apply_border(self) -> None:
        colour = _FOCUS_COLOUR if self._focused else _BORDER_COLOUR
        self.setStyleSheet(
            f"#viewport {{ border: {_BORDER_PX}px solid {colour}; background: black; }}"
        )

    def set_magnifier_enabled(self, enabled: bool) -> None:
        """Turn the loupe on or off; it appears at the next cursor move."""
        self._magnifier_enabled = bool(enabled)
        if not enabled:
            self._magnifier.hide()

    def toggle_magnifier(self) -> None:
        """Turn the loupe on or off."""
        self.set_magnifier_enabled(not self._magnifier_enabled)

    def _hover(self, scene_pos: QtCore.QPointF) -> None:
        x, y = self.scene_to_pixel(scene_pos)
        self.cursor_moved.emit(CursorSample(x, y, self.value_at(x, y)))
        if self._magnifier_enabled and self._radiograph is not None:
            widget_pos = self._graphics.mapFromScene(scene_pos)
            here = QtCore.QPointF(self._graphics.viewport().mapTo(self, widget_pos))
            self._magnifier.follow(here, (x, y), self.zoom())
        if self._tool_active and not self._tool_dragging:
            modifiers = QtWidgets.QApplication.keyboardModifiers()
            self.mouse_moved.emit(_pointer_event(x, y, PointerButton.none, modifiers))

    def _tool_drag(self, ev: Any) -> None:
        button = _BUTTONS.get(ev.button(), PointerButton.none)
        modifiers = ev.modifiers()
        if ev.isStart():
            self._tool_dragging = True
            x0, y0 = self.scene_to_pixel(ev.buttonDownScenePos(ev.button()))
            self.mouse_pressed.emit(_pointer_event(x0, y0, button, modifiers))
        x, y = self.scene_to_pixel(ev.scenePos())
        if ev.isFinish():
            self._tool_dragging = False
            self.mouse_released.emit(_pointer_event(x, y, button, modifiers))
        else:
            self.mouse_moved.emit(_pointer_event(x, y, button, modifiers))

    def _tool_click(self, ev: Any) -> None:
        button = _BUTTONS.get(ev.button(), PointerButton.none)
        x, y = self.scene_to_pixel(ev.scenePos())
        event = _pointer_event(x, y, button, ev.modifiers())
        self.mouse_pressed.emit(event)
        self.mouse_released.emit(event)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        """Note presses (for focus) and the pointer leaving the image area."""
        kind = event.type()
        if kind == QtCore.QEvent.Type.MouseButtonPress:
            self.activated.emit()
        elif kind == QtCore.QEvent.Type.Leave:
            self._magnifier.hide()
            self.cursor_moved.emit(None)
        return False
