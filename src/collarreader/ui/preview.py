"""The launch's first look: reduced-resolution previews painted under the loading images.

The worker processes decode each JPEG 2000 image of the first case twice: first its coarse
wavelet level (:mod:`collarreader.imaging.preview`, ~6× faster), then the full image. This
painter shows each preview in its viewport as soon as it arrives, drawn over the full
image's pixel frame — preview pixel ``(i, j)`` covers full-resolution pixels
``[i·s, (i+1)·s) × [j·s, (j+1)·s)`` — so the view does not move when the full image
replaces it.

Nothing can be measured on a preview: the viewport has no radiograph while it shows one
(tools, the cursor's value and mm, the calibration badge all need the radiograph), and
scoring stays closed until the whole-set check, which starts after the full images are
painted. The preview item lies under the full image and is removed once it is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore

from collarreader.imaging.preview import Preview
from collarreader.ui.main_window import MainWindow
from collarreader.ui.windowing import window_to_levels

__all__ = ["PreviewPainter"]

POLL_MS = 15
_INVERT_LUT = np.arange(255, -1, -1, dtype=np.uint8)


class PreviewPainter:
    """Paint the open case's previews until its full-resolution images are shown.

    Parameters
    ----------
    window : the reader's main window, with ``case_code`` open (its images pending)
    case_code : the case the previews belong to (nothing is painted once another is open)
    previews : image code → the worker's preview (None: the image has none)
    on_all_painted : called once, when every preview that exists is on screen
    """

    def __init__(
        self,
        window: MainWindow,
        case_code: str,
        previews: Mapping[str, Future[Preview | None]],
        on_all_painted: Callable[[], None] = lambda: None,
    ) -> None:
        self._window = window
        self._case_code = case_code
        self._futures = dict(previews)
        self._items: dict[int, pg.ImageItem] = {}
        self._on_all_painted = on_all_painted
        self.painted: list[str] = []
        """Image codes whose preview was painted, in order."""
        case = window.reading_set.case(case_code)
        self._index = {i.image_code: window.grid.index_of(i.view, i.timepoint) for i in case.images}
        self._timer = QtCore.QTimer()
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    def start(self) -> None:
        """Poll the workers' previews on the Qt event loop."""
        self.poll()
        if self.active:
            self._timer.start()

    @property
    def active(self) -> bool:
        """True while a preview is awaited or shown."""
        return bool(self._futures or self._items)

    def preview_item(self, image_code: str) -> pg.ImageItem | None:
        """The item showing an image's preview (None when none is shown)."""
        index = self._index.get(image_code)
        return None if index is None else self._items.get(index)

    def poll(self) -> None:
        """Paint the previews that arrived; remove those whose full image is shown."""
        window = self._window
        current = window.case is not None and window.case.case_code == self._case_code
        for code in [c for c, f in self._futures.items() if f.done()]:
            future = self._futures.pop(code)
            index = self._index.get(code)
            if not current or index is None or future.cancelled() or future.exception():
                continue  # a failure is reported by the full-resolution decode
            preview = future.result()
            viewport = window.grid.viewports[index]
            if preview is None or viewport.radiograph is not None:
                continue
            self._items[index] = self._paint(index, preview)
            self.painted.append(code)
        for index, item in list(self._items.items()):
            viewport = window.grid.viewports[index]
            if not current or viewport.radiograph is not None or viewport.error_message:
                viewport.view_box.removeItem(item)
                del self._items[index]
        if not self._futures and self._on_all_painted is not None:
            callback, self._on_all_painted = self._on_all_painted, None  # type: ignore[assignment]
            callback()
        if not self.active:
            self._timer.stop()

    def _paint(self, index: int, preview: Preview) -> pg.ImageItem:
        viewport = self._window.grid.viewports[index]
        item = pg.ImageItem(axisOrder="row-major")
        item.setZValue(-1)  # under the full image, should both be there for a moment
        item.setImage(
            preview.pixels,
            autoLevels=False,
            levels=window_to_levels(preview.window),
            lut=_INVERT_LUT if preview.invert else None,
        )
        rows, columns = preview.pixels.shape
        item.setRect(QtCore.QRectF(0.0, 0.0, columns * preview.scale, rows * preview.scale))
        viewport.view_box.addItem(item)
        full_rows, full_columns = preview.full_shape
        viewport.view_box.setRange(
            rect=QtCore.QRectF(0.0, 0.0, float(full_columns), float(full_rows)), padding=0.0
        )
        viewport.show_loading("")  # the placeholder text would lie over the preview
        return item
