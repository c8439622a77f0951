"""Calibration from the image: a ball's fitted circle, or a caliper snapped to metal edges.

A drawn calibration line carries the reader's placement error (±1 px on a 180 px ball is
already 0.6 %). Here the edges are found from intensity profiles instead, with sub-pixel
precision, so the calibration is as exact as the radiolucent-line width.

Frames and model
----------------
Points are pixel ``(x=column, y=row)``, origin at the centre of the top-left pixel
(``pixels[y, x]`` is the value at ``(x, y)``), as everywhere in collarreader.

Metal is taken as *bright* (MONOCHROME2 sense, values growing with attenuation); pass
``invert=True`` for MONOCHROME1 pixels. A ball (or a cylinder seen side-on) projects as its
chord length ``c = sqrt(R² - r²)``; a log-transformed film shows ``-log(exp(-k c) + s)``:
linear in the chord where the metal is thin, flat where scatter ``s`` outweighs the little
that gets through a dense ball. The profiles across its edge are fitted with that shape
(``k`` and ``s`` free), blurred by a Gaussian whose width is fitted too, on a background that
may slope (the heel effect, soft tissue).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

import numpy as np
import numpy.typing as npt
from scipy import ndimage, optimize

from collarreader.errors import MeasurementError

FloatArray = npt.NDArray[np.float64]

DEFAULT_MAX_RADIUS_PX = 200.0
"""How far from the click the ball's edge is looked for (a 260 px ball clicked 40 % off)."""
SECTORS = 72
"""Angular sectors whose averaged profiles each give one edge point of the ball."""
MAX_ELLIPTICITY = 0.02
"""Largest (long − short) / mean axis still called a circle; a tilted or cut marker is not."""
MAX_RESIDUAL_FRACTION = 0.01
"""Largest RMS distance of the kept edge points from the circle, as a fraction of the radius."""
MAX_EDGE_MISFIT = 0.25
"""Largest RMS misfit of a snapped edge's profile, as a fraction of the metal's contrast (a
porous collar's pores and the structures behind it leave some; no edge leaves far more)."""
MIN_EDGE_CONTRAST = 10.0
"""A snapped edge's metal contrast is at least this many times the profile's noise."""
PASSES = 1
_STEP_PX = 0.25  # sample distance along profiles: edges are interpolated, not snapped to pixels
_FINE = 5  # model supersampling per profile sample, so the chord's sharp onset is resolved


@dataclass(frozen=True)
class BallFit:
    """A circle fitted to a calibration ball's edge.

    Attributes
    ----------
    centre_px : (x, y) pixel centre of the ball
    diameter_px : fitted diameter, px (isotropic pixels assumed, as the ball is round)
    residual_px : RMS distance of the edge points kept from the circle, px
    blur_px : median Gaussian blur (standard deviation) fitted at the edge, px
    sectors_used : edge points kept (of :data:`SECTORS`); the others crossed something else
    ellipticity : (long − short) / mean axis of an ellipse fitted to the same points
    """

    centre_px: tuple[float, float]
    diameter_px: float
    residual_px: float
    blur_px: float
    sectors_used: int
    ellipticity: float

    @property
    def radius_px(self) -> float:
        """Half the diameter, px."""
        return 0.5 * self.diameter_px

    def caliper_px(self) -> list[list[float]]:
        """A horizontal diameter's two ends, pixel (x, y) (what a calibration line stores)."""
        x, y = self.centre_px
        r = self.radius_px
        return [[x - r, y], [x + r, y]]


@dataclass(frozen=True)
class SnappedCaliper:
    """A caliper whose ends lie on the two metal edges along its line.

    Attributes
    ----------
    points_px : the two ends, pixel (x, y), in the order the caliper was drawn
    length_px : distance between them, px
    residual : RMS misfit of the profile model, in units of the metal's contrast
    blur_px : Gaussian blur fitted at the edges, px
    """

    points_px: tuple[tuple[float, float], tuple[float, float]]
    length_px: float
    residual: float
    blur_px: float


