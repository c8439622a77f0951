"""A structural pre-scan of a DICOM file, done before pydicom reads any value.

pydicom trusts declared lengths (``read(length)`` allocates the full length first) and
parses undefined-length sequences recursively, so a file with an absurd length or a deeply
nested sequence can exhaust memory or the recursion limit. This module walks the element
structure iteratively, with an explicit stack, over a read-only memory map: it allocates
nothing proportional to any declared length, checks every length against the bytes that
are really there, counts the sequence nesting, and finds the Pixel Data element.

It raises :class:`~collarreader.errors.DicomReadError` only for definite problems; it does
not interpret values beyond the transfer syntax.
"""

from __future__ import annotations

import errno
import mmap
import stat
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from pydicom import config
from pydicom.datadict import dictionary_VR
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from collarreader.errors import DicomReadError

MAX_SEQUENCE_DEPTH = 32
"""Deepest sequence nesting accepted; real images stay below 10."""

MAX_INFLATED_BYTES = 512 * 1024 * 1024
"""Largest deflated dataset accepted once inflated (guards against deflate bombs)."""

_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_DELIMITER = 0xFFFEE00D
_SEQUENCE_DELIMITER = 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
_FLOAT_PIXEL_DATA = (0x7FE00008, 0x7FE00009)
_DIRECTORY_RECORD_SEQUENCE = 0x00041220

_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI "
    b"UL UN UR US UT UV".split()
)
# Explicit VRs whose length is a 4-byte field after 2 reserved bytes.
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
# Groups a dataset written without preamble or file meta can plausibly start with.
_FIRST_GROUPS = frozenset({0x0002, 0x0004, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028})

_TRUNCATED_HINT = "The file is incomplete: copy or export it again from the source."
_CORRUPT_HINT = "The file is corrupt: export it again from the source system."


@dataclass(frozen=True)
class PixelElement:
    """Where the top-level (7FE0,0010) *Pixel Data* element is.

    Attributes
    ----------
    value_offset : byte offset of the value in the (inflated, for deflated files) stream
    length : value length in bytes (for encapsulated data: up to the sequence delimiter)
    encapsulated : True for undefined-length (compressed, fragmented) pixel data
    vr : explicit VR ("OB"/"OW"), or "" for implicit VR files
    n_fragments : number of fragments after the basic offset table (encapsulated only)
    first_fragment : (offset, length) of the first fragment after the basic offset table
        (encapsulated only), where the codestream of frame 0 starts
    """

    value_offset: int
    length: int
    encapsulated: bool
    vr: str
    n_fragments: int = 0
    first_fragment: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class ScanResult:
    """What the pre-scan learnt about a file.

    Attributes
    ----------
    size_bytes : file size
    has_preamble : 128-byte preamble and "DICM" prefix present
    has_meta : a group 0002 file meta header is present
    transfer_syntax : (0002,0010) *Transfer Syntax UID*, or the encoding guessed from the
        dataset when the file meta is missing or has none
    transfer_syntax_guessed : True when ``transfer_syntax`` was not in the file meta
    media_storage_sop_class : (0002,0002) *Media Storage SOP Class UID* or ""
    pixel : the Pixel Data element, or None
    float_pixel_data : a (7FE0,0008)/(7FE0,0009) float pixel data element is present
    is_dicomdir : a (0004,1220) *Directory Record Sequence* is present
    odd_lengths : number of elements with an odd value length (non-conformant)
    max_depth : deepest sequence nesting seen
    """

    size_bytes: int
    has_preamble: bool
    has_meta: bool
    transfer_syntax: str
    transfer_syntax_guessed: bool
    media_storage_sop_class: str
    pixel: PixelElement | None
    float_pixel_data: bool
    is_dicomdir: bool
    odd_lengths: int
    max_depth: int


@dataclass
class _Frame:
    """One open container on the walk's stack: a sequence or an item."""

    is_sequence: bool
    end: int | None  # None = undefined length, closed by a delimiter
    implicit: bool
    little: bool


