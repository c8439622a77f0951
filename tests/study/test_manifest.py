"""Manifest validation: every problem is found, named by row and column, and reported at once."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

from collarreader.errors import ManifestError
from collarreader.study.manifest import Joint, Side, TimePoint, View, load_manifest

HEADER = ["path", "site", "patient", "timepoint", "view", "joint", "side"]


def write_dx(path: Path, *, patient: str = "DOE^JANE", sop_uid: str | None = None) -> str:
    """A small, valid DX file; returns its SOP Instance UID."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = sop_uid or generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = patient
    ds.PatientID = "ID-" + patient
    ds.Modality = "DX"
    ds.BurnedInAnnotation = "NO"
    ds.Rows, ds.Columns = 8, 6
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.arange(48, dtype=np.uint16).reshape(8, 6).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return str(ds.SOPInstanceUID)


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def full_case(tmp_path: Path, site: str = "S1", patient: str = "P1") -> list[list[str]]:
    rows = []
    for timepoint in ("6m", "12m"):
        for view in ("AP", "LAT"):
            rel = f"{site}/{patient}/{timepoint}_{view}.dcm"
            write_dx(tmp_path / rel, patient=patient)
            rows.append([rel, site, patient, timepoint, view, "hip", "L"])
    return rows


def test_valid_manifest_reads_rows_and_headers(tmp_path: Path) -> None:
    rows = full_case(tmp_path) + full_case(tmp_path, "S2", "P1")
    manifest = load_manifest(write_csv(tmp_path / "manifest.csv", rows))
    assert len(manifest.rows) == 8
    assert manifest.warnings == ()
    first = manifest.rows[0]
    assert (first.row, first.path, first.timepoint, first.view) == (
        2,
        rows[0][0],
        TimePoint.M6,
        View.AP,
    )
    assert (first.joint, first.side) == (Joint.HIP, Side.L)
    assert first.file == (tmp_path / rows[0][0]).resolve()
    assert first.sop_instance_uid == str(pydicom.dcmread(first.file).SOPInstanceUID)
    assert "PixelData" not in first.header
    # Same patient ID at two sites: two patients.
    assert len(manifest.patients()) == 2


def test_semicolon_csv_case_insensitive_values_and_blank_lines(tmp_path: Path) -> None:
    write_dx(tmp_path / "a.dcm")
    text = (
        "Path;Site;Patient;Timepoint;View;Joint;Side;comment\na.dcm;S;P;6M;ap;Knee;r;x\n;;;;;;;\n"
    )
    (tmp_path / "m.csv").write_text(text, encoding="utf-8")
    manifest = load_manifest(tmp_path / "m.csv")
    (row,) = manifest.rows
    assert (row.timepoint, row.view, row.joint, row.side) == (
        TimePoint.M6,
        View.AP,
        Joint.KNEE,
        Side.R,
    )


def test_incomplete_case_is_a_warning(tmp_path: Path) -> None:
    rows = full_case(tmp_path)[:3]
    manifest = load_manifest(write_csv(tmp_path / "m.csv", rows))
    (warning,) = manifest.warnings
    assert "'P1'" in warning
    assert "12m LAT" in warning


def problems(tmp_path: Path, rows: list[list[str]]) -> str:
    with pytest.raises(ManifestError) as caught:
        load_manifest(write_csv(tmp_path / "manifest.csv", rows))
    return str(caught.value)


