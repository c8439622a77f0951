"""DICOM file → :class:`~collarreader.imaging.radiograph.Radiograph`.

The loader never trusts the file: :mod:`collarreader.imaging.scan` checks every declared
length and the sequence nesting before pydicom reads a value, the image pixel module is
validated before anything is allocated for decoding, and every failure becomes a
:class:`~collarreader.errors.DicomReadError` naming the file, the reason and what to do.
Files are only ever opened read-only.

Decoding is pydicom 3's own (``Decoder.as_array``), so pixels are identical to
``pydicom.dcmread(path).pixel_array`` for the frame asked for; compressed data is tried
with each available plugin in :func:`plugin_order` until one succeeds. JPEG 2000 goes first
to :mod:`collarreader.imaging.j2k`, a plugin of ours that runs the system's threaded
OpenJPEG and gives pylibjpeg's exact bytes.
"""

from __future__ import annotations

import dataclasses
import threading
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from pydicom import dcmread
from pydicom.charset import python_encoding
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder
from pydicom.pixels.processing import apply_color_lut
from pydicom.pixels.utils import as_pixel_options, get_expected_length
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    MediaStorageDirectoryStorage,
)

from collarreader.errors import DicomReadError
from collarreader.imaging import j2k
from collarreader.imaging.codestream import declared_size
from collarreader.imaging.lut import luminance, modality_lut
from collarreader.imaging.radiograph import DicomWarning, Radiograph
from collarreader.imaging.scan import PixelElement, ScanResult, file_problem, scan_file
from collarreader.imaging.spacing import spacing_from_dataset
from collarreader.imaging.window import FALLBACK_NOTE, window_from_dataset

MAX_FRAME_BYTES = 512 * 1024 * 1024
"""Largest decoded frame accepted (a 3000×2500 16-bit radiograph is 15 MB)."""

NATIVE = "native"
"""Name reported as the decoder for uncompressed pixel data."""

# pydicom's own registration order, used where nothing below says otherwise.
_DEFAULT_ORDER = ("gdcm", "pylibjpeg", "pillow", "pyjpegls", "pydicom")
_PLUGIN_NAMES = frozenset((*_DEFAULT_ORDER, j2k.PLUGIN))
# Untrusted input never reaches gdcm: python-gdcm 3.2.6 calls std::terminate (the whole
# process aborts, nothing can catch it) on some corrupt JPEG streams (gdcmJPEGBITSCodec)
# and on JPEG 2000 streams with corrupt marker segments (fuzzed with byte flips of
# pydicom's test files; truncation alone is handled). Pillow gives the same lossy JPEG
# baseline pixels as gdcm (pydicom's default); pylibjpeg differs by up to 3 grey levels on
# lossy baseline data, so it comes second there, and alone decodes 12-bit and lossless JPEG.
# JPEG 2000 goes first to the system's threaded OpenJPEG (j2k.py): about 0.55× pylibjpeg's
# time on 2 idle cores for a 3000×2500 lossless DX, identical bytes, and no abort in
# 20,000+ fuzzed codestreams (it raises; pylibjpeg decodes what it declines: colour).
_UNTRUSTED_ORDER: dict[str, tuple[str, ...]] = {
    JPEG2000Lossless: (j2k.PLUGIN, "pylibjpeg", "pillow"),
    JPEG2000: (j2k.PLUGIN, "pylibjpeg", "pillow"),
    JPEGBaseline8Bit: ("pillow", "pylibjpeg"),
    JPEGExtended12Bit: ("pylibjpeg", "pillow"),
    JPEGLossless: ("pylibjpeg",),
    JPEGLosslessSV1: ("pylibjpeg",),
    JPEGLSLossless: ("pylibjpeg", "pyjpegls"),
    JPEGLSNearLossless: ("pylibjpeg", "pyjpegls"),
}
# Trusted input (its bytes verified to be ones that decoded before, e.g. a reading set's
# SHA-256-checked images) may also reach gdcm, after the threaded OpenJPEG: gdcm measured
# 0.86–1.3× pylibjpeg on the same image, the threaded OpenJPEG 0.55×.
_TRUSTED_ORDER: dict[str, tuple[str, ...]] = {
    **_UNTRUSTED_ORDER,
    JPEG2000Lossless: (j2k.PLUGIN, "gdcm", "pylibjpeg", "pillow"),
    JPEG2000: (j2k.PLUGIN, "gdcm", "pylibjpeg", "pillow"),
}
j2k.register()