def _as_image(pixels: npt.ArrayLike, invert: bool) -> FloatArray:
    image = np.asarray(pixels, dtype=np.float64)
    if image.ndim != 2:
        message = f"A calibration needs a 2-D image, not an array of shape {image.shape}."
        raise ValueError(message)
    return -image if invert else image


def _chord_shape(
    radius: float,
    sigma: float,
    saturation: tuple[float, float],
    r: FloatArray,
    *,
    fine: FloatArray,
    fine_step: float,
) -> FloatArray:
    """Blurred log-detector signal of a chord edge at ``radius``, sampled at ``r``.

    A film's value is ``-log(exp(-k c) + s)`` for a normalised chord ``c = chord / radius``:
    linear in the chord where the metal is thin, flat where scatter ``s`` outweighs what gets
    through (a dense ball looks like a disc with a rim). ``saturation`` is ``(k, s)``.
    ``fine`` is a supersampled radius grid (wider than ``r`` by four blur widths) on which the
    blur is applied, ``fine_step`` its spacing: the chord's onset is too sharp for ``r``'s.
    """
    k, s = saturation
    chord = np.sqrt(np.clip(radius * radius - fine * fine, 0.0, None)) / radius
    shape = np.log1p(s) - np.log(np.exp(-k * chord) + s)
    blurred = ndimage.gaussian_filter1d(shape, sigma / fine_step, mode="nearest")
    return np.asarray(np.interp(r, fine, blurred), dtype=np.float64)


@dataclass(frozen=True)
class _EdgeFit:
    radius: float
    sigma: float
    amplitude: float
    rms: float


def _linear_part(shape: FloatArray, r: FloatArray, profile: FloatArray) -> FloatArray:
    """Amplitude, background and slope that best fit ``profile`` for a given edge shape."""
    design = np.column_stack([shape, np.ones_like(r), r - r.mean()])
    coeffs, *_ = np.linalg.lstsq(design, profile, rcond=None)
    return np.asarray(coeffs, dtype=np.float64)


def _fit_chord_edge(
    r: FloatArray, profile: FloatArray, radius0: float, sigma0: float
) -> _EdgeFit | None:
    """Fit a blurred chord edge on a sloping background to one radial profile.

    The amplitude and the background are linear in the model and solved exactly for each
    trial of the edge radius, blur and power (variable projection): three nonlinear
    parameters instead of six, which keeps a click's fit interactive.
    None when the fit does not converge or finds no bright object inside the edge.
    """
    pad = 4.0 * max(sigma0, 3.0) + 2.0
    fine_step = _STEP_PX / _FINE
    fine = np.arange(r[0] - pad, r[-1] + pad, fine_step)
    if profile[r > radius0 + 2.0 * sigma0].size < 3 or profile[r < radius0 - 2.0 * sigma0].size < 3:
        return None

    def residual(p: FloatArray) -> FloatArray:
        shape = _chord_shape(p[0], p[1], (p[2], p[3]), r, fine=fine, fine_step=fine_step)
        coeffs = _linear_part(shape, r, profile)
        return np.asarray(shape * coeffs[0] + coeffs[1] + coeffs[2] * (r - r.mean()) - profile)

    lower = np.array([r[0] + 1.0, 0.2, 0.05, 1e-4])
    upper = np.array([r[-1] - 1.0, max(8.0, 3.0 * sigma0), 60.0, 1.0])
    x0 = np.clip(np.array([radius0, sigma0, 3.0, 0.05]), lower + 1e-6, upper - 1e-6)
    try:
        result = optimize.least_squares(residual, x0, bounds=(lower, upper), diff_step=1e-3)
    except ValueError:
        return None
    if not result.success or not np.all(np.isfinite(result.x)):
        return None
    radius, sigma, k, s = (float(v) for v in result.x)
    best = _chord_shape(radius, sigma, (k, s), r, fine=fine, fine_step=fine_step)
    amplitude = float(_linear_part(best, r, profile)[0])
    if amplitude <= 0:
        return None
    rms = float(np.sqrt(np.mean(result.fun**2))) / amplitude
    return _EdgeFit(radius=radius, sigma=sigma, amplitude=amplitude, rms=rms)


