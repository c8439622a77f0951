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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy import ndimage, optimize, special

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


def _single_profile_noise(profile: FloatArray) -> float:
    """Noise of one profile from its second differences (robust, may underestimate)."""
    if profile.size < 5:
        return 0.0
    second = np.diff(profile, n=2)
    return float(np.median(np.abs(second - np.median(second)))) / 0.6745 / math.sqrt(6.0)


def _walk_to_peak(
    smooth: FloatArray, start: int, direction: int, tol: float, plateau_samples: int
) -> tuple[int, float, bool]:
    """Walk from the band's bottom outwards until the profile stops rising.

    Returns the index and value of the highest point reached and whether the walk stopped on
    a plateau or a fall (False when it ran off the end of the profile still rising).
    """
    bottom = smooth[start]
    ref_value = bottom
    ref_index = start
    peak_value = bottom
    peak_index = start
    index = start
    while 0 <= index + direction < smooth.size:
        index += direction
        value = smooth[index]
        if value > ref_value + tol:
            ref_value, ref_index = value, index
        if value > peak_value:
            peak_value, peak_index = value, index
        # A wide band has a flat floor: only once the profile has climbed out of it can a
        # fall or a flat stretch mark the bounding structure's plateau.
        if peak_value > bottom + 2.0 * tol and (
            value < peak_value - tol or abs(index - ref_index) >= plateau_samples
        ):
            return peak_index, float(peak_value), True
    return peak_index, float(peak_value), False


def _crossing(
    profile: FloatArray, offsets: FloatArray, start: int, stop: int, level: float
) -> float:
    """Offset where ``profile`` first rises to ``level`` walking from ``start`` to ``stop``.

    Linear interpolation between the two samples around the crossing (sub-sample precision).
    """
    direction = 1 if stop > start else -1
    previous = start
    for index in range(start + direction, stop + direction, direction):
        if profile[index] >= level:
            v0, v1 = profile[previous], profile[index]
            fraction = 0.0 if v1 == v0 else (level - v0) / (v1 - v0)
            return float(offsets[previous] + fraction * (offsets[index] - offsets[previous]))
        previous = index
    return float(offsets[stop])


def _step_model(params: FloatArray, offsets: FloatArray) -> FloatArray:
    low_level, floor, high_level, centre, width, sigma = params
    low_edge = centre - 0.5 * width
    high_edge = centre + 0.5 * width
    fall = special.ndtr((offsets - low_edge) / sigma)
    rise = special.ndtr((offsets - high_edge) / sigma)
    return np.asarray(
        low_level + (floor - low_level) * fall + (high_level - floor) * rise, dtype=np.float64
    )


def _fit_edges(
    offsets: FloatArray,
    profile: FloatArray,
    start: FloatArray,
    sigma_px: float | None,
) -> FloatArray | None:
    """Least-squares fit of the blurred three-level step; None when it does not converge."""
    span = float(offsets[-1] - offsets[0])
    if sigma_px is not None:
        fixed = float(sigma_px)

        def residual_fixed(p: FloatArray) -> FloatArray:
            return _step_model(np.append(p, fixed), offsets) - profile

        x0 = start[:5]
        lower = [-np.inf, -np.inf, -np.inf, offsets[0], 0.0]
        upper = [np.inf, np.inf, np.inf, offsets[-1], span]
        x0 = np.clip(x0, np.array(lower) + 1e-9, np.array(upper) - 1e-9)
        result = optimize.least_squares(residual_fixed, x0, bounds=(lower, upper))
        params = np.append(result.x, fixed)
    else:

        def residual(p: FloatArray) -> FloatArray:
            return _step_model(p, offsets) - profile

        lower = [-np.inf, -np.inf, -np.inf, offsets[0], 0.0, 0.05]
        upper = [np.inf, np.inf, np.inf, offsets[-1], span, span]
        x0 = np.clip(start, np.array(lower) + 1e-9, np.array(upper) - 1e-9)
        result = optimize.least_squares(residual, x0, bounds=(lower, upper))
        params = result.x
    if not result.success or not np.all(np.isfinite(params)):
        return None
    return np.asarray(params, dtype=np.float64)


