"""The width of a dark band in a stack of profiles: edges found, fitted, checked for contrast.

Part of :mod:`collarreader.measure.profile` (see its docstring for the method).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import ndimage, optimize, special

from collarreader.measure.profile.results import (
    DEFAULT_MIN_CNR,
    DEFAULT_PLATEAU_PX,
    FloatArray,
    GapMeasurement,
    GapMethod,
    _single_profile_noise,
)


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
