"""Pixel spacing from the DICOM header, in DESIGN §4's order of trust.

(0028,0030) *Pixel Spacing* > (0018,1164) *Imager Pixel Spacing* ÷ (0018,1114) *Estimated
Radiographic Magnification Factor* > *Imager Pixel Spacing* alone (detector plane, not
calibrated) > none. A manual calibration outranks all of these but lives in the reader's
database, not in the file. Spacings that are missing, non-numeric, zero, negative, NaN or
outside :data:`MIN_SPACING_MM`–:data:`MAX_SPACING_MM` count as absent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydicom.dataset import Dataset

from collarreader.imaging.radiograph import Spacing, SpacingSource

MIN_SPACING_MM = 0.01
MAX_SPACING_MM = 5.0
MIN_MAGNIFICATION = 1.0
MAX_MAGNIFICATION = 5.0


def spacing_from_dataset(ds: Dataset) -> tuple[Spacing | None, str]:
    """Choose the most trusted valid spacing in a dataset's header.

    Parameters
    ----------
    ds : the dataset (pixel data not needed)

    Returns
    -------
    spacing : (row_mm, col_mm, source), or None when no usable spacing is present
    note : a sentence for the reader saying where the spacing came from, and which
        values were ignored and why
    """
    ignored: list[str] = []
    pixel_spacing = _pair(_get(ds, "PixelSpacing"), "(0028,0030) Pixel Spacing", ignored)
    if pixel_spacing is None:
        pixel_spacing = _pair(_functional_group_spacing(ds), "Pixel Measures", ignored)
    imager = _pair(_get(ds, "ImagerPixelSpacing"), "(0018,1164) Imager Pixel Spacing", ignored)

    if pixel_spacing is not None:
        note = "Pixel Spacing"
        calibration = str(_get(ds, "PixelSpacingCalibrationType") or "").strip()
        if calibration:
            note += f" (calibration type {calibration})"
        elif imager is not None and _close(pixel_spacing, imager):
            # DX/CR writers copy Imager Pixel Spacing here when they did not calibrate.
            note += " (equals Imager Pixel Spacing: probably the detector plane)"
        return Spacing(*pixel_spacing, SpacingSource.pixel_spacing), _with_ignored(note, ignored)

    if imager is not None:
        factor = _number(_get(ds, "EstimatedRadiographicMagnificationFactor"))
        if factor is not None and MIN_MAGNIFICATION <= factor <= MAX_MAGNIFICATION:
            row_mm, col_mm = imager[0] / factor, imager[1] / factor
            if _valid(row_mm) and _valid(col_mm):
                note = f"Imager Pixel Spacing ÷ magnification {factor:.2f}"
                spacing = Spacing(row_mm, col_mm, SpacingSource.imager_magnified)
                return spacing, _with_ignored(note, ignored)
        if factor is not None:
            ignored.append(
                f"(0018,1114) Estimated Radiographic Magnification Factor {factor:g} out of range"
            )
        note = "Imager Pixel Spacing, detector plane, not calibrated"
        spacing = Spacing(*imager, SpacingSource.imager_detector)
        return spacing, _with_ignored(note, ignored)

    return None, _with_ignored("no usable pixel spacing: values in px", ignored)


def _get(ds: Dataset, keyword: str) -> Any:
    try:
        return ds.get(keyword)
    except (ValueError, TypeError, KeyError, OverflowError):
        # A malformed value (e.g. "abc" in a DS) reads as absent.
        return None


def _functional_group_spacing(ds: Dataset) -> Any:
    """(0028,0030) inside the shared functional groups of enhanced multi-frame images."""
    try:
        shared = ds.get("SharedFunctionalGroupsSequence")
        if not shared:
            return None
        measures = shared[0].get("PixelMeasuresSequence")
        return measures[0].get("PixelSpacing") if measures else None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, Sequence) and not isinstance(value, str):
        value = value[0] if len(value) else None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _valid(mm: float) -> bool:
    return math.isfinite(mm) and MIN_SPACING_MM <= mm <= MAX_SPACING_MM


def _pair(value: Any, name: str, ignored: list[str]) -> tuple[float, float] | None:
    """Return a valid (row_mm, col_mm) from a multi-valued DS, noting rejected ones."""
    if value is None or value == "":
        return None
    items = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    numbers: list[float] = []
    for item in items[:2]:
        try:
            numbers.append(float(item))
        except (TypeError, ValueError, OverflowError):
            ignored.append(f"{name} {value!s} is not numeric")
            return None
    if len(numbers) == 1:
        numbers.append(numbers[0])  # VM 1 is non-conformant; read it as isotropic
    if not numbers or not all(_valid(mm) for mm in numbers):
        shown = "\\".join(f"{mm:g}" for mm in numbers)
        ignored.append(f"{name} {shown} ignored (outside {MIN_SPACING_MM:g}–{MAX_SPACING_MM:g} mm)")
        return None
    return numbers[0], numbers[1]


def _close(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-6) for x, y in zip(a, b, strict=True))


def _with_ignored(note: str, ignored: list[str]) -> str:
    return note + "".join(f"; {item}" for item in ignored)
