"""Clinical records entered by hand: one questionnaire or adverse event, an audited insert."""

from __future__ import annotations

import datetime as dt

from collarreader.clinical.adverse_events import AdverseEvent, check_date
from collarreader.clinical.oxford import OxfordRecord
from collarreader.clinical.store.rows import (
    AE_ROWS,
    OXFORD_ROWS,
    R,
    RowKind,
    insert_row,
    key_taken,
)
from collarreader.clinical.store.study_database import require_study
from collarreader.db.engine import STUDY_LEAD, Database
from collarreader.db.repository import Repository
from collarreader.errors import ClinicalDataError

__all__ = ["add_adverse_event", "add_oxford", "check_oxford_date"]


def add_oxford(
    database: Database,
    record: OxfordRecord,
    *,
    actor: str = STUDY_LEAD,
    reason: str | None = None,
    today: dt.date | None = None,
) -> str:
    """Record one questionnaire entered by hand; return its row id.

    Parameters
    ----------
    database : an open study database
    record : the questionnaire (validated on construction)
    actor : who the audit names
    reason : stored with the audit event (optional for a new record)
    today : reference date for "not in the future" (default: today)

    Raises
    ------
    ClinicalDataError
        When the date is implausible or this patient's questionnaire for that instrument and
        time point is already recorded (correct that one instead).
    """
    require_study(database)
    check_oxford_date(record.date, today=today)
    taken = (
        f"patient {record.patient}, {record.instrument.value}, "
        f"{record.timepoint.value} is already recorded; one questionnaire per patient, "
        "instrument and time point. Correct the recorded one (with a reason) instead."
    )
    return _add(database, OXFORD_ROWS, record, actor=actor, reason=reason, taken=taken)


def add_adverse_event(
    database: Database,
    event: AdverseEvent,
    *,
    actor: str = STUDY_LEAD,
    reason: str | None = None,
    today: dt.date | None = None,
) -> str:
    """Record one adverse event entered by hand; return its row id.

    Raises
    ------
    ClinicalDataError
        When the event is invalid (every field named) or already recorded.
    """
    require_study(database)
    event.validate(today=today)
    taken = (
        f"this adverse event of patient {event.patient} "
        f"({event.onset_date.isoformat()}, {event.category}) is already recorded; "
        "correct the recorded one (with a reason) instead."
    )
    return _add(database, AE_ROWS, event, actor=actor, reason=reason, taken=taken)


def check_oxford_date(date: dt.date, *, today: dt.date | None = None) -> None:
    """Refuse an implausible questionnaire date, saying it is the questionnaire's date.

    Raises
    ------
    ClinicalDataError
        For a date in the future or before the plausible range (:func:`check_date`).
    """
    try:
        check_date(date, today=today)
    except ClinicalDataError as error:
        raise ClinicalDataError(f"Oxford questionnaire date: {error}") from None


def _add(
    database: Database,
    kind: RowKind[R],
    record: R,
    *,
    actor: str,
    reason: str | None,
    taken: str,
) -> str:
    """Insert ``record`` unless its natural key is recorded (then refuse with ``taken``)."""
    with Repository(database, actor).transaction(reason) as tx:
        if key_taken(tx, kind, record) is not None:
            raise ClinicalDataError(taken)
        return insert_row(tx, kind, record)