# catch_warnings() swaps process-global state, and pydicom's configuration is global too:
# serialise the pydicom part of every load. JPEG 2000 decoding already uses every core.
_PYDICOM_LOCK = threading.RLock()

_CORRUPT_HINT = "The file is corrupt: export it again from the source system."
_EXPORT_HINT = (
    "Export it again uncompressed or as JPEG 2000 / JPEG lossless from the source system."
)
_VALID_BITS_ALLOCATED = (1, 8, 16, 32, 64)
_CODESTREAM_PEEK_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class _Decoded:
    pixels: np.ndarray
    plugin: str
    photometric_out: str


def plugin_order(transfer_syntax: str, *, trusted: bool = False) -> tuple[str, ...]:
    """The decoding plugins tried, in order, for a transfer syntax (only available ones).

    Parameters
    ----------
    transfer_syntax : transfer syntax UID
    trusted : whether the file's bytes are known to decode (see :func:`load_radiograph`)

    Returns
    -------
    tuple of str
        pydicom plugin names; empty for uncompressed transfer syntaxes.
    """
    decoder = get_decoder(UID(transfer_syntax))
    if decoder.is_native:
        return ()
    available = set(decoder.available_plugins)
    orders = _TRUSTED_ORDER if trusted else _UNTRUSTED_ORDER
    order = orders.get(str(transfer_syntax), _DEFAULT_ORDER)
    return tuple(name for name in order if name in available)


def load_radiograph(path: str | Path, frame: int = 0, *, trusted: bool = False) -> Radiograph:
    """Decode one frame of a DICOM file into a :class:`Radiograph`.

    Parameters
    ----------
    path : a DICOM file (Part 10, or a bare dataset without preamble or file meta)
    frame : 0-based frame of a multi-frame file; only that frame is decoded
    trusted : True only when the caller has verified that the file's bytes are ones that
        decoded before (a reading set opened with ``verify=True``): JPEG 2000 may then
        also go to gdcm, which aborts the whole process on some corrupt streams.

    Returns
    -------
    Radiograph
        Pixels after the Modality LUT, MONOCHROME1 flagged as ``invert``, the default
        window, the spacing and its source. Colour images are converted to luminance.

    Raises
    ------
    DicomReadError
        For anything that cannot be shown: missing, empty, not DICOM, DICOMDIR, no pixel
        data, truncated, inconsistent image size, corrupt or unsupported compression,
        absurd lengths, nesting bombs, a frame out of range.

    Warns
    -----
    DicomWarning
        Once per load when the file is odd but usable (colour converted to grayscale,
        unknown character set, odd-length values, pydicom warnings).
    """
    path = Path(path)
    try:
        radiograph = _load(path, frame, trusted=trusted)
    except RecursionError as exc:
        raise DicomReadError(path, "nests its data too deeply to be read.", _CORRUPT_HINT) from exc
    except MemoryError as exc:
        raise DicomReadError(
            path,
            "needs more memory to decode than is available.",
            "Close other programs or export a smaller image.",
        ) from exc
    if radiograph.notes:
        warnings.warn(f"{path}: " + "; ".join(radiograph.notes), DicomWarning, stacklevel=2)
    return radiograph


