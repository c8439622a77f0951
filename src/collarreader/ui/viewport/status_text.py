"""The status-bar text of a viewport: cursor value, calibration and its badge (pure).

Part of :mod:`collarreader.ui.viewport` (see its docstring).
"""

from __future__ import annotations

import numpy as np

from collarreader.imaging import Radiograph, SpacingSource
from collarreader.ui.viewport.coordinates import pixel_index

# ------------------------------------------------------------------ status-bar text (pure)


def _format_value(value: float | int | np.generic) -> str:
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return f"{number:.4g}"


def cursor_text(
    radiograph: Radiograph, x: float, y: float, calibration_note: str | None = None
) -> str:
    """Status-bar text for the cursor at pixel ``(x, y)`` of a radiograph.

    Parameters
    ----------
    radiograph : the image under the cursor
    x, y : cursor position, pixel (x=column, y=row), origin at the centre of the top-left pixel
    calibration_note : appended after the mm position when given (e.g. the calibration text)

    Returns
    -------
    str
        e.g. ``"x 1203, y 884 px · value 2811 · 143.2 mm, 106.1 mm"``; the value is left out
        outside the image and the mm part when the image has no spacing.
    """
    col, row = pixel_index(x, y)
    parts = [f"x {col}, y {row} px"]
    rows, cols = radiograph.pixels.shape[:2]
    if 0 <= col < cols and 0 <= row < rows:
        parts.append(f"value {_format_value(radiograph.pixels[row, col])}")
    spacing = radiograph.spacing
    if spacing is not None:
        parts.append(f"{x * spacing.col_mm:.1f} mm, {y * spacing.row_mm:.1f} mm")
    if calibration_note:
        parts.append(calibration_note)
    return " · ".join(parts)


def calibration_text(radiograph: Radiograph, manual: str | None = None) -> str:
    """Where the mm values of a radiograph come from, as shown next to every measurement.

    Parameters
    ----------
    radiograph : the image
    manual : description of a manual calibration made on this image by the reader
        (e.g. ``"ball 25 mm"``); it takes precedence over the file's spacing

    Returns
    -------
    str
        e.g. ``"manual: ball 25 mm"``, ``"Imager Pixel Spacing ÷ magnification 1.15"``,
        ``"Imager Pixel Spacing, detector plane, not calibrated"``, ``"uncalibrated (px)"``.
    """
    if manual:
        return f"manual: {manual}"
    spacing = radiograph.spacing
    if spacing is None:
        return "uncalibrated (px)"
    # The loader's note says more (magnification factor, calibration type, values it
    # ignored); the source's own label stands in when a radiograph carries none.
    return radiograph.spacing_note or spacing.source.label


def calibration_badge(radiograph: Radiograph, manual: str | None = None) -> tuple[str, bool]:
    """The badge on a viewport: where its mm come from, and whether that is a calibration.

    Parameters
    ----------
    radiograph : the image
    manual : the reader's calibration on this image (``"ball 25 mm"``), or None

    Returns
    -------
    (str, bool)
        The text (``"manual: ball 25 mm"``, ``"Pixel Spacing 0.143 mm"``, ``"Imager Pixel
        Spacing ÷ magnification 1.15"``, ``"detector plane, not calibrated"``, ``"px only, not
        calibrated"``) and True when the mm are calibrated at the object: a manual calibration,
        (0028,0030) *Pixel Spacing*, or (0018,1164) *Imager Pixel Spacing* ÷ (0018,1114)
        *Estimated Radiographic Magnification Factor*. The detector plane alone and no spacing
        at all are not calibrated (the badge then takes the warning colour).
    """
    if manual:
        return f"manual: {manual}", True
    spacing = radiograph.spacing
    if spacing is None:
        return "px only, not calibrated", False
    if spacing.source is SpacingSource.pixel_spacing:
        return f"Pixel Spacing {spacing.col_mm:.3g} mm", True
    if spacing.source is SpacingSource.imager_magnified:
        return calibration_text(radiograph), True
    if spacing.source is SpacingSource.manual:
        return "manual calibration", True
    return "detector plane, not calibrated", False
