"""The hanging grid: case layout, errors, linked pan/zoom, maximise, focus, keys, screenshot."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PySide6 import QtCore, QtGui
from pytestqt.qtbot import QtBot

from collarreader.errors import DicomReadError
from collarreader.imaging import Radiograph, Spacing, SpacingSource
from collarreader.ui.hanging import AxisMap, HangingGrid, LinkUnit, link_unit
from collarreader.ui.viewport import Corner, Viewport

if TYPE_CHECKING:
    from tests.ui.conftest import MakeRadiograph, Mouse

Key = QtCore.Qt.Key


def _spacing(mm: float) -> Spacing:
    return Spacing(mm, mm, SpacingSource.pixel_spacing)


def _px_per_mm(viewport: Viewport) -> float:
    radiograph = viewport.radiograph
    assert radiograph is not None
    assert radiograph.spacing is not None
    return viewport.zoom() / radiograph.spacing.col_mm


def _four(make_radiograph: MakeRadiograph, **kwargs: object) -> dict[tuple[str, str], Radiograph]:
    return {
        ("AP", "6m"): make_radiograph(seed=1, **kwargs),
        ("AP", "12m"): make_radiograph(seed=2, **kwargs),
        ("LAT", "6m"): make_radiograph(seed=3, **kwargs),
        ("LAT", "12m"): make_radiograph(seed=4, **kwargs),
    }


# ---------------------------------------------------------------- pure helpers


def test_link_unit_needs_every_spacing() -> None:
    assert link_unit([_spacing(0.1), _spacing(0.2)]) is LinkUnit.mm
    assert link_unit([_spacing(0.1), None]) is LinkUnit.px
    assert link_unit([]) is LinkUnit.px


def test_axis_map_round_trip() -> None:
    axis_map = AxisMap(0.1, 0.2, -3.0, 5.0)
    assert axis_map.from_link(*axis_map.to_link(12.5, -4.0)) == pytest.approx((12.5, -4.0))


# ---------------------------------------------------------------- content


def test_set_case_fills_the_grid_and_reuses_the_widgets(
    grid: HangingGrid, make_radiograph: MakeRadiograph
) -> None:
    images = _four(make_radiograph)
    viewports = grid.viewports
    items = [v.image_item for v in viewports]
    grid.set_case(images)
    for (view, timepoint), radiograph in images.items():
        assert grid.viewport(view, timepoint).radiograph is radiograph
    assert grid.viewport("LAT", "12m").corner_text(Corner.top_left) == "LAT · 12 m"
    assert grid.index_of("LAT", "6m") == 2
    grid.set_case(_four(make_radiograph, rows=120, cols=90))
    assert grid.viewports == viewports
    assert [v.image_item for v in grid.viewports] == items
    assert grid.viewports[0].image_item.image.shape == (120, 90)


def test_an_unreadable_image_shows_its_error_and_the_rest_stays_usable(
    grid: HangingGrid, make_radiograph: MakeRadiograph
) -> None:
    images: dict[tuple[str, str], Radiograph | Exception | None] = dict(_four(make_radiograph))
    images[("AP", "12m")] = DicomReadError("images/x.dcm", "truncated pixel data.", "Re-export.")
    images[("LAT", "12m")] = None
    grid.set_case(images)
    broken = grid.viewport("AP", "12m")
    assert broken.radiograph is None
    assert "images/x.dcm: truncated pixel data." in (broken.error_message or "")
    assert grid.viewport("LAT", "12m").radiograph is None
    assert grid.viewport("LAT", "12m").error_message is None
    working = grid.viewport("AP", "6m")
    assert working.radiograph is images[("AP", "6m")]
    working.set_window(1000.0, 500.0)
    working.zoom_to_fit()
    assert grid.row_link_unit("AP") is None  # nothing to link to


def test_unknown_view_or_timepoint_is_refused(grid: HangingGrid) -> None:
    with pytest.raises(KeyError, match="'OBL'"):
        grid.set_case({("OBL", "6m"): None})


def test_blinded_timepoints_relabel_the_columns(
    grid: HangingGrid, make_radiograph: MakeRadiograph
) -> None:
    grid.set_case({("AP", "A"): make_radiograph()}, timepoints=("A", "B"), labels=("A", "B"))
    assert grid.timepoints == ("A", "B")
    assert grid.viewport("AP", "A").corner_text(Corner.top_left) == "AP · A"
    assert grid.viewport("AP", "B").radiograph is None
    with pytest.raises(ValueError, match="one label per time point"):
        grid.set_case({}, timepoints=("A", "B"), labels=("A",))


# ---------------------------------------------------------------- linking


def test_row_links_by_pixels_without_spacing(
    grid: HangingGrid, make_radiograph: MakeRadiograph, mouse: Mouse
) -> None:
    grid.set_case({("AP", "6m"): make_radiograph(), ("AP", "12m"): make_radiograph(100, 80)})
    left, right = grid.viewport("AP", "6m"), grid.viewport("AP", "12m")
    assert grid.row_link_unit("AP") is LinkUnit.px
    assert left.zoom() == pytest.approx(right.zoom())  # one scale for the row after fitting
    left.set_view((60.0, 70.0), 3.0)
    assert right.zoom() == pytest.approx(3.0)
    before = right.view_center_px()
    mouse.drag(left, QtCore.QPointF(150, 150), QtCore.QPointF(120, 150))
    after = right.view_center_px()
    assert after[0] - before[0] == pytest.approx(10.0, abs=0.01)  # 30 screen px at ×3
    assert after[1] == pytest.approx(before[1], abs=0.01)


def test_row_links_by_millimetres_when_both_are_calibrated(
    grid: HangingGrid, make_radiograph: MakeRadiograph
) -> None:
    grid.set_case(
        {
            ("AP", "6m"): make_radiograph(200, 160, spacing=_spacing(0.1)),
            ("AP", "12m"): make_radiograph(100, 80, spacing=_spacing(0.2)),
            ("LAT", "6m"): make_radiograph(200, 160, spacing=_spacing(0.1)),
            ("LAT", "12m"): make_radiograph(200, 160, spacing=_spacing(0.1)),
        }
    )
    left, right = grid.viewport("AP", "6m"), grid.viewport("AP", "12m")
    assert grid.row_link_unit("AP") is LinkUnit.mm
    assert _px_per_mm(left) == pytest.approx(_px_per_mm(right))
    lat_before = grid.viewport("LAT", "12m").view_box.viewRect()
    # The image centres are pixels (79.5, 99.5) and (39.5, 49.5); look 1 mm right of them.
    left.set_view((89.5, 99.5), 4.0)
    assert _px_per_mm(right) == pytest.approx(_px_per_mm(left))
    assert right.view_center_px() == pytest.approx((44.5, 49.5))
    assert grid.viewport("LAT", "12m").view_box.viewRect() == lat_before  # rows are independent


def test_same_mm_scale_when_images_cover_different_areas(
    grid: HangingGrid, make_radiograph: MakeRadiograph
) -> None:
    grid.set_case(
        {
            ("AP", "6m"): make_radiograph(spacing=_spacing(0.1)),
            ("AP", "12m"): make_radiograph(spacing=_spacing(0.15)),
        }
    )
    left, right = grid.viewport("AP", "6m"), grid.viewport("AP", "12m")
    assert _px_per_mm(left) == pytest.approx(_px_per_mm(right))
    right_rect = right.view_box.viewRect()
    assert right_rect.contains(right.image_rect().adjusted(1e-6, 1e-6, -1e-6, -1e-6))


def test_one_uncalibrated_image_links_the_row_by_pixels(
    grid: HangingGrid, make_radiograph: MakeRadiograph
) -> None:
    grid.set_case(
        {("AP", "6m"): make_radiograph(spacing=_spacing(0.1)), ("AP", "12m"): make_radiograph()}
    )
    assert grid.row_link_unit("AP") is LinkUnit.px


def test_link_can_be_switched_off_and_on(
    grid: HangingGrid, make_radiograph: MakeRadiograph
) -> None:
    grid.set_case(_four(make_radiograph))
    left, right = grid.viewport("AP", "6m"), grid.viewport("AP", "12m")
    changes: list[bool] = []
    grid.link_changed.connect(changes.append)
    grid.set_linked(False)
    right_rect = right.target_rect()
    left.set_view((50.0, 50.0), 5.0)
    assert right.target_rect() == right_rect
    grid.toggle_linked()
    assert grid.linked
    assert right.zoom() == pytest.approx(left.zoom())  # the partner takes the scale at once
    # The offset made while unlinked is kept: a later pan moves both by the same amount.
    offset = np.subtract(right.view_center_px(), left.view_center_px())
    left.set_view((70.0, 40.0), 5.0)
    assert np.subtract(right.view_center_px(), left.view_center_px()) == pytest.approx(offset)
    assert changes == [False, True]


# ---------------------------------------------------------------- maximise and focus


def test_maximise_and_restore(
    grid: HangingGrid, make_radiograph: MakeRadiograph, mouse: Mouse, qtbot: QtBot
) -> None:
    grid.set_case(_four(make_radiograph))
    states: list[object] = []
    grid.maximised_changed.connect(states.append)
    grid.maximise(1)
    qtbot.waitUntil(lambda: grid.viewports[1].width() > grid.width() * 0.9)
    assert [v.isHidden() for v in grid.viewports] == [True, False, True, True]
    assert grid.focused_index == 1
    grid.restore()
    assert not any(v.isHidden() for v in grid.viewports)
    qtbot.waitUntil(lambda: grid.viewports[1].width() < grid.width() * 0.6)
    target = grid.viewports[2]
    mouse.double_click(target, QtCore.QPointF(100, 100))
    assert grid.maximised_index == 2
    mouse.double_click(target, QtCore.QPointF(100, 100))
    assert grid.maximised_index is None
    target.set_tool_active(True)  # a tool may use double-clicks: no maximising then
    mouse.double_click(target, QtCore.QPointF(100, 100))
    assert grid.maximised_index is None
    assert states == [1, None, 2, None]


def test_focus_follows_clicks_and_calls(
    grid: HangingGrid, make_radiograph: MakeRadiograph, mouse: Mouse
) -> None:
    grid.set_case(_four(make_radiograph))
    focused: list[int] = []
    grid.focus_changed.connect(focused.append)
    mouse.click(grid.viewports[3], QtCore.QPointF(50, 50))
    assert grid.focused_index == 3
    assert [v.focused for v in grid.viewports] == [False, False, False, True]
    grid.focus_viewport(0)
    assert grid.focused_viewport is grid.viewports[0]
    assert focused == [3, 0]
    with pytest.raises(IndexError, match="out of range"):
        grid.focus_viewport(4)


def test_keys_act_on_the_focused_viewport(
    grid: HangingGrid, make_radiograph: MakeRadiograph, qtbot: QtBot
) -> None:
    grid.set_case(_four(make_radiograph))
    grid.focus_viewport(2)
    fitted_zoom = grid.viewports[2].zoom()
    # Keys reach the grid from the graphics view that takes focus on a click.
    qtbot.keyClick(grid.viewports[2].graphics_view, Key.Key_I)
    assert grid.viewports[2].inverted
    assert not grid.viewports[0].inverted
    qtbot.keyClick(grid, Key.Key_Space)
    assert grid.maximised_index == 2
    qtbot.keyClick(grid, Key.Key_Space)
    assert grid.maximised_index is None
    qtbot.keyClick(grid, Key.Key_L)
    assert not grid.linked
    qtbot.keyClick(grid, Key.Key_M)
    assert all(v.magnifier_enabled for v in grid.viewports)
    qtbot.keyClick(grid, Key.Key_1)
    assert grid.viewports[2].zoom() == pytest.approx(1.0)
    qtbot.keyClick(grid, Key.Key_R)
    assert not grid.viewports[2].inverted
    assert grid.viewports[2].zoom() == pytest.approx(fitted_zoom)


# ---------------------------------------------------------------- screenshot


def test_screenshot_is_dark_with_the_images_largest(
    grid: HangingGrid, make_radiograph: MakeRadiograph, tmp_path: Path
) -> None:
    images: dict[tuple[str, str], Radiograph | Exception | None] = {
        ("AP", "6m"): make_radiograph(seed=1, spacing=_spacing(0.15)),
        ("AP", "12m"): make_radiograph(seed=2, spacing=_spacing(0.15), monochrome1=True),
        ("LAT", "6m"): make_radiograph(seed=3),
        ("LAT", "12m"): make_radiograph(seed=4),
    }
    grid.set_case(images)
    grid.focus_viewport(1)
    path = tmp_path / "grid.png"
    assert grid.grab().save(str(path))
    image = QtGui.QImage(str(path)).convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    grey = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    grey = grey[:, : image.width()]
    assert grey.mean() < 110  # dark surroundings
    for viewport in grid.viewports:
        top_left = viewport.mapTo(grid, viewport.pixel_to_widget(0.0, 0.0))
        bottom_right = viewport.mapTo(grid, viewport.pixel_to_widget(159.0, 199.0))
        patch = grey[top_left.y() : bottom_right.y(), top_left.x() : bottom_right.x()]
        # The image fills most of its cell and shows structure (bone, stem, background).
        assert patch.size > 0.5 * viewport.width() * viewport.height()
        assert patch.std() > 20
