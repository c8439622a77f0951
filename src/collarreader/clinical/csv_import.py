"""Reading Oxford scores and adverse events from CSV files: parsing and validation only.

Writing to the study database is done elsewhere; these functions return validated records
or raise one :class:`~collarreader.errors.ClinicalDataError` that lists every problem of the
file (up to :data:`MAX_LISTED_PROBLEMS`), so a study lead corrects a file in one round.
Nothing is returned from a file with any bad row: an import is all or nothing.

File rules, both formats
------------------------
* UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8"). Anything else is refused
  with the file name and the offending byte.
* Comma-separated, values quoted with ``"`` where needed. A file separated by semicolons or
  tabs (a spreadsheet set to a European locale) is refused with a message saying so.
* The first row is the header; column names are matched ignoring case and surrounding
  spaces. Every required column must be present; an unknown column is an error (a typing
  error in a header would otherwise drop a column silently); a column may appear only once.
* Row numbers in messages are those a spreadsheet shows: the header is row 1. Empty rows
  are skipped (and still counted).
* Cells are stripped of surrounding spaces.

Oxford file (``collarreader clinical import-oxford DB CSV``)
------------------------------------------------------------
=============  ========  ==========================================================
column         required  content
=============  ========  ==========================================================
patient        yes       study patient ID, as in the manifest and the key file
instrument     yes       ``hip`` or ``knee`` (``OHS``/``OKS`` accepted)
timepoint      yes       ``6m`` or ``12m``
date           yes       date the questionnaire was completed, ``YYYY-MM-DD``
q1 … q12       yes       answer 0–4 (4 = best); a blank cell is a missing answer
source         no        free text, e.g. ``paper``, ``phone``
scale          no        ``0-48`` (the default when blank or absent) or ``legacy-12-60``
=============  ========  ==========================================================

Legacy 12–60 answers (1–5, 1 = best) are converted only when the file says so: per row with
``scale`` = ``legacy-12-60``, or for the whole file with ``legacy=True`` (the command's
``--legacy``). With ``legacy=True`` a row whose ``scale`` says ``0-48`` is an error, not a
silent choice between two contradicting statements. A patient may have one questionnaire per
instrument and time point: a second row with the same patient, instrument and time point is
an error naming both rows.

Adverse-event file (``collarreader clinical import-ae DB CSV``)
---------------------------------------------------------------
All columns required: ``patient, onset_date, description, category, severity, relation,
action, outcome`` (values as :mod:`collarreader.clinical.adverse_events` parses them,
``onset_date`` as ``YYYY-MM-DD``). Two rows describing the same event (same
:attr:`~collarreader.clinical.adverse_events.AdverseEvent.natural_key`) are an error naming
both rows.

Dates must not be in the future nor before 2000 (see
:func:`~collarreader.clinical.adverse_events.check_date`). When ``known_patients`` is given
(the study IDs of the key file), a patient ID not among them is an error.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from collarreader.clinical.adverse_events import (
    Action,
    AdverseEvent,
    Category,
    Outcome,
    Relation,
    Severity,
    check_date,
    check_patient_id,
    parse_choice,
    parse_iso_date,
)
from collarreader.clinical.oxford import (
    ITEM_NAMES,
    LEGACY_ITEM_MAX,
    LEGACY_ITEM_MIN,
    OxfordRecord,
    OxfordScale,
    check_item,
    parse_instrument,
    parse_timepoint,
)
from collarreader.errors import ClinicalDataError

__all__ = [
    "AE_COLUMNS",
    "MAX_LISTED_PROBLEMS",
    "OXFORD_OPTIONAL_COLUMNS",
    "OXFORD_REQUIRED_COLUMNS",
    "OxfordRecord",
    "parse_ae_csv",
    "parse_oxford_csv",
]

OXFORD_REQUIRED_COLUMNS: tuple[str, ...] = (
    "patient",
    "instrument",
    "timepoint",
    "date",
    *ITEM_NAMES,
)
OXFORD_OPTIONAL_COLUMNS: tuple[str, ...] = ("source", "scale")
AE_COLUMNS: tuple[str, ...] = (
    "patient",
    "onset_date",
    "description",
    "category",
    "severity",
    "relation",
    "action",
    "outcome",
)

_AE_CHOICES: dict[str, type[StrEnum]] = {
    "category": Category,
    "severity": Severity,
    "relation": Relation,
    "action": Action,
    "outcome": Outcome,
}

MAX_LISTED_PROBLEMS = 50
"""At most this many problems are listed in one error; the rest are counted."""

_SCALE_WORDS: dict[str, OxfordScale] = {
    "0-48": OxfordScale.CURRENT,
    "current": OxfordScale.CURRENT,
    "legacy-12-60": OxfordScale.LEGACY,
    "12-60": OxfordScale.LEGACY,
    "legacy": OxfordScale.LEGACY,
}


@dataclass(frozen=True)
class _Problem:
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


class _Problems:
    """Collects problems of one file and raises them together."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self.items: list[_Problem] = []

    def add(self, row: int | None, column: str | None, reason: str) -> None:
        self.items.append(_Problem(row, column, reason.rstrip(".")))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        count = len(self.items)
        lines = [f"  {problem}." for problem in self.items[:MAX_LISTED_PROBLEMS]]
        if count > MAX_LISTED_PROBLEMS:
            lines.append(f"  … and {count - MAX_LISTED_PROBLEMS} more problems not listed.")
        noun = "problem" if count == 1 else "problems"
        raise ClinicalDataError(
            f"{self.path}: {count} {noun} in this {self.kind} file; nothing was imported. "
            "Correct the file and import it again.\n" + "\n".join(lines)
        )


