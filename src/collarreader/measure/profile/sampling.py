"""Sampling intensity profiles across a segment, along its normal.

Part of :mod:`collarreader.measure.profile` (see its docstring for the method).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from collarreader.measure.profile.results import FloatArray, ProfileStack


def _as_point(point_px: Sequence[float] | npt.ArrayLike, name: str) -> FloatArray:
    array = np.asarray(point_px, dtype=np.float64)
    if array.shape != (2,) or not np.all(np.isfinite(array)):
        message = f"{name} must be one finite (x, y) pixel point, not {point_px!r}."
        raise ValueError(message)
    return array


def segment_normal(
    p0_px: Sequence[float] | npt.ArrayLike, p1_px: Sequence[float] | npt.ArrayLike
) -> FloatArray:
    """Unit normal ``(x, y)`` of a segment: left of ``p0 → p1`` on screen (see module doc).

    Raises
    ------
    ValueError
        When the two points coincide.
    """
    p0 = _as_point(p0_px, "p0_px")
    p1 = _as_point(p1_px, "p1_px")
    direction = p1 - p0
    length = float(np.hypot(*direction))
    if length < 1e-9:
        message = f"The segment {p0.tolist()} → {p1.tolist()} has no length; draw a line."
        raise ValueError(message)
    dx, dy = direction / length
    return np.array([dy, -dx], dtype=np.float64)


def sample_profiles(
    image: npt.ArrayLike,
    p0_px: Sequence[float] | npt.ArrayLike,
    p1_px: Sequence[float] | npt.ArrayLike,
    *,
    half_length_px: float,
    step_px: float = 0.25,
    spacing_px: float = 1.0,
    inset_px: float = 0.0,
    invert: bool = False,
) -> ProfileStack:
    """Sample profiles perpendicular to a segment by bilinear interpolation.

    Parameters
    ----------
    image : 2-D array, indexed ``image[y, x]``
    p0_px, p1_px : segment end points, pixel (x, y)
    half_length_px : each profile runs from ``-half_length_px`` to ``+half_length_px``
        along the normal
    step_px : sample distance along each profile (sub-pixel: the edges are interpolated)
    spacing_px : distance between neighbouring profiles along the segment
    inset_px : leave this much of the segment out at each end (its ends are often where
        the structure stops)
    invert : negate the values (for MONOCHROME1, so that a radiolucent band stays low)

    Returns
    -------
    ProfileStack
        Points outside the image take the value of the nearest edge pixel.

    Raises
    ------
    ValueError
        For a degenerate segment, a non-2-D image or non-positive lengths.
    """
    pixels = np.asarray(image)
    if pixels.ndim != 2:
        message = f"Profiles need a 2-D image, not an array of shape {pixels.shape}."
        raise ValueError(message)
    if not (half_length_px > 0 and step_px > 0 and spacing_px > 0 and inset_px >= 0):
        message = (
            "half_length_px, step_px and spacing_px must be positive and inset_px not negative "
            f"(got {half_length_px}, {step_px}, {spacing_px}, {inset_px})."
        )
        raise ValueError(message)
    p0 = _as_point(p0_px, "p0_px")
    p1 = _as_point(p1_px, "p1_px")
    normal = segment_normal(p0, p1)
    length = float(np.hypot(*(p1 - p0)))
    direction = (p1 - p0) / length
    usable = length - 2.0 * inset_px
    if usable < 0:
        message = f"inset_px {inset_px} leaves nothing of a segment {length:.1f} px long."
        raise ValueError(message)
    count = max(1, math.floor(usable / spacing_px) + 1)
    # Centre the profile positions on the usable stretch so that both ends are treated alike.
    first = inset_px + 0.5 * (usable - (count - 1) * spacing_px)
    along = first + spacing_px * np.arange(count, dtype=np.float64)
    n_off = math.floor(half_length_px / step_px)
    offsets = step_px * np.arange(-n_off, n_off + 1, dtype=np.float64)
    centres = p0[None, :] + along[:, None] * direction[None, :]
    xs = centres[:, 0, None] + offsets[None, :] * normal[0]
    ys = centres[:, 1, None] + offsets[None, :] * normal[1]
    values = ndimage.map_coordinates(
        pixels.astype(np.float64, copy=False),
        [ys.ravel(), xs.ravel()],
        order=1,
        mode="nearest",
        output=np.float64,
    ).reshape(xs.shape)
    if invert:
        values = -values
    return ProfileStack(
        offsets_px=offsets,
        along_px=along,
        positions_px=centres,
        normal_px=normal,
        values=values,
        spacing_px=float(spacing_px),
    )
