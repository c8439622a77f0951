"""The radiolucent line (RLL) at an implant: its width from the metal edge outwards.

A radiolucent line at a collar or stem lies *against* the implant. So the band measured here
always starts at the metal's edge: along a line the reader traced on the interface, profiles
perpendicular to it are aligned on the metal edge (found per profile, sub-pixel), averaged
over short stretches, and fitted with a blurred-profile model — metal plateau, dark band, bone
step, one Gaussian blur that the high-contrast metal edge determines. A band narrower than
the blur is measured this way (0.3 mm at 0.2 mm blur), where a threshold would miss it or
widen it. Each width comes with an uncertainty from the fit and the noise; when the profile
is ambiguous (no band at the metal edge, two candidate bands, an uncertainty above
:data:`MAX_UNCERTAINTY_MM`) no width is given and the reason says why, so that the reader
places the caliper by hand. Along the line the widest *credible* width is taken: a stretch
much wider than its neighbours is an outlier (texture, a vessel, a soft-tissue edge), not the
line.

Frames
------
Points are pixel ``(x=column, y=row)``, origin at the centre of the top-left pixel. Profiles
follow :mod:`collarreader.measure.profile` (normal left of the walk); here they are then
*oriented* so that the metal lies at negative offsets: offset 0 is the metal edge, the band
runs from 0 to ``width``. Dark band = low values (MONOCHROME2 sense); ``invert=True`` for
MONOCHROME1 pixels.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import ndimage, optimize, special

from collarreader.measure.geometry import as_points_px
from collarreader.measure.profile import sample_profiles

FloatArray = npt.NDArray[np.float64]

METHOD = "metal_edge_fit"
"""The method recorded with a width measured here."""
MAX_UNCERTAINTY_MM = 0.1
"""A width less certain than this is not given (the reader measures by hand)."""
SEARCH_MM = 2.5
"""The metal edge is looked for within this distance of the traced line."""
BAND_MAX_MM = 3.5
"""The band's bone side is looked for at most this far from the metal edge."""
WINDOW_MM = 1.5
"""Profiles are averaged over stretches this long along the line (noise, texture)."""
MIN_WIDTH_MM = 0.15
"""A fitted band narrower than this is no band (bone meets the metal)."""
MIN_RISE = 0.05
"""The rise to bone is at least this fraction of the metal edge's fall (steepest slopes)."""
AGREE_MM = 0.2
"""Neighbouring stretches whose widths differ by less than this agree (a credible line)."""
DEPTH_VS_TEXTURE = 3.0
"""A band is at least this many times the bone's texture (standard deviation) darker than bone."""
BONE_WINDOW_MM = 0.6
"""The fit reaches this far into the bone past its rise (its level, against texture)."""
"""A fitted band narrower than this is no band (bone meets the metal)."""
FALLBACK_MM_PER_PX = 0.14
"""An uncalibrated DX detector's usual pixel, for distances when no spacing is known."""
_STEP_PX = 0.25  # sample distance along each profile


@dataclass(frozen=True)
class StretchWidth:
    """The band measured on one stretch of the traced line.

    Attributes
    ----------
    along_px : centre of the stretch, px from the segment's start
    segment : index of the segment of the traced line
    width_px : band width along the interface's normal, px; None when not measured
    uncertainty_px : one standard deviation of ``width_px``, px
    reason : why no width was given (None when one was)
    """

    along_px: float
    segment: int
    width_px: float | None
    uncertainty_px: float | None
    reason: str | None


@dataclass(frozen=True)
class RllMeasurement:
    """The radiolucent line's width at its widest credible stretch, or why there is none.

    Attributes
    ----------
    caliper_px : the caliper's two ends, pixel (x, y): metal edge, then bone edge; None when
        no width was measured
    width_px, uncertainty_px : width along the interface normal and one standard deviation, px
    width_mm, uncertainty_mm : the same in mm (None without a spacing)
    sigma_px : the blur fitted at the metal edge (Gaussian standard deviation), px
    method : :data:`METHOD`
    reason : why no width was given, as a sentence for the reader (None when one was)
    offsets_px : (m,) profile offsets of the measured stretch, oriented: metal < 0 < band
    profile : (m,) averaged, edge-aligned profile at those offsets (dark band = low)
    model : (m,) the fitted model at those offsets
    stretches : every stretch measured along the line
    """

    caliper_px: list[list[float]] | None
    width_px: float | None
    uncertainty_px: float | None
    width_mm: float | None
    uncertainty_mm: float | None
    sigma_px: float | None
    method: str
    reason: str | None
    offsets_px: FloatArray = field(repr=False)
    profile: FloatArray = field(repr=False)
    model: FloatArray = field(repr=False)
    stretches: tuple[StretchWidth, ...] = ()


