"""The source manifest: one row per site-exported DICOM image, validated before anything is written.

``manifest.csv`` has the columns ``path, site, patient, timepoint, view, joint, side``
(further columns are ignored). ``path`` is relative to the CSV file. Rows are numbered as a
spreadsheet shows them: the header is row 1, the first image row 2.

:func:`load_manifest` checks every row, reads every file's header (never its pixels), collects
*all* problems and raises one :class:`~collarreader.errors.ManifestError` listing them, so the
study lead fixes the spreadsheet once rather than once per problem.
"""

from __future__ import annotations

import csv
import struct
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from collarreader.errors import ManifestError
from collarreader.imaging.scan import file_problem
from collarreader.model import Joint, Side, TimePoint, View

COLUMNS: tuple[str, ...] = ("path", "site", "patient", "timepoint", "view", "joint", "side")
"""Required manifest columns, in their usual order."""


@dataclass(frozen=True)
class ManifestRow:
    """One validated manifest row and what its file's header says.

    Attributes
    ----------
    row : spreadsheet row number (header = 1)
    path : the path exactly as written in the manifest (relative to the CSV)
    file : the file's absolute, resolved path
    site, patient : identity of the patient (never reaches a reading set)
    timepoint, view, joint, side : the row's labels
    sop_instance_uid, study_instance_uid, series_instance_uid : original UIDs from the header
        ("" when the header lacks Study or Series Instance UID)
    header : the file's header, read with ``stop_before_pixels`` (no pixel data)
    """

    row: int
    path: str
    file: Path
    site: str
    patient: str
    timepoint: TimePoint
    view: View
    joint: Joint
    side: Side
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    header: Dataset = field(compare=False, repr=False)

    @property
    def patient_key(self) -> tuple[str, str]:
        """``(site, patient)``: patient IDs are only unique within a site."""
        return (self.site, self.patient)


@dataclass(frozen=True)
class Manifest:
    """A validated manifest.

    Attributes
    ----------
    path : absolute path of the CSV file
    rows : the image rows in file order
    warnings : things the study lead should know that do not stop preparation
        (incomplete cases)
    """

    path: Path
    rows: tuple[ManifestRow, ...]
    warnings: tuple[str, ...]

    @property
    def folder(self) -> Path:
        """The folder manifest paths are relative to."""
        return self.path.parent

    def patients(self) -> dict[tuple[str, str], tuple[ManifestRow, ...]]:
        """Rows grouped by ``(site, patient)``, in first-appearance order."""
        groups: dict[tuple[str, str], list[ManifestRow]] = defaultdict(list)
        for row in self.rows:
            groups[row.patient_key].append(row)
        return {key: tuple(rows) for key, rows in groups.items()}

    def row_for_path(self, path: str) -> ManifestRow | None:
        """The row whose file is ``path`` (as written in the manifest, or resolving to it)."""
        wanted = _resolve(self.folder, path.strip())
        for row in self.rows:
            if row.path == path.strip() or row.file == wanted:
                return row
        return None


_CHOICES: dict[str, type[StrEnum]] = {
    "timepoint": TimePoint,
    "view": View,
    "joint": Joint,
    "side": Side,
}


# Below csv's own field limit (131,072), so an over-long cell is named by its row here
# instead of failing inside the csv module; a real row is a few hundred characters.
_MAX_LINE_CHARS = 100_000


def _parse_choice(column: str, raw: str) -> StrEnum | None:
    """Match ``raw`` to the column's choices, ignoring case (spreadsheets capitalise freely)."""
    enum = _CHOICES[column]
    for member in enum:
        if raw.casefold() == member.value.casefold():
            return member
    return None


def _resolve(folder: Path, path: str) -> Path:
    try:
        return (folder / path).resolve()
    except (RuntimeError, OSError):  # a symlink loop: file_problem() names it for the row
        return (folder / path).absolute()


