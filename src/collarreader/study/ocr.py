"""Text burned into the pixels, found with Tesseract OCR whatever the header says.

(0028,0301) *Burned In Annotation* NO is a claim, not a fact: label printers, film digitisers
and some modality workstations burn the patient's name into the image and still say NO. So
``prepare`` searches every image for text and holds back any image with text found, like one
whose flag says YES, with the boxes where the text is.

Fast enough for a multicentre export: the search runs on a windowed 8-bit copy (as the reader
would see it) downsampled to at most :data:`OCR_MAX_SIDE_PX` on its longer side, the border
strips first (where labels are burned in) with the centre blanked, and the centre only when
the borders hold nothing. Tesseract runs single-threaded per image (``OMP_THREAD_LIMIT=1``) so
that ``prepare``'s worker threads, one image each, use the cores without oversubscribing them.

Needs the Tesseract program (Debian ``tesseract-ocr`` and ``tesseract-ocr-eng``) and
``pytesseract``; :func:`ocr_available` says whether they are there.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from collarreader.errors import ReadingSetError
from collarreader.imaging.radiograph import Radiograph

__all__ = [
    "BORDER_SHARE",
    "OCR_MAX_SIDE_PX",
    "TextBox",
    "find_text",
    "ocr_available",
    "require_ocr",
]

OCR_MAX_SIDE_PX = 1000
"""Longer side of the copy searched. A label's letters are ≥ 25 px high on a 3000 px
radiograph, so ≥ 8 px here, which Tesseract still reads."""

MIN_SIDE_PX = 640
"""Smaller images are enlarged (by whole factors) towards this: Tesseract reads letters of
≥ ~10 px, and the phantom's small images carry 7 px labels."""

SINGLE_PASS_SIDE_PX = 700
"""Up to this size the copy is searched in one run: Tesseract's start-up (loading its model,
~0.15 s) would cost more than the border-first split saves."""

BORDER_SHARE = 0.2
"""Share of the height (top, bottom) and width (left, right) searched first."""

MIN_CONFIDENCE = 20.0
"""Tesseract's word confidence (0–100) from which a word counts. Low on purpose: a burned-in
label on a radiograph reads with 20–80; bone texture gives no words at all or single marks."""

MIN_CHARACTERS = 4
"""Letters and digits a word needs to count, two of them different: side markers ("L", "R"),
stray marks and the short "words" Tesseract reads into noise ("eee", "an") do not; a label's
name, number or date does."""


@dataclass(frozen=True)
class TextBox:
    """Where text was found, in the source image's pixels (x = column, y = row, top left).

    The text itself is not kept: it may be a patient's name.
    """

    x_px: int
    y_px: int
    width_px: int
    height_px: int
    confidence: float


def ocr_available() -> bool:
    """Whether the Tesseract program and pytesseract are installed."""
    try:
        import pytesseract  # noqa: F401
    except ImportError:
        return False
    return shutil.which("tesseract") is not None


def require_ocr() -> None:
    """Raise a clear error when OCR cannot run.

    Raises
    ------
    ReadingSetError
        Tesseract or pytesseract is missing.
    """
    if not ocr_available():
        raise ReadingSetError(
            "prepare searches every image for burned-in text with Tesseract, which is not "
            "installed. Install it (Debian: apt-get install tesseract-ocr tesseract-ocr-eng; "
            "./run.sh setup does) and run prepare again."
        )


def find_text(radiograph: Radiograph) -> tuple[TextBox, ...]:
    """Boxes of the text Tesseract finds in ``radiograph`` (empty: none).

    Parameters
    ----------
    radiograph : the image as the reader's loader returns it (pixels after the Modality LUT,
        default window, MONOCHROME1 flagged)

    Returns
    -------
    tuple of TextBox
        In the source image's pixel frame; border strips searched first, the centre only
        when the borders hold no text.
    """
    import pytesseract

    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    shown, scale = _display_copy(radiograph)
    rows, cols = shown.shape
    if max(rows, cols) <= SINGLE_PASS_SIDE_PX:  # one Tesseract run costs less than two here
        return _words(pytesseract, shown, scale, (0, 0))
    top, left = round(rows * BORDER_SHARE), round(cols * BORDER_SHARE)
    background = int(np.median(shown))
    borders = shown.copy()
    borders[top : rows - top, left : cols - left] = background
    boxes = _words(pytesseract, borders, scale, (0, 0))
    if not boxes:
        centre = shown[top : rows - top, left : cols - left]
        boxes = _words(pytesseract, centre, scale, (left, top))
    return boxes


def _display_copy(radiograph: Radiograph) -> tuple[npt.NDArray[np.uint8], float]:
    """The image as the reader sees it by default, 8-bit, resized; and source px per copy px."""
    pixels = np.asarray(radiograph.pixels, dtype=np.float32)
    rows, cols = pixels.shape
    step = max(1, math.ceil(max(rows, cols) / OCR_MAX_SIDE_PX))
    if step > 1:  # block means: a box filter before subsampling, so thin strokes survive
        rows_used, cols_used = rows // step * step, cols // step * step
        pixels = (
            pixels[:rows_used, :cols_used]
            .reshape(rows_used // step, step, cols_used // step, step)
            .mean(axis=(1, 3))
        )
    low = radiograph.window.center - radiograph.window.width / 2.0
    shown = np.clip((pixels - low) * (255.0 / radiograph.window.width), 0.0, 255.0)
    if radiograph.invert:
        shown = 255.0 - shown
    image = np.nan_to_num(shown).astype(np.uint8)
    scale = float(step)
    enlarge = min(MIN_SIDE_PX // max(image.shape), 4)
    if enlarge >= 2:  # small images: Tesseract reads letters of ≥ ~10 px
        image = np.repeat(np.repeat(image, enlarge, axis=0), enlarge, axis=1)
        scale /= enlarge
    return image, scale


def _words(
    pytesseract: object, image: npt.NDArray[np.uint8], scale: float, offset: tuple[int, int]
) -> tuple[TextBox, ...]:
    from PIL import Image

    data = pytesseract.image_to_data(  # type: ignore[attr-defined]
        Image.fromarray(image),
        config="--psm 11",  # sparse text: labels are scattered words, not a page
        output_type=pytesseract.Output.DICT,  # type: ignore[attr-defined]
    )
    boxes = []
    for i, text in enumerate(data["text"]):
        confidence = float(data["conf"][i])
        characters = [c for c in text if c.isalnum()]
        if (
            confidence < MIN_CONFIDENCE
            or len(characters) < MIN_CHARACTERS
            or len(set(characters)) < 2
        ):
            continue
        x = (int(data["left"][i]) + offset[0]) * scale
        y = (int(data["top"][i]) + offset[1]) * scale
        boxes.append(
            TextBox(
                x_px=int(x),
                y_px=int(y),
                width_px=math.ceil(int(data["width"][i]) * scale),
                height_px=math.ceil(int(data["height"][i]) * scale),
                confidence=confidence,
            )
        )
    return tuple(boxes)
