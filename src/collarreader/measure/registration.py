"""Registration of a follow-up film onto an earlier one, driven by the implant.

The 12-month film is mapped onto the 6-month film by a *similarity* transform (rotation,
magnification, shift). Only the implant takes part: metal is rigid and by far the brightest
structure on a radiograph, whereas the soft tissue moves on its own and the bone remodels
(which is exactly what the reader wants to see). Every image is therefore reduced to a *metal
map* — 0 below its own metal threshold, rising to 1 at the metal's plateau — restricted to
the largest connected metal object (the prosthesis; a calibration ball or a burned-in label
is left out), and the transform is fitted by least squares between the two metal maps,
coarse to fine.

Initialisation is robust to large rotations and magnification changes: rotation from the
principal axis of each metal object (image moments), magnification from the ratio of their
sizes, shift by phase correlation of the metal maps once rotation and magnification are
undone.

Coordinates: pixel (x=column, y=row), origin at the centre of the top-left pixel. The matrix
maps a *moving* pixel ``(x, y, 1)`` to the *fixed* pixel ``(x, y)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage, optimize
from skimage import filters, measure, registration

from collarreader.errors import RegistrationError

FloatArray = npt.NDArray[np.float64]

# Largest side of the coarsest working image: big enough for the implant's outline,
# small enough that the global search costs a few milliseconds.
COARSE_SIDE_PX = 400
# Refusal limits. A residual is the RMS difference of the two metal maps (0 = identical,
# 1 = no metal where the other film has it) over the union of their metal.
MAX_RESIDUAL = 0.2
# The metal map rises from 0 at the metal threshold to 1 a quarter of the way to the metal's
# median: nearly a mask, so the unsaturated inside of a stem (whose grey value depends on the
# bone around it) does not count, only the implant's outline.
PLATEAU_FRACTION = 0.25
# Cauchy loss scale (metal-map units): a pixel whose maps disagree by much more than this
# (remodelled bone crossing the threshold, a moved soft-tissue edge) hardly pulls the fit.
ROBUST_SCALE = 0.03
MIN_OVERLAP = 0.6
MIN_METAL_FRACTION = 0.002
SCALE_LIMITS = (0.75, 1.33)
MAX_ROTATION_DEG = 30.0


@dataclass(frozen=True)
class Registration:
    """A similarity transform from the moving film to the fixed film.

    Attributes
    ----------
    matrix : (2, 3) float array; ``matrix @ (x, y, 1)`` of a moving pixel is the fixed pixel
        ``(x, y)``; pixel (x=column, y=row), origin at the centre of the top-left pixel
    residual : RMS difference of the two films' metal maps (0–1) after registration, over
        the union of their metal
    overlap : fraction of the fixed film's implant that the moving film also shows
    """

    matrix: FloatArray
    residual: float
    overlap: float

    @property
    def scale(self) -> float:
        """Magnification of the moving film relative to the fixed one (fixed px per moving px)."""
        return float(math.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    @property
    def rotation_deg(self) -> float:
        """Rotation from the moving to the fixed film, degrees (positive: x towards y)."""
        return float(math.degrees(math.atan2(self.matrix[1, 0], self.matrix[0, 0])))

    @property
    def shift_px(self) -> tuple[float, float]:
        """Where the moving pixel (0, 0) lands on the fixed film, (x, y) px."""
        return (float(self.matrix[0, 2]), float(self.matrix[1, 2]))

    def apply(self, points_px: npt.ArrayLike) -> FloatArray:
        """Map moving-film points ``(N, 2)`` (x, y) px to fixed-film points."""
        points = np.asarray(points_px, dtype=np.float64).reshape(-1, 2)
        return points @ self.matrix[:, :2].T + self.matrix[:, 2]

    def inverse(self) -> FloatArray:
        """The (2, 3) matrix that maps fixed-film pixels back to the moving film."""
        return invert_matrix(self.matrix)


def invert_matrix(matrix: npt.ArrayLike) -> FloatArray:
    """Inverse of a (2, 3) affine pixel matrix, as a (2, 3) matrix."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (2, 3) or not np.all(np.isfinite(m)):
        message = f"A transform must be a finite 2 x 3 matrix, not an array of shape {m.shape}."
        raise ValueError(message)
    full = np.vstack([m, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def similarity_matrix(
    rotation_rad: float, scale: float, shift_px: tuple[float, float]
) -> FloatArray:
    """(2, 3) matrix of ``x' = scale · R(rotation) · x + shift`` in pixel (x, y)."""
    c, s = scale * math.cos(rotation_rad), scale * math.sin(rotation_rad)
    return np.array([[c, -s, shift_px[0]], [s, c, shift_px[1]]], dtype=np.float64)


# ---------------------------------------------------------------- metal maps


@dataclass(frozen=True)
class _Metal:
    """One film reduced to its implant, at one working resolution."""

    level: npt.NDArray[np.float32]  # metal map 0..1, implant only
    mask: npt.NDArray[np.bool_]  # the implant (metal map > 0.5)
    factor: int  # working px = factor full px


def _as_float(image: npt.ArrayLike, invert: bool, name: str) -> npt.NDArray[np.float32]:
    array = np.asarray(image)
    if array.ndim != 2 or min(array.shape) < 16:
        message = (
            f"The {name} film must be a 2-D image of at least 16 x 16 pixels, "
            f"not an array of shape {array.shape}."
        )
        raise RegistrationError(message)
    values = array.astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise RegistrationError(f"The {name} film has non-finite pixel values.")
    if invert:
        # MONOCHROME1: low stored values are bright; flip so that metal is high.
        values = np.float32(values.max() + values.min()) - values
    return values


def _downscale(values: npt.NDArray[np.float32], factor: int) -> npt.NDArray[np.float32]:
    if factor == 1:
        return values
    rows = values.shape[0] // factor * factor
    cols = values.shape[1] // factor * factor
    blocks = values[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor)
    return np.asarray(blocks.mean(axis=(1, 3)), dtype=np.float32)


def _metal_window(values: npt.NDArray[np.float32], name: str) -> tuple[float, float]:
    """(threshold, plateau) of the metal in this film's own grey values."""
    sample = values[::2, ::2].ravel() if values.size > 400_000 else values.ravel()
    low, high = np.percentile(sample, [1.0, 99.9])
    if high - low <= 0:
        raise RegistrationError(f"The {name} film is blank (one grey value): no implant to follow.")
    # Metal is the top of four grey-value classes (air, soft tissue, bone, metal); bone and soft
    # tissue stay in the lower classes, so a remodelling cortex or a changed soft-tissue
    # shadow never enters the map.
    threshold = float(filters.threshold_multiotsu(sample, classes=4)[-1])
    # A calibration ball (steel, often the brightest thing on the film) can claim the top class
    # and lift the threshold into the implant's own grey values, which changes the implant's
    # outline from film to film: take the classes again without the smaller bright objects.
    step = 2 if values.size > 400_000 else 1
    coarse = values[::step, ::step]
    labels, count = ndimage.label(coarse > threshold)
    if count > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        others = (labels > 0) & (labels != int(np.argmax(sizes)))
        others = ndimage.binary_dilation(others, iterations=2)
        sample = coarse[~others].ravel()
        threshold = float(filters.threshold_multiotsu(sample, classes=4)[-1])
    above = sample[sample > threshold]
    median = float(np.median(above)) if above.size else float(high)
    plateau = threshold + PLATEAU_FRACTION * (median - threshold)
    if plateau - threshold < 0.02 * (high - low):
        plateau = threshold + 0.02 * float(high - low)
    return threshold, plateau


def _implant_mask(metal: npt.NDArray[np.float32], name: str) -> npt.NDArray[np.bool_]:
    binary = metal > 0.5
    labels, count = ndimage.label(binary)
    if count == 0:
        raise RegistrationError(
            f"The {name} film shows no metal: registration follows the implant, "
            "so both films must show it. Check that the right films are paired."
        )
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    largest = labels == int(np.argmax(sizes))
    if largest.sum() < MIN_METAL_FRACTION * binary.size:
        raise RegistrationError(
            f"The {name} film shows too little metal ({int(largest.sum())} px) to register "
            "on the implant. Check that the right films are paired."
        )
    return largest


def _metal(
    values: npt.NDArray[np.float32], window: tuple[float, float], factor: int, name: str
) -> _Metal:
    threshold, plateau = window
    work = _downscale(values, factor)
    level = np.clip((work - threshold) / (plateau - threshold), 0.0, 1.0).astype(np.float32)
    mask = _implant_mask(level, name)
    # Keep the implant and its edge ramp; drop every other bright object.
    keep = ndimage.binary_dilation(mask, iterations=3)
    return _Metal(level=np.where(keep, level, 0).astype(np.float32), mask=mask, factor=factor)


# ---------------------------------------------------------------- initialisation


def _axis_and_size(mask: npt.NDArray[np.bool_]) -> tuple[tuple[float, float], float, float]:
    """Centroid (x, y), principal-axis angle (radians, x towards y) and size (px) of a mask."""
    props = measure.regionprops(mask.astype(np.uint8))[0]
    cy, cx = props.centroid
    mu = props.moments_central  # indexed [row power, column power]
    angle = 0.5 * math.atan2(2 * mu[1, 1], mu[0, 2] - mu[2, 0])
    size = math.sqrt(max(props.axis_major_length * props.axis_minor_length, 1.0))
    return (float(cx), float(cy)), angle, size


def _sample(level: npt.NDArray[np.float32], x: FloatArray, y: FloatArray) -> FloatArray:
    return np.asarray(
        ndimage.map_coordinates(level, [y, x], order=1, mode="constant", cval=0.0),
        dtype=np.float64,
    )


def _warp(level: npt.NDArray[np.float32], matrix: FloatArray, shape: tuple[int, int]) -> Any:
    """Resample the moving map onto the fixed grid; ``matrix`` maps moving → fixed."""
    inverse = invert_matrix(matrix)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    x = inverse[0, 0] * cols + inverse[0, 1] * rows + inverse[0, 2]
    y = inverse[1, 0] * cols + inverse[1, 1] * rows + inverse[1, 2]
    return _sample(level, x, y).reshape(shape)


def _initial(fixed: _Metal, moving: _Metal) -> FloatArray:
    """Rotation and size from moments, then the shift by phase correlation (working px)."""
    (fx, fy), f_angle, f_size = _axis_and_size(fixed.mask)
    (mx, my), m_angle, m_size = _axis_and_size(moving.mask)
    # The principal axis is defined modulo 180°; follow-up films differ by a few degrees.
    rotation = (f_angle - m_angle + math.pi / 2) % math.pi - math.pi / 2
    # A film that cuts part of the implant off shrinks its size: try no change as well.
    scale = float(np.clip(f_size / m_size, *SCALE_LIMITS))
    shape = (fixed.level.shape[0], fixed.level.shape[1])
    candidates = []
    for candidate in sorted({scale, 1.0}):
        matrix = similarity_matrix(rotation, candidate, (0.0, 0.0))
        matrix[:, 2] = np.array([fx, fy]) - matrix[:, :2] @ np.array([mx, my])
        warped = _warp(moving.level, matrix, shape)
        shift, _, _ = registration.phase_cross_correlation(fixed.level, warped, normalization=None)
        matrix[:, 2] += np.array([shift[1], shift[0]])
        cost = float(np.mean(np.square(fixed.level - _warp(moving.level, matrix, shape))))
        candidates.append((cost, matrix))
    return min(candidates, key=lambda pair: pair[0])[1]


# ---------------------------------------------------------------- refinement


def _to_full(factor: int) -> FloatArray:
    """Working px of ``factor`` → full px: working pixel ``i`` is centred on ``f·i + (f − 1)/2``."""
    offset = (factor - 1) / 2
    return np.array([[factor, 0, offset], [0, factor, offset], [0, 0, 1]], dtype=np.float64)


def _rescale(matrix: FloatArray, from_factor: int, to_factor: int) -> FloatArray:
    """The same transform expressed in the working pixels of another resolution."""
    full = (
        _to_full(from_factor)
        @ np.vstack([matrix, [0, 0, 1]])
        @ np.linalg.inv(_to_full(from_factor))
    )
    return (np.linalg.inv(_to_full(to_factor)) @ full @ _to_full(to_factor))[:2]


def _inside(x: FloatArray, y: FloatArray, shape: tuple[int, ...], margin: float) -> Any:
    return (
        (x >= margin) & (x <= shape[1] - 1 - margin) & (y >= margin) & (y <= shape[0] - 1 - margin)
    )


def _refine(fixed: _Metal, moving: _Metal, matrix: FloatArray, sigma: float) -> FloatArray:
    """Least-squares fit of the similarity transform between the smoothed metal maps.

    Only pixels near the fixed film's metal edges take part (elsewhere both maps are flat);
    pixels near either film's border are left out, so an implant cut off by the border of
    one film does not pull.
    """
    f_map = ndimage.gaussian_filter(fixed.level, sigma)
    m_map = ndimage.gaussian_filter(moving.level, sigma)
    gradient = ndimage.gaussian_gradient_magnitude(fixed.level, sigma)
    band = gradient > 0.02 * float(gradient.max())
    band = ndimage.binary_dilation(band, iterations=math.ceil(2 * sigma) + 2)
    ys, xs = np.nonzero(band)
    margin = 3 * sigma + 1
    keep = _inside(xs.astype(np.float64), ys.astype(np.float64), f_map.shape, margin)
    xs, ys = xs[keep].astype(np.float64), ys[keep].astype(np.float64)
    if xs.size > 80_000:
        stride = math.ceil(xs.size / 80_000)
        xs, ys = xs[::stride], ys[::stride]
    if xs.size < 20:
        return matrix
    targets = f_map[ys.astype(np.intp), xs.astype(np.intp)].astype(np.float64)
    centre = np.array([xs.mean(), ys.mean()])
    # Angle and log-scale are expressed as arc lengths at this radius, so every parameter is in
    # pixels and the solver's steps are balanced.
    radius = max(float(np.sqrt(np.mean((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2))), 1.0)
    start = np.vstack([matrix, [0.0, 0.0, 1.0]])

    def compose(params: FloatArray) -> FloatArray:
        delta = similarity_matrix(params[0] / radius, math.exp(params[1] / radius), (0.0, 0.0))
        delta[:, 2] = centre - delta[:, :2] @ centre + params[2:]
        return np.vstack([delta, [0.0, 0.0, 1.0]]) @ start

    def residuals(params: FloatArray) -> FloatArray:
        inverse = np.linalg.inv(compose(params))
        mx = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
        my = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
        valid = _inside(mx, my, m_map.shape, margin)
        return np.where(valid, targets - _sample(m_map, mx, my), 0.0)

    fit = optimize.least_squares(
        residuals, np.zeros(4), diff_step=1e-3, loss="cauchy", f_scale=ROBUST_SCALE
    )
    return compose(fit.x)[:2]


# ---------------------------------------------------------------- the public function


def _fit_quality(fixed: _Metal, moving: _Metal, matrix: FloatArray) -> tuple[float, float]:
    """(residual, overlap) of a transform at one working resolution."""
    shape = (fixed.level.shape[0], fixed.level.shape[1])
    inverse = invert_matrix(matrix)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    mx = inverse[0, 0] * cols + inverse[0, 1] * rows + inverse[0, 2]
    my = inverse[1, 0] * cols + inverse[1, 1] * rows + inverse[1, 2]
    valid = _inside(mx, my, moving.level.shape, 1.0)
    f_map = ndimage.gaussian_filter(fixed.level, 1.0)
    m_map = _sample(ndimage.gaussian_filter(moving.level, 1.0), mx.ravel(), my.ravel())
    m_map = m_map.reshape(shape)
    overlap = float(np.count_nonzero(fixed.mask & valid)) / float(np.count_nonzero(fixed.mask))
    union = (fixed.mask | (m_map > 0.5)) & valid
    if not np.any(union):
        return 1.0, overlap
    residual = float(np.sqrt(np.mean(np.square(f_map[union] - m_map[union]))))
    return residual, overlap


def register(
    fixed: npt.ArrayLike,
    moving: npt.ArrayLike,
    *,
    invert_fixed: bool = False,
    invert_moving: bool = False,
) -> Registration:
    """Register the moving film onto the fixed film on the implant.

    Parameters
    ----------
    fixed : 2-D array, the earlier film's stored pixel values (after the Modality LUT)
    moving : 2-D array, the later film's stored pixel values
    invert_fixed, invert_moving : True for a film whose (0028,0004) *Photometric
        Interpretation* is MONOCHROME1 (low values bright), so metal is found as the bright
        structure on both films

    Returns
    -------
    Registration
        ``.matrix`` maps a moving pixel (x, y, 1) to the fixed pixel (x, y), pixel
        (x=column, y=row), origin at the centre of the top-left pixel.

    Raises
    ------
    RegistrationError
        When a film shows no metal, the films share too little of the implant, the fitted
        transform is implausible for two films of one limb, or the residual is too high
        (the films do not show the same implant).
    """
    fixed_values = _as_float(fixed, invert_fixed, "earlier (fixed)")
    moving_values = _as_float(moving, invert_moving, "later (moving)")
    largest = max(*fixed_values.shape, *moving_values.shape)
    coarse = max(1, math.ceil(largest / COARSE_SIDE_PX))
    windows = (
        _metal_window(fixed_values, "earlier (fixed)"),
        _metal_window(moving_values, "later (moving)"),
    )

    def metal_pair(factor: int) -> tuple[_Metal, _Metal]:
        return (
            _metal(fixed_values, windows[0], factor, "earlier (fixed)"),
            _metal(moving_values, windows[1], factor, "later (moving)"),
        )

    fixed_coarse, moving_coarse = metal_pair(coarse)
    matrix = _initial(fixed_coarse, moving_coarse)
    for sigma in (3.0, 1.5, 1.0):
        matrix = _refine(fixed_coarse, moving_coarse, matrix, sigma)
    if coarse > 1:
        # The fine levels work on the implant's neighbourhood only: a full-size film is
        # mostly soft tissue and air, which the metal maps ignore anyway.
        fixed_box = _implant_box(fixed_coarse, fixed_values.shape)
        moving_box = _implant_box(moving_coarse, moving_values.shape)
        full = _rescale(matrix, coarse, 1)
        crop = _shift(full, moving_box, fixed_box)
        fixed_crop = fixed_values[fixed_box[1] : fixed_box[3], fixed_box[0] : fixed_box[2]]
        moving_crop = moving_values[moving_box[1] : moving_box[3], moving_box[0] : moving_box[2]]
        factor = coarse
        while factor > 1:
            finer = max(1, factor // 4)
            crop = _rescale(crop, 1, finer) if factor == coarse else _rescale(crop, factor, finer)
            fixed_fine = _metal(fixed_crop, windows[0], finer, "earlier (fixed)")
            moving_fine = _metal(moving_crop, windows[1], finer, "later (moving)")
            crop = _refine(fixed_fine, moving_fine, crop, 1.0)
            factor = finer
        matrix = _shift(crop, (-moving_box[0], -moving_box[1]), (-fixed_box[0], -fixed_box[1]))
    else:
        matrix = _rescale(matrix, coarse, 1)
    coarse_matrix = _rescale(matrix, 1, coarse)
    residual, overlap = _fit_quality(fixed_coarse, moving_coarse, coarse_matrix)
    result = Registration(matrix=matrix, residual=residual, overlap=overlap)
    _check(result)
    return result


def _implant_box(metal: _Metal, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) full-resolution pixels around a coarse implant mask, with a margin."""
    rows, cols = np.nonzero(metal.mask)
    f = metal.factor
    margin = 4 * f
    x0 = max(0, int(cols.min()) * f - margin)
    y0 = max(0, int(rows.min()) * f - margin)
    x1 = min(shape[1], (int(cols.max()) + 1) * f + margin)
    y1 = min(shape[0], (int(rows.max()) + 1) * f + margin)
    return x0, y0, x1, y1


def _shift(
    matrix: FloatArray, moving_origin: Sequence[int], fixed_origin: Sequence[int]
) -> FloatArray:
    """The matrix between crops whose top-left pixels are ``*_origin`` (x, y) of the films."""
    shifted = matrix.copy()
    # x_f - f0 = A (x_m' + m0) + t - f0 for crop pixels x_m' = x_m - m0.
    shifted[:, 2] = matrix[:, :2] @ np.asarray(moving_origin[:2], float) + matrix[:, 2]
    shifted[:, 2] -= np.asarray(fixed_origin[:2], float)
    return shifted


def _check(result: Registration) -> None:
    advice = "Check that both films show the same implant of the same limb and view."
    if result.overlap < MIN_OVERLAP:
        message = (
            f"The later film shows only {100 * result.overlap:.0f} % of the implant seen on the "
            f"earlier film (at least {100 * MIN_OVERLAP:.0f} % is needed). {advice}"
        )
        raise RegistrationError(message)
    if (
        not SCALE_LIMITS[0] <= result.scale <= SCALE_LIMITS[1]
        or abs(result.rotation_deg) > MAX_ROTATION_DEG
    ):
        message = (
            f"The films would need a magnification of {result.scale:.2f} and a rotation of "
            f"{result.rotation_deg:.1f}° to match, beyond what two films of one limb differ "
            f"by. {advice}"
        )
        raise RegistrationError(message)
    if result.residual > MAX_RESIDUAL:
        message = (
            f"The implants on the two films do not match (residual {result.residual:.2f}, "
            f"at most {MAX_RESIDUAL:.2f} is accepted). {advice}"
        )
        raise RegistrationError(message)
