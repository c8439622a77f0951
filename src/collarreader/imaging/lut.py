"""Pixel-value transforms of the loader: the Modality LUT and colour → luminance.

Split from :mod:`collarreader.imaging.decode` (which re-exports :func:`modality_lut`): these
turn decoded stored values into the values a reader measures and windows, and need nothing
of the file but its dataset.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_modality_lut

__all__ = ["luminance", "modality_lut"]

_LUMA_BT601 = np.array([0.299, 0.587, 0.114])


def luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma, the Y of DICOM's YBR_FULL, rounded back to the input's dtype."""
    luma = np.rint(rgb.astype(np.float64) @ _LUMA_BT601)
    if rgb.dtype.kind in "ui":
        info = np.iinfo(rgb.dtype)
        return np.clip(luma, info.min, info.max).astype(rgb.dtype)
    return luma


def modality_lut(ds: Dataset, arr: np.ndarray) -> np.ndarray:
    """Apply the Modality LUT, keeping an integer dtype when the result is integral.

    Parameters
    ----------
    ds : dataset with the (0028,3000) *Modality LUT Sequence* or (0028,1053) *Rescale
        Slope* / (0028,1052) *Rescale Intercept*
    arr : stored pixel values

    Returns
    -------
    numpy.ndarray
        ``arr`` itself when there is nothing to apply (no copy); the LUT's own dtype for a
        LUT sequence; the smallest integer dtype holding every possible output for an
        integral slope and intercept; float64 otherwise (values equal to
        ``pydicom.pixels.apply_modality_lut``).
    """
    if ds.get("ModalityLUTSequence"):
        return np.asarray(apply_modality_lut(arr, ds))
    slope = _first_float(ds.get("RescaleSlope"), 1.0)
    intercept = _first_float(ds.get("RescaleIntercept"), 0.0)
    if slope == 1.0 and intercept == 0.0:
        return arr
    if slope.is_integer() and intercept.is_integer() and arr.dtype.kind in "ui":
        info = np.iinfo(arr.dtype)
        ends = (info.min * slope + intercept, info.max * slope + intercept)
        dtype = _smallest_int(min(ends), max(ends))
        if dtype is not None:
            out = arr.astype(dtype)
            if slope != 1.0:
                out *= dtype.type(slope)
            if intercept != 0.0:
                out += dtype.type(intercept)
            return out
    out_float = arr.astype(np.float64)
    out_float *= slope
    out_float += intercept
    return out_float


def _smallest_int(low: float, high: float) -> np.dtype[Any] | None:
    for name in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "int64"):
        info = np.iinfo(name)
        if info.min <= low and high <= info.max:
            return np.dtype(name)
    return None


def _first_float(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else default
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return number if np.isfinite(number) else default