@dataclass
class _Walk:
    """The buffer being walked and what the walk has found so far."""

    path: Path
    buf: mmap.mmap | bytes
    size: int
    pixel: PixelElement | None = None
    float_pixel_data: bool = False
    is_dicomdir: bool = False
    odd_lengths: int = 0
    max_depth: int = 0


_VALUE_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "AT": 4, "FD": 8, "SV": 8, "UV": 8}
"""Bytes per value of the fixed-size binary VRs (OB, OW, OF … are checked by the decoders)."""


def file_problem(path: Path) -> str | None:
    """Why ``path`` is not a regular file an image can be read from (None: it is one).

    Says what it is instead: missing, a folder, a FIFO (named pipe), a device, a socket, or a
    symbolic link that loops. A FIFO or a device would otherwise read as an empty file or block
    the reader, and a looping link as a missing one.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "is a symbolic link that loops (it points, directly or not, to itself)"
        return f"cannot be read ({error.strerror or error})"
    except RuntimeError:  # pathlib's own symlink-loop detection
        return "is a symbolic link that loops (it points, directly or not, to itself)"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a file"
    return "is not a regular file"


def scan_file(path: Path) -> ScanResult:
    """Check the element structure of a DICOM file without trusting any declared length.

    Parameters
    ----------
    path : the file; opened read-only and never changed

    Returns
    -------
    ScanResult

    Raises
    ------
    DicomReadError
        The file is empty, not DICOM, truncated, declares lengths beyond its end, or nests
        sequences deeper than :data:`MAX_SEQUENCE_DEPTH`.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DicomReadError(path, f"cannot be read ({exc.strerror}).", "Check the path.") from exc
    if size == 0:
        raise DicomReadError(path, "is empty (0 bytes).", "Copy or export the file again.")
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _scan_buffer(path, buf, size)
    except OSError as exc:
        raise DicomReadError(path, f"cannot be read ({exc}).", "Check the path.") from exc


def _scan_buffer(path: Path, buf: mmap.mmap, size: int) -> ScanResult:
    has_preamble = size >= 132 and buf[128:132] == b"DICM"
    pos = 132 if has_preamble else 0
    meta: dict[int, str] = {}
    has_meta = False
    if _looks_like_meta(buf, pos, size):
        has_meta = True
        pos = _read_meta(path, buf, pos, size, meta)
    elif not has_preamble and not _looks_like_dataset(buf, 0, size):
        raise DicomReadError(
            path,
            "is not a DICOM file (no 'DICM' prefix and no recognisable DICOM elements).",
            "Choose the exported .dcm image files.",
        )

    tsyntax = meta.get(0x00020010, "").strip("\0 ")
    guessed = not tsyntax
    if guessed:
        implicit, little = _guess_encoding(path, buf, pos, size)
        tsyntax = _encoding_uid(implicit, little)
    else:
        # No validation warning here: an invalid UID is reported as the error below.
        uid = UID(tsyntax, validation_mode=config.IGNORE)
        if not uid.is_transfer_syntax:
            raise DicomReadError(
                path,
                f"uses an unknown transfer syntax {tsyntax}.",
                "Export it again with a standard transfer syntax (e.g. Explicit VR Little Endian).",
            )
        implicit, little = uid.is_implicit_VR, uid.is_little_endian

    if tsyntax == DeflatedExplicitVRLittleEndian:
        data = _inflate(path, buf[pos:])
        walk = _Walk(path, data, len(data))
        _walk(walk, 0, implicit=implicit, little=little)
    else:
        if pos >= size:
            raise DicomReadError(path, "has a file meta header but no dataset.", _TRUNCATED_HINT)
        walk = _Walk(path, buf, size)
        _walk(walk, pos, implicit=implicit, little=little)
    return ScanResult(
        size_bytes=size,
        has_preamble=has_preamble,
        has_meta=has_meta,
        transfer_syntax=tsyntax,
        transfer_syntax_guessed=guessed,
        media_storage_sop_class=meta.get(0x00020002, "").strip("\0 "),
        pixel=walk.pixel,
        float_pixel_data=walk.float_pixel_data,
        is_dicomdir=walk.is_dicomdir,
        odd_lengths=walk.odd_lengths,
        max_depth=walk.max_depth,
    )