def measure_gap(
    offsets_px: npt.ArrayLike,
    profile: npt.ArrayLike,
    *,
    search_px: tuple[float, float] | None = None,
    noise: float | None = None,
    method: GapMethod | str = GapMethod.FIT,
    sigma_px: float | None = None,
    min_cnr: float = DEFAULT_MIN_CNR,
    plateau_px: float = DEFAULT_PLATEAU_PX,
    normal_px: Sequence[float] = (0.0, -1.0),
) -> GapMeasurement | None:
    """Measure the width of the dark band in a (preferably averaged) profile.

    The band's bottom is the lowest point inside ``search_px``; from there the profile is
    followed outwards on each side until it stops rising (the bounding structure's plateau,
    e.g. collar and bone). The edges are where the profile crosses half-way between the
    floor and each side's peak, interpolated between samples; with ``method="fit"`` they
    are refined by fitting a three-level step blurred by a Gaussian (erf edges), which stays
    unbiased when the band is only a few blur widths wide.

    Parameters
    ----------
    offsets_px : (m,) increasing sample offsets along the normal, px
    profile : (m,) intensities, dark band = low values
    search_px : ``(low, high)`` offsets between which the band's bottom is looked for
        (default: the whole profile but its outer quarter-plateaux)
    noise : standard deviation of the profile's noise; estimated from the profile when None
        (pass :meth:`ProfileStack.noise` for an averaged profile)
    method : ``"fit"`` (default) or ``"half_max"``
    sigma_px : the system blur, if known; fixes the blur in the fit (narrow bands)
    min_cnr : the band must be at least this many noise deviations deep on both sides
    plateau_px : the distance over which a side must stop rising to count as its plateau
    normal_px : the profiles' unit normal ``(x, y)``, carried into the result for
        :meth:`GapMeasurement.width_mm`

    Returns
    -------
    GapMeasurement or None
        None when no band is deep enough (no gap, e.g. where bone bridges onto the collar).

    Raises
    ------
    ValueError
        For mismatched or too short arrays, non-increasing offsets or an empty search range.
    """
    offsets = np.asarray(offsets_px, dtype=np.float64)
    values = np.asarray(profile, dtype=np.float64)
    if offsets.ndim != 1 or offsets.shape != values.shape or offsets.size < 7:
        message = (
            "offsets_px and profile must be 1-D arrays of the same length (at least 7 samples), "
            f"not shapes {offsets.shape} and {values.shape}."
        )
        raise ValueError(message)
    step = float(np.median(np.diff(offsets)))
    if not np.all(np.diff(offsets) > 0):
        message = "offsets_px must increase strictly."
        raise ValueError(message)
    method = GapMethod(method)
    if noise is None:
        noise = _single_profile_noise(values)
    # Light smoothing (about a quarter pixel) only for finding the bottom and the peaks.
    smooth = ndimage.gaussian_filter1d(values, sigma=max(0.25 / step, 0.5), mode="nearest")
    low_search, high_search = (
        (float(offsets[0]), float(offsets[-1])) if search_px is None else search_px
    )
    inside = np.flatnonzero((offsets >= low_search) & (offsets <= high_search))
    inside = inside[(inside > 0) & (inside < offsets.size - 1)]
    if inside.size == 0:
        message = f"The search range {search_px} lies outside the profile's offsets."
        raise ValueError(message)
    bottom = int(inside[np.argmin(smooth[inside])])
    floor = float(smooth[bottom])
    span = float(smooth.max() - smooth.min())
    tol = max(3.0 * noise, 0.02 * span, 1e-12)
    plateau_samples = max(2, round(plateau_px / step))
    low_i, low_peak, low_ok = _walk_to_peak(smooth, bottom, -1, tol, plateau_samples)
    high_i, high_peak, high_ok = _walk_to_peak(smooth, bottom, +1, tol, plateau_samples)
    depth = min(low_peak, high_peak) - floor
    noise_floor = max(noise, 1e-12 * max(1.0, abs(floor)))
    cnr = depth / noise_floor
    if not (low_ok and high_ok) or cnr < min_cnr or bottom in (low_i, high_i):
        return None
    low_edge = _crossing(values, offsets, bottom, low_i, 0.5 * (floor + low_peak))
    high_edge = _crossing(values, offsets, bottom, high_i, 0.5 * (floor + high_peak))
    fitted_sigma: float | None = None
    used = GapMethod.HALF_MAX
    if method is GapMethod.FIT:
        margin = plateau_samples
        lo = max(0, low_i - margin)
        hi = min(offsets.size, high_i + margin + 1)
        sigma0 = sigma_px if sigma_px is not None else max(0.5, 0.25 * (high_edge - low_edge))
        start = np.array(
            [
                low_peak,
                floor,
                high_peak,
                0.5 * (low_edge + high_edge),
                max(high_edge - low_edge, step),
                sigma0,
            ]
        )
        params = _fit_edges(offsets[lo:hi], values[lo:hi], start, sigma_px)
        if params is not None and params[4] > 0:
            _, fit_floor, _, centre, width, sigma = (float(p) for p in params)
            # A fit that wandered off the band it was seeded with is not trusted, nor one that
            # folded a band narrower than the blur into the blur (width and depth trade off).
            half_max_width = high_edge - low_edge
            if (
                abs(centre - 0.5 * (low_edge + high_edge)) <= max(2.0, half_max_width)
                and width >= 0.4 * half_max_width
            ):
                low_edge, high_edge = centre - 0.5 * width, centre + 0.5 * width
                floor = fit_floor
                fitted_sigma = sigma
                used = GapMethod.FIT
    width = high_edge - low_edge
    confidence = min(1.0, max(0.0, (cnr - min_cnr) / (3.0 * min_cnr)) + 0.25)
    blur = fitted_sigma if fitted_sigma is not None else sigma_px
    if blur is not None and width < 2.0 * blur:
        confidence *= width / (2.0 * blur)
    return GapMeasurement(
        width_px=float(width),
        low_edge_px=float(low_edge),
        high_edge_px=float(high_edge),
        floor=floor,
        low_peak=low_peak,
        high_peak=high_peak,
        depth=float(depth),
        cnr=float(cnr),
        confidence=float(confidence),
        sigma_px=fitted_sigma,
        method=used,
        normal_px=(float(normal_px[0]), float(normal_px[1])),
    )


