"""Ball fit and caliper snapping on phantoms rendered in the tests (see conftest.py)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from collarreader.errors import MeasurementError
from collarreader.measure.calibration import BallFit, fit_ball, snap_caliper

Render = Callable[..., npt.NDArray[np.float64]]

# (diameter px, blur px, MONOCHROME1): diameters across 60–260 px, two blurs, both photometrics.
BALLS = [
    (60.0, 0.6, False),
    (60.0, 1.5, True),
    (97.3, 1.1, True),
    (143.6, 0.8, False),
    (188.2, 1.6, True),
    (260.0, 1.2, False),
]


def _ball(
    render_ball: Render, diameter: float, blur: float, mono1: bool, seed: int
) -> tuple[npt.NDArray[np.float64], tuple[float, float], np.random.Generator]:
    rng = np.random.default_rng(seed)
    size = int(diameter * 1.5) + 24
    centre = (size / 2 + rng.uniform(-0.5, 0.5), size / 2 + rng.uniform(-0.5, 0.5))
    pixels = render_ball(
        diameter_px=diameter,
        centre_px=centre,
        shape=(size, size + 7),
        blur_px=blur,
        noise=10.0,
        rng=rng,
        monochrome1=mono1,
    )
    return pixels, centre, rng


@pytest.mark.parametrize(("diameter", "blur", "mono1"), BALLS)
def test_ball_diameter_within_0_3_percent_from_clicks_anywhere_inside(
    render_ball: Render, diameter: float, blur: float, mono1: bool
) -> None:
    pixels, centre, rng = _ball(render_ball, diameter, blur, mono1, seed=int(diameter * 10))
    for _ in range(2):
        # Clicks anywhere within 40 % of the radius of the centre.
        angle = rng.uniform(0.0, 2.0 * math.pi)
        distance = 0.4 * 0.5 * diameter * math.sqrt(rng.uniform(0.0, 1.0))
        seed_px = (centre[0] + distance * math.cos(angle), centre[1] + distance * math.sin(angle))
        fit = fit_ball(pixels, seed_px, invert=mono1)
        assert isinstance(fit, BallFit)
        assert abs(fit.diameter_px / diameter - 1.0) <= 0.003, (fit, diameter)
        assert math.dist(fit.centre_px, centre) < 0.3
        assert fit.residual_px < 0.3
        # The soft-tissue border crosses the ball: a few sectors may be dropped, not most.
        assert fit.sectors_used >= 48


def test_click_on_the_extreme_40_percent_ring(render_ball: Render) -> None:
    pixels, centre, _rng = _ball(render_ball, 120.0, 1.0, False, seed=7)
    for angle in (0.0, 0.5 * math.pi, math.pi, 1.5 * math.pi):
        seed_px = (centre[0] + 24.0 * math.cos(angle), centre[1] + 24.0 * math.sin(angle))
        assert abs(fit_ball(pixels, seed_px).diameter_px / 120.0 - 1.0) <= 0.003


def test_the_wrong_photometric_is_no_ball(render_ball: Render) -> None:
    pixels, centre, _rng = _ball(render_ball, 100.0, 1.0, True, seed=3)
    with pytest.raises(MeasurementError, match="No calibration ball"):
        fit_ball(pixels, centre, invert=False)


def test_a_click_outside_the_ball_says_so(render_ball: Render) -> None:
    pixels, _centre, _rng = _ball(render_ball, 80.0, 1.0, False, seed=5)
    with pytest.raises(MeasurementError, match=r"No calibration ball at the click \(8, 9\)"):
        fit_ball(pixels, (8.0, 9.0))


def test_a_click_outside_the_image_says_so(render_ball: Render) -> None:
    pixels, _centre, _rng = _ball(render_ball, 80.0, 1.0, False, seed=5)
    with pytest.raises(MeasurementError, match="outside the image"):
        fit_ball(pixels, (-5.0, 10.0))


def test_a_ball_cut_by_the_image_edge_says_so(render_ball: Render) -> None:
    rng = np.random.default_rng(11)
    pixels = render_ball(
        diameter_px=100.0,
        centre_px=(40.0, 80.0),
        shape=(160, 160),
        blur_px=1.0,
        noise=8.0,
        rng=rng,
    )
    with pytest.raises(MeasurementError, match="cut by the image edge"):
        fit_ball(pixels, (45.0, 80.0))


def test_an_ellipse_is_not_taken_for_a_ball(render_ball: Render) -> None:
    rng = np.random.default_rng(12)
    pixels = render_ball(
        diameter_px=100.0,
        centre_px=(110.0, 90.0),
        shape=(180, 220),
        blur_px=1.0,
        noise=8.0,
        rng=rng,
        axes_ratio=1.12,
    )
    with pytest.raises(MeasurementError, match="ellipse"):
        fit_ball(pixels, (110.0, 90.0))


def test_flat_noise_has_no_ball() -> None:
    rng = np.random.default_rng(13)
    pixels = 500.0 + rng.normal(0.0, 10.0, (150, 150))
    with pytest.raises(MeasurementError, match="No calibration ball"):
        fit_ball(pixels, (75.0, 75.0))


def test_the_caliper_of_a_fit_spans_its_diameter(render_ball: Render) -> None:
    pixels, centre, _rng = _ball(render_ball, 90.0, 1.0, False, seed=21)
    fit = fit_ball(pixels, centre)
    (x0, y0), (x1, y1) = fit.caliper_px()
    assert math.hypot(x1 - x0, y1 - y0) == pytest.approx(fit.diameter_px)
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx(fit.centre_px)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="2-D image"):
        fit_ball(np.zeros((3, 3, 3)), (1.0, 1.0))
    with pytest.raises(ValueError, match="one finite"):
        fit_ball(np.zeros((30, 30)), (math.nan, 1.0))


# (outer diameter px, wall px, blur px, MONOCHROME1): a 38 mm collar at 0.14 mm/px is 271 px.
COLLARS = [
    (271.4, 24.0, 0.8, False),
    (271.4, 24.0, 1.6, True),
    (120.3, 60.15, 1.2, False),  # a solid stem
    (84.7, 16.0, 1.0, True),
]


@pytest.mark.parametrize(("diameter", "wall", "blur", "mono1"), COLLARS)
def test_snapped_caliper_within_0_3_percent(
    render_tube: Render, diameter: float, wall: float, blur: float, mono1: bool
) -> None:
    rng = np.random.default_rng(int(diameter))
    width = int(diameter * 1.7)
    centre = width / 2 + 0.37
    pixels = render_tube(
        outer_diameter_px=diameter,
        wall_px=wall,
        centre_x_px=centre,
        shape=(41, width),
        blur_px=blur,
        noise=10.0,
        rng=rng,
    )
    if mono1:
        pixels = 4095.0 - pixels
    for _ in range(3):
        # The reader's ends land a few pixels off the edges, either way.
        p0 = (centre - diameter / 2 + rng.uniform(-4, 4), 20.0 + rng.uniform(-2, 2))
        p1 = (centre + diameter / 2 + rng.uniform(-4, 4), p0[1])
        snapped = snap_caliper(pixels, p0, p1, invert=mono1)
        assert abs(snapped.length_px / diameter - 1.0) <= 0.003, snapped
        (x0, _y0), (x1, _y1) = snapped.points_px
        assert x0 < x1
        assert x0 == pytest.approx(centre - diameter / 2, abs=0.3)


def test_a_caliper_over_nothing_says_which_end(render_tube: Render) -> None:
    rng = np.random.default_rng(4)
    pixels = render_tube(
        outer_diameter_px=80.0,
        wall_px=15.0,
        centre_x_px=100.0,
        shape=(41, 200),
        blur_px=1.0,
        noise=8.0,
        rng=rng,
    )
    with pytest.raises(MeasurementError, match=r"No metal edge near the caliper's end at \(5, 20"):
        snap_caliper(pixels, (5.0, 20.0), (30.0, 20.0))
    with pytest.raises(MeasurementError, match="across the whole collar"):
        snap_caliper(pixels, (60.0, 20.0), (62.0, 20.0))
