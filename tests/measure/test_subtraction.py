"""Difference of registered follow-up films: remodelled bone stands out, the rest cancels."""

from __future__ import annotations

import numpy as np
import pytest

from collarreader.measure.registration import register
from collarreader.measure.subtraction import blend, compare, difference, resample_onto
from collarreader.study.phantom_anatomy import Scene
from collarreader.study.phantom_pairs import render_pair


def _uv_grid(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[0 : scene.rows, 0 : scene.cols].astype(np.float64)
    ux, uy = scene.u_dir
    vx, vy = scene.v_dir
    dx, dy = cols - scene.centre_px[0], rows - scene.centre_px[1]
    return (dx * ux + dy * uy) / scene.px_per_mm, (dx * vx + dy * vy) / scene.px_per_mm


@pytest.mark.parametrize("mono1", [False, True])
def test_cortex_gained_at_12m_is_bright_in_the_difference(mono1: bool) -> None:
    cortex_mm = 2.0
    pair = render_pair(
        seed=3,
        rotation_deg=4.0,
        magnification=1.04,
        shift_px=(10, -6),
        exposure_gain=0.8,
        cortex_mm=cortex_mm,
        monochrome1=mono1,
        rows=640,
        cols=512,
    )
    result = register(pair.fixed, pair.moving, invert_moving=mono1)
    comparison = compare(pair.fixed, pair.moving, result.matrix)
    change = difference(pair.fixed, comparison)
    u, v = _uv_grid(pair.fixed_scene)
    anatomy = pair.fixed_scene.anatomy
    shaft = (u < -20) & (u > -80) & comparison.valid
    gained = (
        shaft
        & (np.abs(v) > anatomy.bone_outer_mm + 0.5)
        & (np.abs(v) < anatomy.bone_outer_mm + cortex_mm - 0.5)
    )
    # Beside the bone nothing changed (the soft tissue did not move in this pair).
    beside = (
        shaft
        & (np.abs(v) > anatomy.bone_outer_mm + cortex_mm + 3)
        & (np.abs(v) < anatomy.bone_outer_mm + cortex_mm + 15)
    )
    noise = float(np.std(change[beside]))
    assert np.mean(change[gained]) > 3 * noise
    assert np.mean(change[gained]) > 3 * abs(float(np.mean(change[beside])))
    # MONOCHROME1 is matched away: the grey-value map's gain takes the sign.
    assert (comparison.gain < 0) == mono1


def test_blend_runs_from_earlier_to_later() -> None:
    pair = render_pair(seed=5, rotation_deg=-3.0, magnification=0.97, shift_px=(-8, 5))
    comparison = compare(pair.fixed, pair.moving, register(pair.fixed, pair.moving).matrix)
    earlier = blend(pair.fixed, comparison, 0.0)
    np.testing.assert_allclose(earlier, pair.fixed.astype(np.float32))
    later = blend(pair.fixed, comparison, 1.0)
    np.testing.assert_allclose(later[comparison.valid], comparison.matched[comparison.valid])
    with pytest.raises(ValueError, match="between 0 and 1"):
        blend(pair.fixed, comparison, 1.5)


def test_resample_with_identity_keeps_the_film() -> None:
    film = np.arange(48 * 40, dtype=np.float32).reshape(48, 40)
    values, valid = resample_onto(film, np.eye(2, 3), (48, 40))
    np.testing.assert_allclose(values, film)
    assert valid.all()
    shifted, inside = resample_onto(film, [[1, 0, 5], [0, 1, 0]], (48, 40))
    np.testing.assert_allclose(shifted[:, 5:], film[:, :-5])
    assert not inside[:, :5].any()
