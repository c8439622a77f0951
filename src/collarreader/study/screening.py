"""The screening of every source image before a reading set is written.

Each image is decoded with the reader's own loader (:func:`~collarreader.imaging.load_radiograph`)
— compressed or not, so nothing a reader cannot open reaches a set — and, unless switched off,
searched for burned-in text (:mod:`collarreader.study.ocr`). Images run in parallel threads (the
decoders and Tesseract release the GIL or run as processes). An image held back for text keeps a
small thumbnail for the study lead's contact sheet.
"""

from __future__ import annotations

import base64
import io
import os
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from collarreader.errors import DicomReadError
from collarreader.imaging import DicomWarning, Radiograph, load_radiograph
from collarreader.study.manifest import ManifestRow
from collarreader.study.ocr import TextBox, find_text
from collarreader.study.redaction import Rect, redacted_radiograph

__all__ = ["THUMBNAIL_SIDE_PX", "Screened", "screen_images", "thumbnail_png"]

THUMBNAIL_SIDE_PX = 256
"""Longer side of a contact-sheet thumbnail."""


@dataclass(frozen=True)
class Screened:
    """What screening found in one image.

    Attributes
    ----------
    row : the manifest row
    problem : the loader's reason when the reader cannot open the image (else None)
    text_boxes : where OCR found text (empty: none, or not searched)
    thumbnail_png : base64 PNG of the image as the reader sees it, for images with text
    size_px : (rows, columns) of the image
    """

    row: ManifestRow
    problem: str | None
    text_boxes: tuple[TextBox, ...] = ()
    thumbnail_png: str = ""
    size_px: tuple[int, int] = (0, 0)


def screen_images(
    rows: Sequence[ManifestRow],
    *,
    search_text: bool,
    workers: int | None,
    redactions: Mapping[int, Sequence[Rect]] | None = None,
) -> dict[int, Screened]:
    """Decode (and search for text) every image of ``rows``; manifest row number → result.

    An image with ``redactions`` (manifest row → rectangles) is searched as redacted.
    """

    def one(row: ManifestRow) -> Screened:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DicomWarning)  # usable oddities: not our concern
                radiograph = load_radiograph(row.file)
        except DicomReadError as error:
            return Screened(row, f"the reader cannot open it: {error.reason}")
        size = radiograph.pixels.shape[:2]
        if redactions and row.row in redactions:
            radiograph = redacted_radiograph(radiograph, redactions[row.row])
        boxes = find_text(radiograph) if search_text else ()
        thumbnail = thumbnail_png(radiograph) if boxes else ""
        return Screened(row, None, boxes, thumbnail, (int(size[0]), int(size[1])))

    n_workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="screen") as pool:
        return {item.row.row: item for item in pool.map(one, rows)}


def thumbnail_png(radiograph: Radiograph) -> str:
    """A base64 PNG, at most :data:`THUMBNAIL_SIDE_PX` on its longer side, windowed."""
    from PIL import Image

    pixels = np.asarray(radiograph.pixels, dtype=np.float32)
    step = max(1, -(-max(pixels.shape) // THUMBNAIL_SIDE_PX))
    small = pixels[::step, ::step]
    low = radiograph.window.center - radiograph.window.width / 2.0
    shown = np.clip((small - low) * (255.0 / radiograph.window.width), 0.0, 255.0)
    if radiograph.invert:
        shown = 255.0 - shown
    buffer = io.BytesIO()
    Image.fromarray(np.nan_to_num(shown).astype(np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
