"""Spacing rules, one test per branch of DESIGN §4's order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from collarreader.imaging import Spacing, SpacingSource, load_radiograph, spacing_from_dataset


def header(**attrs: Any) -> Dataset:
    """A dataset as read from a file: values stay raw until accessed, like dcmread's."""
    ds = Dataset()
    for keyword, value in attrs.items():
        if keyword.endswith("Sequence"):
            setattr(ds, keyword, value)
            continue
        tag = Tag(keyword)
        items = value if isinstance(value, list) else [value]
        raw = "\\".join(str(item) for item in items).encode()
        raw += b" " * (len(raw) % 2)
        ds[tag] = RawDataElement(tag, dictionary_VR(tag), len(raw), raw, 0, False, True)
    return ds


def test_pixel_spacing_wins() -> None:
    spacing, note = spacing_from_dataset(
        header(
            PixelSpacing=[0.15, 0.16],
            ImagerPixelSpacing=[0.2, 0.2],
            EstimatedRadiographicMagnificationFactor="1.2",
            PixelSpacingCalibrationType="GEOMETRY",
        )
    )
    assert spacing == Spacing(0.15, 0.16, SpacingSource.pixel_spacing)
    assert "calibration type GEOMETRY" in note


def test_pixel_spacing_equal_to_imager_is_flagged() -> None:
    spacing, note = spacing_from_dataset(
        header(PixelSpacing=[0.2, 0.2], ImagerPixelSpacing=[0.2, 0.2])
    )
    assert spacing is not None
    assert spacing.source is SpacingSource.pixel_spacing
    assert "detector plane" in note


def test_imager_spacing_divided_by_magnification() -> None:
    spacing, note = spacing_from_dataset(
        header(ImagerPixelSpacing=[0.23, 0.115], EstimatedRadiographicMagnificationFactor="1.15")
    )
    assert spacing is not None
    assert spacing.source is SpacingSource.imager_magnified
    assert spacing.row_mm == pytest.approx(0.2)
    assert spacing.col_mm == pytest.approx(0.1)
    assert note == "Imager Pixel Spacing ÷ magnification 1.15"


@pytest.mark.parametrize("factor", ["0.5", "0", "-1.2", "NaN", "50", "abc"])
def test_bad_magnification_falls_back_to_detector_plane(factor: str) -> None:
    spacing, note = spacing_from_dataset(
        header(ImagerPixelSpacing=[0.2, 0.2], EstimatedRadiographicMagnificationFactor=factor)
    )
    assert spacing == Spacing(0.2, 0.2, SpacingSource.imager_detector)
    assert "not calibrated" in note


def test_imager_spacing_alone_is_the_detector_plane() -> None:
    spacing, note = spacing_from_dataset(header(ImagerPixelSpacing=[0.139, 0.139]))
    assert spacing == Spacing(0.139, 0.139, SpacingSource.imager_detector)
    assert note == "Imager Pixel Spacing, detector plane, not calibrated"
    assert SpacingSource.imager_detector.label == "detector plane, not calibrated"


def test_no_spacing() -> None:
    spacing, note = spacing_from_dataset(header())
    assert spacing is None
    assert "px" in note


@pytest.mark.parametrize(
    "bad", [[0, 0], [-0.1, -0.1], ["NaN", "NaN"], [10, 10], [0.001, 0.001], ["x", "y"], [0.2, 0]]
)
def test_absurd_pixel_spacing_counts_as_absent(bad: list[Any]) -> None:
    spacing, note = spacing_from_dataset(header(PixelSpacing=bad, ImagerPixelSpacing=[0.2, 0.2]))
    assert spacing == Spacing(0.2, 0.2, SpacingSource.imager_detector)
    assert "Pixel Spacing" in note
    assert "ignored" in note or "not numeric" in note


def test_absurd_everything_is_no_spacing() -> None:
    spacing, note = spacing_from_dataset(header(PixelSpacing=[0, 0], ImagerPixelSpacing=[99, 99]))
    assert spacing is None
    assert "(0028,0030)" in note
    assert "(0018,1164)" in note


def test_single_value_is_isotropic() -> None:
    spacing, _ = spacing_from_dataset(header(PixelSpacing="0.3"))
    assert spacing == Spacing(0.3, 0.3, SpacingSource.pixel_spacing)


def test_enhanced_multiframe_shared_pixel_measures() -> None:
    measures = header(PixelSpacing=[0.12, 0.12])
    shared = header(PixelMeasuresSequence=[measures])
    spacing, _ = spacing_from_dataset(header(SharedFunctionalGroupsSequence=[shared]))
    assert spacing == Spacing(0.12, 0.12, SpacingSource.pixel_spacing)


def test_spacing_reaches_the_radiograph(make_dicom: Callable[..., Path]) -> None:
    path = make_dicom(
        ImagerPixelSpacing=[0.2, 0.2], EstimatedRadiographicMagnificationFactor="1.25"
    )
    radiograph = load_radiograph(path)
    assert radiograph.spacing is not None
    assert radiograph.spacing.source is SpacingSource.imager_magnified
    assert radiograph.spacing.row_mm == pytest.approx(0.16)
    assert "1.25" in radiograph.spacing_note
