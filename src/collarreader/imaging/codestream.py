"""Image dimensions declared inside JPEG, JPEG-LS and JPEG 2000 codestreams.

Decoders allocate their output from the codestream's own header, not from (0028,0010)
*Rows* / (0028,0011) *Columns*: a corrupt or hostile codestream declaring 65535×65535
would make them allocate gigabytes before failing. Reading the declared size first lets
the loader refuse such data cheaply.
"""

from __future__ import annotations

import struct

_J2K_SOC_SIZ = b"\xff\x4f\xff\x51"
# SOF markers carrying the frame size: SOF0–SOF15 except DHT (C4), JPG (C8), DAC (CC),
# plus JPEG-LS SOF55 (F7).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(rows, columns) declared by the codestream at the start of `data`, if recognised.

    Parameters
    ----------
    data : the start of the first fragment of a frame (a few kB is enough for JPEG 2000;
        JPEG needs its tables and APP segments, up to the SOF marker)

    Returns
    -------
    (rows, columns) or None
        None when the codestream is not recognised or the size is not in `data`; a JPEG
        height of 0 (defined later by a DNL marker) also gives None.
    """
    if data.startswith(_J2K_SOC_SIZ) or _J2K_SOC_SIZ in data[:1024]:
        return _j2k_size(data, data.index(_J2K_SOC_SIZ))
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _j2k_size(data: bytes, soc: int) -> tuple[int, int] | None:
    # SIZ: marker(2) Lsiz(2) Rsiz(2) Xsiz(4) Ysiz(4) XOsiz(4) YOsiz(4)
    start = soc + 2 + 2 + 2 + 2
    if len(data) < start + 16:
        return None
    xsiz, ysiz, xosiz, yosiz = struct.unpack_from(">LLLL", data, start)
    return max(ysiz - yosiz, 0), max(xsiz - xosiz, 0)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker in _JPEG_SOF:
            if pos + 9 > len(data):
                return None
            rows, columns = struct.unpack_from(">HH", data, pos + 5)
            return (rows, columns) if rows else None
        if marker == 0xDA or length < 2:  # start of scan before any SOF: malformed
            return None
        pos += 2 + length
    return None