def _fail(path: Path, reason: str) -> ClinicalDataError:
    return ClinicalDataError(f"{path}: {reason}")


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _fail(path, "no such file; check the path.") from None
    except IsADirectoryError:
        raise _fail(path, "is a folder, not a CSV file.") from None
    except OSError as error:
        raise _fail(path, f"cannot be read ({error.strerror}).") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _fail(
            path,
            "is UTF-16 text (Excel's 'Unicode Text'), not UTF-8. Save it again as "
            "'CSV UTF-8 (Comma delimited)'.",
        )
    try:
        # utf-8-sig drops Excel's byte-order mark, which would otherwise glue itself to
        # the first column name.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        byte = data[error.start : error.start + 1].hex().upper()
        raise _fail(
            path,
            f"is not UTF-8 text (byte 0x{byte} on line {line} cannot be decoded as UTF-8; "
            "the file is probably Windows-1252/Latin-1). Save it again as "
            "'CSV UTF-8 (Comma delimited)'.",
        ) from None


def _read_table(
    path: Path, *, required: tuple[str, ...], optional: tuple[str, ...], kind: str
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Decode, split and check the header; return the header and ``(row number, cells)``."""
    text = _decode(path)
    if not text.strip():
        raise _fail(
            path,
            f"is empty. A {kind} file starts with the header row: {', '.join(required)}.",
        )
    first_line = text.lstrip("\r\n").splitlines()[0]
    if "," not in first_line:
        for separator, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")):
            if separator in first_line:
                raise _fail(
                    path,
                    f"the columns are separated by {name}, not commas. Save the file as "
                    "'CSV UTF-8 (Comma delimited)' (or change the list separator to a comma).",
                )
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as error:
        raise _fail(path, f"is not valid CSV ({error}); check the quoting.") from None

    header_index = next(
        (i for i, row in enumerate(rows) if any(cell.strip() for cell in row)), None
    )
    if header_index is None:
        raise _fail(
            path,
            f"has no header row. A {kind} file starts with the header row: {', '.join(required)}.",
        )
    header = [cell.strip().lower() for cell in rows[header_index]]
    header_row = header_index + 1
    allowed = (*required, *optional)
    problems = _Problems(path, kind)
    seen: set[str] = set()
    for name in header:
        if not name:
            problems.add(header_row, None, "a column has no name; delete the empty column")
        elif name in seen:
            problems.add(header_row, name, "this column appears more than once")
        seen.add(name)
    unknown = [name for name in header if name and name not in allowed]
    for name in unknown:
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.add(
            header_row,
            name,
            f"unknown column{hint}; the allowed columns are {', '.join(allowed)}",
        )
    missing = [name for name in required if name not in seen]
    if missing:
        problems.add(header_row, None, f"missing required column(s): {', '.join(missing)}")
    problems.raise_if_any()

    body: list[tuple[int, dict[str, str]]] = []
    for index in range(header_index + 1, len(rows)):
        cells = rows[index]
        row_number = index + 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            problems.add(
                row_number,
                None,
                f"has {len(cells)} cells but the header has {len(header)} columns; "
                "check for a stray comma or a missing cell",
            )
            continue
        body.append(
            (row_number, {name: cell.strip() for name, cell in zip(header, cells, strict=True)})
        )
    problems.raise_if_any()
    if not body:
        raise _fail(path, "has a header but no data rows; there is nothing to import.")
    return header, body


def _check_patient(
    patient: str, known_patients: Collection[str] | None, problems: _Problems, row: int
) -> None:
    """Note a bad patient ID, or (with the key's patients) one that is not in the study."""
    try:
        check_patient_id(patient)
    except ClinicalDataError as error:
        problems.add(row, "patient", str(error))
        return
    if known_patients is not None and patient not in known_patients:
        problems.add(
            row,
            "patient",
            f"{patient!r} is not a patient of this study (not in the key file); check the study ID",
        )


def _row_date(
    cells: dict[str, str], column: str, today: dt.date | None, problems: _Problems, row: int
) -> dt.date | None:
    """The plausible date of ``column``, or None with the problem noted."""
    try:
        return check_date(parse_iso_date(cells[column]), today=today)
    except ClinicalDataError as error:
        problems.add(row, column, str(error))
        return None


def _parse_item_text(text: str, scale: OxfordScale) -> int | None:
    """Convert one answer cell; blank is missing."""
    if not text:
        return None
    try:
        number: int | float = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise ClinicalDataError(
                f"{text!r} is not a number; write the answer as a digit, and leave the cell "
                "blank for a missing answer"
            ) from None
    return check_item(number, scale=scale)


def parse_oxford_csv(
    path: str | Path,
    *,
    legacy: bool = False,
    known_patients: Collection[str] | None = None,
    today: dt.date | None = None,
) -> list[OxfordRecord]:
    """Read and validate an Oxford Hip/Knee Score CSV file (format in the module docstring).

    Parameters
    ----------
    path : the CSV file
    legacy : the whole file uses the legacy 12–60 scoring (answers 1–5, 1 = best); the
        answers are kept as entered and converted (5 − old) when scored
    known_patients : the study's patient IDs (from the key file); when given, any other ID
        is an error
    today : reference date for "not in the future" (default: today on this computer)

    Returns
    -------
    list of OxfordRecord
        In file order, each with its spreadsheet ``row``; ``record.natural_key`` and
        ``record.content_sha256`` let an importer skip what it already holds.

    Raises
    ------
    ClinicalDataError
        For a file that cannot be read as comma-separated UTF-8, a bad header, or any bad
        row: one error lists every problem as "row N, column C: reason".
    """
    file_path = Path(path)
    problems = _Problems(file_path, "Oxford score")
    _header, body = _read_table(
        file_path,
        required=OXFORD_REQUIRED_COLUMNS,
        optional=OXFORD_OPTIONAL_COLUMNS,
        kind="Oxford score",
    )
    records: list[OxfordRecord] = []
    first_row_of: dict[tuple[str, str, str], int] = {}
    for row, cells in body:
        bad_before = len(problems.items)
        patient = cells["patient"]
        _check_patient(patient, known_patients, problems, row)
        instrument = timepoint = None
        try:
            instrument = parse_instrument(cells["instrument"])
        except ClinicalDataError as error:
            problems.add(row, "instrument", str(error))
        try:
            timepoint = parse_timepoint(cells["timepoint"])
        except ClinicalDataError as error:
            problems.add(row, "timepoint", str(error))
        date = _row_date(cells, "date", today, problems, row)

        scale = OxfordScale.LEGACY if legacy else OxfordScale.CURRENT
        scale_text = cells.get("scale", "")
        if scale_text:
            row_scale = _SCALE_WORDS.get(scale_text.lower().replace("–", "-").replace(" ", ""))
            if row_scale is None:
                problems.add(
                    row, "scale", f"{scale_text!r} is not a scale; use '0-48' or 'legacy-12-60'"
                )
            elif legacy and row_scale is OxfordScale.CURRENT:
                problems.add(
                    row,
                    "scale",
                    "this row says 0-48 but the whole file was declared legacy 12–60; "
                    "correct the row or import without the legacy option",
                )
            else:
                scale = row_scale

        items: list[int | None] = []
        item_problems: list[tuple[str, str]] = []
        for name in ITEM_NAMES:
            try:
                items.append(_parse_item_text(cells[name], scale))
            except ClinicalDataError as error:
                items.append(None)
                item_problems.append((name, str(error)))
        if item_problems and scale is OxfordScale.CURRENT:
            answered = [v for v in items if v is not None]
            looks_legacy = any(
                cells[name] == str(LEGACY_ITEM_MAX) for name, _reason in item_problems
            ) and all(v >= LEGACY_ITEM_MIN for v in answered)
            if looks_legacy:
                item_problems[-1] = (
                    item_problems[-1][0],
                    item_problems[-1][1].rstrip(".")
                    + "; if this row uses the legacy 12–60 scoring (1 = best, 5 = worst), "
                    "set its scale column to legacy-12-60 or import with the legacy option",
                )
        for name, reason in item_problems:
            problems.add(row, name, reason)

        if instrument is not None and timepoint is not None and patient:
            key = (patient, instrument.value, timepoint.value)
            if key in first_row_of:
                problems.add(
                    row,
                    None,
                    f"patient {patient}, {instrument.value}, {timepoint.value} is also on "
                    f"row {first_row_of[key]}; keep one of the two rows",
                )
            else:
                first_row_of[key] = row
        if (
            len(problems.items) > bad_before
            or instrument is None
            or timepoint is None
            or date is None
        ):
            continue
        records.append(
            OxfordRecord(
                patient=patient,
                instrument=instrument,
                timepoint=timepoint,
                date=date,
                items_as_entered=tuple(items),
                source=cells.get("source", ""),
                scale=scale,
                row=row,
            )
        )
    problems.raise_if_any()
    return records


def parse_ae_csv(
    path: str | Path,
    *,
    known_patients: Collection[str] | None = None,
    today: dt.date | None = None,
) -> list[AdverseEvent]:
    """Read and validate an adverse-event CSV file (format in the module docstring).

    Parameters
    ----------
    path : the CSV file
    known_patients : the study's patient IDs (from the key file); when given, any other ID
        is an error
    today : reference date for "not in the future" (default: today on this computer)

    Returns
    -------
    list of AdverseEvent
        In file order; ``event.natural_key`` and ``event.content_sha256`` let an importer
        skip events it already holds.

    Raises
    ------
    ClinicalDataError
        For a file that cannot be read as comma-separated UTF-8, a bad header, or any bad
        row: one error lists every problem as "row N, column C: reason".
    """
    file_path = Path(path)
    problems = _Problems(file_path, "adverse-event")
    _header, body = _read_table(file_path, required=AE_COLUMNS, optional=(), kind="adverse-event")
    events: list[AdverseEvent] = []
    first_row_of: dict[tuple[str, str, str, str], int] = {}
    for row, cells in body:
        bad_before = len(problems.items)
        patient = cells["patient"]
        _check_patient(patient, known_patients, problems, row)
        onset = _row_date(cells, "onset_date", today, problems, row)
        choices: dict[str, StrEnum] = {}
        for name, enum in _AE_CHOICES.items():
            try:
                choices[name] = parse_choice(enum, cells[name])
            except ClinicalDataError as error:
                problems.add(row, name, str(error))
        if len(problems.items) > bad_before:
            # Still check the description so one round of corrections is enough.
            if not cells["description"]:
                problems.add(row, "description", "the description is empty; say what happened")
            continue
        event = AdverseEvent(
            patient=patient,
            onset_date=onset,  # type: ignore[arg-type]  # parsed: no problem recorded
            description=cells["description"],
            **choices,  # type: ignore[arg-type]  # parsed members of the right enums
        )
        for name, reason in event.problems(today=today):
            problems.add(row, name, reason)
        if len(problems.items) > bad_before:
            continue
        key = event.natural_key
        if key in first_row_of:
            problems.add(
                row,
                None,
                f"the same event (patient {patient}, {key[1]}, {key[2]}, same description) "
                f"is also on row {first_row_of[key]}; keep one of the two rows",
            )
            continue
        first_row_of[key] = row
        events.append(event)
    problems.raise_if_any()
    return events
