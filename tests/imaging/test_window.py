"""Default window rules: header, VOI LUT sequence, data percentiles."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from collarreader.imaging import (
    DicomWarning,
    Window,
    data_window,
    load_radiograph,
    window_from_dataset,
)

PIXELS = np.arange(1000, dtype=np.uint16).reshape(25, 40)


def voi_lut_item(first_mapped: int, data: list[int]) -> Dataset:
    item = Dataset()
    item.add_new(0x00283002, "US", [len(data), first_mapped, 16])  # LUT Descriptor
    item.add_new(0x00283006, "US", data)  # LUT Data
    return item


def test_header_window_first_value_of_many() -> None:
    ds = Dataset()
    ds.WindowCenter = ["300", "40"]
    ds.WindowWidth = ["1500", "400"]
    window, note = window_from_dataset(ds, PIXELS)
    assert window == Window(300.0, 1500.0)
    assert "header" in note


@pytest.mark.parametrize("width", ["0", "-5", "NaN"])
def test_unusable_header_width_falls_back_to_data(width: str) -> None:
    ds = Dataset()
    ds.WindowCenter = "100"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns that NaN is not a valid DS
        ds.WindowWidth = width
    window, note = window_from_dataset(ds, PIXELS)
    assert window.width > 0
    assert "percentiles" in note


def test_voi_lut_sequence_window_spans_its_active_input_range() -> None:
    # Inputs 100..355 map through 256 entries: flat 0 for 56 entries, a ramp, flat max.
    data = [0] * 56 + list(range(0, 4000, 40)) + [4000] * 100
    ds = Dataset()
    ds.VOILUTSequence = [voi_lut_item(100, data)]
    window, note = window_from_dataset(ds, PIXELS)
    assert "VOI LUT" in note
    # The LUT leaves 0 at index 57 (value 40) and reaches 4000 at index 156: the window
    # runs from the last flat input before the ramp (index 56) to the first flat one after.
    low, high = window.center - window.width / 2, window.center + window.width / 2
    assert low == pytest.approx(100 + 56)
    assert high == pytest.approx(100 + 156)


def test_constant_voi_lut_falls_back_to_percentiles_with_a_note() -> None:
    ds = Dataset()
    ds.VOILUTSequence = [voi_lut_item(0, [7] * 64)]
    window, note = window_from_dataset(ds, PIXELS)
    assert window == data_window(PIXELS)
    assert "percentiles" in note
    assert "VOI LUT maps the whole image to 0.0% of its output range" in note


def test_voi_lut_that_flattens_the_image_falls_back() -> None:
    # The ramp lies at inputs 0..99; the image's pixels (0..999) almost all map past it.
    ds = Dataset()
    ds.VOILUTSequence = [voi_lut_item(5000, list(range(0, 4000, 40)))]
    window, note = window_from_dataset(ds, PIXELS)
    assert window == data_window(PIXELS)
    assert "VOI LUT" in note
    assert "not used" in note
    # The same LUT over pixels that do span its ramp is kept.
    window, note = window_from_dataset(ds, PIXELS + 5000)
    assert note == "spans the VOI LUT's active input range"


@pytest.mark.parametrize("width", ["0", "-5", "NaN", "inf"])
def test_absurd_header_width_is_named_in_the_note(width: str) -> None:
    ds = Dataset()
    ds.WindowCenter = "100"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.WindowWidth = width
    _, note = window_from_dataset(ds, PIXELS)
    assert "(0028,1051) Window Width" in note
    assert "percentiles" in note


def test_data_window_uses_robust_percentiles() -> None:
    pixels = np.full((100, 100), 500, dtype=np.int16)
    pixels[:50] = 1000
    pixels[0, 0] = 30000  # one hot pixel must not stretch the window
    window = data_window(pixels)
    assert window == Window(750.0, 500.0)


def test_data_window_of_flat_or_nan_images() -> None:
    assert data_window(np.zeros((8, 8), np.uint8)).width == 1.0
    assert data_window(np.full((4, 4), np.nan)) == Window(0.0, 1.0)
    with_nan = np.arange(16, dtype=np.float64).reshape(4, 4)
    with_nan[0, 0] = np.nan
    assert np.isfinite(data_window(with_nan).center)


def test_window_is_in_rescaled_units(make_dicom: Callable[..., Path]) -> None:
    path = make_dicom(RescaleSlope="1", RescaleIntercept="-1000")
    radiograph = load_radiograph(path)
    low = radiograph.window.center - radiograph.window.width / 2
    assert low < 0  # percentiles of the rescaled values, which start at −1000
    assert "percentiles" in radiograph.window_note


def test_loader_warns_of_an_absurd_window(make_dicom: Callable[..., Path]) -> None:
    path = make_dicom(WindowCenter="100", WindowWidth="0")
    with pytest.warns(DicomWarning, match="Window Width 0 is not a positive number"):
        radiograph = load_radiograph(path)
    assert any("default window" in note for note in radiograph.notes)