def _load(path: Path, frame: int, *, trusted: bool) -> Radiograph:
    if frame < 0:
        raise DicomReadError(path, f"has no frame {frame}.", "Frames are numbered from 0.")
    if path.is_dir():
        raise DicomReadError(path, "is a folder, not a file.", "Choose a DICOM file.")
    problem = file_problem(path)
    if problem == "does not exist":
        raise DicomReadError(path, "does not exist.", "Check the path.")
    if problem is not None:
        raise DicomReadError(path, f"{problem}.", "Choose the exported DICOM file itself.")
    scan = scan_file(path)
    if scan.is_dicomdir or scan.media_storage_sop_class == MediaStorageDirectoryStorage:
        raise DicomReadError(
            path,
            "is a DICOMDIR (the index of a DICOM disc), not an image.",
            "Choose the image files it refers to (usually in sub-folders next to it).",
        )
    notes: list[str] = []
    with _PYDICOM_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with path.open("rb") as f:
            ds = _read_header(path, f, scan)
            _check_pixel_element(path, ds, scan)
            params = _image_params(path, ds, scan, frame, notes)
            decoded = _decode(path, f, ds, scan, frame, trusted=trusted)
        pixels = _to_grayscale(path, ds, decoded, params, notes)
        spacing, spacing_note = spacing_from_dataset(ds)
        window, window_note = window_from_dataset(ds, pixels)
        if window_note.endswith(FALLBACK_NOTE):  # the reader must know the window is ours
            notes.append(f"default window from the {window_note}")
        notes.extend(_header_notes(ds, scan))
        radiograph = Radiograph(
            pixels=pixels,
            invert=params.photometric == "MONOCHROME1",
            window=window,
            spacing=spacing,
            spacing_note=spacing_note,
            sop_instance_uid=_text(ds, "SOPInstanceUID"),
            photometric=params.photometric,
            transfer_syntax=scan.transfer_syntax,
            bits_stored=params.bits_stored,
            n_frames=params.n_frames,
            path=path,
            frame=frame,
            window_note=window_note,
            decoder=decoded.plugin,
            modality=_text(ds, "Modality"),
        )
    pydicom_messages = list(dict.fromkeys(str(w.message) for w in caught))
    notes.extend(f"pydicom: {message}" for message in pydicom_messages[:3])
    if len(pydicom_messages) > 3:
        notes.append(f"pydicom: {len(pydicom_messages) - 3} more warnings")
    pixels.flags.writeable = False  # shared by the cache and the viewer: never edit in place
    return _with_notes(radiograph, notes)


def _with_notes(radiograph: Radiograph, notes: list[str]) -> Radiograph:
    return dataclasses.replace(radiograph, notes=tuple(notes)) if notes else radiograph


def _read_header(path: Path, f: BinaryIO, scan: ScanResult) -> Dataset:
    """Read the dataset up to the pixel data (all of it for deflated files)."""
    deflated = scan.transfer_syntax == DeflatedExplicitVRLittleEndian
    try:
        # force=True is safe: scan_file has checked that this is DICOM-structured.
        ds = dcmread(f, force=True, stop_before_pixels=not deflated)
        # Touch the image pixel module now so that value errors surface here.
        for keyword in ("Rows", "Columns", "BitsAllocated", "SOPClassUID"):
            ds.get(keyword)
    except (RecursionError, MemoryError):
        raise
    except Exception as exc:  # pydicom raises many types for corrupt input
        raise DicomReadError(
            path,
            f"has a header pydicom cannot parse ({type(exc).__name__}: {exc}).",
            _CORRUPT_HINT,
        ) from exc
    return ds


def _check_pixel_element(path: Path, ds: Dataset, scan: ScanResult) -> None:
    if scan.pixel is not None:
        return
    if scan.float_pixel_data:
        raise DicomReadError(
            path,
            "holds floating-point pixel data (a parametric map), not a radiograph.",
            "Choose the radiograph's image files.",
        )
    kind = _sop_class_name(ds)
    raise DicomReadError(
        path,
        f"has no Pixel Data: it is {kind}, not an image.",
        "Choose the radiograph's image files (reports, structured reports and "
        "presentation states cannot be shown).",
    )


def _pixel(scan: ScanResult) -> PixelElement:
    if scan.pixel is None:  # _check_pixel_element has raised for this already
        raise RuntimeError("scan has no pixel element")
    return scan.pixel


