"""The viewport: coordinates, window/level, zoom, inversion, loupe, pointer events, text."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from PySide6 import QtCore, QtGui
from pytestqt.qtbot import QtBot

from collarreader.imaging import Spacing, SpacingSource, Window, load_radiograph
from collarreader.ui.viewport import (
    Corner,
    CursorSample,
    PointerButton,
    PointerEvent,
    Viewport,
    calibration_text,
    cursor_text,
    pixel_index,
    pixel_to_view,
    view_to_pixel,
)
from collarreader.ui.windowing import WindowPreset, drag_gain, value_range, window_to_levels

if TYPE_CHECKING:
    from tests.ui.conftest import MakeRadiograph, Mouse

DX_STORAGE = "1.2.840.10008.5.1.4.1.1.1"  # Digital X-Ray Image Storage - For Presentation
Button = QtCore.Qt.MouseButton
Modifier = QtCore.Qt.KeyboardModifier


def _collect(signal: QtCore.SignalInstance) -> list[object]:
    seen: list[object] = []
    signal.connect(lambda *args: seen.append(args[0] if len(args) == 1 else args))
    return seen


def _pixel_at(viewport: Viewport, pos: QtCore.QPointF) -> tuple[float, float]:
    return viewport.scene_to_pixel(viewport.graphics_view.mapToScene(pos.toPoint()))


# ---------------------------------------------------------------- coordinates


@pytest.mark.parametrize(
    ("x", "y", "view"),
    [
        (0.0, 0.0, (0.5, 0.5)),  # centre of the top-left pixel
        (-0.5, -0.5, (0.0, 0.0)),  # its top-left corner
        (159.5, 199.5, (160.0, 200.0)),  # bottom-right corner of a 160 × 200 image
        (12.0, 7.0, (12.5, 7.5)),
    ],
)
def test_pixel_and_view_coordinates_convert_exactly(
    x: float, y: float, view: tuple[float, float]
) -> None:
    assert pixel_to_view(x, y) == view
    assert view_to_pixel(*view) == (x, y)


def test_pixel_index_is_the_pixel_containing_the_point() -> None:
    assert pixel_index(0.0, 0.0) == (0, 0)
    assert pixel_index(-0.5, -0.5) == (0, 0)
    assert pixel_index(0.49, 0.49) == (0, 0)
    assert pixel_index(0.5, 0.5) == (1, 1)
    assert pixel_index(-0.51, 3.0) == (-1, 3)


@pytest.mark.parametrize(("x", "y"), [(0.0, 0.0), (-0.5, -0.5), (159.5, 199.5), (40.0, 123.0)])
def test_scene_round_trip_at_centres_and_corners(viewport: Viewport, x: float, y: float) -> None:
    viewport.set_view((60.0, 80.0), 3.0)
    back = viewport.scene_to_pixel(viewport.pixel_to_scene(x, y))
    assert back == pytest.approx((x, y), abs=1e-9)


def test_a_pixel_is_drawn_where_the_conversion_says(
    viewport: Viewport, make_radiograph: MakeRadiograph
) -> None:
    pixels = np.zeros((200, 160), dtype=np.uint16)
    pixels[20, 30] = 1000  # one bright pixel at x=30, y=20
    viewport.set_radiograph(make_radiograph(pixels=pixels, window=(500.0, 1000.0)))
    viewport.set_view((30.0, 20.0), 8.0)
    image = (
        viewport.graphics_view.grab()
        .toImage()
        .convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    )
    grey = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    rows, cols = np.nonzero(grey[:, : image.width()] > 128)
    expected = viewport.pixel_to_widget(30.0, 20.0)
    # An 8 × 8 screen square centred on the converted point.
    assert cols.max() - cols.min() + 1 == pytest.approx(8, abs=1)
    assert (cols.min() + cols.max() + 1) / 2 == pytest.approx(expected.x(), abs=1)
    assert (rows.min() + rows.max() + 1) / 2 == pytest.approx(expected.y(), abs=1)


# ---------------------------------------------------------------- window / level


def test_new_radiograph_uses_its_header_window(viewport: Viewport) -> None:
    assert viewport.display_window == Window(2000.0, 3000.0)
    assert tuple(viewport.image_item.levels) == window_to_levels(Window(2000.0, 3000.0))
    assert viewport.corner_text(Corner.bottom_left) == "W 3000  C 2000"
    assert viewport.corner_text(Corner.top_left) == "AP · 6 m"


def test_right_drag_sets_width_and_center(viewport: Viewport, mouse: Mouse) -> None:
    seen = _collect(viewport.window_changed)
    view_before = viewport.view_box.viewRect()
    gain = drag_gain(value_range(viewport.radiograph.pixels))  # type: ignore[union-attr]
    start = QtCore.QPointF(200.0, 170.0)
    mouse.drag(viewport, start, start + QtCore.QPointF(100.0, 0.0), Button.RightButton)
    after_horizontal = viewport.display_window
    assert after_horizontal.width == pytest.approx(3000.0 + 100.0 * gain)
    assert after_horizontal.center == pytest.approx(2000.0)
    mouse.drag(viewport, start, start + QtCore.QPointF(0.0, -40.0), Button.RightButton)
    after_vertical = viewport.display_window
    assert after_vertical.width == pytest.approx(after_horizontal.width)
    assert after_vertical.center == pytest.approx(2000.0 - 40.0 * gain)  # up = brighter
    assert tuple(viewport.image_item.levels) == pytest.approx(window_to_levels(after_vertical))
    assert seen[-1] == pytest.approx(tuple(after_vertical))
    assert viewport.view_box.viewRect() == view_before  # right-drag no longer zooms


def test_presets_and_reset(viewport: Viewport) -> None:
    pixels = viewport.radiograph.pixels  # type: ignore[union-attr]
    full = viewport.apply_preset(WindowPreset.full_range)
    assert tuple(viewport.image_item.levels) == (float(pixels.min()), float(pixels.max()))
    bone = viewport.apply_preset(WindowPreset.bone)
    soft = viewport.apply_preset(WindowPreset.soft_tissue)
    assert bone.center > soft.center  # MONOCHROME2: bone is the bright end
    assert len({full, bone, soft, viewport.header_window}) == 4
    viewport.reset_window()
    assert viewport.display_window == viewport.header_window


def test_monochrome1_is_inverted_by_default_and_toggles(
    viewport: Viewport, make_radiograph: MakeRadiograph
) -> None:
    assert not viewport.inverted
    assert viewport.image_item.lut is None
    viewport.set_radiograph(make_radiograph(monochrome1=True))
    assert viewport.inverted
    lut = viewport.image_item.lut
    assert lut is not None
    assert (lut[0], lut[255]) == (255, 0)
    assert viewport.corner_text(Corner.bottom_left).endswith("inv")
    viewport.toggle_invert()
    assert not viewport.inverted
    assert viewport.image_item.lut is None
    viewport.reset_window()
    assert viewport.inverted


# ---------------------------------------------------------------- zoom and pan


def test_zoom_to_fit_and_one_to_one(viewport: Viewport) -> None:
    viewport.set_view((10.0, 10.0), 5.0)
    viewport.zoom_to_fit()
    shown = viewport.view_box.viewRect()
    image = viewport.image_rect()
    assert shown.contains(image.adjusted(1e-6, 1e-6, -1e-6, -1e-6))
    # The limiting axis fits exactly: the image is as large as it can be.
    assert min(shown.width() - image.width(), shown.height() - image.height()) == pytest.approx(0)
    center = viewport.view_center_px()
    viewport.one_to_one()
    assert viewport.zoom() == pytest.approx(1.0 / viewport.devicePixelRatioF())
    assert viewport.view_box.viewRect().width() == pytest.approx(viewport.view_box.width())
    assert viewport.view_center_px() == pytest.approx(center)
    assert viewport.corner_text(Corner.bottom_right) == "×1.00"


def test_anisotropic_pixels_are_drawn_in_true_proportion(
    viewport: Viewport, make_radiograph: MakeRadiograph
) -> None:
    spacing = Spacing(0.2, 0.1, SpacingSource.pixel_spacing)  # rows twice as far apart
    viewport.set_radiograph(make_radiograph(100, 100, spacing=spacing))
    top_left = viewport.pixel_to_widget(-0.5, -0.5)
    bottom_right = viewport.pixel_to_widget(99.5, 99.5)
    width = bottom_right.x() - top_left.x()
    height = bottom_right.y() - top_left.y()
    assert height == pytest.approx(2 * width, abs=2)


def test_left_drag_pans_when_no_tool_is_active(viewport: Viewport, mouse: Mouse) -> None:
    viewport.set_view((80.0, 100.0), 2.0)
    before = viewport.view_center_px()
    mouse.drag(viewport, QtCore.QPointF(200, 170), QtCore.QPointF(240, 150))
    after = viewport.view_center_px()
    assert after == pytest.approx((before[0] - 20.0, before[1] + 10.0), abs=0.01)


def test_wheel_zooms(viewport: Viewport) -> None:
    zoom = viewport.zoom()
    target = viewport.graphics_view.viewport()
    pos = QtCore.QPointF(200, 170)
    event = QtGui.QWheelEvent(
        pos,
        QtCore.QPointF(target.mapToGlobal(pos)),
        QtCore.QPoint(0, 0),
        QtCore.QPoint(0, 120),
        Button.NoButton,
        Modifier.NoModifier,
        QtCore.Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QtGui.QGuiApplication.sendEvent(target, event)
    assert viewport.zoom() > zoom


# ---------------------------------------------------------------- pointer events for tools


def test_tool_gets_left_drag_in_pixels_and_the_view_stays(viewport: Viewport, mouse: Mouse) -> None:
    pressed = _collect(viewport.mouse_pressed)
    moved = _collect(viewport.mouse_moved)
    released = _collect(viewport.mouse_released)
    viewport.set_tool_active(True)
    view_before = viewport.view_box.viewRect()
    start = mouse.point(viewport, 40.0, 50.0)
    end = mouse.point(viewport, 80.0, 90.0)
    mouse.drag(viewport, start, end, modifiers=Modifier.ShiftModifier)
    assert viewport.view_box.viewRect() == view_before
    assert len(pressed) == 1
    assert len(released) == 1
    press, release = pressed[0], released[0]
    assert isinstance(press, PointerEvent)
    assert isinstance(release, PointerEvent)
    assert (press.x_px, press.y_px) == pytest.approx(_pixel_at(viewport, start))
    assert (release.x_px, release.y_px) == pytest.approx(_pixel_at(viewport, end))
    assert (press.x_px, press.y_px) == pytest.approx((40.0, 50.0), abs=1.0)
    assert press.button is PointerButton.left
    assert press.shift
    assert not press.ctrl
    drag_moves = [m for m in moved if m.button is PointerButton.left]  # type: ignore[attr-defined]
    assert drag_moves
    assert (drag_moves[-1].x_px, drag_moves[-1].y_px) == pytest.approx(  # type: ignore[attr-defined]
        (release.x_px, release.y_px)
    )


def test_tool_click_is_a_press_and_release_at_one_point(viewport: Viewport, mouse: Mouse) -> None:
    pressed = _collect(viewport.mouse_pressed)
    released = _collect(viewport.mouse_released)
    mouse.click(viewport, mouse.point(viewport, 20.0, 30.0))
    assert pressed == []  # no tool: the left button belongs to panning
    viewport.set_tool_active(True)
    mouse.click(viewport, mouse.point(viewport, 20.0, 30.0))
    assert len(pressed) == 1
    assert pressed == released
    assert (pressed[0].x_px, pressed[0].y_px) == pytest.approx((20.0, 30.0), abs=1.0)  # type: ignore[attr-defined]


def test_hover_moves_reach_an_active_tool(viewport: Viewport, mouse: Mouse) -> None:
    moved = _collect(viewport.mouse_moved)
    mouse.move(viewport, mouse.point(viewport, 10.0, 10.0))
    assert moved == []
    viewport.set_tool_active(True)
    mouse.move(viewport, mouse.point(viewport, 12.0, 10.0))
    assert len(moved) == 1
    assert moved[0].button is PointerButton.none  # type: ignore[attr-defined]


def test_an_overlay_roi_keeps_its_own_drag_while_a_tool_is_active(
    viewport: Viewport, mouse: Mouse
) -> None:
    roi = pg.RectROI(pixel_to_view(50.0, 60.0), (30.0, 30.0))
    viewport.add_overlay_item(roi)
    assert roi.zValue() > viewport.image_item.zValue()
    assert roi in viewport.view_box.addedItems
    viewport.set_tool_active(True)
    pressed = _collect(viewport.mouse_pressed)
    x0 = roi.pos().x()
    start = mouse.point(viewport, 62.0, 72.0)  # inside the ROI, away from its handle
    mouse.drag(viewport, start, start + QtCore.QPointF(30.0, 0.0))
    assert roi.pos().x() > x0
    assert pressed == []
    viewport.remove_overlay_item(roi)
    assert roi not in viewport.view_box.addedItems


def test_double_click_is_reported(viewport: Viewport, mouse: Mouse, qtbot: QtBot) -> None:
    with qtbot.waitSignal(viewport.double_clicked, timeout=1000):
        mouse.double_click(viewport, QtCore.QPointF(200, 170))


# ---------------------------------------------------------------- cursor and loupe


def test_cursor_reports_position_and_value(viewport: Viewport, mouse: Mouse) -> None:
    seen = _collect(viewport.cursor_moved)
    pos = mouse.point(viewport, 70.0, 110.0)
    mouse.move(viewport, pos)
    sample = seen[-1]
    assert isinstance(sample, CursorSample)
    col, row = pixel_index(sample.x_px, sample.y_px)
    assert (col, row) == (70, 110)
    assert sample.value == float(viewport.radiograph.pixels[110, 70])  # type: ignore[union-attr]
    mouse.move(viewport, QtCore.QPointF(3.0, 3.0))  # the black margin beside the image
    outside = seen[-1]
    assert isinstance(outside, CursorSample)
    assert outside.x_px < 0
    assert outside.value is None
    QtGui.QGuiApplication.sendEvent(
        viewport.graphics_view.viewport(), QtCore.QEvent(QtCore.QEvent.Type.Leave)
    )
    assert seen[-1] is None


def test_magnifier_shows_and_follows(viewport: Viewport, mouse: Mouse) -> None:
    loupe = viewport.magnifier
    mouse.move(viewport, mouse.point(viewport, 80.0, 100.0))
    assert not loupe.isVisible()
    viewport.set_magnifier_enabled(True)
    first = mouse.point(viewport, 80.0, 100.0)
    mouse.move(viewport, first)
    assert loupe.isVisible()
    assert loupe.center_px == pytest.approx((80.0, 100.0), abs=1.0)
    x0, x1, y0, y1 = loupe.region  # type: ignore[misc]
    assert x0 <= 80 < x1
    assert y0 <= 100 < y1
    # ×3 of the current zoom: the loupe's side covers a third of what it would on screen.
    side_px = (loupe.width() - 2) / (viewport.zoom() * loupe.factor)
    assert x1 - x0 == pytest.approx(side_px, abs=2)
    centre = viewport.graphics_view.viewport().mapTo(viewport, first.toPoint())
    assert loupe.geometry().center().x() == pytest.approx(centre.x(), abs=1)
    assert loupe.geometry().center().y() == pytest.approx(centre.y(), abs=1)
    mouse.move(viewport, mouse.point(viewport, 30.0, 40.0))
    assert loupe.center_px == pytest.approx((30.0, 40.0), abs=1.0)
    assert loupe.geometry().center() != centre
    viewport.set_window(1500.0, 800.0)
    assert tuple(loupe.image_item.levels) == (1100.0, 1900.0)
    viewport.toggle_invert()
    assert loupe.image_item.lut is not None
    viewport.toggle_magnifier()
    assert not loupe.isVisible()
    loupe.set_factor(10.0)
    assert loupe.factor == 4.0


# ---------------------------------------------------------------- errors and empty


def test_error_replaces_the_image_and_a_new_image_clears_it(
    viewport: Viewport, make_radiograph: MakeRadiograph
) -> None:
    viewport.show_error("/data/a.dcm: truncated pixel data. Export the image again.")
    assert viewport.radiograph is None
    assert viewport.image_item.image is None
    assert "truncated pixel data" in (viewport.error_message or "")
    assert viewport.corner_text(Corner.top_left) == "AP · 6 m"
    viewport.apply_preset(WindowPreset.bone)  # harmless without an image
    viewport.set_radiograph(make_radiograph(seed=3))
    assert viewport.error_message is None
    assert viewport.image_item.image is not None


def test_empty_viewport(viewport: Viewport) -> None:
    viewport.set_radiograph(None, title="LAT · 12 m")
    assert viewport.image_item.image is None
    assert viewport.value_at(0.0, 0.0) is None
    assert viewport.corner_text(Corner.top_left) == "LAT · 12 m"


# ---------------------------------------------------------------- status-bar text


def test_cursor_text(make_radiograph: MakeRadiograph) -> None:
    spacing = Spacing(0.1, 0.12, SpacingSource.imager_magnified)
    radiograph = make_radiograph(spacing=spacing)
    value = int(radiograph.pixels[7, 12])
    assert cursor_text(radiograph, 12.0, 7.0) == f"x 12, y 7 px · value {value} · 1.4 mm, 0.7 mm"
    assert cursor_text(radiograph, 12.2, 6.8, "detector plane").endswith("· detector plane")
    assert cursor_text(radiograph, -3.0, 7.0) == "x -3, y 7 px · -0.4 mm, 0.7 mm"
    plain = make_radiograph(spacing=None)
    assert cursor_text(plain, 12.0, 7.0) == f"x 12, y 7 px · value {int(plain.pixels[7, 12])}"
    floats = make_radiograph(pixels=np.full((4, 4), 2.5 / 3.0))
    assert cursor_text(floats, 1.0, 1.0) == "x 1, y 1 px · value 0.8333"


@pytest.mark.parametrize(
    ("source", "note", "expected"),
    [
        (SpacingSource.pixel_spacing, "Pixel Spacing", "Pixel Spacing"),
        (SpacingSource.pixel_spacing, "", "Pixel Spacing"),
        (
            SpacingSource.imager_magnified,
            "Imager Pixel Spacing ÷ magnification 1.15",
            "Imager Pixel Spacing ÷ magnification 1.15",
        ),
        (SpacingSource.imager_magnified, "", "Imager Pixel Spacing ÷ magnification"),
        (
            SpacingSource.imager_detector,
            "Imager Pixel Spacing, detector plane, not calibrated",
            "Imager Pixel Spacing, detector plane, not calibrated",
        ),
        (SpacingSource.imager_detector, "", "detector plane, not calibrated"),
        (SpacingSource.manual, "", "manual calibration"),
        (None, "", "uncalibrated (px)"),
    ],
)
def test_calibration_text_for_every_source(
    make_radiograph: MakeRadiograph, source: SpacingSource | None, note: str, expected: str
) -> None:
    spacing = None if source is None else Spacing(0.14, 0.14, source)
    radiograph = make_radiograph(spacing=spacing, spacing_note=note)
    assert calibration_text(radiograph) == expected
    assert calibration_text(radiograph, manual="ball 25 mm") == "manual: ball 25 mm"


# ---------------------------------------------------------------- with the real loader


def test_a_loaded_monochrome1_dicom_file(viewport: Viewport, tmp_path: Path) -> None:
    pixels = (np.arange(120 * 90, dtype=np.uint32).reshape(120, 90) * 7 % 4096).astype(np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = DX_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = DX_STORAGE
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 1800, 2400
    ds.ImagerPixelSpacing = [0.1725, 0.1725]
    ds.EstimatedRadiographicMagnificationFactor = 1.15
    ds.PixelData = pixels.tobytes()
    path = tmp_path / "mono1.dcm"
    ds.save_as(path, enforce_file_format=True)

    radiograph = load_radiograph(path)
    viewport.set_radiograph(radiograph, title="AP · A")
    assert viewport.inverted
    assert viewport.display_window == Window(1800.0, 2400.0)
    assert viewport.image_item.image.shape == (120, 90)
    assert calibration_text(radiograph) == "Imager Pixel Spacing ÷ magnification 1.15"
    assert cursor_text(radiograph, 20.0, 10.0).endswith("· 3.0 mm, 1.5 mm")
