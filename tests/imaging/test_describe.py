"""describe / format_description: technical facts, no identity."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from collarreader.errors import DicomReadError
from collarreader.imaging import describe, format_description

IDENTITY = {
    "PatientName": "Doe^Jane",
    "PatientID": "MRN4471234",
    "PatientBirthDate": "19610304",
    "StudyDate": "20230915",
    "AccessionNumber": "ACC998877",
    "InstitutionName": "Saint Elsewhere",
    "ReferringPhysicianName": "House^Gregory",
    "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.19610304",
}


def test_describe_has_the_facts_and_no_identity(make_dicom: Callable[..., Path]) -> None:
    path = make_dicom(
        "Doe_Jane.dcm",
        ImagerPixelSpacing=[0.2, 0.2],
        EstimatedRadiographicMagnificationFactor="1.25",
        WindowCenter="500",
        WindowWidth="1000",
        **IDENTITY,
    )
    description = describe(path)
    assert description["rows"] == 16
    assert description["columns"] == 12
    assert description["photometric"] == "MONOCHROME2"
    assert description["bits_stored"] == 12
    assert description["modality"] == "DX"
    assert description["n_frames"] == 1
    assert description["decoder"] == "native"
    assert description["transfer_syntax"] == {
        "uid": "1.2.840.10008.1.2.1",
        "name": "Explicit VR Little Endian",
    }
    assert description["spacing"]["source"] == "imager_magnified"
    assert description["spacing"]["row_mm"] == pytest.approx(0.16)
    assert "1.25" in description["spacing_note"]
    assert description["window"] == {"center": 500.0, "width": 1000.0}
    assert description["pixel_min"] == 0
    assert description["pixel_max"] > 0
    assert description["file_size_bytes"] == path.stat().st_size

    as_json = json.dumps(description)
    text = format_description(description)
    for value in [*IDENTITY.values(), "Doe", "Jane", "MRN4471234", "1961", "Doe_Jane"]:
        assert value not in as_json
        assert value not in text
    assert "imager_magnified" in text
    assert "Explicit VR Little Endian" in text


def test_describe_compressed_reports_decoder(pydicom_file: Callable[[str], Path]) -> None:
    description = describe(pydicom_file("MR_small_jp2klossless.dcm"))
    assert description["decoder"] in ("openjp2", "pylibjpeg")
    assert "JPEG 2000" in description["transfer_syntax"]["name"]
    assert description["spacing"]["source"] == "pixel_spacing"


def test_describe_bad_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    with pytest.raises(DicomReadError, match="empty"):
        describe(path)
