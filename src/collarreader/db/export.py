"""``collarreader export``: the tidy long table from a reader or study database.

One row per (reader, case, image/zone, field) value, columns in the contract's order
(:data:`TIDY_COLUMNS`; ``collarreader.analysis.tidy.read_tidy`` reads them back):

``reader``, ``case_code``, ``kind`` (primary/repeat), ``repeat_of`` (the primary's code for a
repeat read), ``joint``, ``view`` ("" for case fields), ``timepoint`` (the label the reader
saw), ``zone`` ("" unless a zone field), ``field``, ``value`` (canonical text: choice key,
``yes``/``no`` for bool fields, the number with the field's decimals), ``unit``,
``calibration_source`` (for mm values: ``manual: ball 25 mm`` for a reader's calibration,
else the header spacing's source such as ``imager_magnified``, or ``uncalibrated``; for a mm
value typed without a measurement, ``typed, not measured``; "" for other values),
``source`` (measured/entered/derived), ``submitted`` (the reading is submitted and locked).

Rows are sorted by reader, case code, time point, view, zone and field, so the same database
always gives the same file. :func:`tidy_frame` returns the table as a pandas DataFrame, so an
unblinding join with the key (site, patient, true time point) and other formats can be added
on top of it; :func:`write_tidy` writes a frame.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
from sqlalchemy import Table, select

from collarreader.db.engine import Database, open_database
from collarreader.db.models import (
    AnnotationRow,
    CalibrationRow,
    CaseRow,
    ImageRow,
    Reader,
    ReadingRow,
    ScoreRow,
)
from collarreader.errors import DatabaseError, ProtocolError
from collarreader.model import TIDY_COLUMNS
from collarreader.protocol import FieldType, Protocol, load_protocol

__all__ = ["TIDY_COLUMNS", "export_tidy", "tidy_frame", "write_tidy"]


_SORT = ["reader", "case_code", "timepoint", "view", "zone", "field"]
_READERS: Table = Reader.__table__  # type: ignore[assignment]
_CASES: Table = CaseRow.__table__  # type: ignore[assignment]
_IMAGES: Table = ImageRow.__table__  # type: ignore[assignment]
_READINGS: Table = ReadingRow.__table__  # type: ignore[assignment]
_SCORES: Table = ScoreRow.__table__  # type: ignore[assignment]
_ANNOTATIONS: Table = AnnotationRow.__table__  # type: ignore[assignment]
_CALIBRATIONS: Table = CalibrationRow.__table__  # type: ignore[assignment]
_BOOL_TEXT = {"true": "yes", "false": "no"}


def _study_protocol(database: Database, protocol: Protocol | None) -> Protocol | None:
    """The database's protocol: the one given, or the shipped one of the recorded hash."""
    identity = database.identity
    if protocol is not None:
        if identity.protocol_sha256 not in (None, protocol.sha256):
            message = (
                f"{database.label}: was read with protocol {identity.protocol_name} "
                f"{identity.protocol_version}, not {protocol.name} {protocol.version}."
            )
            raise DatabaseError(message)
        return protocol
    if identity.protocol_name is None:
        return None
    try:
        shipped = load_protocol(identity.protocol_name)
    except ProtocolError:
        return None
    return shipped if shipped.sha256 == identity.protocol_sha256 else None


TYPED_NOT_MEASURED = "typed, not measured"
"""``calibration_source`` of a mm value the reader typed instead of measuring."""


def _calibration_text(calibration: Any) -> str:
    return f"manual: {calibration.method} {calibration.known_size_mm:g} mm"


