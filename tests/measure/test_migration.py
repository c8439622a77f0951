"""Migration in mm between a 6 m and a 12 m film of one implant with known subsidence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from collarreader.measure.migration import (
    FilmLandmarks,
    measure_migration,
    snap_to_edges,
)
from collarreader.study.phantom_anatomy import Scene
from collarreader.study.phantom_pairs import render_pair

# A bone marker (a tantalum bead, here a steel sphere) 30 mm below the collar, beside the bone.
MARKER_UV_MM = (-30.0, 22.0)
TOLERANCE_MM = 0.3


def film_landmarks(
    scene: Scene, pixels: np.ndarray, marker_uv_mm: tuple[float, float]
) -> FilmLandmarks:
    """What a reader places: collar centre, the bone marker's centre, a caliper across the body."""
    anatomy = scene.anatomy
    u_body = anatomy.collar_height_mm + 15.0
    reach = anatomy.body_radius_mm + 8.0
    # The reader lays the caliper roughly (2 px off), the tool snaps it to the body's edges.
    start = np.add(scene.to_px(u_body, -reach), (1.5, -2.0))
    end = np.add(scene.to_px(u_body, reach), (-2.0, 1.0))
    edges = snap_to_edges(pixels, start, end)
    return FilmLandmarks(
        implant_px=scene.to_px(0.0, 0.0),
        bone_px=scene.to_px(*marker_uv_mm),
        reference_px=edges,
        reference_mm=2 * anatomy.body_radius_mm,
    )


@pytest.mark.parametrize(
    ("subsidence_mm", "magnification", "seed"),
    [
        (0.5, 1.08, 3),
        (2.0, 0.92, 3),
        (5.0, 1.05, 5),
        (1.0, 1.0, 11),
        (3.0, 0.95, 11),
        (4.0, 0.92, 7),
        (0.5, 1.08, 13),
    ],
)
def test_known_subsidence_within_0_3_mm(
    subsidence_mm: float, magnification: float, seed: int
) -> None:
    pair = render_pair(
        seed=seed,
        rotation_deg=3.0,
        magnification=magnification,
        shift_px=(12.0, -8.0),
        rows=640,
        cols=512,
        bone_marker_uv_mm=MARKER_UV_MM,
        subsidence_mm=subsidence_mm,
    )
    later_marker = (MARKER_UV_MM[0] + subsidence_mm, MARKER_UV_MM[1])
    earlier = film_landmarks(pair.fixed_scene, pair.fixed, MARKER_UV_MM)
    later = film_landmarks(pair.moving_scene, pair.moving, later_marker)
    result = measure_migration(earlier, later)
    truth = math.hypot(*later_marker) - math.hypot(*MARKER_UV_MM)
    assert result.migration_mm == pytest.approx(truth, abs=TOLERANCE_MM)
    # Uncalibrated, the magnification change alone would be reported as migration.
    naive = (
        math.dist(later.implant_px, later.bone_px) - math.dist(earlier.implant_px, earlier.bone_px)
    ) / pair.fixed_scene.px_per_mm
    if magnification != 1.0:
        assert abs(naive - truth) > 2 * TOLERANCE_MM
    assert result.method.startswith("landmark distance")


def test_caliper_that_misses_the_implant_is_refused() -> None:
    pair = render_pair(seed=3)
    with pytest.raises(ValueError, match=r"brighter|across the whole"):
        snap_to_edges(pair.fixed, (5.0, 5.0), (30.0, 5.0))


def test_degenerate_reference_is_refused() -> None:
    landmarks = FilmLandmarks((10.0, 10.0), (40.0, 50.0), ((5.0, 5.0), (5.5, 5.0)), 24.0)
    with pytest.raises(ValueError, match=r"only 0\.5 px"):
        landmarks.mm_per_px()
    with pytest.raises(ValueError, match="positive"):
        FilmLandmarks((10.0, 10.0), (40.0, 50.0), ((5.0, 5.0), (50.0, 5.0)), 0.0).mm_per_px()
