"""The threaded OpenJPEG plugin: pylibjpeg's exact pixels, clean errors, a clean fallback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openjpeg.utils import encode_array
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels import get_decoder
from pydicom.uid import JPEG2000, JPEG2000Lossless

from collarreader.errors import DicomReadError
from collarreader.imaging import DicomWarning, j2k, load_radiograph

needs_library = pytest.mark.skipif(
    not j2k.is_available(JPEG2000Lossless),
    reason="no threaded OpenJPEG library (Debian libopenjp2-7) here",
)

GRAYSCALE_J2K_FILES = [
    "MR_small_jp2klossless.dcm",  # signed 16-bit lossless
    "JPEG2000.dcm",  # signed, lossy
    "693_J2KI.dcm",  # 14-bit in a signed container, rescale
    "J2K_pixelrep_mismatch.dcm",  # codestream unsigned, dataset signed: pydicom corrects
]


def j2k_dataset(
    dataset_factory: Callable[..., Dataset],
    pixels: np.ndarray,
    *,
    bits_stored: int,
    lossy: bool = False,
) -> Dataset:
    """A DX dataset holding `pixels` as one JPEG 2000 frame encoded by pylibjpeg-openjpeg."""
    ds = dataset_factory(pixels, BitsStored=bits_stored, HighBit=bits_stored - 1)
    if lossy:
        ds.compress(JPEG2000, j2k_cr=[20], encoding_plugin="pylibjpeg")
    else:
        ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg")
    return ds


def decode_both(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    decoder = get_decoder(ds.file_meta.TransferSyntaxUID)
    ours, _ = decoder.as_array(ds, decoding_plugin=j2k.PLUGIN)
    reference, _ = decoder.as_array(ds, decoding_plugin="pylibjpeg")
    return ours, reference


@needs_library
@pytest.mark.parametrize("name", GRAYSCALE_J2K_FILES)
def test_pydicom_files_equal_pylibjpeg(pydicom_file: Callable[[str], Path], name: str) -> None:
    ours, reference = decode_both(pydicom.dcmread(pydicom_file(name)))
    assert ours.dtype == reference.dtype
    np.testing.assert_array_equal(ours, reference)


def _signed_ramp(rows: int, columns: int, bits: int) -> np.ndarray:
    values = np.arange(rows * columns, dtype=np.int64) * 97 % (1 << bits) - (1 << (bits - 1))
    return values.reshape(rows, columns).astype(np.int16)


@needs_library
@pytest.mark.parametrize(
    ("dtype", "bits_stored", "lossy"),
    [
        ("uint16", 12, False),
        ("uint16", 16, False),
        ("int16", 12, False),
        ("int16", 16, False),
        ("uint8", 8, False),
        ("uint16", 12, True),
        ("int16", 12, True),
    ],
)
def test_synthetic_frames_equal_pylibjpeg(
    dataset_factory: Callable[..., Dataset],
    gradient_image: Callable[..., np.ndarray],
    dtype: str,
    bits_stored: int,
    lossy: bool,
) -> None:
    rows, columns = 72, 56  # ≥ 32 px: OpenJPEG's default 5 decomposition levels
    if dtype == "int16":
        pixels = _signed_ramp(rows, columns, bits_stored)
    else:
        pixels = gradient_image(rows, columns, bits=bits_stored).astype(dtype)
    ds = j2k_dataset(dataset_factory, pixels, bits_stored=bits_stored, lossy=lossy)
    ours, reference = decode_both(ds)
    assert ours.dtype == reference.dtype == pixels.dtype
    np.testing.assert_array_equal(ours, reference)
    if not lossy:
        np.testing.assert_array_equal(ours, pixels)


@needs_library
def test_load_radiograph_uses_it_and_matches_pylibjpeg(
    tmp_path: Path, dataset_factory: Callable[..., Dataset]
) -> None:
    pixels = (np.arange(96 * 80, dtype=np.uint16).reshape(96, 80) * 13) % 4096
    ds = j2k_dataset(dataset_factory, pixels, bits_stored=12)
    ds.RescaleSlope, ds.RescaleIntercept = "1", "-1024"
    path = tmp_path / "j2k.dcm"
    ds.save_as(path, enforce_file_format=True)
    radiograph = load_radiograph(path)
    assert radiograph.decoder == j2k.PLUGIN
    reference = pydicom.dcmread(path)
    reference.pixel_array_options(decoding_plugin="pylibjpeg")
    np.testing.assert_array_equal(radiograph.pixels, reference.pixel_array.astype(np.int32) - 1024)
    assert radiograph.pixels.dtype == np.int32
    assert load_radiograph(path, trusted=True).decoder == j2k.PLUGIN


@needs_library
def test_thread_counts_and_jp2_wrapping_give_the_same_pixels() -> None:
    pixels = (np.arange(64 * 48, dtype=np.uint16).reshape(64, 48) * 29) % 4096
    codestream = encode_array(pixels, bits_stored=12, photometric_interpretation=2)
    jp2 = encode_array(pixels, bits_stored=12, photometric_interpretation=2, codec_format=1)
    assert jp2[:12] != codestream[:12]
    for threads in (1, 2, 3):
        np.testing.assert_array_equal(j2k.decode_codestream(codestream, threads=threads), pixels)
    np.testing.assert_array_equal(j2k.decode_codestream(jp2), pixels)


@needs_library
def test_colour_is_declined_and_pylibjpeg_decodes_it(
    pydicom_file: Callable[[str], Path],
) -> None:
    path = pydicom_file("SC_rgb_gdcm_KY.dcm")
    frame = next(generate_frames(pydicom.dcmread(path).PixelData, number_of_frames=1))
    with pytest.raises(NotImplementedError, match="3 components"):
        j2k.decode_codestream(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomWarning)
        assert load_radiograph(path).decoder == "pylibjpeg"


@needs_library
@pytest.mark.parametrize(
    "codestream",
    [b"", b"\xff\x4f", b"\xff\x4f\xff\x51" + b"\x00" * 60, b"not a codestream at all"],
)
def test_garbage_raises_value_error(codestream: bytes) -> None:
    with pytest.raises(ValueError, match="OpenJPEG cannot"):
        j2k.decode_codestream(codestream)


def _small_codestream() -> bytes:
    rng = np.random.default_rng(7)
    pixels = rng.normal(2000, 300, (48, 40)).clip(0, 4095).astype(np.uint16)
    return bytes(encode_array(pixels, bits_stored=12, photometric_interpretation=2))


_MUTANT_CHILD = textwrap.dedent(
    """
    import random, sys
    from collarreader.imaging import j2k
    seed = open(sys.argv[1], "rb").read()
    decoded = failed = 0
    for i in range(int(sys.argv[2])):
        rng = random.Random(i)
        data = bytearray(seed)
        region = len(data) if i % 3 == 0 else min(len(data), 200)  # mostly marker segments
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(region)] = rng.randrange(256)
        if i % 5 == 0:
            data = data[: rng.randrange(len(data))]
        try:
            j2k.decode_codestream(bytes(data), threads=2)
            decoded += 1
        except (ValueError, NotImplementedError):
            failed += 1
    print(decoded, failed)
    """
)


@needs_library
def test_mutated_codestreams_never_crash_the_process(tmp_path: Path) -> None:
    # In a child process: a native crash (SIGSEGV, abort) must show as a failure here,
    # not take the test run down. 20,000+ such mutants were run while developing this.
    seed = tmp_path / "seed.j2k"
    seed.write_bytes(_small_codestream())
    result = subprocess.run(
        [sys.executable, "-c", _MUTANT_CHILD, str(seed), "400"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    decoded, failed = map(int, result.stdout.split())
    assert decoded + failed == 400
    assert failed > 0  # the mutants did reach the decoder's error paths


@pytest.fixture
def small_j2k_file(tmp_path: Path, dataset_factory: Callable[..., Dataset]) -> bytes:
    pixels = (np.arange(40 * 36, dtype=np.uint16).reshape(40, 36) * 41) % 4096
    ds = j2k_dataset(dataset_factory, pixels, bits_stored=12)
    path = tmp_path / "small.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path.read_bytes()


@needs_library
@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    flips=st.lists(st.tuples(st.integers(0, 4_000), st.integers(0, 255)), min_size=1, max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 4_000)),
)
def test_mutated_j2k_files_load_or_raise_dicom_read_error(
    tmp_path: Path, small_j2k_file: bytes, flips: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(small_j2k_file)
    start = data.index(b"\xff\x4f\xff\x51")  # flips land in the codestream and after it
    for position, value in flips:
        data[start + position % (len(data) - start)] = value
    if cut is not None:
        data = data[: start + cut % (len(data) - start)]
    path = tmp_path / "mutant.dcm"
    path.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomWarning)
        try:
            outcome = load_radiograph(path).pixels.shape
        except DicomReadError as error:
            outcome = str(error)
    assert outcome == (40, 36) or str(path) in str(outcome)
    assert path.read_bytes() == bytes(data)


def test_missing_library_falls_back_to_pylibjpeg(
    tmp_path: Path, dataset_factory: Callable[..., Dataset]
) -> None:
    pixels = (np.arange(48 * 40, dtype=np.uint16).reshape(48, 40) * 7) % 4096
    ds = j2k_dataset(dataset_factory, pixels, bits_stored=12)
    path = tmp_path / "j2k.dcm"
    ds.save_as(path, enforce_file_format=True)
    child = textwrap.dedent(
        """
        import sys
        import numpy as np
        from pydicom.uid import JPEG2000Lossless
        from collarreader.imaging import j2k, load_radiograph, plugin_order
        assert not j2k.is_available(JPEG2000Lossless)
        assert j2k.library_version() is None
        assert j2k.PLUGIN not in plugin_order(JPEG2000Lossless)
        try:
            j2k.decode_codestream(b"")
        except NotImplementedError:
            pass
        else:
            raise AssertionError("decode_codestream worked without a library")
        radiograph = load_radiograph(sys.argv[1])
        print(radiograph.decoder, int(radiograph.pixels.sum()))
        """
    )
    for setting in ("", str(tmp_path / "no-such-libopenjp2.so")):
        env = {**os.environ, j2k.LIBRARY_ENV: setting}
        result = subprocess.run(
            [sys.executable, "-c", child, str(path)],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.split() == ["pylibjpeg", str(int(pixels.sum()))]


def test_plugin_declares_what_it_needs() -> None:
    for uid in (JPEG2000Lossless, JPEG2000):
        assert "libopenjp2-7" in j2k.DECODER_DEPENDENCIES[uid][0]
        assert j2k.is_available(uid) == (j2k.library_version() is not None)
    assert not j2k.is_available("1.2.840.10008.1.2.4.50")  # JPEG baseline: not ours
    assert 1 <= j2k.default_threads() <= j2k.MAX_THREADS
