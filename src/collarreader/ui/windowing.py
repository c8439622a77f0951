"""Window/level arithmetic for the viewer: presets and the right-drag mapping.

Pure logic (numpy only, no Qt) so it can be tested without a display. A window is the
DICOM linear VOI window ``(center, width)`` in the units of :attr:`Radiograph.pixels`
(after the Modality LUT); the displayed grey level runs from black at
``center - width / 2`` to white at ``center + width / 2`` (before any inversion).

Drag convention (the same for every image, in what the reader *sees*):

- dragging right widens the window (less contrast), left narrows it;
- dragging up makes the image brighter, down darker. For an inverted display
  (MONOCHROME1, or inverted by the reader) brighter means a *higher* center, otherwise a
  lower one, so the gesture feels the same whatever the photometric interpretation.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

import numpy as np

from collarreader.imaging import Window

DRAG_SPAN_PX = 512.0
"""A drag of this many screen pixels sweeps the image's whole value span."""

MIN_WIDTH_FRACTION = 1e-4
"""The narrowest window, as a fraction of the value span (and never below 1 for integers)."""

ROBUST_SAMPLES = 65_536
"""At most this many pixels are sampled for the robust (percentile) value range."""


class WindowPreset(StrEnum):
    """Named windows the reader can jump to; all but ``header`` are relative to the data."""

    header = "header"
    """The file's default window ((0028,1050) *Window Center*/(0028,1051) *Window Width* or
    the VOI LUT), as the loader chose it."""
    full_range = "full_range"
    """Minimum to maximum pixel value: nothing clipped."""
    bone = "bone"
    """Narrower window over the attenuating (bright) half of the robust range."""
    soft_tissue = "soft_tissue"
    """Window over the less attenuating (darker) part of the robust range."""

    @property
    def label(self) -> str:
        """Short text for menus and the overlay."""
        return _PRESET_LABELS[self]


_PRESET_LABELS = {
    WindowPreset.header: "Header window",
    WindowPreset.full_range: "Full range",
    WindowPreset.bone: "Bone",
    WindowPreset.soft_tissue: "Soft tissue",
}

# (center as a fraction of the robust range from the attenuating end, width as a fraction).
_RELATIVE_PRESETS = {
    WindowPreset.bone: (0.30, 0.55),
    WindowPreset.soft_tissue: (0.70, 0.55),
}


class ValueRange(NamedTuple):
    """Smallest and largest value of an image, in pixel value units."""

    low: float
    high: float

    @property
    def span(self) -> float:
        """``high - low``, at least 1 so gains and fractions stay finite."""
        return max(self.high - self.low, 1.0)


def value_range(pixels: np.ndarray) -> ValueRange:
    """Exact minimum and maximum of an image (about 1 ms for 3000 × 2500 uint16).

    Parameters
    ----------
    pixels : 2-D array of pixel values

    Returns
    -------
    ValueRange
    """
    if pixels.size == 0:
        raise ValueError("The image has no pixels, so it has no value range.")
    return ValueRange(float(np.min(pixels)), float(np.max(pixels)))


def robust_range(pixels: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0) -> ValueRange:
    """Percentile range of an evenly strided sample of the image.

    Collimator edges and the background at one end and metal at the other make the exact
    range a poor basis for the relative presets; percentiles of a sample are robust and
    cost about a millisecond however large the image.

    Parameters
    ----------
    pixels : 2-D array of pixel values
    low_pct, high_pct : percentiles (0–100) taken as the ends of the range

    Returns
    -------
    ValueRange
    """
    if pixels.size == 0:
        raise ValueError("The image has no pixels, so it has no value range.")
    step = max(1, int(np.ceil(np.sqrt(pixels.size / ROBUST_SAMPLES))))
    sample = pixels[::step, ::step]
    low, high = np.percentile(sample, [low_pct, high_pct])
    return ValueRange(float(low), float(high))


def window_to_levels(window: Window) -> tuple[float, float]:
    """Black and white levels ``(low, high)`` of a window, for pyqtgraph's ``setLevels``."""
    half = window.width / 2.0
    return (window.center - half, window.center + half)


def levels_to_window(low: float, high: float) -> Window:
    """The window whose black level is ``low`` and white level ``high``."""
    return Window(center=(low + high) / 2.0, width=high - low)


def min_width(span: float, *, integer: bool) -> float:
    """Narrowest allowed window width for an image of this value span."""
    floor = span * MIN_WIDTH_FRACTION
    return max(floor, 1.0) if integer else max(floor, 1e-12)


def clamp_window(window: Window, data: ValueRange, *, integer: bool = True) -> Window:
    """Keep a window usable: width between a minimum and 4 spans, center near the data.

    Parameters
    ----------
    window : the requested window
    data : value range of the image
    integer : True for integer pixel data (widths below 1 make no sense then)

    Returns
    -------
    Window
    """
    span = data.span
    width = float(np.clip(window.width, min_width(span, integer=integer), 4.0 * span))
    center = float(np.clip(window.center, data.low - span, data.high + span))
    return Window(center=center, width=width)


def drag_gain(data: ValueRange) -> float:
    """Pixel-value units per screen pixel of right-drag: the span over ``DRAG_SPAN_PX``."""
    return data.span / DRAG_SPAN_PX


def drag_window(
    start: Window,
    dx_screen: float,
    dy_screen: float,
    data: ValueRange,
    *,
    inverted_display: bool,
    integer: bool = True,
) -> Window:
    """Window after a right-drag of ``(dx_screen, dy_screen)`` from where it began.

    Parameters
    ----------
    start : window when the drag began (the mapping is absolute, so no drift accumulates)
    dx_screen : horizontal displacement since the press, screen pixels, positive to the right
    dy_screen : vertical displacement since the press, screen pixels, positive downwards
    data : value range of the image, which sets the sensitivity
    inverted_display : True when low values are shown white
    integer : True for integer pixel data

    Returns
    -------
    Window
        Clamped with :func:`clamp_window`.
    """
    gain = drag_gain(data)
    width = start.width + dx_screen * gain
    # Down darkens: raise the center on a normal display, lower it on an inverted one.
    direction = -1.0 if inverted_display else 1.0
    center = start.center + direction * dy_screen * gain
    return clamp_window(Window(center=center, width=width), data, integer=integer)


def preset_window(
    preset: WindowPreset,
    *,
    header: Window,
    data: ValueRange,
    robust: ValueRange,
    monochrome1: bool,
) -> Window:
    """The window a preset stands for on one image.

    Parameters
    ----------
    preset : which preset
    header : the file's default window (returned for ``WindowPreset.header``)
    data : exact value range (for ``full_range``)
    robust : percentile range (for the relative presets)
    monochrome1 : True when low stored values mean high attenuation (MONOCHROME1), so
        "bone" lies at the low end of the values

    Returns
    -------
    Window
    """
    if preset is WindowPreset.header:
        return header
    if preset is WindowPreset.full_range:
        return Window(center=(data.low + data.high) / 2.0, width=data.span)
    center_fraction, width_fraction = _RELATIVE_PRESETS[preset]
    span = robust.span
    if monochrome1:
        center = robust.low + center_fraction * span
    else:
        center = robust.high - center_fraction * span
    return Window(center=center, width=width_fraction * span)