def _detect_delimiter(header_line: str) -> str:
    # European spreadsheet programs save "CSV" with semicolons; accept both (and tabs).
    counts = {delimiter: header_line.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _read_header(file: Path) -> tuple[Dataset | None, str]:
    """Read a DICOM header without pixel data; return ``(dataset, "")`` or ``(None, reason)``."""
    try:
        size = file.stat().st_size
        if size == 0:
            return None, "the file is empty"
        with file.open("rb") as stream:
            dataset = pydicom.dcmread(stream, stop_before_pixels=True)
            problem = pixel_data_span(stream, dataset, size).problem
    except InvalidDicomError:
        return None, "not a DICOM file (no 'DICM' prefix); list the exported .dcm files"
    except OSError as error:
        return None, f"cannot be read ({error.strerror or error})"
    # pydicom raises assorted errors (EOFError, ValueError, struct.error, …) on damaged headers;
    # any of them means the same thing here: this file cannot go into a reading set.
    except Exception as error:  # noqa: BLE001
        return None, f"damaged DICOM header ({type(error).__name__}: {error})"
    for keyword, tag in (
        ("SOPInstanceUID", "(0008,0018) SOP Instance UID"),
        ("StudyInstanceUID", "(0020,000D) Study Instance UID"),
        ("SeriesInstanceUID", "(0020,000E) Series Instance UID"),
    ):
        if not str(dataset.get(keyword, "") or "").strip():
            return None, f"the header has no {tag}; export the image again from the PACS"
    if problem:
        return None, problem
    return dataset, ""


@dataclass(frozen=True)
class PixelDataSpan:
    """Where the (7FE0,0010) *Pixel Data* element lies in a file, found by walking its framing.

    Attributes
    ----------
    start : byte offset of the element's tag
    end : byte offset just after the element (after the sequence delimiter when encapsulated);
        ``-1`` when unknown (deflated transfer syntax)
    problem : "" when the element is whole, else the reason (missing, cut short, damaged)
    """

    start: int
    end: int
    problem: str = ""


def pixel_data_span(stream: BinaryIO, dataset: Dataset, size: int) -> PixelDataSpan:
    """Walk the (7FE0,0010) Pixel Data element that starts at ``stream``'s position.

    Call it right after ``pydicom.dcmread(stream, stop_before_pixels=True)``, which leaves the
    stream at the pixel data element's tag. pydicom, reading a whole file, silently accepts a
    value cut short; a file truncated in transfer would reach readers as a damaged image. This
    reads only the element's header (and, when compressed, the fragment item headers), seeking
    over the values.

    Parameters
    ----------
    stream : the open file (binary, seekable), positioned at the element
    dataset : the header pydicom read from it (for the transfer syntax and image size)
    size : the file's size in bytes
    """
    start = stream.tell()
    meta = getattr(dataset, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is not None and syntax.is_deflated:
        return PixelDataSpan(start, -1)  # the dataset is compressed as a whole: no offsets
    little = True if syntax is None else bool(syntax.is_little_endian)
    implicit = syntax is not None and syntax.is_implicit_VR
    order = "<" if little else ">"
    head = stream.read(8)
    missing = "no (7FE0,0010) Pixel Data: the file holds no image"
    if len(head) < 8:
        return PixelDataSpan(start, -1, missing)
    group, element = struct.unpack(order + "HH", head[:4])
    if (group, element) != (0x7FE0, 0x0010):
        return PixelDataSpan(start, -1, missing)
    if implicit:
        (length,) = struct.unpack(order + "L", head[4:8])
    else:
        extra = stream.read(4)
        if len(extra) < 4:
            return PixelDataSpan(start, -1, "cut short in the (7FE0,0010) Pixel Data header")
        (length,) = struct.unpack(order + "L", extra)
    if length == 0xFFFFFFFF:
        return _fragments_span(stream, start, order, size)
    available = size - stream.tell()
    if length > available:
        return PixelDataSpan(
            start,
            -1,
            f"cut short: (7FE0,0010) Pixel Data declares {length} bytes but the file holds "
            f"{available}; copy the file again",
        )
    expected = 0 if syntax is not None and syntax.is_compressed else _native_length(dataset)
    if expected and length < expected:
        return PixelDataSpan(
            start,
            -1,
            f"(7FE0,0010) Pixel Data holds {length} bytes but {dataset.get('Rows')} × "
            f"{dataset.get('Columns')} pixels need {expected}; export the image again",
        )
    return PixelDataSpan(start, stream.tell() + length)


def _fragments_span(stream: BinaryIO, start: int, order: str, size: int) -> PixelDataSpan:
    cut = "cut short inside the compressed (7FE0,0010) Pixel Data; copy the file again"
    while True:
        item = stream.read(8)
        if len(item) < 8:
            return PixelDataSpan(start, -1, cut)
        group, element, length = struct.unpack(order + "HHL", item)
        if (group, element) == (0xFFFE, 0xE0DD):
            return PixelDataSpan(start, stream.tell())
        if (group, element) != (0xFFFE, 0xE000) or length == 0xFFFFFFFF:
            return PixelDataSpan(
                start, -1, "damaged compressed (7FE0,0010) Pixel Data (bad fragment item)"
            )
        if stream.tell() + length > size:
            return PixelDataSpan(start, -1, cut)
        stream.seek(length, 1)


def _native_length(dataset: Dataset) -> int:
    """Bytes an uncompressed image needs (0 when the header does not say enough)."""
    try:
        rows, columns = int(dataset.Rows), int(dataset.Columns)
        samples = int(dataset.get("SamplesPerPixel", 1) or 1)
        bits = int(dataset.BitsAllocated)
        frames = int(dataset.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        return 0
    return (rows * columns * samples * frames * bits + 7) // 8


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a source manifest; read every listed file's DICOM header.

    Parameters
    ----------
    path : the manifest CSV (UTF-8, comma- or semicolon-separated, header row first)

    Returns
    -------
    Manifest
        The validated rows; incomplete cases (a missing view or time point) become warnings.

    Raises
    ------
    ManifestError
        Listing every problem found, each naming its row (header = row 1) and column:
        missing or unreadable files, non-DICOM files, duplicate rows, unknown time point / view /
        joint / side values, the same image listed twice (same path, same file reached by two
        paths, or the same (0008,0018) SOP Instance UID in two files), and a patient whose rows
        disagree on joint or side.
    """
    csv_path = Path(path).absolute()
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(f"{csv_path}: manifest not found. Check the --manifest path.") from None
    except UnicodeDecodeError:
        raise ManifestError(
            f"{csv_path}: not UTF-8 text. Save the spreadsheet as 'CSV UTF-8' and try again."
        ) from None
    except OSError as error:
        raise ManifestError(f"{csv_path}: cannot be read ({error.strerror or error}).") from None

    folder = csv_path.parent
    problems: list[str] = []
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ManifestError(
            f"{csv_path}: empty manifest; row 1 must be the header {', '.join(COLUMNS)}."
        )
    too_long = next((n for n, line in enumerate(lines, 1) if len(line) > _MAX_LINE_CHARS), None)
    if too_long is not None:
        raise ManifestError(
            f"{csv_path}: row {too_long} is {len(lines[too_long - 1]):,} characters long; a "
            f"manifest row holds a path and six short values (at most {_MAX_LINE_CHARS:,} "
            "characters). Check that the file is the manifest, saved as CSV."
        )
    reader = csv.reader(lines, delimiter=_detect_delimiter(lines[0]))
    header = [name.strip().casefold() for name in next(reader)]
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise ManifestError(
            f"{csv_path}: row 1 (header) lacks the column(s) {', '.join(missing)}; "
            f"the header must name {', '.join(COLUMNS)}."
        )
    repeated = sorted({name for name in header if header.count(name) > 1 and name in COLUMNS})
    if repeated:
        raise ManifestError(
            f"{csv_path}: row 1 (header) names the column(s) {', '.join(repeated)} twice."
        )
    index = {name: header.index(name) for name in COLUMNS}

    rows: list[ManifestRow] = []
    seen_line: dict[tuple[str, ...], int] = {}
    seen_slot: dict[tuple[str, str, TimePoint, View], int] = {}
    seen_path: dict[str, int] = {}
    seen_inode: dict[tuple[int, int], int] = {}
    seen_sop: dict[str, int] = {}
    first_joint: dict[tuple[str, str], tuple[Joint, Side, int]] = {}

    try:
        records = list(reader)
    except csv.Error as error:
        raise ManifestError(
            f"{csv_path}: row {reader.line_num} cannot be read as CSV ({error}). Save the "
            "spreadsheet as 'CSV UTF-8' and try again."
        ) from None
    for row_number, record in enumerate(records, start=2):
        if not any(value.strip() for value in record):
            continue  # blank lines, often left at the end of a spreadsheet export
        values = {name: (record[i].strip() if i < len(record) else "") for name, i in index.items()}
        row_problems = [
            f"row {row_number}, column '{name}': empty" for name in COLUMNS if not values[name]
        ]
        parsed: dict[str, StrEnum] = {}
        for name, enum in _CHOICES.items():
            if not values[name]:
                continue
            choice = _parse_choice(name, values[name])
            if choice is None:
                allowed = " or ".join(member.value for member in enum)
                row_problems.append(
                    f"row {row_number}, column '{name}': unknown value '{values[name]}' "
                    f"(expected {allowed})"
                )
            else:
                parsed[name] = choice

        line_key = tuple(values[name] for name in COLUMNS)
        if line_key in seen_line:
            problems.append(
                f"row {row_number}, column 'path': duplicate of row {seen_line[line_key]}; "
                "delete one of them"
            )
            continue
        seen_line[line_key] = row_number

        header_dataset: Dataset | None = None
        file = Path()
        if values["path"]:
            file = _resolve(folder, values["path"])
            if values["path"] in seen_path:
                row_problems.append(
                    f"row {row_number}, column 'path': '{values['path']}' is already listed "
                    f"in row {seen_path[values['path']]}"
                )
            elif (problem := file_problem(file)) is not None:
                what = "file not found" if problem == "does not exist" else problem
                row_problems.append(
                    f"row {row_number}, column 'path': {what}: {values['path']} "
                    f"(paths are relative to {folder})"
                )
            else:
                seen_path[values["path"]] = row_number
                stat = file.stat()
                inode = (stat.st_dev, stat.st_ino)
                if inode in seen_inode:
                    row_problems.append(
                        f"row {row_number}, column 'path': '{values['path']}' is the same file "
                        f"as row {seen_inode[inode]} (reached by another path or link)"
                    )
                else:
                    seen_inode[inode] = row_number
                    header_dataset, reason = _read_header(file)
                    if header_dataset is None:
                        row_problems.append(
                            f"row {row_number}, column 'path': {values['path']}: {reason}"
                        )
                    else:
                        sop = str(header_dataset.SOPInstanceUID).strip()
                        if sop in seen_sop:
                            row_problems.append(
                                f"row {row_number}, column 'path': {values['path']} is the same "
                                f"image as row {seen_sop[sop]} (same (0008,0018) SOP Instance "
                                "UID); list each image once"
                            )
                        else:
                            seen_sop[sop] = row_number

        if len(parsed) == len(_CHOICES) and values["site"] and values["patient"]:
            patient = (values["site"], values["patient"])
            joint, side = Joint(parsed["joint"]), Side(parsed["side"])
            if patient in first_joint:
                joint0, side0, row0 = first_joint[patient]
                for name, value, value0 in (("joint", joint, joint0), ("side", side, side0)):
                    if value != value0:
                        row_problems.append(
                            f"row {row_number}, column '{name}': patient '{values['patient']}' "
                            f"(site '{values['site']}') has {name} {value} here but {value0} "
                            f"in row {row0}; one case is one joint"
                        )
            else:
                first_joint[patient] = (joint, side, row_number)
            slot = (*patient, TimePoint(parsed["timepoint"]), View(parsed["view"]))
            if slot in seen_slot:
                row_problems.append(
                    f"row {row_number}, column 'view': patient '{values['patient']}' "
                    f"(site '{values['site']}') already has a {slot[2]} {slot[3]} image in row "
                    f"{seen_slot[slot]}; keep one image per time point and view"
                )
            else:
                seen_slot[slot] = row_number

        if row_problems or header_dataset is None:
            problems.extend(row_problems)
            continue
        rows.append(
            ManifestRow(
                row=row_number,
                path=values["path"],
                file=file,
                site=values["site"],
                patient=values["patient"],
                timepoint=TimePoint(parsed["timepoint"]),
                view=View(parsed["view"]),
                joint=Joint(parsed["joint"]),
                side=Side(parsed["side"]),
                sop_instance_uid=str(header_dataset.SOPInstanceUID).strip(),
                study_instance_uid=str(header_dataset.get("StudyInstanceUID", "") or "").strip(),
                series_instance_uid=str(header_dataset.get("SeriesInstanceUID", "") or "").strip(),
                header=header_dataset,
            )
        )

    if problems:
        listing = "\n".join(f"  {problem}" for problem in problems)
        raise ManifestError(
            f"{csv_path}: {len(problems)} problem(s); nothing was prepared. Fix the manifest "
            f"and run prepare again:\n{listing}"
        )
    if not rows:
        raise ManifestError(f"{csv_path}: the manifest lists no images (only the header row).")

    manifest = Manifest(path=csv_path, rows=tuple(rows), warnings=())
    return Manifest(path=csv_path, rows=tuple(rows), warnings=_incomplete_cases(manifest))


def _incomplete_cases(manifest: Manifest) -> tuple[str, ...]:
    warnings: list[str] = []
    for (site, patient), rows in manifest.patients().items():
        present = {(row.timepoint, row.view) for row in rows}
        absent = [
            f"{timepoint} {view}"
            for timepoint in TimePoint
            for view in View
            if (timepoint, view) not in present
        ]
        if absent:
            warnings.append(
                f"incomplete case: patient '{patient}' (site '{site}', rows "
                f"{', '.join(str(row.row) for row in rows)}) has no {', '.join(absent)} image; "
                "it is read with the images it has"
            )
    return tuple(warnings)