@dataclass(frozen=True)
class _Fit:
    width_px: float
    uncertainty_px: float
    edge_px: float  # metal edge, oriented offset in the aligned frame
    sigma_px: float
    offsets_px: FloatArray
    profile: FloatArray
    model: FloatArray


class _Ambiguous(Exception):  # noqa: N818 - internal control flow, never escapes
    """A stretch's profile gives no trustworthy width; the message says why."""


def _band_model(nonlinear: FloatArray, offsets: FloatArray) -> FloatArray:
    """Columns of the linear part for edge, width, blur: metal, band, bone levels and slope."""
    edge, width, sigma = nonlinear
    fall = special.ndtr((offsets - edge) / sigma)
    rise = special.ndtr((offsets - edge - width) / sigma)
    # levels: metal on the left, band between, bone on the right, plus an overall slope
    # (a soft-tissue edge or the heel effect across the few millimetres of the profile).
    return np.column_stack([1.0 - fall, fall - rise, rise, offsets - offsets.mean()])


def _solve(nonlinear: FloatArray, offsets: FloatArray, profile: FloatArray) -> FloatArray:
    design = _band_model(nonlinear, offsets)
    coeffs, *_ = np.linalg.lstsq(design, profile, rcond=None)
    return np.asarray(coeffs, dtype=np.float64)


def _model(nonlinear: FloatArray, offsets: FloatArray, coeffs: FloatArray) -> FloatArray:
    return np.asarray(_band_model(nonlinear, offsets) @ coeffs, dtype=np.float64)


def _noise_of(values: FloatArray) -> float:
    """Noise of the mean of aligned profiles: differences of profiles 2 px apart (robust)."""
    count = values.shape[0]
    if count < 5:
        second = np.diff(values.mean(axis=0), n=2)
        return float(np.median(np.abs(second - np.median(second)))) / 0.6745 / math.sqrt(6.0)
    diffs = values[2:] - values[:-2]
    mad = np.median(np.abs(diffs - np.median(diffs, axis=0)), axis=0)
    single = float(np.median(mad)) / 0.6745 / math.sqrt(2.0)
    # neighbouring profiles 1 px apart share blurred noise: about half of them are independent
    return single / math.sqrt(max(1.0, count / 2.0))


def _metal_edges(smooth: FloatArray, offsets: FloatArray, near: float, reach: float) -> FloatArray:
    """Per profile, the offset where it falls most steeply near ``near`` (sub-sample)."""
    slope = np.gradient(smooth, offsets, axis=1)
    inside = np.abs(offsets - near) <= reach
    index = np.flatnonzero(inside)
    local = slope[:, index]
    best = np.argmin(local, axis=1)
    best = np.clip(best, 1, index.size - 2)
    rows = np.arange(smooth.shape[0])
    left, mid, right = local[rows, best - 1], local[rows, best], local[rows, best + 1]
    denom = left - 2.0 * mid + right
    shift = np.where(
        np.abs(denom) > 1e-12, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0
    )
    step = float(offsets[1] - offsets[0])
    return np.asarray(offsets[index[best]] + np.clip(shift, -1.0, 1.0) * step, dtype=np.float64)


def _half_width(values: FloatArray, peak: int) -> int:
    """Samples between the two points where ``values`` falls to half its value at ``peak``."""
    half = 0.5 * values[peak]
    left = peak
    while left > 0 and values[left - 1] > half:
        left -= 1
    right = peak
    while right < values.size - 1 and values[right + 1] > half:
        right += 1
    return right - left + 1


