"""Lengths and widths in pixels and millimetres, isotropic and anisotropic."""

from __future__ import annotations

import math

import pytest

from collarreader.measure.geometry import (
    as_points_px,
    line_length_mm,
    line_length_px,
    perpendicular_width_mm,
    polyline_length_mm,
    polyline_length_px,
)


def test_line_length_uses_column_spacing_for_x_and_row_spacing_for_y() -> None:
    # 10 columns at 0.2 mm and 10 rows at 0.1 mm.
    assert line_length_mm((0, 0), (10, 0), (0.1, 0.2)) == pytest.approx(2.0)
    assert line_length_mm((0, 0), (0, 10), (0.1, 0.2)) == pytest.approx(1.0)
    assert line_length_mm((0, 0), (10, 10), (0.1, 0.2)) == pytest.approx(math.hypot(2.0, 1.0))
    assert line_length_px((1, 1), (4, 5)) == pytest.approx(5.0)


def test_polyline_length_sums_segments() -> None:
    points = [(0, 0), (3, 4), (3, 10)]
    assert polyline_length_px(points) == pytest.approx(11.0)
    assert polyline_length_mm(points, (0.5, 0.5)) == pytest.approx(5.5)
    assert polyline_length_px([(2, 2)]) == 0.0


def test_perpendicular_width_inside_a_segment_and_past_its_end() -> None:
    axis = [(0, 0), (10, 0)]
    assert perpendicular_width_mm(axis, (5, 3), (0.1, 0.1)) == pytest.approx(0.3)
    # Past the end the nearest point is the vertex (10, 0): distance 5 px diagonal.
    assert perpendicular_width_mm(axis, (13, 4), (0.1, 0.1)) == pytest.approx(0.5)
    # Anisotropic rows: the perpendicular is found in mm space.
    assert perpendicular_width_mm(axis, (5, 3), (0.3, 0.1)) == pytest.approx(0.9)
    assert perpendicular_width_mm([(1, 1)], (4, 5), (1.0, 1.0)) == pytest.approx(5.0)
    # A doubled click (zero-length segment) does not divide by zero.
    assert perpendicular_width_mm([(0, 0), (0, 0), (0, 10)], (2, 5), (1, 1)) == pytest.approx(2)


@pytest.mark.parametrize(
    ("points", "match"),
    [
        ([1, 2, 3], "pairs"),
        ([[0, 0, 0]], "pairs"),
        ([[0, math.nan], [1, 1]], "finite"),
    ],
)
def test_bad_points_are_refused(points: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        as_points_px(points)  # type: ignore[arg-type]


def test_too_few_points_and_bad_spacing_are_refused() -> None:
    with pytest.raises(ValueError, match="At least 2"):
        as_points_px([[0, 0]], minimum=2)
    with pytest.raises(ValueError, match="spacing"):
        line_length_mm((0, 0), (1, 1), (0.0, 0.1))
    with pytest.raises(ValueError, match="spacing"):
        polyline_length_mm([(0, 0), (1, 1)], (math.inf, 0.1))


def test_calibrated_spacing_keeps_the_header_aspect_and_fits_the_known_size() -> None:
    from collarreader.measure.geometry import calibrated_spacing_mm, polyline_length_mm

    points = [[10.0, 10.0], [40.0, 50.0]]  # 30 columns, 40 rows
    row_mm, col_mm = calibrated_spacing_mm(points, 25.0, (0.2, 0.1))
    assert row_mm / col_mm == pytest.approx(2.0)
    assert polyline_length_mm(points, (row_mm, col_mm)) == pytest.approx(25.0)
    # Without a header: isotropic, known size over pixel length (50 px).
    assert calibrated_spacing_mm(points, 25.0, None) == pytest.approx((0.5, 0.5))
    with pytest.raises(ValueError, match="positive known size"):
        calibrated_spacing_mm([[1.0, 1.0], [1.0, 1.0]], 25.0, None)


def test_bridging_extent_is_the_bridged_share_capped_at_100() -> None:
    from collarreader.measure.extent import bridging_extent_pct

    assert bridging_extent_pct([30.0, 10.0], [10.0]) == pytest.approx(25.0)
    assert bridging_extent_pct([10.0], [12.0]) == 100.0
    assert bridging_extent_pct([0.0], [5.0]) is None
    assert bridging_extent_pct([], []) is None
