"""What a profile measurement returns: the profiles, one gap, a scan along a line.

Part of :mod:`collarreader.measure.profile` (see its docstring for the method).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Averaged profiles whose band is shallower than this many noise standard deviations are
# called "no gap": below ~4 the false-positive rate on flat noise is no longer negligible.
DEFAULT_MIN_CNR = 5.0
# Distance (px) over which a profile must stop rising to count as having reached the
# plateau of the structure bounding the band; about two blur widths of a radiograph.
DEFAULT_PLATEAU_PX = 2.0


class GapMethod(StrEnum):
    """How the band's edges are located."""

    HALF_MAX = "half_max"
    """Each edge where the profile crosses half-way between the floor and that side's peak."""
    FIT = "fit"
    """A least-squares fit of a blurred three-level step (erf edges), seeded by half-max."""


@dataclass(frozen=True)
class ProfileStack:
    """Profiles sampled perpendicular to a segment.

    Attributes
    ----------
    offsets_px : (m,) signed distances along :attr:`normal_px`, px
    along_px : (n,) distances of the profile centres from ``p0`` towards ``p1``, px
    positions_px : (n, 2) profile centres on the segment, pixel (x, y)
    normal_px : (2,) unit normal ``(x, y)`` (left of ``p0 → p1`` on screen)
    values : (n, m) intensities, one row per profile
    spacing_px : distance between neighbouring profile centres, px
    """

    offsets_px: FloatArray
    along_px: FloatArray
    positions_px: FloatArray
    normal_px: FloatArray
    values: FloatArray
    spacing_px: float

    def mean(self) -> FloatArray:
        """The average profile, shape ``(m,)``."""
        return np.asarray(self.values.mean(axis=0), dtype=np.float64)

    def noise(self) -> float:
        """Estimated standard deviation of the noise of :meth:`mean`, in intensity units.

        Differences between profiles at least 2 px apart (nearer ones share blurred noise)
        give a robust per-profile noise (median absolute deviation); the mean of ``n`` such
        profiles has that noise divided by the square root of the number of independent ones.
        """
        lag = max(1, math.ceil(2.0 / self.spacing_px))
        n = self.values.shape[0]
        if n - lag < 3:  # too few pairs of profiles for a robust spread
            return _single_profile_noise(self.mean())
        diffs = self.values[lag:] - self.values[:-lag]
        mad = np.median(np.abs(diffs - np.median(diffs, axis=0)), axis=0)
        single = float(np.median(mad)) / 0.6745 / math.sqrt(2.0)
        independent = max(1.0, n * self.spacing_px / max(self.spacing_px * lag, 1e-9))
        return single / math.sqrt(independent)


@dataclass(frozen=True)
class GapMeasurement:
    """A dark band found in a profile.

    Attributes
    ----------
    width_px : distance between the two edges, px along the normal
    low_edge_px, high_edge_px : edge offsets (low < high), px along the normal
    floor : intensity at the bottom of the band
    low_peak, high_peak : intensities of the bounding structures on each side
    depth : ``min(low_peak, high_peak) - floor``
    cnr : depth divided by the noise of the profile
    confidence : 0–1; grows with ``cnr`` and falls when the band is narrower than the blur
        (where width and depth can no longer be told apart)
    sigma_px : blur (Gaussian standard deviation) fitted to the edges, px; None for half-max
    method : the method that produced the edges
    normal_px : unit normal ``(x, y)`` of the profiles, for the conversion to mm
    """

    width_px: float
    low_edge_px: float
    high_edge_px: float
    floor: float
    low_peak: float
    high_peak: float
    depth: float
    cnr: float
    confidence: float
    sigma_px: float | None
    method: GapMethod
    normal_px: tuple[float, float]

    @property
    def centre_px(self) -> float:
        """Offset of the band's centre along the normal, px."""
        return 0.5 * (self.low_edge_px + self.high_edge_px)

    def width_mm(self, spacing_mm: tuple[float, float]) -> float:
        """The width in millimetres for a ``(row_mm, col_mm)`` spacing.

        One px along the normal ``(nx, ny)`` is ``hypot(nx * col_mm, ny * row_mm)`` mm.
        """
        row_mm, col_mm = float(spacing_mm[0]), float(spacing_mm[1])
        if not (row_mm > 0 and col_mm > 0 and math.isfinite(row_mm) and math.isfinite(col_mm)):
            message = f"A spacing must be two positive numbers (row_mm, col_mm), not {spacing_mm}."
            raise ValueError(message)
        nx, ny = self.normal_px
        return self.width_px * math.hypot(nx * col_mm, ny * row_mm)


@dataclass(frozen=True)
class GapScan:
    """Gap widths at successive stretches along a segment (for bridging extent).

    Attributes
    ----------
    along_px : (k,) centre of each stretch, px from ``p0`` towards ``p1``
    widths_px : (k,) band width in each stretch, NaN where no band was found
    length_px : length of the segment, px
    """

    along_px: FloatArray
    widths_px: FloatArray
    length_px: float

    @property
    def present(self) -> npt.NDArray[np.bool_]:
        """(k,) True where a band was found."""
        return np.isfinite(self.widths_px)

    @property
    def gap_fraction(self) -> float:
        """Fraction (0–1) of the stretches with a band; 1 − this estimates bridging."""
        if self.widths_px.size == 0:
            return 0.0
        return float(np.mean(self.present))


def _single_profile_noise(profile: FloatArray) -> float:
    """Noise of one profile from its second differences (robust, may underestimate)."""
    if profile.size < 5:
        return 0.0
    second = np.diff(profile, n=2)
    return float(np.median(np.abs(second - np.median(second)))) / 0.6745 / math.sqrt(6.0)