def _first_rise(
    mean: FloatArray, offsets: FloatArray, noise: float, band_max_px: float, broad_px: float
) -> float:
    """Offset of the first rise to bone after the metal edge (at offset 0).

    The rise is the first local maximum of the profile's slope past the edge that is both
    well above the slope's noise and at least :data:`MIN_RISE` of the metal edge's fall (the
    bone may have a fifth of the metal's contrast, a soft-tissue border much less per mm).

    Raises
    ------
    _Ambiguous
        When the profile only falls from the metal (bone meets the metal, no band).
    """
    step = float(offsets[1] - offsets[0])
    smooth = ndimage.gaussian_filter1d(mean, 0.5 / step, mode="nearest")
    slope = np.gradient(smooth, offsets)
    near = np.flatnonzero(np.abs(offsets) <= 2.0)
    steepest = int(near[np.argmin(slope[near])])
    fall = float(-slope[steepest])
    if fall <= 0:
        raise _Ambiguous("no metal edge falls into the band")
    # An edge is as sharp as the blur: a rise much broader than the metal's fall is a
    # soft-tissue border or texture, not the bone's edge.
    sharp_px = 2.0 * _half_width(-slope, steepest) * step + broad_px
    # noise of a slope taken over a pixel from samples of a profile with this noise
    slope_noise = noise * math.sqrt(2.0)
    threshold = max(MIN_RISE * fall, 4.0 * slope_noise)
    after = np.flatnonzero((offsets > 0) & (offsets <= band_max_px))
    for index in after[1:-1]:
        if (
            slope[index] >= threshold
            and slope[index] >= slope[index - 1]
            and slope[index] > slope[index + 1]
            and _half_width(slope, index) * step <= sharp_px
        ):
            return float(offsets[index])
    raise _Ambiguous("no band at the metal edge: the profile does not rise again to bone")


