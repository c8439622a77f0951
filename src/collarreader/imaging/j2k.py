"""JPEG 2000 decoding on every core with the system's OpenJPEG: a pydicom decoder plugin.

pylibjpeg-openjpeg bundles an OpenJPEG built without thread support, and python-gdcm is no
faster on a 3000×2500 lossless radiograph, while the shared library of the operating system
(Debian ``libopenjp2-7``) is built with pthreads: OpenJPEG then decodes code-blocks and the
inverse wavelet transform in parallel, so even a single-tile image uses both cores. This
module calls that library through :mod:`ctypes` (no compiled code of ours, no extra Python
package) and hands pydicom exactly the bytes pylibjpeg-openjpeg would, so pydicom's own
processing (signedness and precision corrections, Bits Allocated, shape) runs unchanged and
the pixels are identical.

Scope, kept deliberately narrow: one component (grayscale), no sub-sampling, precision up to
16 bits: every radiograph. Anything else raises :class:`NotImplementedError`, and the loader
moves on to the next plugin (pylibjpeg).

The codestream is read from memory through OpenJPEG's user-data stream with bounds-checked
callbacks: nothing is written to disk. The library is found as ``libopenjp2.so.7`` (or by
:func:`ctypes.util.find_library`); the environment variable ``COLLARREADER_LIBOPENJP2``
names another file, or disables the plugin when empty.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
from typing import Any

import numpy as np
from pydicom.pixels import get_decoder
from pydicom.pixels.decoders.base import DecodeRunner
from pydicom.uid import JPEG2000, UID, JPEG2000Lossless

PLUGIN = "openjp2"
"""Name of the plugin in pydicom's JPEG 2000 decoders (and in ``Radiograph.decoder``)."""

LIBRARY_ENV = "COLLARREADER_LIBOPENJP2"
"""Environment variable: path of the OpenJPEG library to use; empty disables the plugin."""

MAX_THREADS = 8

_SYNTAXES = (UID(JPEG2000Lossless), UID(JPEG2000))
_DEPENDENCY = "OpenJPEG ≥ 2.3 built with threads (Debian: libopenjp2-7)"
DECODER_DEPENDENCIES = dict.fromkeys(_SYNTAXES, (_DEPENDENCY,))
"""What the plugin needs, per transfer syntax (pydicom's plugin protocol)."""

_MIN_VERSION = (2, 3)  # opj_has_thread_support() and opj_codec_set_threads()
_CODEC_J2K = 0  # OPJ_CODEC_J2K: a raw codestream, which is what DICOM encapsulates
_CODEC_JP2 = 2  # OPJ_CODEC_JP2: some writers encapsulate a whole JP2 file instead
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_STREAM_CHUNK_BYTES = 1 << 20
# opj_dparameters_t is ~8.7 kB in OpenJPEG 2.x (two 4096-byte path buffers); the library
# fills it itself, so an ample zeroed buffer avoids depending on its exact layout.
_DPARAMETERS_BYTES = 1 << 16
_SIZE_T_EOF = ctypes.c_size_t(-1).value


class _ImageComp(ctypes.Structure):
    """``opj_image_comp_t``, unchanged across OpenJPEG 2.x (ABI of ``libopenjp2.so.7``)."""

    _fields_ = [
        ("dx", ctypes.c_uint32),
        ("dy", ctypes.c_uint32),
        ("w", ctypes.c_uint32),
        ("h", ctypes.c_uint32),
        ("x0", ctypes.c_uint32),
        ("y0", ctypes.c_uint32),
        ("prec", ctypes.c_uint32),
        ("bpp", ctypes.c_uint32),
        ("sgnd", ctypes.c_uint32),
        ("resno_decoded", ctypes.c_uint32),
        ("factor", ctypes.c_uint32),
        ("data", ctypes.POINTER(ctypes.c_int32)),
        ("alpha", ctypes.c_uint16),
    ]


