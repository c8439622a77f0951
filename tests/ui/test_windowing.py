"""Window/level arithmetic: levels, right-drag mapping, clamping and presets (no Qt needed)."""

from __future__ import annotations

import numpy as np
import pytest

from collarreader.imaging import Window
from collarreader.ui.windowing import (
    DRAG_SPAN_PX,
    ValueRange,
    WindowPreset,
    clamp_window,
    drag_gain,
    drag_window,
    levels_to_window,
    preset_window,
    robust_range,
    value_range,
    window_to_levels,
)

DATA = ValueRange(0.0, 4096.0)


def test_levels_and_window_round_trip() -> None:
    assert window_to_levels(Window(2000.0, 3000.0)) == (500.0, 3500.0)
    assert levels_to_window(500.0, 3500.0) == Window(2000.0, 3000.0)


def test_value_range_and_its_span() -> None:
    pixels = np.array([[3, 9], [5, 7]], dtype=np.uint16)
    assert value_range(pixels) == ValueRange(3.0, 9.0)
    assert ValueRange(5.0, 5.0).span == 1.0  # a flat image still gets a usable gain
    with pytest.raises(ValueError, match="no pixels"):
        value_range(np.zeros((0, 4), dtype=np.uint16))


def test_robust_range_ignores_a_few_outliers() -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(1000, 2000, size=(400, 300)).astype(np.uint16)
    pixels[:2, :] = 65535  # a thin strip of metal-like saturation: 0.5 % of the pixels
    robust = robust_range(pixels)
    assert 1000 <= robust.low < 1050
    assert 1950 < robust.high <= 2000
    assert value_range(pixels).high == 65535


def test_drag_right_widens_and_left_narrows() -> None:
    start = Window(2000.0, 1000.0)
    gain = drag_gain(DATA)
    assert gain == pytest.approx(DATA.span / DRAG_SPAN_PX)
    wider = drag_window(start, 100.0, 0.0, DATA, inverted_display=False)
    narrower = drag_window(start, -100.0, 0.0, DATA, inverted_display=False)
    assert wider == Window(2000.0, 1000.0 + 100.0 * gain)
    assert narrower == Window(2000.0, 1000.0 - 100.0 * gain)


@pytest.mark.parametrize(("inverted", "sign"), [(False, -1.0), (True, 1.0)])
def test_drag_up_brightens_whatever_the_inversion(inverted: bool, sign: float) -> None:
    start = Window(2000.0, 1000.0)
    up = drag_window(start, 0.0, -50.0, DATA, inverted_display=inverted)
    assert up.width == start.width
    assert up.center == pytest.approx(start.center + sign * 50.0 * drag_gain(DATA))


def test_drag_sensitivity_scales_with_the_value_span() -> None:
    start = Window(100.0, 100.0)
    small = drag_window(start, 40.0, 0.0, ValueRange(0.0, 1000.0), inverted_display=False)
    large = drag_window(start, 40.0, 0.0, ValueRange(0.0, 2000.0), inverted_display=False)
    assert (large.width - start.width) == pytest.approx(2.0 * (small.width - start.width))


def test_clamping_keeps_the_window_usable() -> None:
    narrowest = drag_window(Window(2000.0, 10.0), -10_000.0, 0.0, DATA, inverted_display=False)
    assert narrowest.width == 1.0
    widest = drag_window(Window(2000.0, 10.0), 1e7, 0.0, DATA, inverted_display=False)
    assert widest.width == 4.0 * DATA.span
    far = clamp_window(Window(1e9, 100.0), DATA)
    assert far.center == DATA.high + DATA.span
    tiny_float = clamp_window(Window(0.5, 1e-9), ValueRange(0.0, 1.0), integer=False)
    assert 0 < tiny_float.width < 1.0


def test_header_and_full_range_presets() -> None:
    header = Window(1234.0, 567.0)
    data = ValueRange(100.0, 3100.0)
    kwargs = {"header": header, "data": data, "robust": data, "monochrome1": False}
    assert preset_window(WindowPreset.header, **kwargs) == header
    assert preset_window(WindowPreset.full_range, **kwargs) == Window(1600.0, 3000.0)


@pytest.mark.parametrize("monochrome1", [False, True])
def test_bone_sits_at_the_attenuating_end(monochrome1: bool) -> None:
    robust = ValueRange(1000.0, 3000.0)
    kwargs = {"header": Window(0, 1), "data": DATA, "robust": robust, "monochrome1": monochrome1}
    bone = preset_window(WindowPreset.bone, **kwargs)
    soft = preset_window(WindowPreset.soft_tissue, **kwargs)
    assert robust.low < bone.center < robust.high
    assert robust.low < soft.center < robust.high
    # MONOCHROME2: bone is bright = high values; MONOCHROME1 stores it low.
    assert (bone.center > soft.center) is (not monochrome1)
    assert bone.width > 0
    assert soft.width > 0


def test_every_preset_has_a_label() -> None:
    assert {preset.label for preset in WindowPreset} >= {"Bone", "Soft tissue"}