def _circle_fit(points: FloatArray) -> tuple[FloatArray, float]:
    """Least-squares circle (Kåsa, then geometric refinement): centre (x, y) and radius."""
    x, y = points[:, 0], points[:, 1]
    design = np.column_stack([x, y, np.ones_like(x)])
    solution, *_ = np.linalg.lstsq(design, x * x + y * y, rcond=None)
    centre = 0.5 * solution[:2]
    radius = math.sqrt(max(solution[2] + centre @ centre, 1e-12))

    def residual(p: FloatArray) -> FloatArray:
        return np.asarray(np.hypot(x - p[0], y - p[1]) - p[2], dtype=np.float64)

    refined = optimize.least_squares(residual, np.array([*centre, radius]))
    return np.asarray(refined.x[:2], dtype=np.float64), float(refined.x[2])


def _ellipticity(points: FloatArray, centre: FloatArray, radius: float) -> float:
    """(long − short) / mean axis from the second harmonic of the radius around the circle."""
    offsets = points - centre
    angles = np.arctan2(offsets[:, 1], offsets[:, 0])
    radii = np.hypot(offsets[:, 0], offsets[:, 1])
    design = np.column_stack([np.ones_like(angles), np.cos(2 * angles), np.sin(2 * angles)])
    coeffs, *_ = np.linalg.lstsq(design, radii, rcond=None)
    # r(θ) ≈ r0 + a cos 2(θ − θ0): the axes are r0 ± a, so (long − short) / mean = 2a / r0.
    return float(2.0 * math.hypot(coeffs[1], coeffs[2]) / max(radius, 1e-9))


def _radial_stack(
    image: FloatArray, centre: FloatArray, angles: FloatArray, radii: FloatArray
) -> FloatArray:
    xs = centre[0] + np.cos(angles)[:, None] * radii[None, :]
    ys = centre[1] + np.sin(angles)[:, None] * radii[None, :]
    return np.asarray(
        ndimage.map_coordinates(
            image, [ys.ravel(), xs.ravel()], order=1, mode="nearest", output=np.float64
        ).reshape(xs.shape),
        dtype=np.float64,
    )


def _coarse_circle(
    image: FloatArray, seed: FloatArray, max_radius_px: float
) -> tuple[FloatArray, float]:
    """Edge points where each ray from the seed falls most steeply, and their circle."""
    angles = np.linspace(0.0, 2.0 * math.pi, 180, endpoint=False)
    radii = np.arange(2.0, max_radius_px, 0.5)
    stack = _radial_stack(image, seed, angles, radii)
    smooth = ndimage.gaussian_filter1d(stack, 3.0, axis=1, mode="nearest")
    slope = np.gradient(smooth, axis=1)
    edge = radii[np.argmin(slope, axis=1)]
    drop = -slope.min(axis=1)
    points = seed[None, :] + edge[:, None] * np.column_stack([np.cos(angles), np.sin(angles)])
    keep = drop > 0.25 * np.median(drop)
    if keep.sum() < 12:
        _no_ball(seed, "no edge falls away from the click on most sides")
    for _ in range(3):
        centre, radius = _circle_fit(points[keep])
        distance = np.abs(np.hypot(*(points - centre).T) - radius)
        spread = 1.4826 * float(np.median(distance[keep])) + 0.5
        keep = keep & (distance < 3.0 * spread)
        if keep.sum() < 12:
            _no_ball(seed, "the edges around the click do not lie on a circle")
    centre, radius = _circle_fit(points[keep])
    if keep.mean() < 0.5 or float(np.hypot(*(seed - centre))) > radius:
        _no_ball(seed, "the edges around the click do not lie on a circle around it")
    # A ball is brighter than its surroundings all round (metal in MONOCHROME2 sense).
    ring = _radial_stack(image, centre, angles, np.array([0.85 * radius, 1.15 * radius]))
    if np.mean(ring[:, 0] > ring[:, 1]) < 0.8:
        _no_ball(
            seed,
            "nothing round is brighter than its surroundings there (check the image's "
            "photometric interpretation)",
        )
    return centre, radius


