"""load_radiograph on real files: pydicom's own test files and synthetic ones in tmp_path."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_color_lut, apply_modality_lut, get_decoder
from pydicom.uid import (
    JPEG2000,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    RLELossless,
)

from collarreader.errors import DicomReadError
from collarreader.imaging import (
    DicomWarning,
    Radiograph,
    j2k,
    load_radiograph,
    modality_lut,
    plugin_order,
)

# (file, transfer syntax family) for every family shipped in grayscale in the wheel.
GRAYSCALE_FILES = [
    ("CT_small.dcm", "explicit little endian, signed, rescale"),
    ("MR_small.dcm", "explicit little endian"),
    ("MR_small_implicit.dcm", "implicit little endian"),
    ("MR_small_bigendian.dcm", "explicit big endian"),
    ("image_dfl.dcm", "deflated"),
    ("MR_small_RLE.dcm", "RLE"),
    ("MR_small_jp2klossless.dcm", "JPEG 2000 lossless"),
    ("JPEG2000.dcm", "JPEG 2000 lossy"),
    ("693_J2KI.dcm", "JPEG 2000 lossy, rescale"),
    ("J2K_pixelrep_mismatch.dcm", "JPEG 2000, signedness mismatch"),
    ("MR_small_jpeg_ls_lossless.dcm", "JPEG-LS lossless"),
    ("JPEGLSNearLossless_16.dcm", "JPEG-LS near-lossless"),
    ("JPGExtended.dcm", "JPEG extended 12-bit"),
    ("rtdose_rle_1frame.dcm", "RLE 32-bit"),
]


def pydicom_reference(path: Path, frame: int = 0) -> np.ndarray:
    """What pydicom itself gives for the frame, after its Modality LUT."""
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        arr = arr[frame]
    return np.asarray(apply_modality_lut(arr, ds))


def luminance(rgb: np.ndarray) -> np.ndarray:
    luma = np.rint(rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114]))
    return luma.astype(rgb.dtype)


@pytest.mark.parametrize(("name", "family"), GRAYSCALE_FILES)
def test_grayscale_equals_pydicom(
    pydicom_file: Callable[[str], Path], name: str, family: str
) -> None:
    path = pydicom_file(name)
    radiograph = load_radiograph(path)
    reference = pydicom_reference(path)
    assert radiograph.pixels.shape == reference.shape, family
    np.testing.assert_array_equal(radiograph.pixels, reference)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert radiograph.transfer_syntax == ds.file_meta.TransferSyntaxUID
    assert radiograph.sop_instance_uid == ds.SOPInstanceUID
    assert radiograph.bits_stored == ds.BitsStored
    assert radiograph.photometric == ds.PhotometricInterpretation
    assert radiograph.path == path
    assert radiograph.pixels.dtype.isnative
    assert not radiograph.pixels.flags.writeable


@pytest.mark.parametrize(
    "twin",
    [
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
    ],
)
def test_compressed_twin_equals_uncompressed(
    pydicom_file: Callable[[str], Path], twin: str
) -> None:
    original = load_radiograph(pydicom_file("MR_small.dcm")).pixels
    np.testing.assert_array_equal(load_radiograph(pydicom_file(twin)).pixels, original)


def test_signed_pixels_keep_their_sign(pydicom_file: Callable[[str], Path]) -> None:
    radiograph = load_radiograph(pydicom_file("MR_small.dcm"))
    assert radiograph.pixels.dtype == np.int16
    ct = load_radiograph(pydicom_file("CT_small.dcm"))
    assert ct.pixels.min() < 0  # CT_small's rescale gives negative Hounsfield units


def test_integral_rescale_stays_integer(pydicom_file: Callable[[str], Path]) -> None:
    ct = load_radiograph(pydicom_file("CT_small.dcm"))
    assert ct.pixels.dtype.kind == "i"


def test_fractional_rescale_gives_float_equal_to_pydicom(make_dicom: Callable[..., Path]) -> None:
    path = make_dicom(RescaleSlope="0.5", RescaleIntercept="-10.25")
    radiograph = load_radiograph(path)
    assert radiograph.pixels.dtype == np.float64
    np.testing.assert_array_equal(radiograph.pixels, pydicom_reference(path))


def test_identity_rescale_is_not_applied(
    make_dicom: Callable[..., Path], dataset_factory: Callable[..., Dataset]
) -> None:
    path = make_dicom(RescaleSlope="1", RescaleIntercept="0")
    assert load_radiograph(path).pixels.dtype == np.uint16
    ds = dataset_factory(RescaleSlope="1", RescaleIntercept="0")
    stored = np.zeros((2, 2), np.uint16)
    assert modality_lut(ds, stored) is stored


def test_integral_rescale_picks_a_dtype_holding_every_value(
    make_dicom: Callable[..., Path],
) -> None:
    path = make_dicom(RescaleSlope="2", RescaleIntercept="-1024")
    radiograph = load_radiograph(path)
    assert radiograph.pixels.dtype == np.int32  # uint16 × 2 − 1024 does not fit int16
    np.testing.assert_array_equal(radiograph.pixels, pydicom_reference(path))


def test_modality_lut_sequence(
    tmp_path: Path,
    dataset_factory: Callable[..., Dataset],
    gradient_image: Callable[..., np.ndarray],
) -> None:
    ds = dataset_factory(gradient_image(bits=8).astype(np.uint16), RescaleSlope="3")
    item = Dataset()
    item.add_new(0x00283002, "US", [256, 0, 16])  # LUT Descriptor
    item.ModalityLUTType = "US"
    item.add_new(0x00283006, "US", [(i * 7) % 4000 for i in range(256)])  # LUT Data
    ds.ModalityLUTSequence = [item]
    path = tmp_path / "mlut.dcm"
    ds.save_as(path, enforce_file_format=True)
    radiograph = load_radiograph(path)
    reference = pydicom_reference(path)  # the LUT wins over Rescale Slope, as in pydicom
    np.testing.assert_array_equal(radiograph.pixels, reference)
    assert radiograph.pixels.dtype == np.uint16


def test_monochrome1_is_inverted(make_dicom: Callable[..., Path]) -> None:
    assert load_radiograph(make_dicom("m1.dcm", PhotometricInterpretation="MONOCHROME1")).invert
    assert not load_radiograph(make_dicom("m2.dcm")).invert


def test_file_meta_without_preamble(pydicom_file: Callable[[str], Path], tmp_path: Path) -> None:
    source = pydicom_file("MR_small.dcm")
    path = tmp_path / "no_preamble.dcm"
    path.write_bytes(source.read_bytes()[132:])
    radiograph = load_radiograph(path)
    np.testing.assert_array_equal(radiograph.pixels, load_radiograph(source).pixels)


@pytest.mark.parametrize(
    ("name", "implicit", "little"),
    [
        ("MR_small.dcm", True, True),
        ("MR_small.dcm", False, True),
        ("MR_small_bigendian.dcm", False, False),
    ],
)
def test_no_file_meta(
    pydicom_file: Callable[[str], Path], tmp_path: Path, name: str, implicit: bool, little: bool
) -> None:
    source = pydicom_file(name)
    ds = pydicom.dcmread(source)
    del ds.file_meta
    ds.preamble = None
    path = tmp_path / "no_meta.dcm"
    ds.save_as(path, implicit_vr=implicit, little_endian=little, enforce_file_format=False)
    assert path.read_bytes()[:2] in (b"\x08\x00", b"\x00\x08")
    with pytest.warns(DicomWarning, match="no file meta"):
        radiograph = load_radiograph(path)
    np.testing.assert_array_equal(radiograph.pixels, load_radiograph(source).pixels)


COLOUR_FILES = [
    "examples_rgb_color.dcm",
    "SC_rgb_small_odd_big_endian.dcm",
    "SC_ybr_full_422_uncompressed.dcm",
    "SC_rgb_rle.dcm",
    "SC_rgb_dcmtk_+eb+cy+n1.dcm",  # JPEG baseline, YBR_FULL
    "SC_rgb_jpeg_gdcm.dcm",  # JPEG lossless
    "SC_rgb_gdcm_KY.dcm",  # JPEG 2000
    "SC_rgb_jls_lossy_line.dcm",  # JPEG-LS
]


@pytest.mark.parametrize("name", COLOUR_FILES)
def test_colour_becomes_luminance_with_a_warning(
    pydicom_file: Callable[[str], Path], name: str
) -> None:
    path = pydicom_file(name)
    with pytest.warns(DicomWarning, match="luminance"):
        radiograph = load_radiograph(path)
    assert any("luminance" in note for note in radiograph.notes)
    rgb = pydicom.dcmread(path).pixel_array  # pydicom converts YBR to RGB
    if rgb.ndim == 4:
        rgb = rgb[0]
    np.testing.assert_array_equal(radiograph.pixels, luminance(rgb))
    assert radiograph.pixels.ndim == 2


def test_palette_colour(pydicom_file: Callable[[str], Path]) -> None:
    path = pydicom_file("examples_palette.dcm")
    with pytest.warns(DicomWarning, match="PALETTE COLOR"):
        radiograph = load_radiograph(path)
    ds = pydicom.dcmread(path)
    np.testing.assert_array_equal(radiograph.pixels, luminance(apply_color_lut(ds.pixel_array, ds)))


def test_grayscale_jpeg_baseline_equals_pydicom_default(
    tmp_path: Path,
    dataset_factory: Callable[..., Dataset],
    gradient_image: Callable[..., np.ndarray],
) -> None:
    pixels = gradient_image(32, 24, bits=8).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=80)
    ds = dataset_factory(pixels)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    path = tmp_path / "jpeg.dcm"
    ds.save_as(path, enforce_file_format=True)
    radiograph = load_radiograph(path)
    assert radiograph.decoder == "pillow"
    # pydicom's default plugin order puts gdcm first: our pixels must be the same.
    np.testing.assert_array_equal(radiograph.pixels, pydicom.dcmread(path).pixel_array)


def test_multiframe_decodes_the_frame_asked_for(
    make_dicom: Callable[..., Path], gradient_image: Callable[..., np.ndarray]
) -> None:
    frames = np.stack([gradient_image() + i for i in range(3)])
    path = make_dicom("frames.dcm", frames)
    for index in range(3):
        radiograph = load_radiograph(path, frame=index)
        np.testing.assert_array_equal(radiograph.pixels, frames[index])
        assert radiograph.n_frames == 3
        assert radiograph.frame == index
    with pytest.raises(DicomReadError, match="frame 3") as caught:
        load_radiograph(path, frame=3)
    assert "frames.dcm" in str(caught.value)
    with pytest.raises(DicomReadError):
        load_radiograph(path, frame=-1)


def test_compressed_multiframe(pydicom_file: Callable[[str], Path]) -> None:
    path = pydicom_file("SC_rgb_rle_2frame.dcm")
    rgb = pydicom.dcmread(path).pixel_array
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomWarning)
        second = load_radiograph(path, frame=1)
    np.testing.assert_array_equal(second.pixels, luminance(rgb[1]))
    assert second.n_frames == 2


def test_rle_compressed_synthetic_frame(
    tmp_path: Path,
    dataset_factory: Callable[..., Dataset],
    gradient_image: Callable[..., np.ndarray],
) -> None:
    ds = dataset_factory(gradient_image())
    ds.compress(RLELossless, encoding_plugin="pydicom")
    path = tmp_path / "rle.dcm"
    ds.save_as(path, enforce_file_format=True)
    np.testing.assert_array_equal(load_radiograph(path).pixels, gradient_image())


J2K_FILES = [
    "MR_small_jp2klossless.dcm",
    "JPEG2000.dcm",
    "693_J2KI.dcm",
    "J2K_pixelrep_mismatch.dcm",
    "GDCMJ2K_TextGBR.dcm",
    "SC_rgb_gdcm_KY.dcm",
    "examples_jpeg2k.dcm",
]


@pytest.mark.parametrize("name", J2K_FILES)
def test_gdcm_and_pylibjpeg_agree_on_jpeg2000(
    pydicom_file: Callable[[str], Path], name: str
) -> None:
    ds = pydicom.dcmread(pydicom_file(name))
    decoder = get_decoder(ds.file_meta.TransferSyntaxUID)
    by_gdcm, _ = decoder.as_array(ds, decoding_plugin="gdcm")
    by_openjpeg, _ = decoder.as_array(ds, decoding_plugin="pylibjpeg")
    assert by_gdcm.dtype == by_openjpeg.dtype  # bit depth and signedness
    np.testing.assert_array_equal(by_gdcm, by_openjpeg)


@pytest.mark.parametrize("name", ["MR_small_jp2klossless.dcm", "JPEG2000.dcm"])
def test_jpeg2000_decoders_give_the_same_pixels(
    pydicom_file: Callable[[str], Path], name: str
) -> None:
    path = pydicom_file(name)
    expected_decoder = j2k.PLUGIN if j2k.is_available(JPEG2000Lossless) else "pylibjpeg"
    trusted = load_radiograph(path, trusted=True)
    untrusted = load_radiograph(path)
    assert untrusted.decoder == expected_decoder
    assert trusted.decoder in (expected_decoder, "gdcm")
    np.testing.assert_array_equal(trusted.pixels, untrusted.pixels)
    np.testing.assert_array_equal(untrusted.pixels, pydicom_reference(path))


def test_plugin_orders_keep_gdcm_away_from_untrusted_input() -> None:
    for uid in (JPEG2000Lossless, JPEG2000, JPEGBaseline8Bit):
        assert "gdcm" not in plugin_order(uid)
    assert "gdcm" in plugin_order(JPEG2000Lossless, trusted=True)
    assert plugin_order(ExplicitVRLittleEndian) == ()


def test_plugin_orders_put_the_threaded_openjpeg_first() -> None:
    if not j2k.is_available(JPEG2000Lossless):
        pytest.skip("no threaded OpenJPEG library (Debian libopenjp2-7) here")
    for uid in (JPEG2000Lossless, JPEG2000):
        assert plugin_order(uid)[:2] == (j2k.PLUGIN, "pylibjpeg")
        assert plugin_order(uid, trusted=True)[0] == j2k.PLUGIN


def test_jpeg2000_encoded_here(
    tmp_path: Path,
    dataset_factory: Callable[..., Dataset],
    gradient_image: Callable[..., np.ndarray],
) -> None:
    pixels = gradient_image(48, 40)  # ≥ 32 px: OpenJPEG's 5 decomposition levels
    ds = dataset_factory(pixels)
    ds.compress(JPEG2000Lossless)
    path = tmp_path / "j2k.dcm"
    ds.save_as(path, enforce_file_format=True)
    for trusted in (False, True):
        np.testing.assert_array_equal(load_radiograph(path, trusted=trusted).pixels, pixels)


def test_unknown_character_set_loads_with_one_warning(make_dicom: Callable[..., Path]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns when writing it, too
        path = make_dicom(SpecificCharacterSet="ISO_IR 999")
    with pytest.warns(DicomWarning) as record:
        radiograph = load_radiograph(path)
    ours = [w for w in record if issubclass(w.category, DicomWarning)]
    assert len(ours) == 1
    assert "Specific Character Set" in str(ours[0].message)
    assert str(path) in str(ours[0].message)
    assert radiograph.pixels.shape == (16, 12)


def test_odd_length_value_loads_with_a_warning(
    tmp_path: Path, dataset_factory: Callable[..., Dataset]
) -> None:
    ds = dataset_factory()
    ds.add_new(0x00091010, "OB", b"abcd")
    path = tmp_path / "odd.dcm"
    ds.save_as(path, enforce_file_format=True)
    # pydicom pads what it writes: patch in a private odd-length value (non-conformant).
    data = path.read_bytes()
    even, odd = b"OB\x00\x00\x04\x00\x00\x00abcd", b"OB\x00\x00\x03\x00\x00\x00abc"
    assert data.count(even) == 1
    path.write_bytes(data.replace(even, odd))
    with pytest.warns(DicomWarning, match="odd value length"):
        load_radiograph(path)


def test_clean_file_gives_no_warning(make_dicom: Callable[..., Path]) -> None:
    path = make_dicom()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        radiograph = load_radiograph(path)
    assert radiograph.notes == ()


def test_radiograph_fields(make_dicom: Callable[..., Path]) -> None:
    path = make_dicom(ImagerPixelSpacing=[0.2, 0.2], WindowCenter="100", WindowWidth="50")
    radiograph = load_radiograph(path)
    assert isinstance(radiograph, Radiograph)
    assert radiograph.window == (100.0, 50.0)
    assert radiograph.spacing is not None
    assert radiograph.spacing.row_mm == pytest.approx(0.2)
    assert radiograph.n_frames == 1
    assert radiograph.decoder == "native"
    assert radiograph.modality == "DX"
    assert radiograph.nbytes == 16 * 12 * 2
    assert radiograph.shape_px == (16, 12)
    with pytest.raises(ValueError, match="read-only"):
        radiograph.pixels[0, 0] = 1
