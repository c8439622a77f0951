"""The default presentation window of a radiograph.

In order: (0028,1050) *Window Center* / (0028,1051) *Window Width* (the first pair when
multi-valued) > a window spanning the (0028,3010) *VOI LUT Sequence*'s active input range >
robust percentiles of the pixels. All are in the units of the pixels after the Modality
LUT, which is where DICOM applies the VOI transform.

An absurd default falls back to the percentiles, and the note says so (the reader sees it in
the status bar): a width that is not a positive finite number, or a VOI LUT that maps the
image's whole pixel range to a band narrower than :data:`MIN_LUT_BAND` of the LUT's own output
range (the image would show as one flat grey; a constant LUT is the extreme case).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from collarreader.imaging.radiograph import WINDOW_FALLBACK_NOTE, Window

LOW_PERCENTILE = 0.5
HIGH_PERCENTILE = 99.5
FALLBACK_NOTE = WINDOW_FALLBACK_NOTE
MIN_LUT_BAND = 0.02
"""Smallest share of a VOI LUT's output range the image's pixels may map to."""
_MAX_SAMPLES = 262_144  # percentiles of a strided subsample: ~1 ms instead of ~100 ms


def window_from_dataset(ds: Dataset, pixels: np.ndarray) -> tuple[Window, str]:
    """Choose the default window for `pixels` (already through the Modality LUT).

    Parameters
    ----------
    ds : the dataset the pixels came from (for the VOI module)
    pixels : 2-D array of the frame shown

    Returns
    -------
    window : (center, width), width > 0
    note : where the window came from
    """
    center = _first_number(_get(ds, "WindowCenter"))
    width = _first_number(_get(ds, "WindowWidth"))
    rejected = ""
    if center is not None and width is not None and width > 0:
        return Window(center, width), "Window Center/Width from the header"
    if _get(ds, "WindowWidth") not in (None, ""):
        shown = _get(ds, "WindowWidth")
        rejected = f"(0028,1051) Window Width {shown} is not a positive number"

    from_lut = _voi_lut_window(ds)
    if from_lut is not None:
        band = _lut_band(ds, pixels)
        if band is None or band >= MIN_LUT_BAND:
            return from_lut, "spans the VOI LUT's active input range"
        rejected = f"the (0028,3010) VOI LUT maps the whole image to {band:.1%} of its output range"

    note = f"{LOW_PERCENTILE:g}–{HIGH_PERCENTILE:g} percentiles of the pixel values"
    if rejected:
        note = f"{note}: {rejected}, {FALLBACK_NOTE}"
    return data_window(pixels), note


def data_window(pixels: np.ndarray) -> Window:
    """A window from robust percentiles of the pixel values.

    Parameters
    ----------
    pixels : 2-D array

    Returns
    -------
    Window
        Center halfway between the :data:`LOW_PERCENTILE` and :data:`HIGH_PERCENTILE`
        values, width their difference (at least 1).
    """
    if pixels.size == 0:
        return Window(0.0, 1.0)
    step = max(1, math.ceil(math.sqrt(pixels.size / _MAX_SAMPLES)))
    sample = pixels[::step, ::step]
    finite = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample
    if finite.size == 0:
        return Window(0.0, 1.0)
    low, high = np.percentile(finite, [LOW_PERCENTILE, HIGH_PERCENTILE])
    width = max(float(high) - float(low), 1.0)
    return Window((float(low) + float(high)) / 2.0, width)


def _get(ds: Dataset, keyword: str) -> Any:
    try:
        return ds.get(keyword)
    except (ValueError, TypeError, KeyError, OverflowError):
        return None


def _first_number(value: Any) -> float | None:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        value = value[0] if len(value) else None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _voi_lut_window(ds: Dataset) -> Window | None:
    """The linear window covering the input range over which the first VOI LUT varies.

    (0028,3002) *LUT Descriptor* gives the number of entries and the first input value
    mapped; inputs below map to the first entry, above to the last. Flat runs at either end
    are trimmed (they carry no contrast), so the window spans the values that the LUT
    actually spreads out.
    """
    try:
        items = ds.get("VOILUTSequence")
        if not items:
            return None
        item = items[0]
        descriptor = [int(v) for v in item.LUTDescriptor]
        n_entries = descriptor[0] or 65536
        first_mapped = descriptor[1]
        if int(ds.get("PixelRepresentation", 0)) == 1 and first_mapped >= 32768:
            first_mapped -= 65536
        lut = _lut_values(item, ds)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None
    if lut.size == 0:
        return None
    lut = lut[:n_entries]
    varying = np.flatnonzero(lut != lut[0])
    if varying.size == 0:
        start, stop = 0, lut.size - 1
    else:
        start = max(int(varying[0]) - 1, 0)
        stop = int(np.flatnonzero(lut != lut[-1])[-1]) + 1
    width = float(max(stop - start, 1))
    return Window(first_mapped + (start + stop) / 2.0, width)


def _lut_band(ds: Dataset, pixels: np.ndarray) -> float | None:
    """Share of the first VOI LUT's output range that the image's pixel range maps to.

    None when it cannot be told (no pixels, an unreadable LUT).
    """
    try:
        item = ds.VOILUTSequence[0]
        descriptor = [int(v) for v in item.LUTDescriptor]
        first_mapped = descriptor[1]
        if int(ds.get("PixelRepresentation", 0)) == 1 and first_mapped >= 32768:
            first_mapped -= 65536
        lut = _lut_values(item, ds)[: descriptor[0] or 65536]
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None
    finite = pixels[np.isfinite(pixels)] if pixels.dtype.kind == "f" else pixels
    if lut.size == 0 or finite.size == 0:
        return None
    low = int(np.clip(float(finite.min()) - first_mapped, 0, lut.size - 1))
    high = int(np.clip(float(finite.max()) - first_mapped, 0, lut.size - 1))
    used = lut[low : high + 1]
    span = float(lut.max() - lut.min())
    return float(used.max() - used.min()) / span if span > 0 else 0.0


def _lut_values(item: Dataset, ds: Dataset) -> np.ndarray:
    data = item.LUTData
    if isinstance(data, bytes | bytearray):
        # OW LUT Data: 16-bit words in the dataset's byte order (as pydicom's apply_voi).
        endian = ">" if ds.original_encoding[1] is False else "<"
        usable = len(data) - len(data) % 2
        return np.frombuffer(data[:usable], dtype=endian + "u2").astype(np.int64)
    return np.atleast_1d(np.asarray(data, dtype=np.int64))
