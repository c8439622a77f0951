"""Opening a reading set: format and version checks, and the integrity check of every file."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from collarreader.errors import ReadingSetError
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.readingset import (
    READINGSET_FILE,
    CaseKind,
    open_reading_set,
    sha256_file,
    sha256_files,
)


def write_dx(path: Path, value: int) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "DOE^JOHN"
    ds.Modality = "DX"
    ds.BurnedInAnnotation = "NO"
    ds.Rows, ds.Columns = 4, 4
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.full((4, 4), value, dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("prepared")
    rows = []
    for i in range(4):
        for view in ("AP", "LAT"):
            name = f"p{i}_{view}.dcm"
            write_dx(folder / name, i)
            rows.append([name, "S", f"P{i}", "6m", view, "hip", "L"])
    with (folder / "manifest.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["path", "site", "patient", "timepoint", "view", "joint", "side"])
        writer.writerows(rows)
    prepare_reading_set(
        folder / "manifest.csv",
        folder / "set",
        folder / "key.json",
        "A,B",
        seed=4,
        repeat_fraction=0.5,
    )
    return folder / "set"


@pytest.fixture
def setdir(prepared: Path, tmp_path: Path) -> Path:
    """A fresh copy of the prepared set, free to damage."""
    copy = tmp_path / "set"
    for path in prepared.rglob("*"):
        target = copy / path.relative_to(prepared)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return copy


def edit_document(setdir: Path, change: Any) -> None:
    path = setdir / READINGSET_FILE
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def test_opens_and_navigates(setdir: Path) -> None:
    reading_set = open_reading_set(setdir)
    assert reading_set.readers == ("A", "B")
    assert len(reading_set.cases) == 4
    assert len(reading_set.images) == 8
    worklist = reading_set.worklist("B")
    assert [entry.kind for entry in worklist] == [CaseKind.PRIMARY] * 4 + [CaseKind.REPEAT] * 2
    repeat = worklist[-1]
    case = reading_set.case(repeat.case_code)
    assert case.repeat_of == repeat.repeat_of
    assert case.images == reading_set.case(repeat.repeat_of).images
    assert reading_set.case(repeat.repeat_of).repeat_of is None
    with pytest.raises(KeyError):
        reading_set.case("22222")
    assert "cases=4" in repr(reading_set)


def test_modified_byte_is_detected(setdir: Path) -> None:
    reading_set = open_reading_set(setdir)
    victim = reading_set.image_path(reading_set.cases[2].images[1])
    data = bytearray(victim.read_bytes())
    data[-3] ^= 0x01
    victim.write_bytes(bytes(data))
    with pytest.raises(ReadingSetError) as caught:
        open_reading_set(setdir)
    assert f"{victim}: modified" in str(caught.value)
    assert "1 image file(s)" in str(caught.value)
    # The fast path skips the file hashes (for tools that have just verified the set).
    assert open_reading_set(setdir, verify=False).set_uuid == reading_set.set_uuid


def test_missing_file_is_detected(setdir: Path) -> None:
    reading_set = open_reading_set(setdir)
    victim = reading_set.image_path(reading_set.images[0])
    victim.unlink()
    with pytest.raises(ReadingSetError, match=re.escape(f"{victim}: missing")):
        open_reading_set(setdir)


def test_changed_protocol_is_detected_even_without_verify(setdir: Path) -> None:
    protocol = setdir / "protocol.toml"
    protocol.write_text(protocol.read_text() + "\n# edited\n")
    for verify in (True, False):
        with pytest.raises(ReadingSetError, match=r"protocol\.toml: changed since the set"):
            open_reading_set(setdir, verify=verify)
    protocol.unlink()
    with pytest.raises(ReadingSetError, match="the set's protocol file is missing"):
        open_reading_set(setdir)


def test_unknown_version_and_format_are_refused(setdir: Path) -> None:
    edit_document(setdir, lambda document: document.update(version=2))
    with pytest.raises(ReadingSetError, match=r"version 2 is not supported.*newer collarreader"):
        open_reading_set(setdir)
    edit_document(setdir, lambda document: document.update(version=1, format="other"))
    with pytest.raises(ReadingSetError, match="not a collarreader reading set"):
        open_reading_set(setdir)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["cases"][0]["images"][0].update(file="../../etc/passwd"), "not a path inside"),
        (lambda d: d["cases"][0]["images"][0].update(view="PA"), "unknown value 'PA'"),
        (lambda d: d["cases"][0]["images"][0].update(timepoint="A"), "time point 'A'"),
        (lambda d: d["cases"][1].update(case_code=d["cases"][0]["case_code"]), "repeated"),
        (lambda d: d["readers"]["A"]["worklist"].append(d["readers"]["A"]["worklist"][0]), "twice"),
        (lambda d: d.pop("set_uuid"), "lacks 'set_uuid'"),
        (lambda d: d["cases"][0]["images"][0].update(sha256="x"), "not a hex SHA-256"),
    ],
)
def test_malformed_document_is_refused(setdir: Path, change: Any, message: str) -> None:
    edit_document(setdir, change)
    with pytest.raises(ReadingSetError, match=message) as caught:
        open_reading_set(setdir, verify=False)
    assert str(setdir / READINGSET_FILE) in str(caught.value)


def test_not_a_reading_set(tmp_path: Path) -> None:
    with pytest.raises(ReadingSetError, match="no such folder"):
        open_reading_set(tmp_path / "absent")
    with pytest.raises(ReadingSetError, match="not a reading set") as caught:
        open_reading_set(tmp_path)
    # A wrong folder is not called an incomplete copy.
    assert "copy" not in str(caught.value).lower()
    (tmp_path / "manifest.csv").write_text("path\n")
    with pytest.raises(ReadingSetError, match="source study") as caught:
        open_reading_set(tmp_path)
    assert "prepare --out" in str(caught.value)
    (tmp_path / "manifest.csv").unlink()
    (tmp_path / "images").mkdir()
    with pytest.raises(ReadingSetError, match="incomplete copy"):
        open_reading_set(tmp_path)
    (tmp_path / READINGSET_FILE).write_text("{not json")
    with pytest.raises(ReadingSetError, match="cannot be read as JSON"):
        open_reading_set(tmp_path)


def test_sha256_helpers(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # 2.3 MB: three 1 MiB chunks, the last one partial
    (tmp_path / "a").write_bytes(data)
    (tmp_path / "b").write_bytes(b"")
    assert sha256_file(tmp_path / "a") == hashlib.sha256(data).hexdigest()
    assert sha256_files([tmp_path / "a", tmp_path / "b", tmp_path / "c"], workers=2) == [
        hashlib.sha256(data).hexdigest(),
        hashlib.sha256(b"").hexdigest(),
        None,
    ]