def _sop_class_name(ds: Dataset) -> str:
    try:
        uid = UID(str(ds.get("SOPClassUID", "")).strip())
    except (TypeError, ValueError):
        uid = UID("")
    name = uid.name if uid else ""
    if name and name != str(uid):
        return f"a '{name}' object"
    modality = _text(ds, "Modality")
    return f"a {modality} object" if modality else "an object of unknown kind"


@dataclasses.dataclass(frozen=True)
class _ImageParams:
    rows: int
    columns: int
    samples: int
    bits_allocated: int
    bits_stored: int
    photometric: str
    n_frames: int


def _int(path: Path, ds: Dataset, keyword: str, tag: str, default: int | None) -> int:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            if default is None:
                raise DicomReadError(
                    path, f"has no {tag} {keyword}.", "The image header is incomplete."
                )
            return default
        return int(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DicomReadError(
            path, f"has an invalid {tag} {keyword} ({exc}).", _CORRUPT_HINT
        ) from exc


def _image_params(
    path: Path, ds: Dataset, scan: ScanResult, frame: int, notes: list[str]
) -> _ImageParams:
    """Validate the image pixel module against the data before anything is decoded."""
    rows = _int(path, ds, "Rows", "(0028,0010)", None)
    columns = _int(path, ds, "Columns", "(0028,0011)", None)
    bits_allocated = _int(path, ds, "BitsAllocated", "(0028,0100)", None)
    bits_stored = _int(path, ds, "BitsStored", "(0028,0101)", bits_allocated)
    samples = _int(path, ds, "SamplesPerPixel", "(0028,0002)", 1)
    representation = _int(path, ds, "PixelRepresentation", "(0028,0103)", 0)
    n_frames = _int(path, ds, "NumberOfFrames", "(0028,0008)", 1) or 1
    photometric = _text(ds, "PhotometricInterpretation").upper()
    if rows <= 0 or columns <= 0:
        raise DicomReadError(path, f"declares an image of {rows}×{columns} pixels.", _CORRUPT_HINT)
    if bits_allocated not in _VALID_BITS_ALLOCATED:
        raise DicomReadError(
            path,
            f"declares (0028,0100) Bits Allocated {bits_allocated}; it must be 1, 8, 16, 32 or 64.",
            _CORRUPT_HINT,
        )
    if not 1 <= bits_stored <= bits_allocated:
        raise DicomReadError(
            path,
            f"declares (0028,0101) Bits Stored {bits_stored} with Bits Allocated {bits_allocated}.",
            _CORRUPT_HINT,
        )
    if samples not in (1, 3) or representation not in (0, 1) or n_frames < 0:
        raise DicomReadError(
            path,
            f"declares an unsupported pixel layout (Samples per Pixel {samples}, "
            f"Pixel Representation {representation}, Number of Frames {n_frames}).",
            _CORRUPT_HINT,
        )
    if not photometric:
        if samples != 1:
            raise DicomReadError(
                path,
                "has colour pixels but no (0028,0004) Photometric Interpretation.",
                _CORRUPT_HINT,
            )
        photometric = "MONOCHROME2"
        ds.PhotometricInterpretation = photometric  # in memory only: the file is untouched
        notes.append("no (0028,0004) Photometric Interpretation: assumed MONOCHROME2")
    if frame >= n_frames:
        raise DicomReadError(
            path,
            f"has {n_frames} frame{'s' if n_frames > 1 else ''}; frame {frame} was asked for.",
            f"Choose a frame from 0 to {n_frames - 1}.",
        )
    frame_bytes = rows * columns * samples * max(bits_allocated, 8) // 8
    if frame_bytes > MAX_FRAME_BYTES:
        raise DicomReadError(
            path,
            f"declares a {rows}×{columns}×{samples} frame of {frame_bytes // 2**20} MiB, "
            f"more than the {MAX_FRAME_BYTES // 2**20} MiB accepted.",
            "This is not a plausible radiograph; check the export.",
        )
    pixel = _pixel(scan)
    tsyntax = UID(scan.transfer_syntax)
    if tsyntax.is_encapsulated != pixel.encapsulated:
        state = "compressed (encapsulated)" if pixel.encapsulated else "uncompressed"
        raise DicomReadError(
            path,
            f"has {state} Pixel Data but its transfer syntax is {tsyntax.name}.",
            _CORRUPT_HINT,
        )
    if pixel.encapsulated:
        if pixel.n_fragments < n_frames and "ExtendedOffsetTable" not in ds:
            raise DicomReadError(
                path,
                f"has {pixel.n_fragments} compressed fragments for {n_frames} frames.",
                "The file is incomplete: copy or export it again from the source.",
            )
    else:
        _check_native_length(path, ds, pixel.length, n_frames, notes)
    return _ImageParams(rows, columns, samples, bits_allocated, bits_stored, photometric, n_frames)


def _check_native_length(
    path: Path, ds: Dataset, length: int, n_frames: int, notes: list[str]
) -> None:
    try:
        expected = int(get_expected_length(ds, "bytes"))
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        raise DicomReadError(
            path, f"has an incomplete image pixel module ({exc}).", _CORRUPT_HINT
        ) from exc
    frame_length = -(-expected // n_frames)
    geometry = (
        f"Rows × Columns × Samples × Bits Allocated × Frames = {ds.Rows} × {ds.Columns} × "
        f"{ds.get('SamplesPerPixel', 1)} × {ds.BitsAllocated} × {n_frames}"
    )
    if length < expected:
        raise DicomReadError(
            path,
            f"has {length} bytes of Pixel Data but {geometry} needs {expected}.",
            "The header and the pixel data disagree: export the image again.",
        )
    if length > expected + max(frame_length - 1, 1):
        raise DicomReadError(
            path,
            f"has {length} bytes of Pixel Data but {geometry} needs only {expected}.",
            "The header and the pixel data disagree: export the image again.",
        )
    if length > expected + 1:
        notes.append(f"{length - expected} unexpected bytes after the pixel data ignored")


def _decode(
    path: Path, f: BinaryIO, ds: Dataset, scan: ScanResult, frame: int, *, trusted: bool
) -> _Decoded:
    """Decode only `frame`, trying each plugin in turn for compressed data."""
    pixel = _pixel(scan)
    tsyntax = UID(scan.transfer_syntax)
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError as exc:
        raise DicomReadError(
            path,
            f"uses {tsyntax.name or tsyntax}, which cannot be decoded here.",
            _EXPORT_HINT,
        ) from exc
    if not decoder.is_available:
        raise DicomReadError(
            path,
            f"uses {tsyntax.name}, but no decoder for it is installed "
            f"({'; '.join(decoder.missing_dependencies)}).",
            "Install the missing package or " + _EXPORT_HINT[0].lower() + _EXPORT_HINT[1:],
        )
    src: Dataset | BinaryIO
    if tsyntax == DeflatedExplicitVRLittleEndian:
        src, opts = ds, {}
    else:
        src = f
        opts = as_pixel_options(ds, transfer_syntax_uid=tsyntax, pixel_keyword="PixelData")
        if pixel.vr:
            opts["pixel_vr"] = pixel.vr
    expected_shape = _expected_shape(ds)
    if pixel.encapsulated:
        _check_codestream(path, f, pixel.first_fragment, expected_shape[:2])
    plugins: tuple[str, ...] = plugin_order(tsyntax, trusted=trusted) or ("",)
    failures: list[str] = []
    for plugin in plugins:
        if src is f:
            f.seek(pixel.value_offset)
        try:
            arr, properties = decoder.as_array(
                src, index=frame, validate=True, raw=False, decoding_plugin=plugin, **opts
            )
        except (RecursionError, MemoryError, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - decoders raise anything, even pyo3's
            # PanicException (a BaseException) from pylibjpeg-rle on corrupt data.
            failures.append(f"{plugin or NATIVE}: {_last_line(exc)}")
            continue
        if arr.shape != expected_shape:
            failures.append(f"{plugin}: gave shape {arr.shape}, expected {expected_shape}")
            continue
        photometric = str(properties.get("photometric_interpretation", ""))
        if not arr.dtype.isnative:
            # Big endian files: the viewer and numpy are faster on native byte order.
            arr = arr.astype(arr.dtype.newbyteorder("="))
        return _Decoded(arr, plugin or NATIVE, photometric)
    if decoder.is_native:
        reason = f"has pixel data that cannot be read ({failures[0]})."
    else:
        reason = (
            f"has {tsyntax.name} pixel data that no decoder could read ("
            + "; ".join(failures)
            + ")."
        )
    raise DicomReadError(path, reason, _CORRUPT_HINT)


def _check_codestream(
    path: Path, f: BinaryIO, fragment: tuple[int, int], rows_columns: tuple[int, ...]
) -> None:
    """Refuse a codestream whose own size disagrees with Rows × Columns, before decoding."""
    offset, length = fragment
    f.seek(offset)
    declared = declared_size(f.read(min(length, _CODESTREAM_PEEK_BYTES)))
    if declared is not None and declared != rows_columns:
        raise DicomReadError(
            path,
            f"has compressed data for a {declared[1]}×{declared[0]} image but its header "
            f"declares {rows_columns[1]}×{rows_columns[0]} (Columns × Rows).",
            _CORRUPT_HINT,
        )


def _last_line(exc: BaseException) -> str:
    """The useful part of a decoder error (pydicom wraps each plugin's in a preamble)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    name, sep, rest = text.partition(": ")
    return rest if sep and name in _PLUGIN_NAMES else text


def _expected_shape(ds: Dataset) -> tuple[int, ...]:
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    shape: tuple[int, ...] = (int(ds.Rows), int(ds.Columns))
    return (*shape, samples) if samples > 1 else shape


def _to_grayscale(
    path: Path, ds: Dataset, decoded: _Decoded, params: _ImageParams, notes: list[str]
) -> np.ndarray:
    """Apply the Modality LUT to grayscale data; turn colour data into luminance."""
    arr = decoded.pixels
    if params.photometric == "PALETTE COLOR":
        try:
            rgb = apply_color_lut(arr, ds)
        except (AttributeError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise DicomReadError(
                path, f"has a PALETTE COLOR image with a bad palette ({exc}).", _CORRUPT_HINT
            ) from exc
        notes.append("PALETTE COLOR image shown as its luminance")
        return luminance(rgb)
    if params.samples == 3:
        out = decoded.photometric_out or params.photometric
        notes.append(f"colour image ({params.photometric}) shown as its luminance")
        if out.startswith("YBR"):
            # Y is the luminance already (decoders leave YBR_ICT/RCT as is only rarely).
            return np.ascontiguousarray(arr[..., 0])
        return luminance(arr)
    return modality_lut(ds, arr)


def _text(ds: Dataset, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except (ValueError, TypeError, KeyError):
        return ""
    return "" if value is None else str(value).strip()


def _header_notes(ds: Dataset, scan: ScanResult) -> list[str]:
    """Odd-but-valid things about the header worth a warning."""
    notes: list[str] = []
    try:
        charsets = ds.get("SpecificCharacterSet")
    except (ValueError, TypeError, KeyError):
        charsets = None
    if charsets:
        values = [charsets] if isinstance(charsets, str) else list(charsets)
        unknown = [v for v in values if str(v).strip() and str(v).strip() not in python_encoding]
        if unknown:
            notes.append(
                f"unknown (0008,0005) Specific Character Set {', '.join(map(str, unknown))}: "
                "text may display wrongly"
            )
    if scan.odd_lengths:
        notes.append(f"{scan.odd_lengths} element(s) with an odd value length (non-conformant)")
    if not scan.has_meta:
        notes.append("no file meta header: encoding guessed")
    elif scan.transfer_syntax_guessed:
        notes.append("no (0002,0010) Transfer Syntax UID: encoding guessed")
    return notes