def measure_gap_along(
    image: npt.ArrayLike,
    p0_px: Sequence[float] | npt.ArrayLike,
    p1_px: Sequence[float] | npt.ArrayLike,
    *,
    half_length_px: float,
    search_px: tuple[float, float] | None = None,
    step_px: float = 0.25,
    spacing_px: float = 1.0,
    inset_px: float = 0.0,
    invert: bool = False,
    method: GapMethod | str = GapMethod.FIT,
    sigma_px: float | None = None,
    min_cnr: float = DEFAULT_MIN_CNR,
) -> GapMeasurement | None:
    """Average the profiles across a segment and measure the dark band's width.

    The segment is the interface as drawn (e.g. the collar's edge over the stretch where
    the radiolucent line runs); see :func:`sample_profiles` and :func:`measure_gap` for the
    parameters. Returns None when no band is found.
    """
    stack = sample_profiles(
        image,
        p0_px,
        p1_px,
        half_length_px=half_length_px,
        step_px=step_px,
        spacing_px=spacing_px,
        inset_px=inset_px,
        invert=invert,
    )
    return measure_gap(
        stack.offsets_px,
        stack.mean(),
        search_px=search_px,
        noise=stack.noise(),
        method=method,
        sigma_px=sigma_px,
        min_cnr=min_cnr,
        normal_px=(float(stack.normal_px[0]), float(stack.normal_px[1])),
    )


def scan_gap_along(
    image: npt.ArrayLike,
    p0_px: Sequence[float] | npt.ArrayLike,
    p1_px: Sequence[float] | npt.ArrayLike,
    *,
    half_length_px: float,
    window_px: float = 8.0,
    stride_px: float = 2.0,
    search_px: tuple[float, float] | None = None,
    step_px: float = 0.25,
    invert: bool = False,
    method: GapMethod | str = GapMethod.HALF_MAX,
    min_cnr: float = DEFAULT_MIN_CNR,
) -> GapScan:
    """Measure the band in successive stretches of ``window_px`` along a segment.

    Where bone bridges onto the collar there is no band; the fraction of stretches without
    one estimates the bridging extent of the interface.
    """
    stack = sample_profiles(
        image,
        p0_px,
        p1_px,
        half_length_px=half_length_px,
        step_px=step_px,
        spacing_px=1.0,
        invert=invert,
    )
    length = float(np.hypot(*(np.asarray(p1_px, float) - np.asarray(p0_px, float))))
    per_window = max(1, round(window_px))
    noise_all = stack.noise() * math.sqrt(stack.values.shape[0] / per_window)
    centres: list[float] = []
    widths: list[float] = []
    start = 0.0
    while start + window_px <= length + 1e-9 or not centres:
        chosen = (stack.along_px >= start) & (stack.along_px < start + window_px)
        if np.any(chosen):
            profile = stack.values[chosen].mean(axis=0)
            found = measure_gap(
                stack.offsets_px,
                profile,
                search_px=search_px,
                noise=noise_all * math.sqrt(per_window / int(chosen.sum())),
                method=method,
                min_cnr=min_cnr,
                normal_px=(float(stack.normal_px[0]), float(stack.normal_px[1])),
            )
            centres.append(start + 0.5 * window_px)
            widths.append(math.nan if found is None else found.width_px)
        start += stride_px
        if start + window_px > length + 1e-9:
            break
    return GapScan(
        along_px=np.asarray(centres, dtype=np.float64),
        widths_px=np.asarray(widths, dtype=np.float64),
        length_px=length,
    )
