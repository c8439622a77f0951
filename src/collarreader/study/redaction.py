"""Redaction: rectangles of a source image blanked in the reading set's copy.

The study lead, having looked at the contact sheet (``held-back.html``), may blank the text of a
held-back image instead of admitting or dropping it: ``prepare --redact FILE`` takes a CSV of
``path, x, y, width, height`` (the manifest's path; pixels, x = column and y = row of the top
left corner, in the source image). The rectangles are set to the value the reader's display
shows as black; a compressed image is decoded, blanked and encoded again in its own transfer
syntax where pydicom can encode it (else written uncompressed, and the report says so). The
OCR search then runs again on the redacted image: text left over keeps it held back.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from collarreader.errors import ManifestError
from collarreader.imaging.radiograph import Radiograph
from collarreader.study.manifest import Manifest

__all__ = ["REDACT_COLUMNS", "Rect", "parse_redactions", "redact_dataset", "redacted_radiograph"]

REDACT_COLUMNS = ("path", "x", "y", "width", "height")


@dataclass(frozen=True)
class Rect:
    """A rectangle in the source image's pixels: top-left (x = column, y = row), size."""

    x_px: int
    y_px: int
    width_px: int
    height_px: int


def parse_redactions(csv_path: str | Path, manifest: Manifest) -> dict[int, tuple[Rect, ...]]:
    """Manifest row number → rectangles, from the ``--redact`` CSV.

    Raises
    ------
    ManifestError
        The file is missing or unreadable, lacks a column, names a path not in the manifest,
        or has a value that is not a whole number (≥ 0; width and height ≥ 1); every problem
        is listed by the CSV's row.
    """
    path = Path(csv_path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            records = list(csv.reader(stream))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ManifestError(f"--redact {path}: cannot be read as CSV ({error}).") from None
    if not records or [c.strip().casefold() for c in records[0]][:5] != list(REDACT_COLUMNS):
        raise ManifestError(
            f"--redact {path}: row 1 must be the header {', '.join(REDACT_COLUMNS)}."
        )
    problems: list[str] = []
    out: dict[int, list[Rect]] = {}
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        if len(record) < len(REDACT_COLUMNS):
            problems.append(f"row {number}: {len(record)} values, needs {len(REDACT_COLUMNS)}")
            continue
        row = manifest.row_for_path(record[0].strip())
        if row is None:
            problems.append(f"row {number}: {record[0]!r} is not a path of {manifest.path.name}")
            continue
        try:
            x, y, width, height = (int(cell.strip()) for cell in record[1:5])
        except ValueError:
            problems.append(f"row {number}: x, y, width and height must be whole pixel numbers")
            continue
        if min(x, y) < 0 or min(width, height) < 1:
            problems.append(f"row {number}: x and y must be ≥ 0, width and height ≥ 1")
            continue
        out.setdefault(row.row, []).append(Rect(x, y, width, height))
    if problems:
        raise ManifestError(
            f"--redact {path}: {len(problems)} problem(s):\n"
            + "\n".join(f"  {problem}" for problem in problems)
        )
    return {row: tuple(rects) for row, rects in out.items()}


def _blank(pixels: np.ndarray, rects: Sequence[Rect], value: float) -> np.ndarray:
    out = pixels.copy()
    for rect in rects:
        out[rect.y_px : rect.y_px + rect.height_px, rect.x_px : rect.x_px + rect.width_px] = value
    return out


def redacted_radiograph(radiograph: Radiograph, rects: Sequence[Rect]) -> Radiograph:
    """``radiograph`` with ``rects`` shown black (for the OCR check of the redacted image)."""
    pixels = np.asarray(radiograph.pixels)
    black = float(pixels.max() if radiograph.invert else pixels.min())
    return dataclasses.replace(radiograph, pixels=_blank(pixels, rects, black))


def redact_dataset(ds: Dataset, rects: Sequence[Rect]) -> str:
    """Blank ``rects`` in ``ds``'s pixel data in place; return a note for the report.

    The stored value written is the one the display shows as black: the lowest stored value
    for MONOCHROME2, the highest for MONOCHROME1, zero for colour. Compressed pixel data is
    encoded again in its transfer syntax where pydicom can; else it is written uncompressed.
    """
    syntax = ds.file_meta.TransferSyntaxUID
    pixels = ds.pixel_array
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if photometric == "MONOCHROME1":
        black = float(pixels.max())
    elif photometric == "MONOCHROME2":
        black = float(pixels.min())
    else:
        black = 0.0
    blanked = _blank(pixels, rects, black).astype(pixels.dtype)
    if not syntax.is_compressed:
        ds.PixelData = blanked.tobytes()
        return f"{len(rects)} rectangle(s) blanked"
    try:
        ds.compress(syntax, blanked, generate_instance_uid=False)
    except (RuntimeError, ValueError, NotImplementedError) as error:
        ds.PixelData = blanked.tobytes()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        if "PlanarConfiguration" in ds and photometric.startswith("YBR"):
            ds.PhotometricInterpretation = "RGB"
        return (
            f"{len(rects)} rectangle(s) blanked; written uncompressed (pydicom cannot encode "
            f"{syntax.name}: {error})"
        )
    return f"{len(rects)} rectangle(s) blanked, encoded again as {syntax.name}"


def rects_text(redactions: Mapping[int, Sequence[Rect]], row: int) -> str:
    """The rectangles of ``row`` for the report."""
    return ", ".join(
        f"x {r.x_px} y {r.y_px} {r.width_px}×{r.height_px} px" for r in redactions.get(row, ())
    )
