"""Intensity profiles and dark-band widths on synthetic images with known bands."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from collarreader.measure.profile import (
    GapMethod,
    measure_gap,
    measure_gap_along,
    sample_profiles,
    scan_gap_along,
    segment_normal,
)

BONE, GAP, COLLAR = 2000.0, 1300.0, 3000.0


def band_image(
    width_px: float,
    sigma_px: float,
    *,
    angle_deg: float = 0.0,
    shift_px: float = 0.0,
    noise: float = 0.0,
    size: int = 120,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dark band between bone (below the line) and collar (above), blurred exactly.

    The band lies along a line through the image centre at ``angle_deg`` (0 = along x);
    its high edge (towards the collar) is at offset ``shift_px`` along the line's profile
    normal, its low edge at ``shift_px - width_px``. Returns the image and the line's ends.
    """
    centre = np.array([size / 2.0, size / 2.0])
    angle = math.radians(angle_deg)
    direction = np.array([math.cos(angle), math.sin(angle)])
    p0 = centre - 30.0 * direction
    p1 = centre + 30.0 * direction
    normal = segment_normal(p0, p1)
    ys, xs = np.mgrid[0:size, 0:size].astype(float)
    offset = (xs - centre[0]) * normal[0] + (ys - centre[1]) * normal[1]
    low_edge, high_edge = shift_px - width_px, shift_px
    image = (
        BONE
        + (GAP - BONE) * special.ndtr((offset - low_edge) / sigma_px)
        + (COLLAR - GAP) * special.ndtr((offset - high_edge) / sigma_px)
    )
    if noise:
        image = image + np.random.default_rng(seed).normal(0.0, noise, image.shape)
    return image, p0, p1


def test_normal_points_left_of_the_walk_on_screen() -> None:
    assert segment_normal((0, 0), (10, 0)) == pytest.approx([0.0, -1.0])
    assert segment_normal((0, 0), (0, 10)) == pytest.approx([1.0, 0.0])


def test_degenerate_segment_is_refused() -> None:
    with pytest.raises(ValueError, match="no length"):
        segment_normal((3, 4), (3, 4))


def test_samples_are_bilinear_in_the_documented_frame() -> None:
    ys, xs = np.mgrid[0:50, 0:60].astype(float)
    image = 2.0 * xs + 3.0 * ys  # bilinear interpolation is exact on a linear image
    stack = sample_profiles(image, (10, 20), (40, 20), half_length_px=5, step_px=0.5)
    assert stack.values.shape == (31, 21)
    assert stack.positions_px[0] == pytest.approx([10, 20])
    assert stack.positions_px[-1] == pytest.approx([40, 20])
    # Normal (0, -1): offset t is the point (x, 20 - t).
    expected = 2.0 * stack.positions_px[:, 0, None] + 3.0 * (20.0 - stack.offsets_px[None, :])
    assert stack.values == pytest.approx(expected)


def test_inset_leaves_the_segment_ends_out() -> None:
    image = np.zeros((40, 40))
    stack = sample_profiles(image, (5, 20), (35, 20), half_length_px=3, inset_px=5, spacing_px=2)
    assert stack.along_px.min() >= 5
    assert stack.along_px.max() <= 25


@pytest.mark.parametrize("angle_deg", [0.0, 17.0, 90.0])
@pytest.mark.parametrize("sigma_px", [0.8, 1.2])
@pytest.mark.parametrize("width_px", [2.5, 4.0, 12.0])
def test_fit_measures_blurred_bands_to_a_tenth_of_a_pixel(
    width_px: float, sigma_px: float, angle_deg: float
) -> None:
    image, p0, p1 = band_image(width_px, sigma_px, angle_deg=angle_deg, noise=15.0)
    found = measure_gap_along(
        image, p0, p1, half_length_px=width_px + 10, search_px=(-width_px - 2, 2)
    )
    assert found is not None
    assert found.method is GapMethod.FIT
    # Bilinear sampling of a tilted image adds a little non-Gaussian blur: bands only about
    # two blur widths wide get 0.15 px.
    tolerance = 0.1 if width_px >= 3 * sigma_px else 0.15
    assert found.width_px == pytest.approx(width_px, abs=tolerance)
    assert found.high_edge_px == pytest.approx(0.0, abs=tolerance)
    assert found.sigma_px == pytest.approx(sigma_px, abs=0.15)
    assert found.confidence > 0.5


@pytest.mark.parametrize("width_px", [5.0, 10.0, 25.0])
def test_half_maximum_is_unbiased_for_bands_wider_than_the_blur(width_px: float) -> None:
    image, p0, p1 = band_image(width_px, 1.0, angle_deg=8.0, noise=10.0)
    found = measure_gap_along(
        image, p0, p1, half_length_px=width_px + 10, method="half_max", search_px=(-width_px, 1)
    )
    assert found is not None
    assert found.method is GapMethod.HALF_MAX
    assert found.width_px == pytest.approx(width_px, abs=0.15)