def test_every_kind_of_row_error_is_reported_with_row_and_column(tmp_path: Path) -> None:
    good = full_case(tmp_path)  # rows 2–5
    (tmp_path / "notdicom.dcm").write_text("hello", encoding="utf-8")
    (tmp_path / "empty.dcm").write_bytes(b"")
    write_dx(tmp_path / "x.dcm", patient="X")
    os.link(tmp_path / "x.dcm", tmp_path / "x_link.dcm")
    uid = write_dx(tmp_path / "twin1.dcm")
    write_dx(tmp_path / "twin2.dcm", sop_uid=uid)
    write_dx(tmp_path / "q.dcm")
    bad = [
        ["missing.dcm", "S1", "P2", "6m", "AP", "hip", "L"],  # row 6: missing file
        ["notdicom.dcm", "S1", "P3", "6m", "AP", "hip", "L"],  # row 7: not DICOM
        ["empty.dcm", "S1", "P4", "6m", "AP", "hip", "L"],  # row 8: empty
        ["x.dcm", "S1", "P5", "3m", "PA", "elbow", "left"],  # row 9: four unknown values
        ["x.dcm", "S1", "P5", "6m", "AP", "hip", "L"],  # row 10: same path as row 9
        ["x_link.dcm", "S1", "P6", "6m", "AP", "hip", "L"],  # row 11: same file as row 9
        ["twin1.dcm", "S1", "P7", "6m", "AP", "hip", "L"],  # row 12
        ["twin2.dcm", "S1", "P7", "12m", "AP", "hip", "L"],  # row 13: same SOP UID as 12
        good[0],  # row 14: exact duplicate of row 2
        ["q.dcm", "S1", "P1", "6m", "AP", "knee", "R"],  # row 15: joint/side conflict + slot
        ["", "S1", "P8", "6m", "AP", "hip", "L"],  # row 16: empty path
    ]
    message = problems(tmp_path, good + bad)
    expected = [
        "row 6, column 'path': file not found: missing.dcm",
        "row 7, column 'path': notdicom.dcm: not a DICOM file",
        "row 8, column 'path': empty.dcm: the file is empty",
        "row 9, column 'timepoint': unknown value '3m'",
        "row 9, column 'view': unknown value 'PA'",
        "row 9, column 'joint': unknown value 'elbow'",
        "row 9, column 'side': unknown value 'left'",
        "row 10, column 'path': 'x.dcm' is already listed in row 9",
        "row 11, column 'path': 'x_link.dcm' is the same file as row 9",
        "row 13, column 'path': twin2.dcm is the same image as row 12",
        "row 14, column 'path': duplicate of row 2",
        "row 15, column 'joint': patient 'P1' (site 'S1') has joint knee here but hip in row 2",
        "row 15, column 'side': patient 'P1' (site 'S1') has side R here but L in row 2",
        "row 15, column 'view': patient 'P1' (site 'S1') already has a 6m AP image in row 2",
        "row 16, column 'path': empty",
    ]
    for text in expected:
        assert text in message
    assert f"{len(expected)} problem(s)" in message
    for row in (2, 3, 4, 5, 12):
        assert f"row {row}," not in message


def test_header_errors(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="lacks the column"):
        load_manifest(write_csv(tmp_path / "a.csv", [], header=["path", "site", "patient"]))
    with pytest.raises(ManifestError, match="no images"):
        load_manifest(write_csv(tmp_path / "b.csv", []))
    with pytest.raises(ManifestError, match="not found"):
        load_manifest(tmp_path / "absent.csv")
    (tmp_path / "c.csv").write_bytes("path,site\n\xff".encode("latin-1"))
    with pytest.raises(ManifestError, match="not UTF-8"):
        load_manifest(tmp_path / "c.csv")


def test_dicom_without_sop_instance_uid_is_refused(tmp_path: Path) -> None:
    write_dx(tmp_path / "a.dcm")
    ds = pydicom.dcmread(tmp_path / "a.dcm")
    del ds.SOPInstanceUID
    ds.save_as(tmp_path / "a.dcm")
    message = problems(tmp_path, [["a.dcm", "S", "P", "6m", "AP", "hip", "L"]])
    assert "row 2, column 'path': a.dcm: the header has no (0008,0018) SOP Instance UID" in message


def test_damaged_pixel_data_is_found_without_reading_it(tmp_path: Path) -> None:
    write_dx(tmp_path / "cut.dcm")
    data = (tmp_path / "cut.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[:-10])
    write_dx(tmp_path / "short.dcm")
    ds = pydicom.dcmread(tmp_path / "short.dcm")
    ds.PixelData = ds.PixelData[:40]  # a consistent file whose image is too small
    ds.save_as(tmp_path / "short.dcm")
    write_dx(tmp_path / "rle.dcm")
    ds = pydicom.dcmread(tmp_path / "rle.dcm")
    ds.compress(RLELossless)
    ds.save_as(tmp_path / "rle.dcm")
    data = (tmp_path / "rle.dcm").read_bytes()
    (tmp_path / "rle_cut.dcm").write_bytes(data[:-20])
    write_dx(tmp_path / "nopixels.dcm")
    ds = pydicom.dcmread(tmp_path / "nopixels.dcm")
    del ds.PixelData
    ds.save_as(tmp_path / "nopixels.dcm")
    rows = [
        ["cut.dcm", "S", "P1", "6m", "AP", "hip", "L"],
        ["short.dcm", "S", "P2", "6m", "AP", "hip", "L"],
        ["rle.dcm", "S", "P3", "6m", "AP", "hip", "L"],
        ["rle_cut.dcm", "S", "P4", "6m", "AP", "hip", "L"],
        ["nopixels.dcm", "S", "P5", "6m", "AP", "hip", "L"],
    ]
    message = problems(tmp_path, rows)
    assert "row 2, column 'path': cut.dcm: cut short: (7FE0,0010) Pixel Data declares 96" in message
    assert "row 3, column 'path': short.dcm: (7FE0,0010) Pixel Data holds 40 bytes" in message
    assert "row 4," not in message  # the intact compressed file passes
    assert "row 5, column 'path': rle_cut.dcm: cut short inside the compressed" in message
    assert "row 6, column 'path': nopixels.dcm: no (7FE0,0010) Pixel Data" in message