def _looks_like_meta(buf: mmap.mmap, pos: int, size: int) -> bool:
    return pos + 6 <= size and buf[pos : pos + 2] == b"\x02\x00" and buf[pos + 4 : pos + 6] in _VRS


def _looks_like_dataset(buf: mmap.mmap, pos: int, size: int) -> bool:
    """Whether the bytes at `pos` start like a dataset written without preamble or meta."""
    if pos + 8 > size:
        return False
    group_le, group_be = buf[pos] | buf[pos + 1] << 8, buf[pos] << 8 | buf[pos + 1]
    if group_le not in _FIRST_GROUPS and group_be not in _FIRST_GROUPS:
        return False
    if buf[pos + 4 : pos + 6] in _VRS:
        return True
    (length,) = struct.unpack_from("<L", buf, pos + 4)
    return group_le in _FIRST_GROUPS and length < size


def _guess_encoding(path: Path, buf: mmap.mmap, pos: int, size: int) -> tuple[bool, bool]:
    """Guess (implicit VR, little endian) from the first element, as pydicom does."""
    if pos + 8 > size:
        raise DicomReadError(path, "has no dataset after its header.", _TRUNCATED_HINT)
    implicit = buf[pos + 4 : pos + 6] not in _VRS
    little = (buf[pos] | buf[pos + 1] << 8) in _FIRST_GROUPS or buf[pos + 1] == 0
    if implicit and not little:
        raise DicomReadError(path, "has an unrecognisable encoding.", _CORRUPT_HINT)
    return implicit, little


def _encoding_uid(implicit: bool, little: bool) -> str:
    if implicit:
        return "1.2.840.10008.1.2"
    return "1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2"


def _read_meta(path: Path, buf: mmap.mmap, pos: int, size: int, meta: dict[int, str]) -> int:
    """Walk the group 0002 elements (always explicit VR little endian); return the end."""
    while pos + 8 <= size and buf[pos : pos + 2] == b"\x02\x00":
        group, elem = struct.unpack_from("<HH", buf, pos)
        vr = bytes(buf[pos + 4 : pos + 6])
        if vr not in _VRS:
            raise DicomReadError(path, "has a corrupt file meta header.", _CORRUPT_HINT)
        if vr in _LONG_VRS:
            if pos + 12 > size:
                raise DicomReadError(path, "ends inside its file meta header.", _TRUNCATED_HINT)
            (length,) = struct.unpack_from("<L", buf, pos + 8)
            start = pos + 12
        else:
            (length,) = struct.unpack_from("<H", buf, pos + 6)
            start = pos + 8
        if length == _UNDEFINED or start + length > size:
            raise DicomReadError(
                path,
                f"has a file meta element ({group:04X},{elem:04X}) declaring {length} bytes "
                f"where only {size - start} remain.",
                _CORRUPT_HINT,
            )
        if length <= 256:
            meta[group << 16 | elem] = bytes(buf[start : start + length]).decode(
                "ascii", errors="replace"
            )
        pos = start + length
    if pos + 8 > size and pos < size:
        raise DicomReadError(path, "ends inside its file meta header.", _TRUNCATED_HINT)
    return pos