def test_half_maximum_overestimates_bands_as_narrow_as_the_blur_and_the_fit_does_not() -> None:
    image, p0, p1 = band_image(2.0, 1.2, noise=5.0)
    kwargs = {"half_length_px": 12.0, "search_px": (-4.0, 2.0)}
    half_max = measure_gap_along(image, p0, p1, method="half_max", **kwargs)
    fitted = measure_gap_along(image, p0, p1, method="fit", **kwargs)
    assert half_max is not None
    assert fitted is not None
    assert half_max.width_px > 2.4
    assert fitted.width_px == pytest.approx(2.0, abs=0.15)


@pytest.mark.parametrize("shift_px", [0.0, 0.3, 0.55, 0.8])
def test_edges_follow_sub_pixel_shifts(shift_px: float) -> None:
    image, p0, p1 = band_image(5.0, 0.9, angle_deg=3.0, shift_px=shift_px, noise=5.0)
    found = measure_gap_along(image, p0, p1, half_length_px=15, search_px=(-6, 3))
    assert found is not None
    assert found.high_edge_px == pytest.approx(shift_px, abs=0.06)
    assert found.low_edge_px == pytest.approx(shift_px - 5.0, abs=0.06)
    assert found.centre_px == pytest.approx(shift_px - 2.5, abs=0.06)


def test_a_step_without_a_band_is_no_gap() -> None:
    offsets = np.arange(-20, 20.001, 0.25)
    rng = np.random.default_rng(3)
    step = BONE + (COLLAR - BONE) * special.ndtr(offsets / 1.0) + rng.normal(0, 5, offsets.size)
    assert measure_gap(offsets, step, noise=5.0) is None


def test_flat_noise_is_no_gap() -> None:
    offsets = np.arange(-20, 20.001, 0.25)
    flat = BONE + np.random.default_rng(4).normal(0, 5, offsets.size)
    assert measure_gap(offsets, flat, noise=5.0) is None


def test_a_bright_line_is_not_a_dark_band() -> None:
    image, p0, p1 = band_image(4.0, 1.0)
    ridge = 2 * BONE - image  # the band becomes bright, the surroundings darker
    ridge = np.where(ridge < BONE, BONE, ridge)
    assert measure_gap_along(ridge, p0, p1, half_length_px=12, search_px=(-5, 1)) is None


def test_a_band_too_shallow_for_the_noise_is_no_gap() -> None:
    offsets = np.arange(-20, 20.001, 0.25)
    rng = np.random.default_rng(5)
    shallow = (
        BONE
        - 10.0 * (special.ndtr((offsets + 3) / 1.0) - special.ndtr(offsets / 1.0))
        + rng.normal(0, 5, offsets.size)
    )
    assert measure_gap(offsets, shallow, noise=5.0) is None


def test_monochrome1_values_measure_the_same_when_inverted() -> None:
    image, p0, p1 = band_image(6.0, 1.0, noise=8.0)
    stored = 4095.0 - image
    plain = measure_gap_along(image, p0, p1, half_length_px=14, search_px=(-7, 2))
    inverted = measure_gap_along(stored, p0, p1, half_length_px=14, search_px=(-7, 2), invert=True)
    assert plain is not None
    assert inverted is not None
    assert inverted.width_px == pytest.approx(plain.width_px, abs=1e-9)
    assert measure_gap_along(stored, p0, p1, half_length_px=14, search_px=(-7, 2)) is None


def test_width_in_mm_uses_the_spacing_along_the_normal() -> None:
    image, p0, p1 = band_image(6.0, 1.0)
    found = measure_gap_along(image, p0, p1, half_length_px=14, search_px=(-7, 2))
    assert found is not None
    # Normal (0, −1) runs along rows: only the row spacing counts.
    assert found.width_mm((0.2, 0.1)) == pytest.approx(found.width_px * 0.2)
    with pytest.raises(ValueError, match="spacing"):
        found.width_mm((0.0, 0.1))


def test_scan_finds_the_band_only_where_it_runs() -> None:
    image, p0, p1 = band_image(5.0, 0.9, noise=10.0)
    # Fill the band with bone over the left half of the segment (x < 60): "bridged".
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]].astype(float)
    bridged = xs < 60.0
    image = np.where(bridged & (ys > 55) & (ys < 67), BONE, image)
    scan = scan_gap_along(
        image, p0, p1, half_length_px=12, window_px=6, stride_px=2, search_px=(-6, 2)
    )
    assert scan.gap_fraction == pytest.approx(0.5, abs=0.1)
    first_x = p0[0] + scan.along_px
    assert not np.any(scan.present[first_x < 55])
    assert np.all(scan.present[first_x > 66])
    assert np.nanmedian(scan.widths_px) == pytest.approx(5.0, abs=0.25)


def test_mismatched_profile_arrays_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        measure_gap(np.arange(10.0), np.arange(9.0))
    with pytest.raises(ValueError, match="increase"):
        measure_gap(np.arange(10.0)[::-1], np.arange(10.0))