class _Image(ctypes.Structure):
    """``opj_image_t``."""

    _fields_ = [
        ("x0", ctypes.c_uint32),
        ("y0", ctypes.c_uint32),
        ("x1", ctypes.c_uint32),
        ("y1", ctypes.c_uint32),
        ("numcomps", ctypes.c_uint32),
        ("color_space", ctypes.c_int),
        ("comps", ctypes.POINTER(_ImageComp)),
        ("icc_profile_buf", ctypes.c_void_p),
        ("icc_profile_len", ctypes.c_uint32),
    ]


_READ_FN = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
_SKIP_FN = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p)
_SEEK_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int64, ctypes.c_void_p)
_MESSAGE_FN = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_void_p)

_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "opj_version": (ctypes.c_char_p, []),
    "opj_has_thread_support": (ctypes.c_int, []),
    "opj_create_decompress": (ctypes.c_void_p, [ctypes.c_int]),
    "opj_set_default_decoder_parameters": (None, [ctypes.c_void_p]),
    "opj_setup_decoder": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p]),
    "opj_codec_set_threads": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int]),
    "opj_set_decoded_resolution_factor": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_uint32]),
    "opj_set_error_handler": (ctypes.c_int, [ctypes.c_void_p, _MESSAGE_FN, ctypes.c_void_p]),
    "opj_stream_create": (ctypes.c_void_p, [ctypes.c_size_t, ctypes.c_int]),
    "opj_stream_set_read_function": (None, [ctypes.c_void_p, _READ_FN]),
    "opj_stream_set_skip_function": (None, [ctypes.c_void_p, _SKIP_FN]),
    "opj_stream_set_seek_function": (None, [ctypes.c_void_p, _SEEK_FN]),
    "opj_stream_set_user_data": (None, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]),
    "opj_stream_set_user_data_length": (None, [ctypes.c_void_p, ctypes.c_uint64]),
    "opj_read_header": (
        ctypes.c_int,
        [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(_Image))],
    ),
    "opj_decode": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(_Image)]),
    "opj_end_decompress": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p]),
    "opj_image_destroy": (None, [ctypes.POINTER(_Image)]),
    "opj_stream_destroy": (None, [ctypes.c_void_p]),
    "opj_destroy_codec": (None, [ctypes.c_void_p]),
}


@functools.cache
def _library() -> Any | None:
    """The threaded OpenJPEG library with its signatures declared, or None."""
    configured = os.environ.get(LIBRARY_ENV)
    if configured is not None:
        candidates = [configured] if configured else []
    else:
        candidates = ["libopenjp2.so.7", "libopenjp2.7.dylib", "openjp2.dll"]
        found = ctypes.util.find_library("openjp2")
        if found:
            candidates.append(found)
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
            for function, (restype, argtypes) in _SIGNATURES.items():
                declared = getattr(lib, function)
                declared.restype = restype
                declared.argtypes = argtypes
        except (OSError, AttributeError):
            continue  # absent, or too old to have every function
        if _parse_version(lib.opj_version()) >= _MIN_VERSION and lib.opj_has_thread_support():
            return lib
    return None


def _parse_version(raw: bytes | None) -> tuple[int, ...]:
    parts = []
    for part in (raw or b"").decode("ascii", "replace").split("."):
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def library_version() -> str | None:
    """Version of the threaded OpenJPEG in use (e.g. ``"2.5.0"``), or None when absent."""
    lib = _library()
    return None if lib is None else str(lib.opj_version().decode("ascii", "replace"))


