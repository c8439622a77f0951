"""Lengths and widths of pixel geometry, in pixels and in millimetres.

Every point is pixel (x=column, y=row), origin at the centre of the top-left pixel. A spacing
is ``(row_mm, col_mm)``: the distance between the centres of adjacent rows and of adjacent
columns, as in (0028,0030) *Pixel Spacing*. A displacement of ``dx`` columns and ``dy`` rows
therefore measures ``hypot(dx * col_mm, dy * row_mm)`` millimetres, which is correct for
anisotropic pixels too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

PointPx = tuple[float, float]
SpacingMm = tuple[float, float]


def as_points_px(
    points_px: Sequence[Sequence[float]] | npt.ArrayLike, minimum: int = 1
) -> npt.NDArray[np.float64]:
    """Validate pixel points and return them as an ``(N, 2)`` float array.

    Parameters
    ----------
    points_px : sequence of ``(x, y)`` pairs, pixel (x=column, y=row)
    minimum : the fewest points the caller needs

    Raises
    ------
    ValueError
        When the points are not ``(N, 2)``, fewer than ``minimum``, or not finite.
    """
    array = np.asarray(points_px, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        message = f"Points must be a list of (x, y) pairs, not an array of shape {array.shape}."
        raise ValueError(message)
    if array.shape[0] < minimum:
        message = f"At least {minimum} points are needed, {array.shape[0]} were given."
        raise ValueError(message)
    if not np.all(np.isfinite(array)):
        message = "Points must be finite numbers (no NaN or infinity)."
        raise ValueError(message)
    return array


def _check_spacing(spacing_mm: SpacingMm) -> tuple[float, float]:
    row_mm, col_mm = float(spacing_mm[0]), float(spacing_mm[1])
    if not (math.isfinite(row_mm) and math.isfinite(col_mm) and row_mm > 0 and col_mm > 0):
        message = (
            f"A spacing must be two positive finite numbers (row_mm, col_mm), not {spacing_mm}."
        )
        raise ValueError(message)
    return row_mm, col_mm


def line_length_px(p0_px: Sequence[float], p1_px: Sequence[float]) -> float:
    """Distance between two pixel points, in pixels."""
    return math.hypot(float(p1_px[0]) - float(p0_px[0]), float(p1_px[1]) - float(p0_px[1]))


def line_length_mm(p0_px: Sequence[float], p1_px: Sequence[float], spacing_mm: SpacingMm) -> float:
    """Distance between two pixel points, in millimetres.

    Parameters
    ----------
    p0_px, p1_px : ``(x, y)`` pixel points (x=column, y=row)
    spacing_mm : ``(row_mm, col_mm)``
    """
    row_mm, col_mm = _check_spacing(spacing_mm)
    dx_mm = (float(p1_px[0]) - float(p0_px[0])) * col_mm
    dy_mm = (float(p1_px[1]) - float(p0_px[1])) * row_mm
    return math.hypot(dx_mm, dy_mm)


def polyline_length_px(points_px: Sequence[Sequence[float]] | npt.ArrayLike) -> float:
    """Length of a polyline through the points, in pixels (0 for a single point)."""
    array = as_points_px(points_px)
    steps = np.diff(array, axis=0)
    return float(np.sum(np.hypot(steps[:, 0], steps[:, 1])))


def polyline_length_mm(
    points_px: Sequence[Sequence[float]] | npt.ArrayLike, spacing_mm: SpacingMm
) -> float:
    """Length of a polyline through the pixel points, in millimetres.

    Parameters
    ----------
    points_px : ``(N, 2)`` pixel points (x=column, y=row)
    spacing_mm : ``(row_mm, col_mm)``
    """
    row_mm, col_mm = _check_spacing(spacing_mm)
    array = as_points_px(points_px)
    steps = np.diff(array, axis=0)
    return float(np.sum(np.hypot(steps[:, 0] * col_mm, steps[:, 1] * row_mm)))


def perpendicular_width_mm(
    axis_points_px: Sequence[Sequence[float]] | npt.ArrayLike,
    point_px: Sequence[float],
    spacing_mm: SpacingMm,
) -> float:
    """Shortest distance from a point to a polyline, in millimetres.

    The width of a band (a radiolucent line, a cortex) measured from one edge, drawn as the
    polyline ``axis_points_px``, to a point on the other edge: the perpendicular foot may fall
    inside a segment or, past its ends, on a vertex. The distance is computed in millimetre
    space, so it is the true perpendicular for anisotropic pixels as well.

    Parameters
    ----------
    axis_points_px : ``(N, 2)`` pixel points of the edge polyline, ``N >= 1``
    point_px : ``(x, y)`` pixel point on the opposite edge
    spacing_mm : ``(row_mm, col_mm)``
    """
    row_mm, col_mm = _check_spacing(spacing_mm)
    scale = np.array([col_mm, row_mm])
    axis_mm = as_points_px(axis_points_px) * scale
    p_mm = as_points_px([point_px]).reshape(2) * scale
    if axis_mm.shape[0] == 1:
        return float(np.hypot(*(p_mm - axis_mm[0])))
    starts = axis_mm[:-1]
    steps = axis_mm[1:] - starts
    lengths_sq = np.sum(steps * steps, axis=1)
    # A zero-length segment (a doubled click) projects onto its start point.
    safe = np.where(lengths_sq > 0, lengths_sq, 1.0)
    t = np.clip(np.sum((p_mm - starts) * steps, axis=1) / safe, 0.0, 1.0)
    t = np.where(lengths_sq > 0, t, 0.0)
    feet = starts + steps * t[:, None]
    return float(np.min(np.hypot(*(p_mm - feet).T)))


def calibrated_spacing_mm(
    points_px: Sequence[Sequence[float]],
    known_size_mm: float,
    header_spacing_mm: tuple[float, float] | None,
) -> tuple[float, float]:
    """The ``(row_mm, col_mm)`` spacing that makes a known size measure what it is.

    With a header spacing (e.g. (0028,0030) *Pixel Spacing*) it is scaled by
    ``known_size_mm / header length of the line``, keeping its aspect ratio; without one
    the spacing is isotropic, ``known_size_mm / pixel length``.

    Parameters
    ----------
    points_px : the two ends of the known size, pixel (x, y)
    known_size_mm : its true size
    header_spacing_mm : ``(row_mm, col_mm)`` from the header, or None

    Raises
    ------
    ValueError
        For a line without length or a size that is not positive.
    """
    length_px = polyline_length_px(points_px)
    if not (known_size_mm > 0 and length_px > 0):
        message = (
            f"A calibration needs a positive known size and a line with length, not "
            f"{known_size_mm} mm over {length_px} px."
        )
        raise ValueError(message)
    if header_spacing_mm is None:
        isotropic = known_size_mm / length_px
        return isotropic, isotropic
    factor = known_size_mm / polyline_length_mm(points_px, header_spacing_mm)
    return header_spacing_mm[0] * factor, header_spacing_mm[1] * factor
