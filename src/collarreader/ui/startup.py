"""Which case a session opens first, without Qt (used before the window is built).

The launch needs the first case before it can send its images to the decoding workers, and
before pyqtgraph is imported; so this lives apart from :mod:`collarreader.ui.main_window`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from collarreader.db.models import AuditEvent
from collarreader.model import Case
from collarreader.session import ReadingSession

__all__ = ["first_case_code", "last_open_case", "submitted_cases"]


def last_open_case(session: ReadingSession) -> str | None:
    """The case whose reading changed last (its time is written when the reader leaves it)."""
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