def _no_ball(seed: FloatArray, why: str) -> NoReturn:
    x, y = (float(v) for v in seed)
    message = (
        f"No calibration ball at the click ({x:.0f}, {y:.0f}): {why}. Click inside the ball, "
        "or draw the calibration line by hand."
    )
    raise MeasurementError(message)


def fit_ball(
    pixels: npt.ArrayLike,
    seed_px: Sequence[float],
    *,
    invert: bool = False,
    max_radius_px: float = DEFAULT_MAX_RADIUS_PX,
) -> BallFit:
    """Fit a circle to the edge of the calibration ball around a click inside it.

    Rays from the click give a first circle (where each falls most steeply); profiles along
    rays from that circle's centre, averaged in :data:`SECTORS` sectors, are each fitted with
    a blurred chord edge (see the module doc), giving one sub-pixel edge point per sector.
    Sectors whose edge a soft-tissue border or another structure crosses disagree with their
    neighbours' circle and are dropped (robust refit); the circle is then fitted to the rest.
    A 2-D blur pulls a curved edge inwards by ``sigma² / (2 R)`` relative to the 1-D profile
    model; that is added back.

    Parameters
    ----------
    pixels : the image, ``pixels[y, x]``, as stored (after the Modality LUT)
    seed_px : the click, pixel (x, y), anywhere inside the ball
    invert : True for MONOCHROME1 pixels (metal must be bright)
    max_radius_px : how far from the click the edge is looked for

    Returns
    -------
    BallFit

    Raises
    ------
    MeasurementError
        When no ball is there: a click outside any round bright object, a ball cut by the
        image edge, or an outline too far from a circle (the message says which).
    ValueError
        For a non-2-D image or a seed that is not one finite (x, y) point.
    """
    image = _as_image(pixels, invert)
    seed = np.asarray(seed_px, dtype=np.float64)
    if seed.shape != (2,) or not np.all(np.isfinite(seed)):
        message = f"The click must be one finite (x, y) pixel point, not {seed_px!r}."
        raise ValueError(message)
    height, width = image.shape
    if not (0 <= seed[0] <= width - 1 and 0 <= seed[1] <= height - 1):
        _no_ball(seed, "the click is outside the image")
    centre, radius = _coarse_circle(image, seed, max_radius_px)
    margin = 3.0
    if (
        centre[0] - radius < margin
        or centre[1] - radius < margin
        or centre[0] + radius > width - 1 - margin
        or centre[1] + radius > height - 1 - margin
    ):
        x, y = (float(v) for v in centre)
        message = (
            f"The calibration ball at ({x:.0f}, {y:.0f}) is cut by the image edge; its diameter "
            "cannot be measured. Calibrate on a collar or stem of known size instead."
        )
        raise MeasurementError(message)

    sigma = 1.5
    used = np.zeros(SECTORS, dtype=bool)
    fits: list[_EdgeFit | None] = []
    for _ in range(PASSES):  # a second pass starts from the refined centre and blur
        inward = min(max(0.3 * radius, 8.0), radius - 2.0)
        outward = min(
            max(0.15 * radius, 8.0),
            margin
            + min(centre[0], centre[1], width - 1 - centre[0], height - 1 - centre[1])
            - radius,
        )
        radii = np.arange(radius - inward, radius + outward, _STEP_PX)
        rays_per_sector = max(1, math.ceil(2.0 * math.pi * radius / SECTORS))
        angles = np.linspace(0.0, 2.0 * math.pi, SECTORS * rays_per_sector, endpoint=False)
        stack = _radial_stack(image, centre, angles, radii)
        profiles = stack.reshape(SECTORS, rays_per_sector, -1).mean(axis=1)
        sector_angles = angles.reshape(SECTORS, rays_per_sector).mean(axis=1)
        fits = [_fit_chord_edge(radii, profile, radius, sigma) for profile in profiles]
        good = [f for f in fits if f is not None]
        if len(good) < SECTORS // 3:
            _no_ball(centre, "the edge around the click is not a ball's")
        sigma = float(np.median([f.sigma for f in good]))
        edge_r = np.array([math.nan if f is None else f.radius for f in fits])
        points = centre[None, :] + edge_r[:, None] * np.column_stack(
            [np.cos(sector_angles), np.sin(sector_angles)]
        )
        used = np.isfinite(edge_r)
        for _ in range(4):
            new_centre, new_radius = _circle_fit(points[used])
            distance = np.abs(np.hypot(*(points - new_centre).T) - new_radius)
            spread = 1.4826 * float(np.nanmedian(distance[used])) + 0.02
            keep = used & (distance < 3.5 * spread)
            if keep.sum() == used.sum():
                break
            used = keep
        if used.sum() < SECTORS // 3:
            _no_ball(centre, "too few stretches of its edge agree on one circle")
        centre, radius = _circle_fit(points[used])

    distances = np.hypot(*(points[used] - centre).T) - radius
    residual = float(np.sqrt(np.mean(distances**2)))
    ellipticity = _ellipticity(points[used], centre, radius)
    if ellipticity > MAX_ELLIPTICITY:
        x, y = (float(v) for v in centre)
        message = (
            f"The object at ({x:.0f}, {y:.0f}) is an ellipse ({100 * ellipticity:.1f} % longer "
            "one way), not a ball's circle; a tilted or non-round marker cannot calibrate. "
            "Draw the calibration line by hand across a known size."
        )
        raise MeasurementError(message)
    if residual > MAX_RESIDUAL_FRACTION * radius + 0.1:
        _no_ball(centre, f"its edge strays {residual:.2f} px from the best circle")
    blur = sigma
    corrected = radius + blur * blur / (2.0 * radius)
    return BallFit(
        centre_px=(float(centre[0]), float(centre[1])),
        diameter_px=2.0 * corrected,
        residual_px=residual,
        blur_px=blur,
        sectors_used=int(used.sum()),
        ellipticity=ellipticity,
    )