def _inflate(path: Path, data: bytes) -> bytes:
    """Inflate a deflated dataset, refusing anything beyond :data:`MAX_INFLATED_BYTES`."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_INFLATED_BYTES + 1)
    except zlib.error as exc:
        raise DicomReadError(path, f"has corrupt deflated data ({exc}).", _CORRUPT_HINT) from exc
    if len(out) > MAX_INFLATED_BYTES:
        raise DicomReadError(
            path,
            f"inflates to more than {MAX_INFLATED_BYTES // 2**20} MiB.",
            "This is not a plausible radiograph; export it again uncompressed.",
        )
    return out


def _walk(walk: _Walk, pos: int, *, implicit: bool, little: bool) -> None:
    """Walk a dataset's elements iteratively, checking every length against the size."""
    path, buf, size = walk.path, walk.buf, walk.size
    stack: list[_Frame] = []
    depth = 0
    while True:
        top = stack[-1] if stack else None
        limit = top.end if top is not None and top.end is not None else size
        if pos == limit:
            if top is None:
                return
            if top.end is None:
                raise DicomReadError(
                    path, "ends inside a sequence (no delimiter).", _TRUNCATED_HINT
                )
            stack.pop()
            depth -= top.is_sequence
            continue
        if pos + 8 > limit:
            what = "ends in the middle of an element" if limit == size else "has a malformed item"
            raise DicomReadError(path, f"{what} (at byte {pos}).", _TRUNCATED_HINT)
        ctx_implicit = top.implicit if top is not None else implicit
        ctx_little = top.little if top is not None else little
        end = "<" if ctx_little else ">"
        group, elem = struct.unpack_from(end + "HH", buf, pos)
        tag = group << 16 | elem

        if group == 0xFFFE:
            (length,) = struct.unpack_from(end + "L", buf, pos + 4)
            pos += 8
            if tag == _ITEM and top is not None and top.is_sequence:
                item_end = None if length == _UNDEFINED else pos + length
                _check_length(walk, tag, pos, length, limit)
                stack.append(_Frame(False, item_end, ctx_implicit, ctx_little))
            elif tag == _ITEM_DELIMITER and top is not None and not top.is_sequence:
                stack.pop()
            elif tag == _SEQUENCE_DELIMITER and top is not None and top.is_sequence:
                stack.pop()
                depth -= 1
            elif tag == _SEQUENCE_DELIMITER and top is None:
                continue  # a stray top-level delimiter: pydicom stops there too
            else:
                raise DicomReadError(
                    path, f"has a misplaced item tag at byte {pos - 8}.", _CORRUPT_HINT
                )
            continue
        if top is not None and top.is_sequence:
            raise DicomReadError(
                path,
                f"has an element ({group:04X},{elem:04X}) where a sequence item was expected "
                f"(byte {pos}).",
                _CORRUPT_HINT,
            )

        vr = b""
        if not ctx_implicit:
            vr = bytes(buf[pos + 4 : pos + 6])
            if vr not in _VRS:
                # pydicom switches to implicit VR when an explicit file is not: do the same.
                ctx_implicit = True
                if top is None:
                    implicit = True
                else:
                    top.implicit = True
        if ctx_implicit:
            (length,) = struct.unpack_from(end + "L", buf, pos + 4)
            header = 8
        elif vr in _LONG_VRS:
            if pos + 12 > limit:
                raise DicomReadError(
                    path, f"ends inside an element (at byte {pos}).", _TRUNCATED_HINT
                )
            (length,) = struct.unpack_from(end + "L", buf, pos + 8)
            header = 12
        else:
            (length,) = struct.unpack_from(end + "H", buf, pos + 6)
            header = 8
        start = pos + header

        if top is None:
            if tag == _PIXEL_DATA:
                pos = _pixel_element(walk, start, length, vr=vr, little=ctx_little)
                continue
            if tag in _FLOAT_PIXEL_DATA:
                walk.float_pixel_data = True
            elif tag == _DIRECTORY_RECORD_SEQUENCE:
                walk.is_dicomdir = True

        is_sequence = vr == b"SQ" or (vr == b"UN" and length == _UNDEFINED)
        if ctx_implicit and not is_sequence:
            is_sequence = length == _UNDEFINED or _dictionary_vr(tag) == "SQ"
        if is_sequence:
            _check_length(walk, tag, start, length, limit)
            depth += 1
            walk.max_depth = max(walk.max_depth, depth)
            if depth > MAX_SEQUENCE_DEPTH:
                raise DicomReadError(
                    path,
                    f"nests sequences more than {MAX_SEQUENCE_DEPTH} deep.",
                    "This is not a plausible image file; export it again from the source.",
                )
            seq_end = None if length == _UNDEFINED else start + length
            # An undefined-length UN holds an implicit VR little endian sequence (PS3.5 6.2.2).
            seq_implicit = ctx_implicit or vr == b"UN"
            seq_little = True if vr == b"UN" else ctx_little
            stack.append(_Frame(True, seq_end, seq_implicit, seq_little))
            pos = start
            continue
        if length == _UNDEFINED:
            raise DicomReadError(
                path,
                f"has an element ({group:04X},{elem:04X}) of undefined length that is not a "
                "sequence.",
                _CORRUPT_HINT,
            )
        _check_length(walk, tag, start, length, limit)
        _check_value_size(walk, tag, vr.decode("ascii") if vr else _dictionary_vr(tag), length)
        walk.odd_lengths += length % 2
        pos = start + length