def _fit_stretch(
    values: FloatArray,
    offsets: FloatArray,
    *,
    near_px: float,
    search_px: float,
    band_max_px: float,
    mm_per_px: float,
    sigma_px: float | None = None,
) -> _Fit:
    """Align the stretch's oriented profiles on the metal edge, average, fit the band model.

    ``sigma_px`` fixes the blur (measured on the whole line, where the metal edge is averaged
    over many profiles); without it the blur is fitted too.
    """
    smooth = ndimage.gaussian_filter1d(values, 1.0 / _STEP_PX, axis=1, mode="nearest")
    edges = _metal_edges(smooth, offsets, near_px, search_px)
    # The edge runs straight over a stretch: a line through the per-profile edges carries
    # the slant of a trace not parallel to the interface and is robust to their noise.
    along = np.arange(values.shape[0], dtype=np.float64)
    slope, intercept = np.polyfit(along, edges, 1) if values.shape[0] >= 3 else (0.0, edges[0])
    line = intercept + slope * along
    aligned = np.stack(
        [np.interp(offsets + shift, offsets, row) for row, shift in zip(values, line, strict=True)]
    )
    keep = (offsets > offsets[0] + np.max(np.abs(line))) & (
        offsets < offsets[-1] - np.max(np.abs(line))
    )
    aligned = aligned[:, keep]
    grid = offsets[keep]
    mean = aligned.mean(axis=0)
    noise = max(_noise_of(aligned), 1e-12)
    smooth_mean = ndimage.gaussian_filter1d(mean, 0.5 / _STEP_PX, mode="nearest")
    rise = _first_rise(mean, grid, noise, band_max_px, 0.1 / mm_per_px)
    # Two candidate bands: past the first rise the profile falls back as deep as the band
    # within a millimetre (a second gap, not texture).
    floor = float(smooth_mean[(grid >= 0) & (grid <= rise)].min())
    top = float(np.interp(rise + 2.0 * (0.15 / mm_per_px), grid, smooth_mean))
    beyond = (grid > rise + 2.0 * (0.15 / mm_per_px)) & (grid <= rise + 1.0 / mm_per_px)
    if np.any(beyond) and float(smooth_mean[beyond].min()) < floor + 0.25 * (top - floor):
        raise _Ambiguous("two candidate bands next to the metal")
    sigma0 = 0.15 / mm_per_px
    lo = -max(4.0 * sigma0, 0.5 / mm_per_px)
    hi = rise + max(3.0 * sigma0, BONE_WINDOW_MM / mm_per_px)
    window = (grid >= lo) & (grid <= hi)
    x, y = grid[window], mean[window]

    def full(p: FloatArray) -> FloatArray:
        return p if sigma_px is None else np.append(p, sigma_px)

    def residual(p: FloatArray) -> FloatArray:
        q = full(p)
        return _model(q, x, _solve(q, x, y)) - y

    start = np.array([0.0, max(rise, 0.5), sigma0])
    lower = np.array([-2.0 * sigma0 - 1.0, 0.0, 0.25])
    upper = np.array([2.0 * sigma0 + 1.0, rise + 4.0 * sigma0 + 2.0, 4.0 * sigma0 + 2.0])
    free = 3 if sigma_px is None else 2
    result = optimize.least_squares(
        residual,
        np.clip(start, lower + 1e-6, upper - 1e-6)[:free],
        bounds=(lower[:free], upper[:free]),
    )
    if not result.success:
        raise _Ambiguous("the profile does not fit a band between metal and bone")
    params = full(np.asarray(result.x, dtype=np.float64))
    coeffs = _solve(params, x, y)
    metal, band, bone = coeffs[:3]
    if not (metal > band and bone > band):
        raise _Ambiguous("no band darker than both the metal and the bone at the metal edge")
    # Bone's own texture makes dark patches that can touch the metal; a radiolucent line is
    # darker than the bone by several times the bone's variation from place to place.
    sigma = float(params[2])
    in_bone = (grid > rise + 2.0 * sigma) & (
        grid <= rise + 2.0 * sigma + BONE_WINDOW_MM / mm_per_px
    )
    if np.any(in_bone):
        texture = float(np.std(aligned[:, in_bone]))
        if bone - band < DEPTH_VS_TEXTURE * texture:
            raise _Ambiguous("no band at the metal edge darker than the bone's texture")
    uncertainty = _width_uncertainty(params, coeffs, x, y, noise, fixed_sigma=sigma_px is not None)
    cos_slant = 1.0 / math.sqrt(1.0 + float(slope) ** 2)
    return _Fit(
        width_px=float(params[1]) * cos_slant,
        uncertainty_px=uncertainty * cos_slant,
        edge_px=float(params[0]) + float(line[line.size // 2]),
        sigma_px=float(params[2]),
        offsets_px=x - float(params[0]),
        profile=y,
        model=_model(params, x, coeffs),
    )


def _width_uncertainty(
    params: FloatArray,
    coeffs: FloatArray,
    x: FloatArray,
    y: FloatArray,
    noise: float,
    *,
    fixed_sigma: bool,
) -> float:
    """One standard deviation of the width from the fit's Jacobian.

    The noise is the larger of the profiles' noise and the fit's residual (model error, e.g.
    texture left after averaging); samples :data:`_STEP_PX` apart are not independent, so the
    variance counts one independent sample per pixel.
    """
    full = np.concatenate([params, coeffs])

    def model(p: FloatArray) -> FloatArray:
        return _model(p[:3], x, p[3:])

    base = model(full)
    jacobian = np.empty((x.size, full.size))
    for column in range(full.size):
        step = 1e-4 * max(1.0, abs(full[column]))
        shifted = full.copy()
        shifted[column] += step
        jacobian[:, column] = (model(shifted) - base) / step
    rms = float(np.sqrt(np.mean((base - y) ** 2)))
    scale = max(noise, rms) ** 2 / _STEP_PX
    if fixed_sigma:
        jacobian = np.delete(jacobian, 2, axis=1)
    try:
        covariance = np.linalg.inv(jacobian.T @ jacobian) * scale
    except np.linalg.LinAlgError:
        return math.inf
    variance = float(covariance[1, 1])
    return math.sqrt(variance) if variance >= 0 else math.inf


def _credible(stretches: list[tuple[StretchWidth, _Fit | None]], mm_per_px: float) -> int | None:
    """The stretch giving the line's widest credible width, or None when none has a width.

    A width is credible when a neighbouring stretch along the line agrees with it (within
    :data:`AGREE_MM` or three combined uncertainties): a lone width — texture touching the
    metal, a vessel — is not a line. Of the credible widths, each is then weighed against its
    credible neighbours (the median of it and them), so that one stretch widened by texture
    is outvoted while a band that really widens along the line keeps its width; the stretch
    whose own width is the widest such median is returned (the caliper shows the width given).
    """
    agree_px = AGREE_MM / mm_per_px

    def agrees(i: int, j: int) -> bool:
        a, b = stretches[i][0], stretches[j][0]
        if a.width_px is None or b.width_px is None:
            return False
        combined = math.hypot(a.uncertainty_px or 0.0, b.uncertainty_px or 0.0)
        return abs(a.width_px - b.width_px) <= max(agree_px, 3.0 * combined)

    count = len(stretches)
    credible = [
        i for i in range(count) if any(agrees(i, j) for j in (i - 1, i + 1) if 0 <= j < count)
    ]
    best: tuple[float, int] | None = None
    for index in credible:
        group = [j for j in credible if abs(j - index) <= 1]
        widths = sorted((stretches[j][0].width_px or 0.0, j) for j in group)
        # the lower middle of an even group: a pair is only as wide as its narrower member
        median_width, median_index = widths[(len(widths) - 1) // 2]
        if best is None or median_width > best[0]:
            best = (median_width, median_index)
    return None if best is None else best[1]


def measure_rll(
    pixels: npt.ArrayLike,
    line_px: Sequence[Sequence[float]],
    *,
    invert: bool = False,
    spacing_mm: tuple[float, float] | None = None,
) -> RllMeasurement:
    """Measure the radiolucent line along a traced interface, from the metal edge outwards.

    Parameters
    ----------
    pixels : the image, ``pixels[y, x]``, as stored (after the Modality LUT)
    line_px : the traced line, ``(N, 2)`` pixel (x=column, y=row), ``N >= 2``, within
        about :data:`SEARCH_MM` of the metal edge
    invert : True for MONOCHROME1 pixels (a radiolucent band must be low values)
    spacing_mm : ``(row_mm, col_mm)`` from (0028,0030) *Pixel Spacing* or a calibration;
        sizes the search and gives the widths in mm (None: ~0.14 mm pixels, no mm values)

    Returns
    -------
    RllMeasurement
        With a caliper, width and uncertainty, or with ``reason`` saying why not.
    """
    image = np.asarray(pixels, dtype=np.float64)
    line = as_points_px(line_px, minimum=2)
    mm_per_px = min(spacing_mm) if spacing_mm else FALLBACK_MM_PER_PX
    search = SEARCH_MM / mm_per_px
    band_max = BAND_MAX_MM / mm_per_px
    half = search + band_max + 1.5 / mm_per_px
    window = max(6.0, WINDOW_MM / mm_per_px)
    results: list[tuple[StretchWidth, _Fit | None]] = []
    geometry: list[tuple[FloatArray, FloatArray, float, float]] = []
    for segment, (p0, p1) in enumerate(itertools.pairwise(line)):
        length = float(np.hypot(*(p1 - p0)))
        if length < 3.0:
            continue
        stack = sample_profiles(
            image, p0, p1, half_length_px=half, step_px=_STEP_PX, spacing_px=1.0, invert=invert
        )
        offsets = stack.offsets_px
        mean = ndimage.gaussian_filter1d(stack.mean(), 1.0 / _STEP_PX, mode="nearest")
        slope = np.gradient(mean, offsets)
        near = np.abs(offsets) <= search
        steepest = int(np.flatnonzero(near)[np.argmax(np.abs(slope[near]))])
        # Metal is the brighter side of the steepest step: orient it to negative offsets.
        sign = 1.0 if slope[steepest] < 0 else -1.0
        values = stack.values if sign > 0 else stack.values[:, ::-1]
        oriented = offsets if sign > 0 else -offsets[::-1]
        near_px = sign * float(offsets[steepest])
        sigma = None
        try:
            sigma = _fit_stretch(
                values,
                oriented,
                near_px=near_px,
                search_px=max(0.5 / mm_per_px, 4.0),
                band_max_px=band_max,
                mm_per_px=mm_per_px,
            ).sigma_px
        except _Ambiguous:
            sigma = None  # each stretch then fits its own blur
        span = min(window, length)
        starts = np.arange(0.0, max(length - span, 0.0) + 1e-9, span / 2.0)
        for start in starts:
            chosen = (stack.along_px >= start) & (stack.along_px <= start + span)
            centre = float(start + span / 2.0)
            if chosen.sum() < 2:
                continue
            try:
                fit = _fit_stretch(
                    values[chosen],
                    oriented,
                    near_px=near_px,
                    search_px=max(0.5 / mm_per_px, 4.0),
                    band_max_px=band_max,
                    mm_per_px=mm_per_px,
                    sigma_px=sigma,
                )
            except _Ambiguous as why:
                results.append((StretchWidth(centre, segment, None, None, str(why)), None))
                geometry.append((p0, p1, sign, centre))
                continue
            if fit.uncertainty_px * mm_per_px > MAX_UNCERTAINTY_MM:
                reason = f"the width is uncertain by more than ±{MAX_UNCERTAINTY_MM} mm"
                results.append((StretchWidth(centre, segment, None, None, reason), None))
            elif fit.width_px * mm_per_px < MIN_WIDTH_MM:
                reason = "no band at the metal edge: bone meets the metal"
                results.append((StretchWidth(centre, segment, None, None, reason), None))
            else:
                results.append(
                    (StretchWidth(centre, segment, fit.width_px, fit.uncertainty_px, None), fit)
                )
            geometry.append((p0, p1, sign, centre))
    return _result(results, geometry, spacing_mm, mm_per_px)


def _result(
    results: list[tuple[StretchWidth, _Fit | None]],
    geometry: list[tuple[FloatArray, FloatArray, float, float]],
    spacing_mm: tuple[float, float] | None,
    mm_per_px: float,
) -> RllMeasurement:
    stretches = tuple(s for s, _ in results)
    empty = np.zeros(0, dtype=np.float64)
    best = _credible(results, mm_per_px)
    if best is None:
        reasons = sorted({s.reason for s in stretches if s.reason is not None})
        why = "; ".join(reasons) if reasons else "the traced line is too short"
        return RllMeasurement(
            caliper_px=None,
            width_px=None,
            uncertainty_px=None,
            width_mm=None,
            uncertainty_mm=None,
            sigma_px=None,
            method=METHOD,
            reason=f"No width measured ({why}); place the caliper by hand.",
            offsets_px=empty,
            profile=empty,
            model=empty,
            stretches=stretches,
        )
    _stretch, fit = results[best]
    assert fit is not None  # credible stretches have a fit  # noqa: S101
    p0, p1, sign, along = geometry[best]
    direction = (p1 - p0) / float(np.hypot(*(p1 - p0)))
    normal = sign * np.array([direction[1], -direction[0]])
    centre = p0 + direction * along
    metal = centre + normal * fit.edge_px
    bone = metal + normal * fit.width_px
    caliper = [[float(metal[0]), float(metal[1])], [float(bone[0]), float(bone[1])]]
    width_mm = uncertainty_mm = None
    if spacing_mm is not None:
        row_mm, col_mm = spacing_mm
        per_px = math.hypot(normal[0] * col_mm, normal[1] * row_mm)
        width_mm = fit.width_px * per_px
        uncertainty_mm = fit.uncertainty_px * per_px
    return RllMeasurement(
        caliper_px=caliper,
        width_px=fit.width_px,
        uncertainty_px=fit.uncertainty_px,
        width_mm=width_mm,
        uncertainty_mm=uncertainty_mm,
        sigma_px=fit.sigma_px,
        method=METHOD,
        reason=None,
        offsets_px=fit.offsets_px,
        profile=fit.profile,
        model=fit.model,
        stretches=stretches,
    )


def auto_rll_caliper(
    pixels: npt.ArrayLike,
    line_px: Sequence[Sequence[float]],
    *,
    invert: bool = False,
    spacing_mm: tuple[float, float] | None = None,
) -> list[list[float]] | None:
    """The width caliper of :func:`measure_rll`: metal edge, then bone edge; None: no width.

    Parameters as for :func:`measure_rll`; the reason for a None is in its result.
    """
    return measure_rll(pixels, line_px, invert=invert, spacing_mm=spacing_mm).caliper_px
