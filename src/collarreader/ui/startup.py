"""Which case a session opens first, without Qt (used before the window is built).

The launch needs the first case before it can send its images to the decoding workers, and
before pyqtgraph is imported; so this lives apart from :mod:`collarreader.ui.main_window`.

:func:`guess_first_case` answers the same question with the standard library's ``sqlite3``
only, before SQLAlchemy is even imported (≈0.6 s on the reference machine): the launch sends
the guessed case to the workers at once, so that they decode it while the main process
imports and builds the window. :func:`first_case_code` decides; a wrong guess only costs
the decoding of another case.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collarreader.model import Case
    from collarreader.session import ReadingSession

__all__ = ["first_case_code", "guess_first_case", "last_open_case", "submitted_cases"]


def last_open_case(session: ReadingSession) -> str | None:
    """The case whose reading changed last (its time is written when the reader leaves it)."""
    from sqlalchemy import select  # not at the top: guess_first_case runs before SQLAlchemy

    from collarreader.db.models import AuditEvent

    by_reading = {
        session.repository.reading_uuid(case.case_code, session.reader_id): case.case_code
        for case in session.cases
    }
    table = AuditEvent.__table__
    with session.repository.database.read() as connection:
        rows = connection.execute(
            select(table.c.entity_id)
            .where(table.c.entity == "readings")
            .order_by(table.c.seq.desc())
            .limit(50)
        ).all()
    for row in rows:
        if row.entity_id in by_reading:
            return by_reading[row.entity_id]
    return None


def submitted_cases(session: ReadingSession) -> set[str]:
    """Codes of the reader's submitted (locked) cases."""
    return {
        reading.case_code
        for reading in session.repository.readings()
        if reading.reader_id == session.reader_id and reading.locked
    }


def first_case_code(session: ReadingSession, cases: Sequence[Case]) -> str | None:
    """The case to open at start: the last one worked on, else the first not submitted.

    Parameters
    ----------
    session : the reader's session
    cases : the worklist, in order
    """
    codes = [case.case_code for case in cases]
    code = last_open_case(session)
    if code in codes:
        return code
    submitted = submitted_cases(session)
    pending = [c for c in codes if c not in submitted]
    if pending:
        return pending[0]
    return codes[0] if codes else None


_LAST_WORKED_ON = """
    SELECT c.case_code FROM audit_events AS a
    JOIN readings AS r ON r.id = a.entity_id
    JOIN readers AS p ON p.id = r.reader_id
    JOIN cases AS c ON c.id = r.case_id
    WHERE a.entity = 'readings' AND p.reader_code = ?
    ORDER BY a.seq DESC LIMIT 50
"""
_SUBMITTED = """
    SELECT c.case_code FROM readings AS r
    JOIN readers AS p ON p.id = r.reader_id
    JOIN cases AS c ON c.id = r.case_id
    WHERE p.reader_code = ? AND r.locked
"""


def guess_first_case(db_path: Path, codes: Sequence[str], reader_id: str) -> str | None:
    """The case :func:`first_case_code` will most likely choose, read with ``sqlite3`` alone.

    The same rule (the last case worked on, else the first not submitted, else the first),
    on the reader database's tables read-only; a database that does not exist yet (a first
    start) or cannot be read as expected gives the worklist's first case.

    Parameters
    ----------
    db_path : the reader database file (SQLite)
    codes : the reader's worklist, case codes in reading order
    reader_id : the reader
    """
    if not codes:
        return None
    if not db_path.is_file():
        return codes[0]
    try:
        connection = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return codes[0]
    try:
        recent = [row[0] for row in connection.execute(_LAST_WORKED_ON, (reader_id,))]
        submitted = {row[0] for row in connection.execute(_SUBMITTED, (reader_id,))}
    except sqlite3.Error:
        return codes[0]
    finally:
        connection.close()
    listed = set(codes)
    for code in recent:
        if code in listed:
            return str(code)
    return next((c for c in codes if c not in submitted), codes[0])
