"""Intensity profiles across a line segment, and the width of a dark band along it.

This is the semi-automatic radiolucent-line (RLL) caliper: the reader draws the collar–bone
interface as a segment; the image is sampled along lines perpendicular to it, the profiles are
averaged over a stretch of the interface, and the width of the dark band (the radiolucent gap
between two brighter structures, collar and bone) is measured with sub-pixel precision.

Frames
------
Image points are pixel ``(x=column, y=row)``, origin at the centre of the top-left pixel,
as everywhere in collarreader (``image[y, x]`` is the value at ``(x, y)``).

For a segment from ``p0`` to ``p1`` with unit direction ``d = (dx, dy)``, the profile
**normal** is ``n = (dy, -dx)``: on screen (rows growing downwards) it points to the *left*
of the walk from ``p0`` to ``p1`` (for a segment drawn left to right, ``n`` points up).
A profile sample at **offset** ``t`` (px, signed) from a point ``q`` on the segment lies at
``q + t * n``. **Along** positions are distances from ``p0`` towards ``p1`` in px.

Intensities are taken as stored, "dark band = low values" (MONOCHROME2 sense); pass
``invert=True`` to :func:`sample_profiles` for MONOCHROME1 pixels. Widths are returned in px
along the normal; :meth:`GapMeasurement.width_mm` converts them with a ``(row_mm, col_mm)``
spacing, correct for anisotropic pixels.

Modules
-------
:mod:`~collarreader.measure.profile.results`
    What a measurement returns (:class:`ProfileStack`, :class:`GapMeasurement`, :class:`GapScan`).
:mod:`~collarreader.measure.profile.sampling`
    :func:`sample_profiles` across a segment, :func:`segment_normal`.
:mod:`~collarreader.measure.profile.gap`
    :func:`measure_gap`: the dark band's width in a stack of profiles.
:mod:`~collarreader.measure.profile.along`
    :func:`measure_gap_along` and :func:`scan_gap_along` a traced line.
"""

from __future__ import annotations

from collarreader.measure.profile.along import measure_gap_along, scan_gap_along
from collarreader.measure.profile.gap import measure_gap
from collarreader.measure.profile.results import (
    DEFAULT_MIN_CNR,
    DEFAULT_PLATEAU_PX,
    FloatArray,
    GapMeasurement,
    GapMethod,
    GapScan,
    ProfileStack,
)
from collarreader.measure.profile.sampling import sample_profiles, segment_normal

__all__ = [
    "DEFAULT_MIN_CNR",
    "DEFAULT_PLATEAU_PX",
    "FloatArray",
    "GapMeasurement",
    "GapMethod",
    "GapScan",
    "ProfileStack",
    "measure_gap",
    "measure_gap_along",
    "sample_profiles",
    "scan_gap_along",
    "segment_normal",
]
