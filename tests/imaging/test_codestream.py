"""Sizes declared inside JPEG and JPEG 2000 codestreams."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.encaps import generate_frames

from collarreader.imaging.codestream import declared_size


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("MR_small_jp2klossless.dcm", (64, 64)),
        ("SC_rgb_dcmtk_+eb+cy+n1.dcm", (100, 100)),
        ("JPGExtended.dcm", (1024, 256)),
        ("MR_small_jpeg_ls_lossless.dcm", (64, 64)),
        ("examples_jpeg2k.dcm", (480, 640)),
    ],
)
def test_declared_size_of_real_codestreams(
    pydicom_file: Callable[[str], Path], name: str, size: tuple[int, int]
) -> None:
    ds = pydicom.dcmread(pydicom_file(name))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    assert declared_size(frame) == size


@pytest.mark.parametrize("data", [b"", b"\x00" * 32, b"\xff\xd8\xff\xda\x00\x02", b"\xff\xd8"])
def test_unrecognised_codestreams_give_none(data: bytes) -> None:
    assert declared_size(data) is None
