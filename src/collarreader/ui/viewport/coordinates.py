"""Pixel ↔ view coordinates of a viewport (pure).

Part of :mod:`collarreader.ui.viewport` (see its docstring).
"""

from __future__ import annotations

import math

PIXEL_CENTER_OFFSET = 0.5
"""View coordinate of the centre of pixel 0 (pyqtgraph puts pixel edges on integers)."""

# ------------------------------------------------------------------ coordinates (pure)


def pixel_to_view(x: float, y: float) -> tuple[float, float]:
    """View (ImageItem) coordinates of image pixel ``(x, y)``.

    Parameters
    ----------
    x, y : pixel (x=column, y=row), origin at the centre of the top-left pixel

    Returns
    -------
    (vx, vy) : pyqtgraph view coordinates, where pixel edges lie on integers
    """
    return (x + PIXEL_CENTER_OFFSET, y + PIXEL_CENTER_OFFSET)


def view_to_pixel(vx: float, vy: float) -> tuple[float, float]:
    """Image pixel ``(x, y)`` of pyqtgraph view coordinates; inverse of :func:`pixel_to_view`."""
    return (vx - PIXEL_CENTER_OFFSET, vy - PIXEL_CENTER_OFFSET)


def pixel_index(x: float, y: float) -> tuple[int, int]:
    """Column and row of the pixel containing point ``(x, y)`` (pixel coordinates)."""
    return (math.floor(x + PIXEL_CENTER_OFFSET), math.floor(y + PIXEL_CENTER_OFFSET))