def default_threads() -> int:
    """Threads used per decode: the cores this process may run on, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


def is_available(uid: str) -> bool:
    """Whether the plugin can decode `uid` here (pydicom's plugin protocol).

    Parameters
    ----------
    uid : transfer syntax UID

    Returns
    -------
    bool
        True for JPEG 2000 (lossless or lossy) when a threaded OpenJPEG ≥ 2.3 is found.
    """
    return UID(uid) in _SYNTAXES and _library() is not None


def register() -> bool:
    """Add the plugin to pydicom's JPEG 2000 decoders (once; later calls do nothing).

    Returns
    -------
    bool
        Whether the plugin is available (it is registered either way, so that pydicom
        can name the missing dependency).
    """
    for uid in _SYNTAXES:
        # pydicom refuses a second plugin by the same name: registered already.
        with contextlib.suppress(ValueError):
            get_decoder(uid).add_plugin(PLUGIN, (__name__, "decode_frame"))
    return _library() is not None


def decode_codestream(
    codestream: bytes, *, threads: int | None = None, reduce: int = 0
) -> np.ndarray:
    """Decode a single-component JPEG 2000 codestream (or JP2 file).

    Parameters
    ----------
    codestream : the whole codestream, from SOC (FF4F) to EOC, or a JP2 file
    threads : decoding threads; default :func:`default_threads`
    reduce : resolution levels to leave out (OpenJPEG's ``cp_reduce``): 0 decodes the full
        image; ``r`` decodes the wavelet's low-pass image, ``ceil(size / 2**r)`` in each
        direction, skipping the code-blocks of the ``r`` finest levels (most of the work).
        At most the codestream's number of decomposition levels.

    Returns
    -------
    numpy.ndarray
        (rows, columns) array: uint8/int8 for a precision up to 8 bits, uint16/int16 up
        to 16, signed when the codestream says so (as pylibjpeg-openjpeg returns it).

    Raises
    ------
    NotImplementedError
        No threaded OpenJPEG, or a layout outside this decoder's scope (several
        components, sub-sampling, more than 16 bits).
    ValueError
        OpenJPEG cannot decode the data; the message is OpenJPEG's.
    """
    lib = _library()
    if lib is None:
        raise NotImplementedError(f"the '{PLUGIN}' decoder needs {_DEPENDENCY}")
    if reduce < 0:
        raise ValueError(f"reduce must be 0 or more, not {reduce}")
    return _decode(lib, codestream, threads or default_threads(), reduce)


def decode_frame(src: bytes, runner: DecodeRunner) -> bytearray:
    """Decode one frame for pydicom (its plugin protocol), as pylibjpeg-openjpeg would.

    Parameters
    ----------
    src : the frame's JPEG 2000 codestream
    runner : pydicom's decode runner for the frame

    Returns
    -------
    bytearray
        Little-endian samples, 1 byte each up to 8 bits of precision, else 2 (two's
        complement when signed): the bytes pylibjpeg-openjpeg returns, so that pydicom's
        signedness and precision corrections apply identically.
    """
    arr = decode_codestream(src)
    if arr.shape != (runner.rows, runner.columns):
        raise ValueError(
            f"the codestream holds a {arr.shape[1]}×{arr.shape[0]} image, "
            f"not {runner.columns}×{runner.rows}"
        )
    # As pydicom's pylibjpeg plugin: the container follows the J2K precision, not the
    # dataset's (0028,0100) Bits Allocated.
    precision = runner.get_option("j2k_precision", runner.bits_stored)
    container_bits = 8 if 0 < precision <= 8 else 16 if 8 < precision <= 16 else 0
    if container_bits != 8 * arr.dtype.itemsize:
        raise NotImplementedError(
            f"pydicom reads a {precision}-bit precision, OpenJPEG decoded "
            f"{8 * arr.dtype.itemsize}-bit samples"
        )
    runner.set_option("bits_allocated", container_bits)
    out = bytearray(arr.nbytes)
    np.copyto(np.frombuffer(out, arr.dtype.newbyteorder("<")).reshape(arr.shape), arr)
    return out


class _MemoryStream:
    """Bounds-checked read/skip/seek callbacks over a bytes object, for opj_stream_t."""

    def __init__(self, data: bytes) -> None:
        self.view = np.frombuffer(data, np.uint8)  # keeps `data` alive and gives its address
        self.address = self.view.ctypes.data
        self.length = len(data)
        self.position = 0
        # The CFUNCTYPE objects must outlive the stream: keep them on the instance.
        self.read = _READ_FN(self._read)
        self.skip = _SKIP_FN(self._skip)
        self.seek = _SEEK_FN(self._seek)

    def _read(self, buffer: int | None, size: int, _user: int | None) -> int:
        count = min(size, self.length - self.position)
        if count <= 0 or buffer is None:
            return _SIZE_T_EOF
        ctypes.memmove(buffer, self.address + self.position, count)
        self.position += count
        return count

    def _skip(self, offset: int, _user: int | None) -> int:
        target = self.position + offset
        if not 0 <= target <= self.length:
            return -1
        self.position = target
        return offset

    def _seek(self, offset: int, _user: int | None) -> int:
        if not 0 <= offset <= self.length:
            return 0
        self.position = offset
        return 1


def _decode(lib: Any, codestream: bytes, threads: int, reduce: int = 0) -> np.ndarray:
    errors: list[str] = []

    def on_error(message: bytes | None, _user: int | None) -> None:
        # May run on an OpenJPEG worker thread: ctypes takes the GIL for it.
        errors.append((message or b"").decode("utf-8", "replace").strip())

    error_handler = _MESSAGE_FN(on_error)
    source = _MemoryStream(bytes(codestream))
    codec_format = _CODEC_JP2 if codestream[:12] == _JP2_SIGNATURE else _CODEC_J2K
    codec = lib.opj_create_decompress(codec_format)
    stream = lib.opj_stream_create(_STREAM_CHUNK_BYTES, 1)
    image = ctypes.POINTER(_Image)()
    try:
        if not codec or not stream:
            raise MemoryError("OpenJPEG could not allocate a decoder")
        parameters = ctypes.create_string_buffer(_DPARAMETERS_BYTES)
        lib.opj_set_default_decoder_parameters(parameters)
        lib.opj_set_error_handler(codec, error_handler, None)
        if not lib.opj_setup_decoder(codec, parameters):
            raise ValueError(_failure("cannot set up the decoder", errors))
        lib.opj_codec_set_threads(codec, threads)
        lib.opj_stream_set_read_function(stream, source.read)
        lib.opj_stream_set_skip_function(stream, source.skip)
        lib.opj_stream_set_seek_function(stream, source.seek)
        lib.opj_stream_set_user_data(stream, None, None)
        lib.opj_stream_set_user_data_length(stream, source.length)
        if not lib.opj_read_header(stream, codec, ctypes.byref(image)) or not image:
            raise ValueError(_failure("cannot read the codestream header", errors))
        _check_layout(image.contents)
        if reduce and not lib.opj_set_decoded_resolution_factor(codec, reduce):
            raise ValueError(_failure(f"cannot leave out {reduce} resolution levels", errors))
        if not lib.opj_decode(codec, stream, image):
            raise ValueError(_failure("cannot decode the codestream", errors))
        if not lib.opj_end_decompress(codec, stream):
            raise ValueError(_failure("cannot finish decoding the codestream", errors))
        return _component_array(image.contents)
    finally:
        if image:
            lib.opj_image_destroy(image)
        if stream:
            lib.opj_stream_destroy(stream)
        if codec:
            lib.opj_destroy_codec(codec)


def _check_layout(image: _Image) -> None:
    if image.numcomps != 1:
        raise NotImplementedError(f"{image.numcomps} components (only grayscale is handled)")
    comp = image.comps[0]
    if comp.dx != 1 or comp.dy != 1:
        raise NotImplementedError(f"sub-sampled component ({comp.dx}×{comp.dy})")
    if not 1 <= comp.prec <= 16:
        raise NotImplementedError(f"{comp.prec}-bit precision (at most 16 is handled)")


def _component_array(image: _Image) -> np.ndarray:
    """Copy the decoded int32 samples out, cast as pylibjpeg-openjpeg's C code does."""
    _check_layout(image)  # the decoder may have changed the image: check again
    comp = image.comps[0]
    if not comp.data or comp.w == 0 or comp.h == 0:
        raise ValueError("OpenJPEG returned no samples")
    samples = np.ctypeslib.as_array(comp.data, shape=(comp.h, comp.w))
    if comp.prec <= 8:
        dtype: type[np.integer[Any]] = np.int8 if comp.sgnd else np.uint8
    else:
        dtype = np.int16 if comp.sgnd else np.uint16
    # An integer cast wraps like C's (unsigned short)(int): the same bytes as pylibjpeg.
    return samples.astype(dtype)


def _failure(what: str, errors: list[str]) -> str:
    detail = "; ".join(dict.fromkeys(e for e in errors if e))
    return f"OpenJPEG {what}" + (f": {detail}" if detail else "")
