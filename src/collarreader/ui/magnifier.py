"""A loupe that follows the cursor over a viewport and shows the image under it enlarged.

The loupe draws the *source pixels* (a small slice of the array, windowed by pyqtgraph
with the viewport's levels and lookup table), not an enlarged screenshot, so it shows
detail the downsampled full view cannot.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

MIN_FACTOR = 2.0
MAX_FACTOR = 4.0
DEFAULT_FACTOR = 3.0
DEFAULT_SIZE_PX = 180


def loupe_region(
    center_x: float, center_y: float, half_extent: float, shape: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """Pixel index bounds of the image area a loupe shows, clipped to the image.

    Parameters
    ----------
    center_x, center_y : loupe centre, pixel (x=column, y=row), origin at the centre of the
        top-left pixel
    half_extent : half the loupe's side, in image pixels
    shape : (rows, columns) of the image

    Returns
    -------
    (x0, x1, y0, y1) or None
        Half-open index bounds: the loupe needs ``pixels[y0:y1, x0:x1]``. None when the
        area does not touch the image.
    """
    if half_extent <= 0:
        raise ValueError(f"The loupe's half extent must be positive, not {half_extent}.")
    rows, cols = shape
    # Pixel j covers [j - 0.5, j + 0.5] in pixel coordinates.
    x0 = max(0, math.floor(center_x + 0.5 - half_extent))
    x1 = min(cols, math.ceil(center_x + 0.5 + half_extent))
    y0 = max(0, math.floor(center_y + 0.5 - half_extent))
    y1 = min(rows, math.ceil(center_y + 0.5 + half_extent))
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, x1, y0, y1


class Magnifier(QtWidgets.QFrame):
    """Square loupe showing ``factor`` × the on-screen zoom around a point of the image.

    It ignores the mouse (events pass to the viewport under it) and is positioned by its
    owner with :meth:`follow`.

    Parameters
    ----------
    parent : the widget the loupe floats over
    size_px : side of the loupe in logical screen pixels
    factor : enlargement relative to the viewport's current zoom, 2–4
    """

    def __init__(
        self,
        parent: QtWidgets.QWidget,
        size_px: int = DEFAULT_SIZE_PX,
        factor: float = DEFAULT_FACTOR,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("magnifier")
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self.setStyleSheet("#magnifier { border: 1px solid #9a9a9a; background: black; }")
        self.setFixedSize(size_px, size_px)
        self._factor = DEFAULT_FACTOR
        self.set_factor(factor)
        self._pixels: np.ndarray | None = None
        self._region: tuple[int, int, int, int] | None = None
        self._center_px: tuple[float, float] | None = None

        self._view = pg.GraphicsView(background="k")
        self._view.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self._box = pg.ViewBox(lockAspect=True, enableMouse=False, enableMenu=False)
        self._box.invertY(True)
        self._view.setCentralItem(self._box)
        self._item = pg.ImageItem(axisOrder="row-major")
        self._box.addItem(self._item)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.addWidget(self._view)
        self.hide()

    @property
    def factor(self) -> float:
        """Enlargement relative to the viewport's zoom (2–4)."""
        return self._factor

    def set_factor(self, factor: float) -> None:
        """Set the enlargement, clipped to 2–4."""
        self._factor = float(min(MAX_FACTOR, max(MIN_FACTOR, factor)))

    @property
    def region(self) -> tuple[int, int, int, int] | None:
        """Index bounds ``(x0, x1, y0, y1)`` of the pixels shown last, or None."""
        return self._region

    @property
    def center_px(self) -> tuple[float, float] | None:
        """Pixel (x, y) at the loupe's centre when it was last placed, or None."""
        return self._center_px

    @property
    def image_item(self) -> pg.ImageItem:
        """The loupe's image item (for tests and styling)."""
        return self._item

    def set_image(
        self, pixels: np.ndarray | None, levels: tuple[float, float], lut: np.ndarray | None
    ) -> None:
        """Give the loupe the image (kept by reference) and its display mapping."""
        self._pixels = pixels
        self._region = None
        self._item.setLookupTable(lut, update=False)
        self._item.setLevels(levels, update=False)
        if pixels is None:
            self._item.clear()
            self.hide()

    def set_levels(self, levels: tuple[float, float]) -> None:
        """Follow the viewport's window."""
        self._item.setLevels(levels)

    def set_lut(self, lut: np.ndarray | None) -> None:
        """Follow the viewport's inversion."""
        self._item.setLookupTable(lut)

    def follow(
        self, widget_pos: QtCore.QPointF, center_px: tuple[float, float], zoom: float
    ) -> None:
        """Centre the loupe on ``widget_pos`` and show the image around ``center_px``.

        Parameters
        ----------
        widget_pos : cursor position in the parent widget's coordinates
        center_px : image pixel (x, y) under the cursor
        zoom : the viewport's zoom, logical screen pixels per image pixel
        """
        if self._pixels is None or zoom <= 0:
            self.hide()
            return
        side = float(self.width() - 2)
        half_extent = side / (2.0 * zoom * self._factor)
        region = loupe_region(center_px[0], center_px[1], half_extent, self._pixels.shape[:2])
        if region is None:
            self.hide()
            return
        x0, x1, y0, y1 = region
        if region != self._region:
            self._item.setImage(self._pixels[y0:y1, x0:x1], autoLevels=False)
            self._item.setPos(x0, y0)
            self._region = region
        cx, cy = center_px[0] + 0.5, center_px[1] + 0.5
        self._box.setRange(
            xRange=(cx - half_extent, cx + half_extent),
            yRange=(cy - half_extent, cy + half_extent),
            padding=0,
        )
        self._center_px = center_px
        self.move(int(widget_pos.x() - self.width() / 2), int(widget_pos.y() - self.height() / 2))
        if not self.isVisible():
            self.show()
            self.raise_()
