"""One image of a reading set: the source file de-identified into the set, hashed on the way."""

from __future__ import annotations

import hashlib
import io
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from collarreader.errors import (
    DeidentificationError,
    DicomReadError,
    ReadingSetError,
)
from collarreader.study.deid import (
    DEIDENTIFICATION_METHOD,
    Deidentifier,
)
from collarreader.study.manifest import (
    pixel_data_span,
)
from collarreader.study.plan import PlannedImage
from collarreader.study.redaction import Rect, redact_dataset

_COPY_CHUNK_BYTES = 1 << 20


class Written(NamedTuple):
    """One image written into the set.

    Attributes
    ----------
    sop_instance_uid : its new SOP Instance UID
    sha256 : hex SHA-256 of the written file
    uid_map : every UID replaced, original → new
    n_dropped : attributes of the source not carried over
    redaction_note : what redaction did (empty: not redacted)
    """

    sop_instance_uid: str
    sha256: str
    uid_map: dict[str, str]
    n_dropped: int
    redaction_note: str = ""


def write_image(
    image: PlannedImage,
    target: Path,
    deidentifier: Deidentifier,
    *,
    remove_dates: bool,
    redactions: Sequence[Rect] = (),
) -> Written:
    """De-identify one source file into ``target``.

    pydicom parses the header only (``prepare`` has decoded every image once with the reader's
    own crash-safe loader, so the reader may later hand these verified bytes to the faster
    gdcm, ``trusted=True``; the bytes are copied, never re-encoded); the
    de-identified header (:meth:`Deidentifier.clean`, the allow-list) is encoded by pydicom in the
    source's transfer syntax and followed by the source's (7FE0,0010) Pixel Data element
    copied byte for byte — tag, length and value —
    so the image cannot change, and the work is that of a copy: 1 MiB chunks through one
    reused buffer, hashed on the way out (hashlib and file I/O release the GIL, so worker
    threads run in parallel). A file with elements after the pixel data (trailing padding,
    private groups) is read whole by pydicom instead, so those are de-identified too. The file
    is created exclusively: codes are unique, so an existing file means something is wrong.
    With ``redactions`` the pixels are decoded, blanked there and written by pydicom
    (:func:`~collarreader.study.redaction.redact_dataset`) instead of copied.
    """
    source = image.row.file
    hint = "Export the image again from the site's archive."
    digest = hashlib.sha256()
    try:
        with source.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            header = pydicom.dcmread(stream, stop_before_pixels=True)
            span = pixel_data_span(stream, header, size)
            if span.problem:
                raise DicomReadError(source, span.problem + ".", hint)
            pixels_last = span.end == size and not redactions
            if not pixels_last:
                stream.seek(0)
            dataset = header if pixels_last else pydicom.dcmread(stream)
            cleaned = deidentifier.clean(
                dataset,
                pseudonym=image.case_code,
                patient_key="\x1f".join(image.row.patient_key),
            )
            result = cleaned.dataset
            if remove_dates:
                strip_dates(result)
            pixels_kept = (
                "PixelData" not in result
                if pixels_last
                else result.get("PixelData") is dataset.get("PixelData")  # the same object
            )
            syntax = header.file_meta.TransferSyntaxUID
            note = redact_dataset(result, redactions) if redactions else ""
            if not redactions and (result.file_meta.TransferSyntaxUID != syntax or not pixels_kept):
                raise DeidentificationError(
                    f"{source}: de-identification changed the pixel data or the transfer "
                    "syntax. This is a bug in collarreader: the image was not passed to readers."
                )
            buffer = io.BytesIO()
            pydicom.dcmwrite(buffer, result, enforce_file_format=True)
            try:
                with target.open("xb", buffering=0) as output:
                    _write_hashed(output, buffer.getbuffer(), digest)
                    if pixels_last:
                        stream.seek(span.start)
                        _copy_hashed(stream, output, span.end - span.start, digest, source)
            except OSError as error:
                raise ReadingSetError(
                    f"{target}: cannot be written ({error.strerror or error}). Check the free "
                    "space and permissions of the output folder."
                ) from error
    except (InvalidDicomError, OSError, ValueError, EOFError, struct.error) as error:
        raise DicomReadError(
            source, f"cannot be read ({type(error).__name__}: {error}).", hint
        ) from error
    return Written(
        str(result.SOPInstanceUID), digest.hexdigest(), cleaned.uid_map, cleaned.n_dropped, note
    )


def _write_hashed(output: BinaryIO, data: memoryview, digest: Any) -> None:
    for offset in range(0, len(data), _COPY_CHUNK_BYTES):
        chunk = data[offset : offset + _COPY_CHUNK_BYTES]
        digest.update(chunk)
        while chunk:
            written = output.write(chunk) or 0
            chunk = chunk[written:]


def _copy_hashed(
    stream: BinaryIO, output: BinaryIO, n_bytes: int, digest: Any, source: Path
) -> None:
    buffer = bytearray(_COPY_CHUNK_BYTES)
    view = memoryview(buffer)
    remaining = n_bytes
    while remaining:
        n_read = stream.readinto(view[: min(remaining, _COPY_CHUNK_BYTES)])  # type: ignore[attr-defined]
        if not n_read:
            raise DicomReadError(source, "became shorter while it was being copied.")
        _write_hashed(output, view[:n_read], digest)
        remaining -= n_read


def strip_dates(dataset: Dataset) -> None:
    """Empty every date (DA, DT) at any depth.

    With blinded time points, the interval between the two studies' shifted dates would tell
    which image is the later one.
    """
    for element in list(dataset.iterall()):
        if element.VR in ("DA", "DT"):
            element.value = None
    dataset.LongitudinalTemporalInformationModified = "REMOVED"
    dataset.DeidentificationMethod = [
        *DEIDENTIFICATION_METHOD[:2],
        "Dates removed (time points blinded)",
    ]
    dataset.DeidentificationMethodCodeSequence = [
        item
        for item in dataset.get("DeidentificationMethodCodeSequence", [])
        if item.get("CodeValue") != "113107"  # Modified Dates Option: no longer true
    ]
