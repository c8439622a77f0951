"""Registration of 12 m films onto 6 m films of the same implant, rendered twice."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from collarreader.errors import RegistrationError
from collarreader.measure.registration import (
    Registration,
    invert_matrix,
    register,
    similarity_matrix,
)
from collarreader.study.phantom_pairs import FilmPair, render_pair

MAX_RMS_PX = 0.5


def landmark_rms_px(pair: FilmPair, result: Registration) -> float:
    moving, fixed = pair.landmarks_px()
    assert len(moving) >= 4, "the pair must show at least four implant landmarks on both films"
    errors = result.apply(moving) - fixed
    return float(math.sqrt(np.mean(np.sum(np.square(errors), axis=1))))


# (seed, view, rotation °, magnification, shift px, exposure gain, soft tissue mm, cortex mm,
#  MONOCHROME1)
PAIRS = [
    pytest.param((3, 0, 0.0, 1.0, (0, 0), 1.0, 0.0, 0.0, False), id="same-position"),
    pytest.param((3, 0, 8.0, 1.08, (40, -30), 0.8, 15.0, 0.7, False), id="hip-AP+8deg-x1.08"),
    pytest.param((3, 1, 8.0, 1.08, (40, -30), 0.8, 15.0, 0.7, False), id="hip-LAT+8deg-x1.08"),
    pytest.param((5, 0, -8.0, 0.92, (-40, 25), 0.8, 15.0, 0.7, True), id="hip-AP-8deg-x0.92-MONO1"),
    pytest.param((5, 1, -8.0, 0.92, (-40, 25), 1.0, -15.0, 0.7, True), id="hip-LAT-8deg-MONO1"),
    pytest.param((7, 0, 5.0, 1.05, (20, 40), 0.8, 15.0, 0.7, False), id="hip-AP+5deg-exposure"),
    pytest.param((11, 0, -6.0, 0.95, (-30, -40), 0.8, 10.0, 0.7, False), id="knee-AP-6deg"),
    pytest.param((11, 1, -6.0, 0.95, (-30, -40), 0.8, 10.0, 0.7, False), id="knee-LAT-6deg"),
    pytest.param((7, 1, 5.0, 1.05, (20, 40), 1.0, 0.0, 1.5, False), id="hip-LAT-cortex+1.5mm"),
    pytest.param((13, 0, 3.0, 1.0, (40, 0), 1.25, -20.0, 0.0, False), id="soft-tissue-moved"),
]


@pytest.mark.parametrize("case", PAIRS)
def test_implant_landmarks_agree_within_half_a_pixel(case: tuple[Any, ...]) -> None:
    seed, image, rotation, magnification, shift, gain, soft, cortex, mono1 = case
    pair = render_pair(
        seed=seed,
        image=image,
        rotation_deg=rotation,
        magnification=magnification,
        shift_px=shift,
        exposure_gain=gain,
        soft_tissue_mm=soft,
        cortex_mm=cortex,
        monochrome1=mono1,
    )
    result = register(pair.fixed, pair.moving, invert_moving=mono1)
    assert landmark_rms_px(pair, result) <= MAX_RMS_PX
    # The moving film is magnified by m and turned by r: mapping it back scales by 1/m, turns -r.
    assert result.scale == pytest.approx(1.0 / magnification, rel=0.005)
    assert result.rotation_deg == pytest.approx(-rotation, abs=0.2)
    assert result.residual < 0.1
    assert result.overlap > 0.8


def test_both_films_monochrome1_register_like_monochrome2() -> None:
    pair = render_pair(seed=3, rotation_deg=4.0, magnification=1.04, shift_px=(10, 10))
    plain = register(pair.fixed, pair.moving)
    inverted = register(
        4095 - pair.fixed, 4095 - pair.moving, invert_fixed=True, invert_moving=True
    )
    assert landmark_rms_px(pair, inverted) <= MAX_RMS_PX
    np.testing.assert_allclose(inverted.matrix, plain.matrix, atol=0.05)


def test_films_of_different_implants_are_refused() -> None:
    hip = render_pair(seed=3)
    knee = render_pair(seed=11)
    with pytest.raises(RegistrationError, match=r"do not match|shows only|beyond"):
        register(hip.fixed, knee.fixed)


def test_film_without_metal_is_refused() -> None:
    pair = render_pair(seed=3)
    rng = np.random.default_rng(0)
    soft_only = (2000 + 50 * rng.standard_normal(pair.fixed.shape)).astype(np.uint16)
    with pytest.raises(RegistrationError, match="later \\(moving\\) film shows"):
        register(pair.fixed, soft_only)


def test_blank_film_is_refused() -> None:
    pair = render_pair(seed=3)
    with pytest.raises(RegistrationError, match="blank"):
        register(np.full_like(pair.fixed, 1000), pair.moving)


def test_too_little_overlap_is_refused() -> None:
    pair = render_pair(seed=3)
    # The later film shows only the top of the implant: a different field of view.
    cropped = pair.fixed[: pair.fixed.shape[0] // 3]
    with pytest.raises(RegistrationError):
        register(pair.fixed, cropped)


def test_bad_input_shape_is_refused() -> None:
    with pytest.raises(RegistrationError, match="2-D image"):
        register(np.zeros((4, 4)), np.zeros((64, 64)))


def test_matrix_helpers_round_trip() -> None:
    matrix = similarity_matrix(math.radians(7.0), 1.06, (12.5, -3.0))
    inverse = invert_matrix(matrix)
    point = np.array([40.0, 17.0])
    forward = matrix[:, :2] @ point + matrix[:, 2]
    np.testing.assert_allclose(inverse[:, :2] @ forward + inverse[:, 2], point, atol=1e-9)
    with pytest.raises(ValueError, match="2 x 3"):
        invert_matrix(np.eye(3))
