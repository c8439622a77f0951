"""Only images the reader can open reach a reading set.

Seven kinds of uncompressed image that pydicom writes without complaint but no viewer can show:
``prepare`` refuses each by manifest row with the loader's message and writes nothing, ``inspect``
says the same, and ``--skip-unreadable`` leaves them out and lists them.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from collarreader.cli import main
from collarreader.errors import DicomReadError, ManifestError
from collarreader.imaging import describe
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.readingset import open_reading_set


def good(uid_seed: int = 0) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.BurnedInAnnotation = "NO"
    ds.Rows, ds.Columns = 12, 10
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (np.arange(120, dtype=np.uint16) * 30).tobytes()
    return ds


def _bits_stored_over_allocated(ds: Dataset) -> None:
    ds.BitsStored, ds.HighBit = 17, 16


def _rows_zero(ds: Dataset) -> None:
    ds.Rows = 0


def _planar_configuration_7(ds: Dataset) -> None:
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 7
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = bytes(360)


def _monochrome3(ds: Dataset) -> None:
    ds.PhotometricInterpretation = "MONOCHROME3"


def _bits_allocated_12(ds: Dataset) -> None:
    ds.BitsAllocated = 12
    ds.PixelData = bytes(180)


def _twice_the_declared_size(ds: Dataset) -> None:
    ds.PixelData = bytes(480)


def _palette_without_lut(ds: Dataset) -> None:
    ds.PhotometricInterpretation = "PALETTE COLOR"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = bytes(120)


KINDS: dict[str, tuple[Callable[[Dataset], None], str]] = {
    "bits stored > bits allocated": (_bits_stored_over_allocated, "Bits Stored 17"),
    "rows 0": (_rows_zero, "0×10 pixels"),
    "planar configuration 7": (_planar_configuration_7, "Planar Configuration"),
    "MONOCHROME3": (_monochrome3, "MONOCHROME3"),
    "bits allocated 12": (_bits_allocated_12, "Bits Allocated 12"),
    "pixel data twice the declared size": (_twice_the_declared_size, "needs only 240"),
    "PALETTE COLOR without a LUT": (_palette_without_lut, "palette"),
}


def make_study(folder: Path, spoil: Callable[[Dataset], None]) -> Path:
    """Two patients, four images each; the second image of patient 2 (manifest row 7) is spoilt."""
    rows = []
    for patient in range(2):
        for timepoint in ("6m", "12m"):
            for view in ("AP", "LAT"):
                rel = f"p{patient}/{timepoint}_{view}.dcm"
                ds = good()
                if (patient, timepoint, view) == (1, "6m", "LAT"):
                    spoil(ds)
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                ds.save_as(folder / rel, enforce_file_format=True)
                rows.append([rel, "S1", f"P{patient}", timepoint, view, "hip", "L"])
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["path", "site", "patient", "timepoint", "view", "joint", "side"])
        writer.writerows(rows)
    return manifest


@pytest.mark.parametrize("kind", list(KINDS))
def test_prepare_refuses_by_row_and_inspect_agrees(tmp_path: Path, kind: str) -> None:
    spoil, words = KINDS[kind]
    manifest = make_study(tmp_path / "source", spoil)
    spoilt = tmp_path / "source" / "p1" / "6m_LAT.dcm"
    setdir, key = tmp_path / "set", tmp_path / "key.json"
    with pytest.raises(ManifestError) as caught:
        prepare_reading_set(manifest, setdir, key, "A", seed=1)
    message = str(caught.value)
    assert "row 7 (p1/6m_LAT.dcm)" in message
    assert words in message
    assert "--skip-unreadable" in message
    assert "row 6 " not in message
    assert "row 8 " not in message
    assert not setdir.exists()
    assert not key.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source"]
    # inspect (describe) refuses the same file with the same reason.
    with pytest.raises(DicomReadError) as inspected:
        describe(spoilt)
    assert inspected.value.reason in message


def test_skip_unreadable_leaves_the_row_out_and_lists_it(tmp_path: Path) -> None:
    manifest = make_study(tmp_path / "source", _monochrome3)
    setdir, key = tmp_path / "set", tmp_path / "key.json"
    report = prepare_reading_set(manifest, setdir, key, "A", seed=1, skip_unreadable=True)
    assert report.n_images == 7
    assert [(item.row, item.path) for item in report.left_out] == [(7, "p1/6m_LAT.dcm")]
    assert "MONOCHROME3" in report.left_out[0].reason
    assert "row 7 (p1/6m_LAT.dcm): the reader cannot open it" in report.text
    assert len(open_reading_set(setdir).images) == 7


def test_cli_prepare_and_inspect_say_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = make_study(tmp_path / "source", _bits_allocated_12)
    args = ["prepare", "--manifest", str(manifest), "--out", str(tmp_path / "set")]
    args += ["--key", str(tmp_path / "key.json"), "--readers", "A", "--seed", "1"]
    assert main(args) != 0
    refused = capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "source" / "p1" / "6m_LAT.dcm")]) != 0
    inspected = capsys.readouterr().err
    assert "Bits Allocated 12" in refused
    assert "Bits Allocated 12" in inspected
    assert "Traceback" not in refused + inspected
    assert main([*args, "--skip-unreadable"]) == 0
    assert "row 7 (p1/6m_LAT.dcm)" in capsys.readouterr().out
