"""``prepare_reading_set``: blinding, determinism, randomisation, key safety, all-or-nothing."""

from __future__ import annotations

import csv
import functools
import json
import shutil
import stat
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

from collarreader.errors import (
    DicomReadError,
    KeyFileError,
    ManifestError,
    ReadingSetError,
)
from collarreader.study.keyfile import load_key
from collarreader.study.manifest import TimePoint
from collarreader.study.prepare import (
    parse_path_list,
    parse_readers,
)
from collarreader.study.prepare import prepare_reading_set as _prepare_reading_set
from collarreader.study.readingset import (
    CODE_ALPHABET,
    READINGSET_FILE,
    CaseKind,
    open_reading_set,
)

# These tests are about planning, writing and refusing; the search for burned-in text (a
# Tesseract run per image) is tested in test_ocr.py, so it is switched off here.
prepare_reading_set = functools.partial(_prepare_reading_set, search_text=False)

HEADER = ["path", "site", "patient", "timepoint", "view", "joint", "side"]
# Identity that must never reach a reading set (headers, manifest values, file names).
SITE = "ZurichBalgrist"
INSTITUTION = "Hospital Sankt Elsewhere"
PHYSICIAN = "DRWHO^REFERRING"


def patient_name(i: int) -> str:
    return f"MUELLERHANS{i:02d}"


def patient_id(i: int) -> str:
    return f"PID8374{i:02d}"


