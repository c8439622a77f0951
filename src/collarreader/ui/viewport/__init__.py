"""One radiograph on screen: window/level, zoom, inversion, loupe, overlays and pointer events.

Coordinates
-----------
Stored geometry uses image pixel coordinates (x=column, y=row) with the origin at the
*centre* of the top-left pixel. pyqtgraph's ImageItem (row-major, at the origin of its
ViewBox) covers pixel ``(x, y)`` with the square ``[x, x+1] × [y, y+1]`` in *view*
coordinates, so a pixel centre sits at ``+0.5``. :func:`pixel_to_view` and
:func:`view_to_pixel` are the only places that know this; overlay items added with
:meth:`Viewport.add_overlay_item` live in view coordinates.

Mouse
-----
Left button: the active measurement tool (``set_tool_active(True)``), otherwise pan.
Right-drag: window/level (horizontal → width, vertical → centre). Middle-drag: pan.
Wheel: zoom about the cursor. Double-click: :attr:`Viewport.double_clicked`.

Modules
-------
:mod:`~collarreader.ui.viewport.widget`
    :class:`Viewport`, the widget.
:mod:`~collarreader.ui.viewport.view_box`
    Its pyqtgraph view box, handing pointer events to the tools.
:mod:`~collarreader.ui.viewport.events`
    :class:`PointerEvent`, :class:`CursorSample`, :class:`Corner`.
:mod:`~collarreader.ui.viewport.coordinates`
    Pixel ↔ view coordinates (pure).
:mod:`~collarreader.ui.viewport.status_text`
    The status-bar text: cursor value, calibration, its badge (pure).
"""

from __future__ import annotations

from collarreader.ui.viewport.coordinates import (
    PIXEL_CENTER_OFFSET,
    pixel_index,
    pixel_to_view,
    view_to_pixel,
)
from collarreader.ui.viewport.events import Corner, CursorSample, PointerButton, PointerEvent
from collarreader.ui.viewport.status_text import calibration_badge, calibration_text, cursor_text
from collarreader.ui.viewport.widget import Viewport

__all__ = [
    "PIXEL_CENTER_OFFSET",
    "Corner",
    "CursorSample",
    "PointerButton",
    "PointerEvent",
    "Viewport",
    "calibration_badge",
    "calibration_text",
    "cursor_text",
    "pixel_index",
    "pixel_to_view",
    "view_to_pixel",
]
