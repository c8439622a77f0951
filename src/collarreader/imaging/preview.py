"""A reduced-resolution first look at a JPEG 2000 radiograph, for the reader's launch.

A JPEG 2000 codestream holds its image as a wavelet pyramid: OpenJPEG can decode only the
coarse levels (:func:`collarreader.imaging.j2k.decode_codestream` with ``reduce``), which
skips most of the work — on a 3000 × 2500 lossless radiograph, 87 ms for the 750 × 625 level
against 380–540 ms for the full image (2-core reference machine). The launch paints these
first and the full-resolution radiographs as they arrive.

A preview is for looking only: it is not a :class:`~collarreader.imaging.Radiograph` (no
spacing to measure with, no SOP Instance UID to record against), and its pixel ``(i, j)``
is the low-pass sample at full-resolution pixel ``(i·scale, j·scale)``, so that it can be
drawn exactly over the full image's pixel frame (:attr:`Preview.full_shape`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from collarreader.errors import DicomReadError
from collarreader.imaging.radiograph import Window

__all__ = ["PREVIEW_SIDE_PX", "Preview", "load_preview", "preview_levels"]

PREVIEW_SIDE_PX = 1024
"""Largest side of a preview: about a quarter of a full-HD screen's width, the size one
viewport of the 2 × 2 hanging takes, so the first look is not visibly coarser than the
screen."""

_MAX_LEVELS = 5  # JPEG 2000's default decomposition count: never ask for more


@dataclass(frozen=True)
class Preview:
    """A reduced-resolution image for display only.

    Attributes
    ----------
    pixels : (rows, columns) after the Modality LUT, read-only
    scale : full-resolution pixels per preview pixel in each direction (``2**levels``)
    full_shape : (rows, columns) of the full image, (0028,0010) *Rows* / (0028,0011)
        *Columns*
    window : the default window, as the full image would get it
    invert : (0028,0004) *Photometric Interpretation* is MONOCHROME1
    """

    pixels: np.ndarray
    scale: int
    full_shape: tuple[int, int]
    window: Window
    invert: bool


def preview_levels(rows: int, columns: int, side_px: int = PREVIEW_SIDE_PX) -> int:
    """Resolution levels to leave out so that the larger side fits ``side_px``.

    0 when it already fits; at most 5, JPEG 2000's default decomposition count.
    """
    side = max(rows, columns)
    if side <= side_px:
        return 0
    return min(_MAX_LEVELS, math.ceil(math.log2(side / side_px)))


def load_preview(path: str | Path, side_px: int = PREVIEW_SIDE_PX) -> Preview | None:
    """Decode a JPEG 2000 radiograph's coarse resolution level (None for other files).

    Parameters
    ----------
    path : a DICOM file; only JPEG 2000 (lossless or lossy) single-frame files get a preview,
        and only when the threaded OpenJPEG is present and the image is larger than
        ``side_px``
    side_px : the largest side wanted

    Raises
    ------
    DicomReadError
        The file cannot be read or its codestream cannot be decoded, naming the file.
    """
    # Imported here: the reader's main process unpickles Previews and must not load pydicom.
    import pydicom
    from pydicom.encaps import generate_frames
    from pydicom.errors import InvalidDicomError
    from pydicom.uid import JPEG2000, JPEG2000Lossless

    from collarreader.imaging import j2k
    from collarreader.imaging.decode import modality_lut
    from collarreader.imaging.window import window_from_dataset

    read_errors = (InvalidDicomError, OSError, ValueError, TypeError, AttributeError, KeyError)
    path = Path(path)
    try:
        # The header alone first: an uncompressed image (no preview) costs no pixel read.
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        syntax = ds.file_meta.TransferSyntaxUID
        rows, columns = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames") or 1)
    except read_errors as error:
        raise DicomReadError(path, f"cannot read the header for a preview ({error}).") from error
    levels = preview_levels(rows, columns, side_px)
    if syntax not in (JPEG2000Lossless, JPEG2000) or frames != 1 or levels == 0:
        return None
    if not j2k.is_available(syntax):
        return None
    try:
        ds = pydicom.dcmread(path)
        codestream = next(generate_frames(ds.PixelData, number_of_frames=1))
    except (*read_errors, StopIteration) as error:
        raise DicomReadError(path, f"no JPEG 2000 codestream to preview ({error}).") from error
    pixels: np.ndarray | None = None
    while pixels is None:
        try:
            pixels = j2k.decode_codestream(codestream, reduce=levels)
        except NotImplementedError:
            return None  # a layout the threaded decoder leaves to pydicom's plugins
        except ValueError as error:
            # Fewer decomposition levels than asked for: a finer level is still faster.
            levels -= 1
            if levels == 0:
                raise DicomReadError(path, f"cannot decode a preview ({error}).") from error
    values = modality_lut(ds, pixels)
    values.flags.writeable = False
    window, _note = window_from_dataset(ds, values)
    return Preview(
        pixels=values,
        scale=2**levels,
        full_shape=(rows, columns),
        window=window,
        invert=str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1",
    )
