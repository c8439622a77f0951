"""What the viewer is given: a decoded radiograph, its spacing and its default window.

Pixel coordinates everywhere are (x=column, y=row) with the origin at the centre of the
top-left pixel; ``pixels[y, x]`` is the value at that point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

import numpy as np

WINDOW_FALLBACK_NOTE = "so the header's default window was not used"
"""Ends a radiograph's note when an absurd default window was replaced by the percentiles
(the reader is told: the window on screen is not the one the site chose)."""


class DicomWarning(UserWarning):
    """A file loaded but something about it is odd (colour image, bad charset, odd lengths…).

    The message starts with the file's path; the UI shows it in the status bar.
    """


class SpacingSource(StrEnum):
    """Where a radiograph's millimetre spacing comes from, most trusted first."""

    manual = "manual"
    """Calibrated by the reader on this image (not stored in the file)."""
    pixel_spacing = "pixel_spacing"
    """(0028,0030) *Pixel Spacing*: calibrated by the modality or a workstation."""
    imager_magnified = "imager_magnified"
    """(0018,1164) *Imager Pixel Spacing* ÷ (0018,1114) *Estimated Radiographic
    Magnification Factor*: an estimate at the object plane."""
    imager_detector = "imager_detector"
    """(0018,1164) *Imager Pixel Spacing* alone: the detector plane, not calibrated."""

    @property
    def label(self) -> str:
        """Short human description shown next to every mm value."""
        return _SOURCE_LABELS[self]


_SOURCE_LABELS = {
    SpacingSource.manual: "manual calibration",
    SpacingSource.pixel_spacing: "Pixel Spacing",
    SpacingSource.imager_magnified: "Imager Pixel Spacing ÷ magnification",
    SpacingSource.imager_detector: "detector plane, not calibrated",
}


class Spacing(NamedTuple):
    """Physical size of one pixel step.

    Attributes
    ----------
    row_mm : distance between the centres of adjacent rows (the y step), in mm
    col_mm : distance between the centres of adjacent columns (the x step), in mm
    source : where the values come from
    """

    row_mm: float
    col_mm: float
    source: SpacingSource


class Window(NamedTuple):
    """A linear VOI window, in the units of :attr:`Radiograph.pixels` (after the Modality LUT)."""

    center: float
    width: float


@dataclass(frozen=True, eq=False)
class Radiograph:
    """One decoded frame of a DICOM image, ready to show and measure.

    Attributes
    ----------
    pixels : 2-D array (rows, columns), read-only, after the Modality LUT; integer dtype
        unless a non-integral rescale made it float64. Colour images arrive as luminance.
    invert : True for MONOCHROME1 (low values are white): show inverted by default
    window : default (center, width) presentation window, in pixel value units
    spacing : mm per pixel step and its source, or None (measurements stay in px)
    spacing_note : where the spacing came from, for the reader, e.g.
        "Imager Pixel Spacing ÷ magnification 1.15"
    sop_instance_uid : (0008,0018) *SOP Instance UID* ("" when absent)
    photometric : (0028,0004) *Photometric Interpretation* as stored in the file
    transfer_syntax : transfer syntax UID the pixel data was decoded from
    bits_stored : (0028,0101) *Bits Stored*
    n_frames : number of frames in the file
    path : the file
    frame : which frame ``pixels`` holds (0-based)
    window_note : where the default window came from
    decoder : decoding plugin used ("native" for uncompressed data)
    modality : (0008,0060) *Modality* ("" when absent)
    notes : other remarks made while loading (colour conversion, warnings)
    """

    pixels: np.ndarray
    invert: bool
    window: Window
    spacing: Spacing | None
    spacing_note: str
    sop_instance_uid: str
    photometric: str
    transfer_syntax: str
    bits_stored: int
    n_frames: int
    path: Path
    frame: int = 0
    window_note: str = ""
    decoder: str = ""
    modality: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def nbytes(self) -> int:
        """Memory held by the pixel array, in bytes."""
        return int(self.pixels.nbytes)

    @property
    def shape_px(self) -> tuple[int, int]:
        """(rows, columns) of the image."""
        rows, cols = self.pixels.shape
        return int(rows), int(cols)
