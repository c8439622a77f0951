"""Implant migration between two films, in mm, calibrated on the implant itself.

A reader places the same two landmarks on the 6 m and the 12 m film — a point of the implant
(the collar's face, the stem tip) and a point of the bone (a trochanter, a cortical notch,
a bone marker) — and measures a dimension of the implant whose true size is known from the
implant's documentation (the collar's or the body's diameter). The implant is in the object
plane of the bone, so its known size calibrates each film separately: the change of the
landmarks' distance then no longer depends on the films' different magnifications (the
idea behind EBRA, Einzel-Bild-Röntgen-Analyse).

Every point is pixel (x=column, y=row), origin at the centre of the top-left pixel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from collarreader.measure.geometry import as_points_px

METHOD = "landmark distance, calibrated on a known implant dimension on each film"


@dataclass(frozen=True)
class FilmLandmarks:
    """The landmarks of one film.

    Attributes
    ----------
    implant_px : (x, y) of the implant landmark
    bone_px : (x, y) of the bone landmark
    reference_px : the two ends ((x, y), (x, y)) of the implant dimension of known size
    reference_mm : that dimension's true size, mm (e.g. the collar's diameter)
    """

    implant_px: tuple[float, float]
    bone_px: tuple[float, float]
    reference_px: tuple[tuple[float, float], tuple[float, float]]
    reference_mm: float

    def mm_per_px(self) -> float:
        """Object-plane mm per pixel on this film, from the implant's known dimension."""
        ends = as_points_px(self.reference_px, minimum=2)
        if ends.shape[0] != 2:
            message = f"A reference dimension has two ends, not {ends.shape[0]} points."
            raise ValueError(message)
        length_px = float(np.hypot(*(ends[1] - ends[0])))
        if not (math.isfinite(self.reference_mm) and self.reference_mm > 0):
            message = (
                "The implant's known size must be a positive number of mm, "
                f"not {self.reference_mm}."
            )
            raise ValueError(message)
        if length_px < 2.0:
            message = (
                f"The reference dimension is only {length_px:.1f} px long: measure the implant's "
                "known size across its whole width."
            )
            raise ValueError(message)
        return self.reference_mm / length_px

    def distance_mm(self) -> float:
        """Implant landmark to bone landmark, mm in the implant's object plane."""
        points = as_points_px([self.implant_px, self.bone_px], minimum=2)
        return float(np.hypot(*(points[1] - points[0]))) * self.mm_per_px()


@dataclass(frozen=True)
class Migration:
    """Change of the implant–bone landmark distance from the earlier to the later film.

    Attributes
    ----------
    earlier_mm, later_mm : the landmarks' distance on each film, mm
    migration_mm : ``later_mm − earlier_mm``; positive when the landmarks moved apart
    earlier_mm_per_px, later_mm_per_px : each film's calibration on the implant
    method : how the value was obtained, stored with it
    """

    earlier_mm: float
    later_mm: float
    migration_mm: float
    earlier_mm_per_px: float
    later_mm_per_px: float
    method: str = METHOD


def measure_migration(earlier: FilmLandmarks, later: FilmLandmarks) -> Migration:
    """Migration between two films from their landmarks (see the module docstring).

    Raises
    ------
    ValueError
        When a point is not finite, a reference dimension is degenerate, or a known size is
        not a positive number.
    """
    return Migration(
        earlier_mm=earlier.distance_mm(),
        later_mm=later.distance_mm(),
        migration_mm=later.distance_mm() - earlier.distance_mm(),
        earlier_mm_per_px=earlier.mm_per_px(),
        later_mm_per_px=later.mm_per_px(),
    )


def snap_to_edges(
    pixels: npt.ArrayLike,
    start_px: Sequence[float],
    end_px: Sequence[float],
    *,
    invert: bool = False,
    step_px: float = 0.1,
    band_px: float = 12.0,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Snap a caliper laid across a bright implant part to that part's two edges.

    The profile along the caliper is sampled (bilinear, every ``step_px``) and averaged over
    a band ``band_px`` wide around it (parallel profiles one pixel apart, which averages the
    noise without moving the edges of a part that runs across the caliper); the edges are its
    outermost crossings of the level halfway between the background at the caliper's ends and
    the implant's plateau in the middle, interpolated to sub-pixel.

    Parameters
    ----------
    pixels : the film, 2-D
    start_px, end_px : the caliper's ends (x, y), outside the implant part on either side
    invert : True for MONOCHROME1 (metal dark)

    Returns
    -------
    ((x, y), (x, y)) of the two edges, in the caliper's direction.

    Raises
    ------
    ValueError
        When the caliper does not cross a part brighter than both of its ends.
    """
    image = np.asarray(pixels, dtype=np.float64)
    if invert:
        image = image.max() + image.min() - image
    ends = as_points_px([start_px, end_px], minimum=2)
    length = float(np.hypot(*(ends[1] - ends[0])))
    count = max(int(length / step_px) + 1, 8)
    t = np.linspace(0.0, 1.0, count)
    xs = ends[0, 0] + t * (ends[1, 0] - ends[0, 0])
    ys = ends[0, 1] + t * (ends[1, 1] - ends[0, 1])
    direction = (ends[1] - ends[0]) / max(length, 1e-9)
    normal = np.array([-direction[1], direction[0]])
    offsets = np.arange(-band_px / 2, band_px / 2 + 1e-9, 1.0)[:, None]
    grid_x = xs[None, :] + offsets * normal[0]
    grid_y = ys[None, :] + offsets * normal[1]
    samples = ndimage.map_coordinates(
        image, [grid_y.ravel(), grid_x.ravel()], order=1, mode="nearest"
    )
    profile = samples.reshape(grid_x.shape).mean(axis=0)
    tail = max(count // 10, 2)
    background = max(float(np.median(profile[:tail])), float(np.median(profile[-tail:])))
    plateau = float(np.percentile(profile[tail:-tail], 90.0))
    if plateau <= background:
        message = "The caliper does not cross a part brighter than its surroundings."
        raise ValueError(message)
    level = 0.5 * (background + plateau)
    above = np.nonzero(profile >= level)[0]
    if above.size == 0 or above[0] == 0 or above[-1] == count - 1:
        message = "Lay the caliper across the whole implant part, with both ends outside it."
        raise ValueError(message)

    def crossing(i_below: int, i_above: int) -> float:
        a, b = profile[i_below], profile[i_above]
        return float(t[i_below] + (level - a) / (b - a) * (t[i_above] - t[i_below]))

    t0 = crossing(int(above[0]) - 1, int(above[0]))
    t1 = crossing(int(above[-1]) + 1, int(above[-1]))
    first = ends[0] + t0 * (ends[1] - ends[0])
    second = ends[0] + t1 * (ends[1] - ends[0])
    return (float(first[0]), float(first[1])), (float(second[0]), float(second[1]))
