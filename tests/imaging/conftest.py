"""Fixtures for the imaging tests: small synthetic DICOM files and pydicom's test files."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

DX_STORAGE = "1.2.840.10008.5.1.4.1.1.1"

MakeDicom = Callable[..., Path]


def gradient(rows: int = 16, columns: int = 12, *, bits: int = 12) -> np.ndarray:
    """A small uint16 image with distinct values, within `bits`."""
    values = np.arange(rows * columns, dtype=np.uint32) * 37 % (1 << bits)
    return values.reshape(rows, columns).astype(np.uint16)


def build_dataset(pixels: np.ndarray | None = None, **attrs: Any) -> Dataset:
    """A DX dataset holding `pixels` (2-D uint16/int16/uint8, or 3-D frames), uncompressed.

    Keyword arguments set or (with None) delete attributes by keyword.
    """
    if pixels is None:
        pixels = gradient()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = DX_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = DX_STORAGE
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    frames = pixels.shape[0] if pixels.ndim == 3 else 1
    ds.Rows, ds.Columns = pixels.shape[-2:]
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = 12 if pixels.dtype.itemsize == 2 else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    ds.PixelData = pixels.tobytes()
    ds["PixelData"].VR = "OW" if pixels.dtype.itemsize == 2 else "OB"
    for keyword, value in attrs.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


@pytest.fixture
def make_dicom(tmp_path: Path) -> MakeDicom:
    """Write a synthetic DX file to tmp_path; see :func:`build_dataset` for arguments."""

    def make(name: str = "image.dcm", pixels: np.ndarray | None = None, **attrs: Any) -> Path:
        ds = build_dataset(pixels, **attrs)
        path = tmp_path / name
        ds.save_as(path, enforce_file_format=True)
        return path

    return make


@pytest.fixture
def pydicom_file() -> Callable[[str], Path]:
    """Path of one of pydicom's test files shipped in the wheel (skip if absent)."""

    def find(name: str) -> Path:
        found = get_testdata_file(name, download=False)
        if found is None:
            pytest.skip(f"pydicom test file {name} is not installed")
        return Path(str(found))

    return find


@pytest.fixture
def sha256() -> Callable[[Path], str]:
    """SHA-256 of a file's bytes."""

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    return digest


@pytest.fixture
def dataset_factory() -> Callable[..., Dataset]:
    """:func:`build_dataset`, for tests that edit a dataset before writing it."""
    return build_dataset


@pytest.fixture
def gradient_image() -> Callable[..., np.ndarray]:
    """:func:`gradient`."""
    return gradient