def _check_length(walk: _Walk, tag: int, start: int, length: int, limit: int) -> None:
    if length != _UNDEFINED and start + length > limit:
        where = "the file has" if limit == walk.size else "its enclosing item has"
        raise DicomReadError(
            walk.path,
            f"declares a length of {length} bytes for ({tag >> 16:04X},{tag & 0xFFFF:04X}) "
            f"but {where} only {max(limit - start, 0)} bytes left (truncated or corrupt).",
            _TRUNCATED_HINT,
        )


def _check_value_size(walk: _Walk, tag: int, vr: str, length: int) -> None:
    """Refuse a binary value whose length is not a whole number of values (US of 3 bytes …).

    pydicom raises on such a value only when it is read, deep inside whatever reads it; here
    every element is checked once, so the file is refused with its tag named instead.
    """
    size = _VALUE_SIZES.get(vr.split(" or ", maxsplit=1)[0])
    if size is not None and length % size:
        raise DicomReadError(
            walk.path,
            f"has ({tag >> 16:04X},{tag & 0xFFFF:04X}) with a {vr} value of {length} bytes; "
            f"{vr} values are {size} bytes each (corrupt header).",
            _CORRUPT_HINT,
        )


def _dictionary_vr(tag: int) -> str:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return ""


def _pixel_element(walk: _Walk, start: int, length: int, *, vr: bytes, little: bool) -> int:
    """Record and check the Pixel Data element; return the offset after it."""
    path, buf, size = walk.path, walk.buf, walk.size
    if length != _UNDEFINED:
        if start + length > size:
            raise DicomReadError(
                path,
                f"is truncated: Pixel Data declares {length} bytes but only {size - start} remain.",
                _TRUNCATED_HINT,
            )
        walk.pixel = PixelElement(start, length, False, vr.decode("ascii"))
        walk.odd_lengths += length % 2
        return start + length
    # Encapsulated: a basic offset table item, fragment items, a sequence delimiter.
    end = "<" if little else ">"
    pos = start
    n_items = 0
    first_fragment = (0, 0)
    while True:
        if pos + 8 > size:
            raise DicomReadError(
                path, "is truncated inside its compressed Pixel Data.", _TRUNCATED_HINT
            )
        group, elem, item_length = struct.unpack_from(end + "HHL", buf, pos)
        tag = group << 16 | elem
        pos += 8
        if tag == _SEQUENCE_DELIMITER:
            break
        if tag != _ITEM or item_length == _UNDEFINED:
            raise DicomReadError(
                path,
                f"has corrupt compressed Pixel Data (unexpected tag ({group:04X},{elem:04X}) "
                f"at byte {pos - 8}).",
                _CORRUPT_HINT,
            )
        if pos + item_length > size:
            raise DicomReadError(
                path,
                f"is truncated: a Pixel Data fragment declares {item_length} bytes but only "
                f"{size - pos} remain.",
                _TRUNCATED_HINT,
            )
        if n_items == 1:
            first_fragment = (pos, item_length)
        pos += item_length
        n_items += 1
    if n_items < 2:
        raise DicomReadError(path, "has compressed Pixel Data without any fragment.", _CORRUPT_HINT)
    walk.pixel = PixelElement(
        start, pos - start, True, vr.decode("ascii"), n_items - 1, first_fragment
    )
    return pos
