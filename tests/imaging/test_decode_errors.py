"""Every input that cannot be shown becomes a DicomReadError naming the file; none is changed.

The corpus is generated here in tmp_path, one case per kind of damage. pytest's
faulthandler_timeout catches a hang; nothing here times anything.
"""

from __future__ import annotations

import inspect
import io
import struct
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    MediaStorageDirectoryStorage,
    RLELossless,
    generate_uid,
)

from collarreader.errors import DicomReadError
from collarreader.imaging import DicomWarning, load_radiograph
from collarreader.imaging import scan as scan_module

PIXEL_TAG_EXPLICIT = b"\xe0\x7f\x10\x00OW"
RNG = np.random.default_rng(20240611)

Builder = Callable[[Path, Callable[..., Path], Callable[..., Dataset]], Path]


def _write(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def _encapsulated(ds: Dataset, syntax: str, fragment: bytes) -> Dataset:
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PixelData = encapsulate([fragment])
    ds["PixelData"].VR = "OB"
    return ds


def _nested_sequences(depth: int) -> bytes:
    """`depth` nested undefined-length sequences, explicit VR little endian."""
    opening = b"\x40\x00\x30\xa7SQ\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    closing = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    return opening * depth + closing * depth


def _nested_defined_sequences(depth: int) -> bytes:
    """`depth` nested defined-length sequences (lengths computed inside out)."""
    body = b""
    for _ in range(depth):
        item = b"\xfe\xff\x00\xe0" + struct.pack("<L", len(body)) + body
        body = b"\x40\x00\x30\xa7SQ\x00\x00" + struct.pack("<L", len(item)) + item
    return body


def _insert_before_pixels(path: Path, chunk: bytes) -> Path:
    data = path.read_bytes()
    at = data.index(PIXEL_TAG_EXPLICIT)
    path.write_bytes(data[:at] + chunk + data[at:])
    return path


def empty(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    path = tmp / "empty.dcm"
    path.write_bytes(b"")
    return path


def not_dicom(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    path = tmp / "notes.dcm"
    path.write_text("Patient list, do not share.\n" * 40)
    return path


def random_bytes(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    path = tmp / "noise.dcm"
    path.write_bytes(RNG.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    return path


def dicomdir(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.FileSetID = "DISC"
    ds.DirectoryRecordSequence = []
    return _write(ds, tmp / "DICOMDIR")


def structured_report(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "SR"
    ds.ContentSequence = [Dataset()]
    return _write(ds, tmp / "report.dcm")


def truncated_header(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    path = make("cut_header.dcm")
    data = path.read_bytes()
    path.write_bytes(data[: data.index(PIXEL_TAG_EXPLICIT) - 7])
    return path


def truncated_pixels(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    path = make("cut_pixels.dcm")
    path.write_bytes(path.read_bytes()[:-100])
    return path


def too_little_data(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    return make("rows_too_many.dcm", Rows=64)  # 16×12 pixels stored


def too_much_data(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    return make("rows_too_few.dcm", Rows=4)


def bits_allocated_zero(
    tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]
) -> Path:
    return make("bits0.dcm", BitsAllocated=0)


def no_rows(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    return make("no_rows.dcm", Rows=None)


def garbage_jpeg2000(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    noise = RNG.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    return _write(_encapsulated(build(), JPEG2000Lossless, noise), tmp / "j2k_noise.dcm")


def garbage_jpeg(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    noise = b"\xff\xd8" + RNG.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    ds = build(np.zeros((16, 12), np.uint8))
    return _write(_encapsulated(ds, JPEGBaseline8Bit, noise), tmp / "jpeg_noise.dcm")


def garbage_rle(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    header = struct.pack("<16L", 2, 64, 100, *([0] * 13))
    noise = header + RNG.integers(0, 256, 300, dtype=np.uint8).tobytes()
    return _write(_encapsulated(build(), RLELossless, noise), tmp / "rle_noise.dcm")


def codestream_size_bomb(
    tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]
) -> Path:
    # A JPEG 2000 SIZ segment declaring 60000×60000 inside a 16×12 image.
    siz = b"\xff\x4f\xff\x51" + struct.pack(">HHLLLLLLLLH", 41, 0, 60000, 60000, *[0] * 6, 1)
    return _write(_encapsulated(build(), JPEG2000Lossless, siz + b"\x00" * 64), tmp / "siz.dcm")


def declared_size_bomb(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    ds = _encapsulated(build(), JPEG2000Lossless, b"\x00" * 64)
    ds.Rows = ds.Columns = 60000
    return _write(ds, tmp / "huge.dcm")


def fragments_missing(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    ds = _encapsulated(build(), RLELossless, b"\x00" * 64)
    ds.NumberOfFrames = 5
    return _write(ds, tmp / "frames.dcm")


def absurd_element_length(
    tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]
) -> Path:
    path = make("absurd.dcm")
    private = b"\x09\x00\x10\x10OB\x00\x00" + struct.pack("<L", 0xFFFFFFF0) + b"abcd"
    return _insert_before_pixels(path, private)


def absurd_pixel_length(
    tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]
) -> Path:
    path = make("absurd_pixels.dcm")
    data = bytearray(path.read_bytes())
    at = data.index(PIXEL_TAG_EXPLICIT) + 8
    data[at : at + 4] = struct.pack("<L", 0x7FFFFFF0)
    path.write_bytes(bytes(data))
    return path


def sequence_bomb(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    return _insert_before_pixels(make("bomb.dcm"), _nested_sequences(20000))


def defined_sequence_bomb(
    tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]
) -> Path:
    return _insert_before_pixels(make("bomb2.dcm"), _nested_defined_sequences(2000))


def unknown_transfer_syntax(
    tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]
) -> Path:
    ds = build()
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5"
    path = tmp / "unknown_ts.dcm"
    ds.save_as(path, enforce_file_format=True, implicit_vr=False, little_endian=True)
    return path


def missing_file(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    return tmp / "missing.dcm"


def folder(tmp: Path, make: Callable[..., Path], build: Callable[..., Dataset]) -> Path:
    path = tmp / "folder.dcm"
    path.mkdir()
    return path


CASES: dict[str, tuple[Builder, str]] = {
    "empty": (empty, "empty"),
    "not DICOM": (not_dicom, "not a DICOM file"),
    "random bytes": (random_bytes, "not a DICOM file"),
    "DICOMDIR": (dicomdir, "DICOMDIR"),
    "SR (no pixel data)": (structured_report, "no Pixel Data"),
    "truncated header": (truncated_header, "truncated|ends"),
    "truncated pixel data": (truncated_pixels, "truncated"),
    "rows × columns more than the data": (too_little_data, "needs"),
    "rows × columns less than the data": (too_much_data, "needs only"),
    "Bits Allocated 0": (bits_allocated_zero, "Bits Allocated 0"),
    "no Rows": (no_rows, "Rows"),
    "garbage JPEG 2000": (garbage_jpeg2000, "no decoder could read"),
    "garbage JPEG": (garbage_jpeg, "no decoder could read"),
    "garbage RLE": (garbage_rle, "no decoder could read"),
    "codestream declares a huge image": (codestream_size_bomb, "compressed data for a 60000"),
    "header declares a huge image": (declared_size_bomb, "MiB"),
    "fewer fragments than frames": (fragments_missing, "fragments for 5 frames"),
    "absurd element length": (absurd_element_length, "declares a length of 4294967280"),
    "absurd pixel data length": (absurd_pixel_length, "truncated"),
    "nested sequence bomb": (sequence_bomb, "nests sequences"),
    "nested defined-length sequence bomb": (defined_sequence_bomb, "nests sequences"),
    "unknown transfer syntax": (unknown_transfer_syntax, "unknown transfer syntax"),
    "missing file": (missing_file, "does not exist"),
    "folder": (folder, "folder"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_raises_dicom_read_error_and_is_not_changed(
    case: str,
    tmp_path: Path,
    make_dicom: Callable[..., Path],
    dataset_factory: Callable[..., Dataset],
    sha256: Callable[[Path], str],
) -> None:
    builder, reason = CASES[case]
    path = builder(tmp_path, make_dicom, dataset_factory)
    before = sha256(path) if path.is_file() else None
    with pytest.raises(DicomReadError, match=reason) as caught:
        load_radiograph(path)
    error = caught.value
    assert error.path == path
    assert str(path) in str(error)
    assert error.hint, "every error says what to do"
    if before is not None:
        assert sha256(path) == before


def test_deflate_bomb(
    tmp_path: Path, dataset_factory: Callable[..., Dataset], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_module, "MAX_INFLATED_BYTES", 1 << 20)
    ds = dataset_factory(np.zeros((1024, 1024), np.uint16))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    path = tmp_path / "deflated.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert path.stat().st_size < 100_000  # 2 MiB of zeros deflate to a few kB
    with pytest.raises(DicomReadError, match="inflates to more than 1 MiB"):
        load_radiograph(path)


def test_process_stays_healthy_after_bombs(
    tmp_path: Path, make_dicom: Callable[..., Path], dataset_factory: Callable[..., Dataset]
) -> None:
    limit = sys.getrecursionlimit()
    for _ in range(3):
        with pytest.raises(DicomReadError):
            load_radiograph(sequence_bomb(tmp_path, make_dicom, dataset_factory))
    assert sys.getrecursionlimit() == limit
    assert load_radiograph(make_dicom("fine.dcm")).pixels.shape == (16, 12)


def test_recursion_error_inside_pydicom_becomes_dicom_read_error(
    make_dicom: Callable[..., Path],
) -> None:
    # 30 levels pass the pre-scan (limit 32); a tight recursion limit makes pydicom's
    # recursive sequence parser overflow, as a deeper file would with the normal limit.
    path = _insert_before_pixels(make_dicom("deep.dcm"), _nested_sequences(30))
    assert load_radiograph(path).pixels.shape == (16, 12)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 120)
    try:
        with pytest.raises(DicomReadError, match="too deeply"):
            load_radiograph(path)
    finally:
        sys.setrecursionlimit(limit)
    assert load_radiograph(path).pixels.shape == (16, 12)


@pytest.fixture
def small_valid_files(
    make_dicom: Callable[..., Path], dataset_factory: Callable[..., Dataset]
) -> list[bytes]:
    """An uncompressed and an RLE file of 8×8 pixels, as bytes."""
    native = make_dicom(
        "small.dcm",
        np.arange(64, dtype=np.uint16).reshape(8, 8),
        PixelSpacing=[0.1, 0.1],
        WindowCenter="30",
        WindowWidth="60",
        RescaleSlope="2",
        RescaleIntercept="-5",
    )
    ds = dataset_factory(np.arange(64, dtype=np.uint16).reshape(8, 8))
    ds.compress(RLELossless, encoding_plugin="pydicom")
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return [native.read_bytes(), buffer.getvalue()]


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    which=st.integers(0, 1),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_mutated_files_load_or_raise_dicom_read_error(
    tmp_path: Path,
    small_valid_files: list[bytes],
    which: int,
    flips: list[tuple[int, int]],
    cut: int | None,
) -> None:
    original = small_valid_files[which]
    data = bytearray(original)
    for position, value in flips:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    path = tmp_path / "mutant.dcm"
    path.write_bytes(bytes(data))
    outcome = _load_or_error(path)
    assert outcome == "loaded" or str(path) in outcome
    assert path.read_bytes() == bytes(data)


def _load_or_error(path: Path) -> str:
    """ "loaded", or the DicomReadError's message; any other exception propagates."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomWarning)
        try:
            radiograph = load_radiograph(path)
        except DicomReadError as error:
            return str(error)
    assert radiograph.pixels.ndim == 2
    return "loaded"


def test_deflated_file_is_read(
    tmp_path: Path,
    dataset_factory: Callable[..., Dataset],
    gradient_image: Callable[..., np.ndarray],
) -> None:
    ds = dataset_factory(gradient_image())
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    path = tmp_path / "deflated.dcm"
    ds.save_as(path, enforce_file_format=True)
    raw = path.read_bytes()
    assert gradient_image().tobytes() not in raw
    np.testing.assert_array_equal(load_radiograph(path).pixels, gradient_image())