def write_dx(
    path: Path,
    *,
    patient: int = 0,
    burned_in: str | None = "NO",
    modality: str = "DX",
    rle: bool = False,
) -> np.ndarray:
    """A small DX full of identity; returns its pixel array."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = patient_name(patient)
    ds.PatientID = patient_id(patient)
    ds.PatientBirthDate = "19610203"
    ds.StudyDate = "20240517"
    ds.InstitutionName = INSTITUTION
    ds.ReferringPhysicianName = PHYSICIAN
    ds.Modality = modality
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    ds.Rows, ds.Columns = 12, 10
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    pixels = np.random.default_rng(zlib.crc32(path.name.encode())).integers(
        0, 4096, (12, 10), dtype=np.uint16
    )
    ds.PixelData = pixels.tobytes()
    if rle:
        ds.compress(RLELossless, pixels)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return pixels


def write_manifest(folder: Path, rows: list[list[str]]) -> Path:
    path = folder / "manifest.csv"
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def make_study(folder: Path, n_patients: int = 3, views: tuple[str, ...] = ("AP", "LAT")) -> Path:
    """``n_patients`` cases with both time points and ``views``; returns the manifest path."""
    rows = []
    for i in range(n_patients):
        for timepoint in ("6m", "12m"):
            for view in views:
                rel = f"{patient_name(i)}/{timepoint}_{view}.dcm"
                write_dx(folder / rel, patient=i)
                joint = "knee" if i % 3 == 2 else "hip"
                rows.append([rel, SITE, patient_id(i), timepoint, view, joint, "LR"[i % 2]])
    return write_manifest(folder, rows)


@pytest.fixture
def study(tmp_path: Path) -> Path:
    return make_study(tmp_path / "source")


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_end_to_end(study: Path, tmp_path: Path) -> None:
    out, key_path = tmp_path / "set", tmp_path / "key.json"
    calls: list[tuple[int, int]] = []
    report = prepare_reading_set(
        study,
        out,
        key_path,
        "A,B",
        seed=1,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert (report.n_patients, report.n_cases, report.n_images, report.n_readers) == (3, 3, 12, 2)
    assert report.n_repeats == 1  # round(0.2 × 3)
    assert calls[0] == (0, 12)
    assert calls[-1] == (12, 12)
    assert leftovers(tmp_path) == ["key.json", "set", "source"]
    assert leftovers(out) == ["images", "protocol.toml", "readingset.json", "report.txt"]

    document = json.loads((out / READINGSET_FILE).read_text())
    assert list(document) == [
        "format",
        "version",
        "set_uuid",
        "protocol",
        "blind_timepoints",
        "cases",
        "readers",
        "key_commitment",
    ]
    assert (document["format"], document["version"]) == ("collarreader-readingset", 1)
    assert document["protocol"]["file"] == "protocol.toml"

    reading_set = open_reading_set(out)
    assert reading_set.set_uuid == report.set_uuid == document["set_uuid"]
    assert reading_set.protocol.sha256 == document["protocol"]["sha256"]
    codes = [case.case_code for case in reading_set.cases]
    assert codes == sorted(codes)
    for case in reading_set.cases:
        assert len(case.case_code) == 5
        assert set(case.case_code) <= set(CODE_ALPHABET)
        assert [(image.timepoint, image.view) for image in case.images] == [
            ("6m", "AP"),
            ("6m", "LAT"),
            ("12m", "AP"),
            ("12m", "LAT"),
        ]
        for image in case.images:
            path = reading_set.image_path(image)
            assert path.name == f"{image.image_code}.dcm"
            assert pydicom.dcmread(path).SOPInstanceUID == image.sop_instance_uid
    image_codes = [image.image_code for image in reading_set.images]
    assert len(set(image_codes)) == 12
    assert not set(image_codes) & set(codes)

    key = load_key(key_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key.set_uuid == report.set_uuid
    assert key.manifest == str(study)
    for case in reading_set.cases:
        identity = key.cases[case.case_code]
        assert identity.site == SITE
        assert (identity.joint, identity.side) == (case.joint, case.side)
        for image in case.images:
            source = key.images[image.image_code]
            assert source.case_code == case.case_code
            assert (source.timepoint.value, source.view) == (image.timepoint, image.view)
            original = pydicom.dcmread(key.source_path(image.image_code))
            assert original.PatientID == identity.patient
            assert source.sop_instance_uid == original.SOPInstanceUID
            assert source.sop_instance_uid != image.sop_instance_uid
            assert key.image_by_sop(image.sop_instance_uid) == source

    for reader in ("A", "B"):
        worklist = reading_set.worklist(reader)
        primaries = [entry for entry in worklist if entry.kind is CaseKind.PRIMARY]
        repeats = [entry for entry in worklist if entry.kind is CaseKind.REPEAT]
        assert sorted(entry.case_code for entry in primaries) == codes
        assert worklist[: len(primaries)] == tuple(primaries)  # repeats come last
        (repeat,) = repeats
        assert repeat.case_code not in codes
        assert repeat.repeat_of in codes
        assert (
            reading_set.case(repeat.case_code).images == reading_set.case(repeat.repeat_of).images
        )
        assert key.repeats[reader] == {repeat.case_code: repeat.repeat_of}
        assert key.case(repeat.case_code) == key.cases[repeat.repeat_of]
    with pytest.raises(ReadingSetError, match="no worklist for reader 'C'"):
        reading_set.worklist("C")

    assert report.text.endswith("\n")
    assert "cases: 3" in report.text
    assert (out / "report.txt").read_text() == report.set_text


def test_no_identity_in_any_byte_of_the_set(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "set"
    prepare_reading_set(study, out, tmp_path / "key.json", ["A"], seed=3, blind_timepoints=True)
    identity = [SITE, INSTITUTION, PHYSICIAN.partition("^")[0], "19610203", "20240517"]
    identity += [patient_name(i) for i in range(3)] + [patient_id(i) for i in range(3)]
    manifest = pydicom.dcmread(next(study.parent.rglob("*.dcm")))
    identity += [manifest.SOPInstanceUID, manifest.StudyInstanceUID, manifest.SeriesInstanceUID]
    files = [path for path in out.rglob("*") if path.is_file()]
    assert len(files) == 15
    for path in files:
        data = path.read_bytes()
        for text in identity:
            assert text.encode() not in data, f"{text} in {path}"
            assert text.encode("utf-16-le") not in data
    # …whereas the key has it all.
    key_text = (tmp_path / "key.json").read_text()
    assert SITE in key_text
    assert patient_id(2) in key_text


def set_contents(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_same_seed_same_bytes_other_seed_differs(study: Path, tmp_path: Path) -> None:
    def build(name: str, seed: int) -> dict[str, bytes]:
        prepare_reading_set(
            study,
            tmp_path / name,
            tmp_path / f"{name}.key",
            "A,B",
            seed=seed,
            blind_timepoints=True,
        )
        return set_contents(tmp_path / name)

    first, again, other = build("one", 7), build("two", 7), build("three", 8)
    assert first == again
    assert set(first) != set(other)
    assert first["readingset.json"] != other["readingset.json"]
    # Only the paths differ between the two keys of the same seed.
    key_one = json.loads((tmp_path / "one.key").read_text())
    key_two = json.loads((tmp_path / "two.key").read_text())
    assert key_one == key_two


def test_row_order_does_not_change_the_set(study: Path, tmp_path: Path) -> None:
    lines = study.read_text().splitlines()
    shuffled = tmp_path / "source" / "shuffled.csv"
    shuffled.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    prepare_reading_set(study, tmp_path / "a", tmp_path / "a.key", "A", seed=5)
    prepare_reading_set(shuffled, tmp_path / "b", tmp_path / "b.key", "A", seed=5)
    a, b = set_contents(tmp_path / "a"), set_contents(tmp_path / "b")
    # The keys differ in one value, the manifest they name, so the commitments differ; the
    # rest of the set is byte for byte the same.
    a_document, b_document = json.loads(a.pop(READINGSET_FILE)), json.loads(b.pop(READINGSET_FILE))
    assert a_document.pop("key_commitment") != b_document.pop("key_commitment")
    assert a_document == b_document
    assert a == b
    a_key, b_key = (
        json.loads((tmp_path / "a.key").read_text()),
        json.loads((tmp_path / "b.key").read_text()),
    )
    assert a_key.pop("manifest") != b_key.pop("manifest")
    assert a_key == b_key


def test_orders_differ_per_reader_and_repeat_fraction_is_honoured(tmp_path: Path) -> None:
    manifest = make_study(tmp_path / "source", n_patients=10, views=("AP",))
    readers = ["R1", "R2", "R3", "R4"]
    report = prepare_reading_set(
        manifest, tmp_path / "set", tmp_path / "key", readers, seed=11, repeat_fraction=0.34
    )
    assert report.n_repeats == 3  # round(0.34 × 10)
    reading_set = open_reading_set(tmp_path / "set")
    orders, subsets, repeat_codes = [], [], []
    for reader in readers:
        worklist = reading_set.worklist(reader)
        assert len(worklist) == 13
        orders.append(tuple(entry.case_code for entry in worklist[:10]))
        assert {entry.kind for entry in worklist[10:]} == {CaseKind.REPEAT}
        subsets.append(frozenset(entry.repeat_of for entry in worklist[10:]))
        repeat_codes += [entry.case_code for entry in worklist[10:]]
        assert worklist[10].repeat_of != worklist[9].case_code
    assert len(set(orders)) == 4
    assert len(set(subsets)) > 1
    assert len(set(repeat_codes)) == 12  # every repeat read has its own code
    assert not set(repeat_codes) & {case.case_code for case in reading_set.cases}

    prepare_reading_set(
        manifest, tmp_path / "none", tmp_path / "none.key", "A", seed=1, repeat_fraction=0
    )
    assert len(open_reading_set(tmp_path / "none").worklist("A")) == 10


def test_blind_timepoints(tmp_path: Path) -> None:
    manifest = make_study(tmp_path / "source", n_patients=8)
    prepare_reading_set(
        manifest, tmp_path / "set", tmp_path / "key", "A", seed=3, blind_timepoints=True
    )
    reading_set = open_reading_set(tmp_path / "set")
    key = load_key(tmp_path / "key")
    assert reading_set.blind_timepoints
    mappings = set()
    for case in reading_set.cases:
        assert sorted(image.timepoint for image in case.images) == ["A", "A", "B", "B"]
        truth = {image.timepoint: key.images[image.image_code].timepoint for image in case.images}
        # Both views of a time point carry the same label.
        assert len(truth) == 2
        assert set(truth.values()) == {TimePoint.M6, TimePoint.M12}
        for image in case.images:
            assert key.images[image.image_code].label == image.timepoint
        mappings.add(truth["A"])
    assert mappings == {TimePoint.M6, TimePoint.M12}  # random per case, not fixed
    # Shifted dates would still tell which study is the later one: they are removed.
    written = pydicom.dcmread(reading_set.image_path(reading_set.images[0]))
    assert written.StudyDate == ""
    assert written.LongitudinalTemporalInformationModified == "REMOVED"
    assert not [
        element for element in written.iterall() if element.VR in ("DA", "DT") and element.value
    ]


def test_decoded_pixels_unchanged(tmp_path: Path) -> None:
    source = tmp_path / "source"
    expected = {
        "plain.dcm": write_dx(source / "plain.dcm"),
        "rle.dcm": write_dx(source / "rle.dcm", rle=True),
    }
    jpeg2000 = get_testdata_file("MR_small_jp2klossless.dcm", download=False)
    assert jpeg2000 is not None
    shutil.copyfile(jpeg2000, source / "j2k.dcm")
    expected["j2k.dcm"] = pydicom.dcmread(source / "j2k.dcm").pixel_array
    rows = [
        ["plain.dcm", "S", "P1", "6m", "AP", "hip", "L"],
        ["rle.dcm", "S", "P1", "6m", "LAT", "hip", "L"],
        ["j2k.dcm", "S", "P1", "12m", "AP", "hip", "L"],
    ]
    manifest = write_manifest(source, rows)
    prepare_reading_set(manifest, tmp_path / "set", tmp_path / "key", "A", seed=1)
    reading_set = open_reading_set(tmp_path / "set")
    key = load_key(tmp_path / "key")
    for image in reading_set.images:
        name = key.images[image.image_code].source
        written = pydicom.dcmread(reading_set.image_path(image))
        original = pydicom.dcmread(source / name)
        assert written.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert np.array_equal(written.pixel_array, expected[name])


def test_burned_in_left_out_unless_confirmed(tmp_path: Path) -> None:
    source = tmp_path / "source"
    write_dx(source / "clean.dcm")
    write_dx(source / "burned.dcm", burned_in="YES")
    write_dx(source / "unflagged.dcm", burned_in=None)  # DX often burns in text
    write_dx(source / "mr.dcm", burned_in=None, modality="MR")  # MR rarely does
    rows = [
        ["clean.dcm", "S", "P1", "6m", "AP", "hip", "L"],
        ["burned.dcm", "S", "P1", "6m", "LAT", "hip", "L"],
        ["unflagged.dcm", "S", "P1", "12m", "AP", "hip", "L"],
        ["mr.dcm", "S", "P1", "12m", "LAT", "hip", "L"],
    ]
    manifest = write_manifest(source, rows)
    report = prepare_reading_set(manifest, tmp_path / "set", tmp_path / "key", "A", seed=1)
    assert report.n_images == 2
    burned, unflagged = report.left_out
    assert (burned.row, burned.path) == (3, "burned.dcm")
    assert "Burned In Annotation is YES" in burned.reason
    assert (unflagged.row, unflagged.path) == (4, "unflagged.dcm")
    assert "absent and modality DX" in unflagged.reason
    assert "row 3 (burned.dcm)" in report.text
    assert "burned.dcm" not in report.set_text  # paths stay out of the set
    assert "row 3" in report.set_text

    with pytest.raises(ManifestError, match=r"nope\.dcm"):
        prepare_reading_set(
            manifest, tmp_path / "x", tmp_path / "x.key", "A", confirm_burned_in=["nope.dcm"]
        )
    listing = tmp_path / "checked.txt"
    listing.write_text("burned.dcm\n./unflagged.dcm\n")
    report = prepare_reading_set(
        manifest,
        tmp_path / "confirmed",
        tmp_path / "confirmed.key",
        "A",
        seed=1,
        confirm_burned_in=parse_path_list(str(listing)),
    )
    assert report.n_images == 4
    assert report.left_out == ()
    assert [item.row for item in report.confirmed] == [3, 4]


def test_all_images_burned_in_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "source"
    write_dx(source / "burned.dcm", burned_in="YES")
    manifest = write_manifest(source, [["burned.dcm", "S", "P", "6m", "AP", "hip", "L"]])
    with pytest.raises(ReadingSetError, match="every image was left out"):
        prepare_reading_set(manifest, tmp_path / "set", tmp_path / "key", "A")
    assert leftovers(tmp_path) == ["source"]


BAD_ROWS = {
    "missing file": (
        ["gone.dcm", "S", "P9", "6m", "AP", "hip", "L"],
        "column 'path': file not found",
    ),
    "unknown view": (
        ["{first}", "S", "P9", "6m", "PA", "hip", "L"],
        "column 'view': unknown value",
    ),
    "duplicate row": (None, "duplicate of row 2"),
    "conflicting side": (["{extra}", SITE, "{patient}", "6m", "AP", "hip", "R"], "column 'side'"),
}


@pytest.mark.parametrize("kind", sorted(BAD_ROWS))
def test_manifest_error_writes_nothing(study: Path, tmp_path: Path, kind: str) -> None:
    lines = study.read_text().splitlines()
    first = lines[1].split(",")
    row, expected = BAD_ROWS[kind]
    if row is None:
        bad = lines[1]
    else:
        write_dx(study.parent / "extra.dcm")
        bad = ",".join(row).format(first=first[0], extra="extra.dcm", patient=first[2])
    study.write_text("\n".join([*lines, bad]) + "\n")
    with pytest.raises(ManifestError) as caught:
        prepare_reading_set(study, tmp_path / "set", tmp_path / "key.json", "A,B")
    assert f"row {len(lines) + 1}, " in str(caught.value)
    assert expected in str(caught.value)
    assert leftovers(tmp_path) == ["source"]


def test_failure_midway_leaves_nothing(study: Path, tmp_path: Path) -> None:
    # A real interruption half-way (Ctrl-C arrives as KeyboardInterrupt between images).
    def interrupt(done: int, total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_reading_set(study, tmp_path / "set", tmp_path / "key", "A", progress=interrupt)
    assert leftovers(tmp_path) == ["source"]


def test_truncated_file_is_a_manifest_error_and_leaves_nothing(study: Path, tmp_path: Path) -> None:
    # pydicom reads a file cut short without complaint; the manifest check walks the framing.
    victim = next(study.parent.rglob("12m_LAT.dcm"))
    victim.write_bytes(victim.read_bytes()[:-100])
    with pytest.raises(ManifestError, match=r"row \d+, column 'path': .*12m_LAT.dcm: cut short"):
        prepare_reading_set(study, tmp_path / "set", tmp_path / "key", "A")
    assert leftovers(tmp_path) == ["source"]


def test_file_unreadable_during_the_build_leaves_nothing(study: Path, tmp_path: Path) -> None:
    # The manifest check passed; then a source file disappears (a network share dropping out)
    # before the build reaches it.
    victim = next(study.parent.rglob("12m_LAT.dcm"))

    def vanish(done: int, total: int) -> None:
        if done == 0:
            victim.unlink()

    with pytest.raises(DicomReadError) as caught:
        prepare_reading_set(study, tmp_path / "set", tmp_path / "key", "A", progress=vanish)
    assert "12m_LAT.dcm" in str(caught.value)
    assert "manifest row" in str(caught.value)
    assert leftovers(tmp_path) == ["source"]


def test_undecodable_compressed_image_is_refused_and_leaves_nothing(
    study: Path, tmp_path: Path
) -> None:
    # Compressed images are decoded once while preparing, so a reader's workstation may later
    # trust them to the faster (but crash-prone on corrupt data) gdcm decoder.
    victim = next(study.parent.rglob("12m_LAT.dcm"))
    write_dx(victim, patient=0, rle=True)
    dataset = pydicom.dcmread(victim)
    data = bytearray(victim.read_bytes())
    encapsulated = data.index(dataset.PixelData)  # starts with the basic offset table item
    # Keep the DICOM framing; the RLE header now claims two segments (a 16-bit image needs
    # exactly two) at offsets beyond the fragment's end.
    offset_table_length = int.from_bytes(data[encapsulated + 4 : encapsulated + 8], "little")
    rle_header = encapsulated + 8 + offset_table_length + 8  # after the offset table, item header
    data[rle_header : rle_header + 12] = (2).to_bytes(4, "little") + b"\xff\xff\xff\x0f" * 2
    victim.write_bytes(bytes(data))
    assert dataset.file_meta.TransferSyntaxUID == RLELossless
    before = victim.read_bytes()
    with pytest.raises(ManifestError) as caught:
        prepare_reading_set(study, tmp_path / "set", tmp_path / "key", "A")
    where = victim.relative_to(study.parent).as_posix()
    assert f"({where}): the reader cannot open it" in str(caught.value)
    assert leftovers(tmp_path) == ["source"]
    assert victim.read_bytes() == before


def test_existing_setdir_refused_unless_force(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "set"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    with pytest.raises(ReadingSetError, match="already exists"):
        prepare_reading_set(study, out, tmp_path / "key", "A")
    # --force replaces a reading set or an empty folder, never other data.
    with pytest.raises(ReadingSetError, match="not a reading set"):
        prepare_reading_set(study, out, tmp_path / "key", "A", force=True)
    assert (out / "notes.txt").read_text() == "precious"
    assert not (tmp_path / "key").exists()

    (out / "notes.txt").unlink()
    first = prepare_reading_set(study, out, tmp_path / "key", "A", seed=1, force=True)
    second = prepare_reading_set(study, out, tmp_path / "key", "A", seed=2, force=True)
    assert open_reading_set(out).set_uuid == second.set_uuid != first.set_uuid
    assert second.key_backup == tmp_path / "key.bak"
    assert load_key(tmp_path / "key.bak").set_uuid == first.set_uuid
    assert leftovers(tmp_path) == ["key", "key.bak", "set", "source"]


def test_key_refused_inside_setdir(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "set"
    with pytest.raises(KeyFileError, match="inside the reading set"):
        prepare_reading_set(study, out, out / "key.json", "A")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(KeyFileError, match="inside the reading set"):
        prepare_reading_set(study, tmp_path / "link", tmp_path / "elsewhere" / "k.json", "A")
    with pytest.raises(KeyFileError, match="source file"):
        prepare_reading_set(study, out, study, "A", force=True)
    assert leftovers(tmp_path) == ["elsewhere", "link", "source"]


def test_existing_key_never_overwritten_silently(study: Path, tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text("the only key of last year's set")
    with pytest.raises(KeyFileError, match="already exists"):
        prepare_reading_set(study, tmp_path / "set", key, "A")
    assert key.read_text() == "the only key of last year's set"
    assert not (tmp_path / "set").exists()
    (tmp_path / "key.json.bak").write_text("older")
    report = prepare_reading_set(study, tmp_path / "set", key, "A", force=True)
    assert report.key_backup == tmp_path / "key.json.bak.1"
    assert report.key_backup.read_text() == "the only key of last year's set"
    assert (tmp_path / "key.json.bak").read_text() == "older"
    assert load_key(key).set_uuid == report.set_uuid
    assert f"previous key was kept as {report.key_backup}" in report.text


def test_argument_checks(study: Path, tmp_path: Path) -> None:
    assert parse_readers(" A, B ,C") == ("A", "B", "C")
    for bad in ("", "A,A", "A B", "-x"):
        with pytest.raises(ReadingSetError, match="--readers"):
            parse_readers(bad)
    with pytest.raises(ReadingSetError, match="--repeat-fraction"):
        prepare_reading_set(study, tmp_path / "s", tmp_path / "k", "A", repeat_fraction=1.5)
    listing = tmp_path / "confirm.txt"
    listing.write_text("# checked by the study lead\na.dcm\n\n b/c.dcm \n")
    assert parse_path_list(str(listing)) == ("a.dcm", "b/c.dcm")
    assert parse_path_list("a.dcm, b.dcm") == ("a.dcm", "b.dcm")
    assert leftovers(tmp_path) == ["confirm.txt", "source"]


def test_source_files_are_not_changed(study: Path, tmp_path: Path) -> None:
    def snapshot() -> dict[Path, tuple[bytes, int]]:
        return {
            path: (path.read_bytes(), path.stat().st_mtime_ns)
            for path in study.parent.rglob("*")
            if path.is_file()
        }

    before = snapshot()
    prepare_reading_set(study, tmp_path / "set", tmp_path / "key", "A", blind_timepoints=True)
    assert snapshot() == before
    assert len(before) == 13


def test_load_key_refuses_damaged_or_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    with pytest.raises(KeyFileError, match="key file not found"):
        load_key(path)
    path.write_text('{"format": "something-else"}')
    with pytest.raises(KeyFileError, match="not a collarreader key file"):
        load_key(path)
    path.write_text('{"format": "collarreader-key", "version": 9}')
    with pytest.raises(KeyFileError, match="version 9 is not supported"):
        load_key(path)
    path.write_text('{"format": "collarreader-key", "version": 1, "cases": {}}')
    with pytest.raises(KeyFileError, match="malformed key file"):
        load_key(path)


IDENTITY_KEYWORDS = (
    "PatientID",
    "OtherPatientIDs",
    "IssuerOfPatientID",
    "PatientAddress",
    "InstitutionName",
    "InstitutionAddress",
    "StationName",
    "AccessionNumber",
    "DeviceSerialNumber",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "StudyDate",
    "PatientBirthDate",
)


def source_identity(manifest: Path) -> set[str]:
    """Identity strings of a source study: header values, names, manifest site and patient."""
    identity: set[str] = set()
    with manifest.open(newline="") as stream:
        for row in csv.DictReader(stream):
            identity |= {row["site"], row["patient"]}
            header = pydicom.dcmread(manifest.parent / row["path"], stop_before_pixels=True)
            identity |= {str(header.get(keyword, "")) for keyword in IDENTITY_KEYWORDS}
            for element in header.iterall():
                if element.VR == "PN" and element.value:
                    identity |= {part for part in str(element.value).split("^") if len(part) > 2}
    return {text for text in identity if len(text) >= 4}


def test_end_to_end_on_a_phantom_study(tmp_path: Path) -> None:
    from collarreader.study.phantom import generate_study

    summary = generate_study(tmp_path / "phantom", patients=3, seed=1, small=True, burned_in=1)
    report = prepare_reading_set(
        summary.manifest, tmp_path / "set", tmp_path / "key.json", "R1,R2", seed=9
    )
    assert (report.n_patients, report.n_cases, report.n_readers) == (3, 3, 2)
    assert report.n_images == summary.images - 1
    (left_out,) = report.left_out
    assert "Burned In Annotation is YES" in left_out.reason

    reading_set = open_reading_set(tmp_path / "set")
    key = load_key(tmp_path / "key.json")
    syntaxes = set()
    for image in reading_set.images:
        source = pydicom.dcmread(key.source_path(image.image_code))
        written = pydicom.dcmread(reading_set.image_path(image))
        syntaxes.add(written.file_meta.TransferSyntaxUID)
        assert written.file_meta.TransferSyntaxUID == source.file_meta.TransferSyntaxUID
        assert written.PixelData == source.PixelData
        assert np.array_equal(written.pixel_array, source.pixel_array)
        assert written.PatientIdentityRemoved == "YES"
        assert written.StudyDate  # shifted, so the 6 m → 12 m interval survives …
        assert written.StudyDate != source.StudyDate  # … but not the real date
    assert len(syntaxes) >= 2  # uncompressed and compressed both went through

    identity = source_identity(summary.manifest)
    assert len(identity) > 20
    for path in (tmp_path / "set").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for text in identity:
                for encoding in ("utf-8", "latin-1"):
                    try:
                        needle = text.encode(encoding)
                    except UnicodeEncodeError:
                        continue
                    assert needle not in data, f"{text!r} in {path.name}"


def test_elements_after_the_pixel_data_are_deidentified_too(tmp_path: Path) -> None:
    source = tmp_path / "source"
    pixels = write_dx(source / "tail.dcm")
    ds = pydicom.dcmread(source / "tail.dcm")
    ds.add_new(0x7FE10010, "LO", "VENDOR")  # a private group after (7FE0,0010)
    ds.add_new(0x7FE11001, "LO", patient_name(0))
    ds.add_new(0xFFFCFFFC, "OB", patient_id(0).encode())  # Data Set Trailing Padding
    ds.save_as(source / "tail.dcm")
    manifest = write_manifest(source, [["tail.dcm", "S", "P", "6m", "AP", "hip", "L"]])
    prepare_reading_set(manifest, tmp_path / "set", tmp_path / "key", "A", seed=1)
    (image,) = open_reading_set(tmp_path / "set").images
    data = (tmp_path / "set" / image.file).read_bytes()
    assert patient_name(0).encode() not in data
    assert patient_id(0).encode() not in data
    assert np.array_equal(pydicom.dcmread(tmp_path / "set" / image.file).pixel_array, pixels)
