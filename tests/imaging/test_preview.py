"""Reduced-resolution JPEG 2000 decoding and the launch's previews (no Qt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from openjpeg.utils import encode_array
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless

from collarreader.errors import DicomReadError
from collarreader.imaging import j2k, load_radiograph
from collarreader.imaging.preview import load_preview, preview_levels
from collarreader.study.phantom import write_phantom_image


@pytest.fixture(scope="module")
def j2k_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("preview") / "ap.dcm"
    return write_phantom_image(path, rows=600, cols=500, transfer_syntax=JPEG2000Lossless)


def test_reduce_leaves_out_resolution_levels() -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 4096, size=(97, 130), dtype=np.uint16)
    codestream = bytes(encode_array(pixels, bits_stored=12, use_mct=False))
    assert np.array_equal(j2k.decode_codestream(codestream), pixels)
    # ceil(size / 2**r) in each direction.
    assert j2k.decode_codestream(codestream, reduce=1).shape == (49, 65)
    assert j2k.decode_codestream(codestream, reduce=3).shape == (13, 17)
    with pytest.raises(ValueError, match="reduce must be 0 or more"):
        j2k.decode_codestream(codestream, reduce=-1)
    with pytest.raises(ValueError, match="OpenJPEG"):
        j2k.decode_codestream(codestream, reduce=12)  # more levels than the codestream has


def test_preview_is_the_full_image_at_a_lower_resolution(j2k_file: Path) -> None:
    full = load_radiograph(j2k_file)
    preview = load_preview(j2k_file, side_px=200)
    assert preview is not None
    assert preview.scale == 4  # 600 px → 150 px ≤ 200: two levels left out
    assert preview.full_shape == full.pixels.shape == (600, 500)
    assert preview.pixels.shape == (150, 125)
    assert not preview.pixels.flags.writeable
    assert preview.window == full.window  # the header's window, as the full image gets it
    assert preview.invert is False
    # The low-pass image is the full image at a quarter of the size: a crude subsample of
    # the full image correlates closely with it, and the brightness is the same.
    sub = full.pixels[::4, ::4].astype(float)
    assert np.corrcoef(sub.ravel(), preview.pixels.astype(float).ravel())[0, 1] > 0.9
    assert abs(preview.pixels.mean() - full.pixels.mean()) < 0.05 * full.pixels.mean()


def test_no_preview_for_small_or_uncompressed_images(j2k_file: Path, tmp_path: Path) -> None:
    assert load_preview(j2k_file, side_px=600) is None  # already small enough
    plain = write_phantom_image(
        tmp_path / "plain.dcm", rows=600, cols=500, transfer_syntax=ExplicitVRLittleEndian
    )
    assert load_preview(plain, side_px=16) is None


def test_preview_of_a_non_dicom_file_names_it(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not DICOM")
    with pytest.raises(DicomReadError, match=r"junk\.dcm: cannot read the header"):
        load_preview(junk)


def test_preview_levels() -> None:
    assert preview_levels(1000, 800, 1024) == 0
    assert preview_levels(3000, 2500, 1024) == 2
    assert preview_levels(4000, 4000, 1024) == 2
    assert preview_levels(100_000, 10, 1024) == 5  # never beyond the default decomposition