def tidy_frame(database: Database, *, protocol: Protocol | None = None) -> pd.DataFrame:
    """The tidy long table of a database, one row per recorded value.

    Parameters
    ----------
    database : an open reader or study database
    protocol : the scoring protocol (tells bool fields apart); default the shipped protocol
        whose hash the database records. Without either, the values ``true``/``false`` are
        taken for bool fields.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TIDY_COLUMNS`; every column text except ``submitted`` (bool); sorted.
    """
    known = _study_protocol(database, protocol)
    bool_fields = (
        None if known is None else {f.key for f in known.fields if f.type is FieldType.BOOL}
    )
    with database.read() as connection:
        readers = {row.id: row.reader_code for row in connection.execute(select(_READERS))}
        cases = {row.id: row for row in connection.execute(select(_CASES))}
        readings = {row.id: row for row in connection.execute(select(_READINGS))}
        calibrations = {row.id: row for row in connection.execute(select(_CALIBRATIONS))}
        annotations = {
            row.id: row
            for row in connection.execute(
                select(
                    _ANNOTATIONS.c.id,
                    _ANNOTATIONS.c.calibration_id,
                    _ANNOTATIONS.c.spacing_source,
                    _ANNOTATIONS.c.value_mm,
                )
            )
        }
        scores = connection.execute(select(_SCORES)).all()
    rows: list[tuple[Any, ...]] = []
    for score in scores:
        reading = readings[score.reading_id]
        case = cases[reading.case_id]
        repeat_of = "" if case.repeat_of_id is None else cases[case.repeat_of_id].case_code
        value = score.value
        is_bool = value in _BOOL_TEXT if bool_fields is None else score.field_key in bool_fields
        if is_bool:
            value = _BOOL_TEXT.get(value, value)
        calibration_source = ""
        if score.unit == "mm":
            annotation = annotations.get(score.annotation_id) if score.annotation_id else None
            if annotation is not None:
                if annotation.calibration_id is not None:
                    calibration_source = _calibration_text(calibrations[annotation.calibration_id])
                elif annotation.value_mm is not None and annotation.spacing_source:
                    calibration_source = str(annotation.spacing_source)
                else:
                    calibration_source = "uncalibrated"
            else:
                # Typed in the scoring panel: no geometry, so no calibration stands behind it;
                # say so rather than borrow the calibration of an image it was not measured on.
                calibration_source = TYPED_NOT_MEASURED
        rows.append(
            (
                readers[reading.reader_id],
                case.case_code,
                str(case.kind),
                repeat_of,
                case.joint,
                score.view or "",
                score.timepoint,
                score.zone or "",
                score.field_key,
                value,
                score.unit or "",
                calibration_source,
                score.source,
                bool(reading.locked),
            )
        )
    frame = pd.DataFrame.from_records(rows, columns=list(TIDY_COLUMNS))
    frame["submitted"] = frame["submitted"].astype(bool)
    frame = frame.sort_values(_SORT, kind="mergesort").reset_index(drop=True)
    frame.attrs["source"] = database.label
    return frame


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet cell a formula (OWASP, "CSV Injection")."""


def safe_cell(value: Any) -> Any:
    """A cell value a spreadsheet will not run: text starting like a formula gets a ``'``.

    Numbers (and text that is a plain number, such as ``-1.5``) stay as they are, so they
    stay numbers in the spreadsheet; every other text starting with ``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return is prefixed with a single quote (OWASP's advice), which
    makes it inert text, e.g. ``'=HYPERLINK(…)``.
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names pass :func:`safe_cell`.

    Every CSV and XLSX table collarreader writes goes through this function.
    """
    result = frame.copy()
    for column in result.columns:
        series = result[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            result[column] = series.map(safe_cell)
    result.columns = [safe_cell(name) for name in result.columns]
    return result


def check_output_file(target: Path, what: str = "--out") -> None:
    """Refuse a folder (or a missing folder) where an output file is expected."""
    if target.is_dir():
        message = (
            f"{target}: is a folder, but {what} names the file to write. Give a file name, "
            f"e.g. {target / 'export.csv'}."
        )
        raise DatabaseError(message)
    if not target.parent.is_dir():
        message = f"{target}: the folder {target.parent} does not exist. Create it first."
        raise DatabaseError(message)


def write_tidy(frame: pd.DataFrame, out: str | Path, *, fmt: str = "csv") -> Path:
    """Write a tidy frame (atomically: a temporary file, then a rename).

    Parameters
    ----------
    frame : from :func:`tidy_frame` (possibly with added columns)
    out : the file to write
    fmt : ``csv`` (UTF-8, comma separated, ``.`` decimals, ``true``/``false`` for
        ``submitted``)
    """
    if fmt != "csv":
        message = f"--format {fmt}: not supported by this export; choose csv."
        raise DatabaseError(message)
    target = Path(out)
    check_output_file(target)
    table = frame.copy()
    if "submitted" in table.columns:
        table["submitted"] = table["submitted"].map({True: "true", False: "false"})
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            spreadsheet_safe(table).to_csv(stream, index=False, lineterminator="\n")
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def export_tidy(
    db: Database | str | Path,
    out: str | Path,
    *,
    fmt: str = "csv",
    protocol: Protocol | None = None,
) -> Path:
    """Export a database's tidy long table to ``out``; return the path written.

    Parameters
    ----------
    db : an open database, or an SQLite path / database URL (opened without upgrading)
    out : the file to write
    fmt : ``csv``
    protocol : see :func:`tidy_frame`

    Raises
    ------
    DatabaseError
        The database cannot be opened (missing, damaged, older schema), the folder of ``out``
        is missing, or the format is not supported.
    """
    if isinstance(db, Database):
        return write_tidy(tidy_frame(db, protocol=protocol), out, fmt=fmt)
    database = open_database(db, upgrade=False)
    try:
        return write_tidy(tidy_frame(database, protocol=protocol), out, fmt=fmt)
    finally:
        database.close()
