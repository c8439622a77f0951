"""Independent phantom renderers for the measurement tests (not the project's generator).

The fixtures hand the renderers to the tests (``--import-mode=importlib`` has no test package
to import them from).

Written separately from :mod:`collarreader.study.phantom` so that a shared mistake cannot make
both the image and its measurement wrong in the same way: intensities are line integrals of
attenuation through analytic solids (a sphere's chord ``2 sqrt(R² - r²)``, a tube's walls),
sampled at several points per pixel and averaged (pixel integration), blurred by a mixture of
a box (detector aperture) and a Gaussian with a long-tailed halo (scatter), then shaded by a
heel-effect gradient and given Gaussian noise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from scipy import ndimage

FloatArray = npt.NDArray[np.float64]


def grid(shape: tuple[int, int], supersample: int) -> tuple[FloatArray, FloatArray]:
    """Sub-pixel sample coordinates (x, y) in pixel units, pixel centres at integers."""
    height, width = shape
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    xs = (np.arange(width)[:, None] + offsets[None, :]).ravel()
    ys = (np.arange(height)[:, None] + offsets[None, :]).ravel()
    return np.meshgrid(xs, ys)


def finish(
    attenuation_fine: FloatArray,
    supersample: int,
    *,
    blur_px: float,
    noise: float,
    rng: np.random.Generator,
    heel: float = 0.0,
    monochrome1: bool = False,
    scale: float = 1000.0,
    offset: float = 200.0,
) -> FloatArray:
    """Blur (box + Gaussian + 5 % halo), integrate pixels, shade, add noise, encode."""
    fine_sigma = blur_px * supersample
    blurred = ndimage.uniform_filter(attenuation_fine, size=supersample // 2 + 1)
    core = ndimage.gaussian_filter(blurred, fine_sigma)
    halo = ndimage.gaussian_filter(blurred, 6.0 * fine_sigma + supersample)
    mixed = 0.95 * core + 0.05 * halo
    height = attenuation_fine.shape[0] // supersample
    width = attenuation_fine.shape[1] // supersample
    pixels = mixed.reshape(height, supersample, width, supersample).mean(axis=(1, 3))
    # Heel effect: the exposure (and so the log-signal's gain) drifts across the field.
    gain = 1.0 + heel * np.linspace(-0.5, 0.5, width)[None, :]
    values = offset + scale * pixels * gain + rng.normal(0.0, noise, pixels.shape)
    if monochrome1:
        values = 4095.0 - values
    return np.asarray(values, dtype=np.float64)


def ball_image(
    *,
    diameter_px: float,
    centre_px: tuple[float, float],
    shape: tuple[int, int],
    blur_px: float,
    noise: float,
    rng: np.random.Generator,
    tissue_edge: bool = True,
    heel: float = 0.3,
    monochrome1: bool = False,
    axes_ratio: float = 1.0,
    supersample: int = 4,
) -> FloatArray:
    """A metal ball (chord-length attenuation) with a soft-tissue border across it.

    ``axes_ratio`` > 1 stretches the ball horizontally into an ellipsoid (not a ball).
    """
    xs, ys = grid(shape, supersample)
    radius = 0.5 * diameter_px
    dx = (xs - centre_px[0]) / axes_ratio
    dy = ys - centre_px[1]
    chord = 2.0 * np.sqrt(np.clip(radius * radius - dx * dx - dy * dy, 0.0, None))
    attenuation = 0.5 * chord / radius  # 1.0 through the middle
    if tissue_edge:
        # A thigh's outline: tissue thickness grows like sqrt of the distance inside a slanted
        # border passing through the ball, with a slope of its own.
        inside = (xs - centre_px[0]) * 0.6 + (ys - centre_px[1]) * 0.8 + 0.3 * radius
        attenuation = attenuation + 0.25 * np.sqrt(np.clip(inside, 0.0, None) / radius)
    return finish(
        attenuation,
        supersample,
        blur_px=blur_px,
        noise=noise,
        rng=rng,
        heel=heel,
        monochrome1=monochrome1,
    )


def tube_image(
    *,
    outer_diameter_px: float,
    wall_px: float,
    centre_x_px: float,
    shape: tuple[int, int],
    blur_px: float,
    noise: float,
    rng: np.random.Generator,
    supersample: int = 4,
    bone_inside: bool = True,
) -> FloatArray:
    """A vertical metal collar (a tube, walls ``wall_px`` thick) over bone, soft tissue about."""
    xs, _ys = grid(shape, supersample)
    outer = 0.5 * outer_diameter_px
    inner = outer - wall_px
    dx = xs - centre_x_px
    outer_chord = 2.0 * np.sqrt(np.clip(outer * outer - dx * dx, 0.0, None))
    inner_chord = 2.0 * np.sqrt(np.clip(inner * inner - dx * dx, 0.0, None))
    attenuation = 1.2 * (outer_chord - inner_chord) / outer
    if bone_inside:
        attenuation = attenuation + 0.15 * inner_chord / outer
    tissue = 0.2 * np.sqrt(np.clip(1.0 - (dx / (3.0 * outer)) ** 2, 0.0, None))
    return finish(
        attenuation + tissue, supersample, blur_px=blur_px, noise=noise, rng=rng, heel=0.2
    )


def rll_image(
    *,
    width_mm: float,
    pixel_mm: float,
    blur_mm: float,
    collar_radius_mm: float,
    bone_contrast: float,
    rng: np.random.Generator,
    trace_offset_mm: float = 0.0,
    noise: float = 6.0,
    monochrome1: bool = False,
    texture: float = 0.15,
    tissue: float = 0.15,
    field_mm: float = 16.0,
    supersample: int = 4,
) -> tuple[FloatArray, list[list[float]]]:
    """A collar's curved edge, a radiolucent band of ``width_mm`` against it, then bone.

    The bone (``bone_contrast`` of the metal's attenuation) has a trabecular texture (a
    smoothed random field, ±``texture`` of its level), a cortex–canal step 2–3 mm out (a
    wider dark band than a thin line), and a soft-tissue border crosses the field. The metal
    is a disc of ``collar_radius_mm`` whose centre lies off the field, in a random direction.

    Returns the pixels and a traced line: four clicks along the band, ``trace_offset_mm``
    away from its middle (positive: towards the bone).
    """
    size = round(field_mm / pixel_mm)
    xs, ys = grid((size, size), supersample)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    towards = np.array([np.cos(angle), np.sin(angle)])
    middle = np.array([size / 2.0, size / 2.0])
    radius_px = collar_radius_mm / pixel_mm
    width_px = width_mm / pixel_mm
    centre = middle - towards * (radius_px + 0.5 * width_px)
    r = np.hypot(xs - centre[0], ys - centre[1])
    fine_mm = pixel_mm / supersample
    field = ndimage.gaussian_filter(rng.normal(size=xs.shape), 0.25 / fine_mm)
    field /= field.std()
    canal_px = radius_px + width_px + rng.uniform(2.0, 3.0) / pixel_mm
    bone = bone_contrast * (1.0 + texture * field)
    bone = np.where(r > canal_px, 0.35 * bone, bone)
    attenuation = np.where(r < radius_px, 1.0, np.where(r < radius_px + width_px, 0.0, bone))
    # A soft-tissue border across the field, at an angle of its own.
    tilt = rng.uniform(0.0, 2.0 * np.pi)
    across = (xs - middle[0]) * np.cos(tilt) + (ys - middle[1]) * np.sin(tilt)
    attenuation = attenuation + tissue * special_erf(across / (0.8 / pixel_mm))
    pixels = finish(
        attenuation,
        supersample,
        blur_px=blur_mm / pixel_mm,
        noise=noise,
        rng=rng,
        heel=0.1,
        monochrome1=monochrome1,
    )
    trace_r = radius_px + 0.5 * width_px + trace_offset_mm / pixel_mm
    half_arc = 4.0 / collar_radius_mm  # an 8 mm stretch of the interface
    angles = angle + np.linspace(-half_arc, half_arc, 4)
    line = [
        [float(centre[0] + trace_r * np.cos(a)), float(centre[1] + trace_r * np.sin(a))]
        for a in angles
    ]
    return pixels, line


def special_erf(values: FloatArray) -> FloatArray:
    """The error function (a smooth step from −1 to 1)."""
    from scipy import special

    return np.asarray(special.erf(values), dtype=np.float64)


@pytest.fixture
def render_ball() -> Callable[..., FloatArray]:
    """:func:`ball_image`."""
    return ball_image


@pytest.fixture
def render_tube() -> Callable[..., FloatArray]:
    """:func:`tube_image`."""
    return tube_image


@pytest.fixture
def render_rll() -> Callable[..., tuple[FloatArray, list[list[float]]]]:
    """:func:`rll_image`."""
    return rll_image