def snap_caliper(
    pixels: npt.ArrayLike,
    p0_px: Sequence[float],
    p1_px: Sequence[float],
    *,
    invert: bool = False,
    band_px: float = 4.0,
) -> SnappedCaliper:
    """Snap a caliper drawn across a collar or stem to the metal's two edges along its line.

    The profile along the caliper (extended beyond both ends, averaged over parallel lines
    ``band_px`` either side) is fitted near each end with the blurred chord edge of a
    cylinder centred between the ends (see the module doc); the fit's inward reach stops at
    the profile's brightest point, so a collar's hollow middle does not enter the model.

    Parameters
    ----------
    pixels : the image, ``pixels[y, x]``
    p0_px, p1_px : the drawn ends, pixel (x, y), each within a few pixels of an edge
    invert : True for MONOCHROME1 pixels (metal must be bright)
    band_px : half-width of the band of parallel profiles averaged against noise

    Returns
    -------
    SnappedCaliper

    Raises
    ------
    MeasurementError
        When no metal edge is found near an end (the message says which).
    """
    image = _as_image(pixels, invert)
    p0 = np.asarray(p0_px, dtype=np.float64)
    p1 = np.asarray(p1_px, dtype=np.float64)
    length = float(np.hypot(*(p1 - p0)))
    if p0.shape != (2,) or p1.shape != (2,) or length < 8.0:
        message = "Draw the calibration caliper across the whole collar or stem (8 px at least)."
        raise MeasurementError(message)
    direction = (p1 - p0) / length
    normal = np.array([direction[1], -direction[0]])
    middle = 0.5 * (p0 + p1)
    half = 0.5 * length
    reach = max(12.0, 0.15 * half)
    offsets = np.arange(-half - reach, half + reach + 1e-9, _STEP_PX)
    across = np.arange(-band_px, band_px + 1e-9, 1.0)
    xs = middle[0] + offsets[None, :] * direction[0] + across[:, None] * normal[0]
    ys = middle[1] + offsets[None, :] * direction[1] + across[:, None] * normal[1]
    profile = np.asarray(
        ndimage.map_coordinates(image, [ys.ravel(), xs.ravel()], order=1, mode="nearest")
        .reshape(xs.shape)
        .mean(axis=0),
        dtype=np.float64,
    )
    smooth = ndimage.gaussian_filter1d(profile, 1.0 / _STEP_PX, mode="nearest")
    # The profile's noise, from second differences of samples a pixel apart (robust, blind to
    # slopes): a metal edge stands far above it; a fit to noise does not.
    lag = round(1.0 / _STEP_PX)
    second = profile[2 * lag :] - 2.0 * profile[lag:-lag] + profile[: -2 * lag]
    noise = float(np.median(np.abs(second - np.median(second)))) / 0.6745 / math.sqrt(6.0)
    slope = np.gradient(smooth, offsets)
    edges: list[float] = []
    sigmas: list[float] = []
    rms: list[float] = []
    for side, end in ((-1.0, p0), (1.0, p1)):
        # r: distance from the middle on this side; walking outwards the metal ends.
        r_all = side * offsets
        on_side = r_all > 0
        near = on_side & (np.abs(r_all - half) <= reach)
        outward_slope = side * slope
        if not np.any(near):
            _no_edge(end)
        coarse = float(r_all[near][np.argmin(outward_slope[near])])
        inner = on_side & (r_all < coarse)
        brightest_r = float(r_all[inner][np.argmax(smooth[inner])]) if np.any(inner) else 0.0
        fit: _EdgeFit | None = None
        sigma = 1.5
        for _ in range(2):
            # The inward reach stops short of the brightest point by three blur widths: in a
            # hollow collar that is where the far wall's blurred inner edge starts to show.
            inward = min(max(coarse - brightest_r - 3.0 * sigma, 4.0), 0.3 * coarse, coarse - 1.0)
            window = on_side & (r_all >= coarse - inward) & (r_all <= coarse + reach)
            order = np.argsort(r_all[window])
            fit = _fit_chord_edge(r_all[window][order], profile[window][order], coarse, sigma)
            if fit is None:
                break
            sigma = fit.sigma
            coarse = fit.radius
        if (
            fit is None
            or abs(fit.radius - half) > 2.0 * reach
            or fit.rms > MAX_EDGE_MISFIT
            or fit.amplitude < MIN_EDGE_CONTRAST * noise
        ):
            _no_edge(end)
        edges.append(side * fit.radius)
        sigmas.append(fit.sigma)
        rms.append(fit.rms)
    low = middle + direction * edges[0]
    high = middle + direction * edges[1]
    return SnappedCaliper(
        points_px=((float(low[0]), float(low[1])), (float(high[0]), float(high[1]))),
        length_px=float(edges[1] - edges[0]),
        residual=float(max(rms)),
        blur_px=float(np.mean(sigmas)),
    )


def _no_edge(end_px: FloatArray) -> NoReturn:
    x, y = (float(v) for v in end_px)
    message = (
        f"No metal edge near the caliper's end at ({x:.0f}, {y:.0f}); draw the caliper across "
        "the collar or stem with each end near its edge, or place it by hand."
    )
    raise MeasurementError(message)
