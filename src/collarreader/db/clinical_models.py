"""SQLAlchemy models of the study database's clinical data: Oxford scores and adverse events.

Same conventions as :mod:`collarreader.db.models` (same ``Base``, so one metadata, one
Alembic history): UUID text primary keys, dates as ISO 8601 text (``YYYY-MM-DD``), which sort,
compare and hash identically on SQLite and PostgreSQL.

What is stored is what was entered: the twelve Oxford answers on the scale they were entered
on (``scale``), never the total. Totals and bands are computed by
:func:`collarreader.clinical.oxford.score` whenever they are shown, so a stored total can never
disagree with its answers. ``content_sha256`` is the record's
:attr:`~collarreader.clinical.oxford.OxfordRecord.content_sha256` (or the adverse event's), so an
importer recognises data it already holds without comparing every column.

Both tables are audited like readings: importing this module adds them to
:data:`collarreader.db.models.AUDITED_TABLES`, so every change goes through
:class:`collarreader.db.transaction.Transaction` with its audit event and ``verify`` replays
them. ``collarreader.db`` imports this module, so the tables are registered whenever any part
of the database package is used.
"""

from __future__ import annotations

from sqlalchemy import Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from collarreader.db.models import AUDITED_TABLES, TS_LEN, UUID_LEN, Base

DATE_LEN = 10
"""``YYYY-MM-DD``."""
PATIENT_LEN = 64
"""Longest study patient ID (``collarreader.clinical.adverse_events.MAX_PATIENT_ID_CHARS``)."""
SHA256_LEN = 64


class OxfordQuestionnaireRow(Base):
    """One Oxford Hip or Knee questionnaire of one patient at one time point (revision 0003).

    ``q1`` … ``q12`` are the answers as entered (NULL = missing) on ``scale``: ``0-48``
    (answers 0–4, 4 best) or ``legacy-12-60`` (answers 1–5, 1 best). One questionnaire per
    patient, instrument and time point (the natural key).
    """

    __tablename__ = "oxford_questionnaires"
    __table_args__ = (
        UniqueConstraint(
            "patient", "instrument", "timepoint", name="uq_oxford_patient_instrument_timepoint"
        ),
    )

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    patient: Mapped[str] = mapped_column(String(PATIENT_LEN))
    instrument: Mapped[str] = mapped_column(String(8))
    timepoint: Mapped[str] = mapped_column(String(8))
    completed_on: Mapped[str] = mapped_column(String(DATE_LEN))
    q1: Mapped[int | None] = mapped_column(Integer)
    q2: Mapped[int | None] = mapped_column(Integer)
    q3: Mapped[int | None] = mapped_column(Integer)
    q4: Mapped[int | None] = mapped_column(Integer)
    q5: Mapped[int | None] = mapped_column(Integer)
    q6: Mapped[int | None] = mapped_column(Integer)
    q7: Mapped[int | None] = mapped_column(Integer)
    q8: Mapped[int | None] = mapped_column(Integer)
    q9: Mapped[int | None] = mapped_column(Integer)
    q10: Mapped[int | None] = mapped_column(Integer)
    q11: Mapped[int | None] = mapped_column(Integer)
    q12: Mapped[int | None] = mapped_column(Integer)
    scale: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(255))
    content_sha256: Mapped[str] = mapped_column(String(SHA256_LEN))
    recorded_at: Mapped[str] = mapped_column(String(TS_LEN))
    updated_at: Mapped[str] = mapped_column(String(TS_LEN))


class AdverseEventRow(Base):
    """One adverse event of one patient (revision 0003).

    ``natural_key`` is the SHA-256 of the event's
    :attr:`~collarreader.clinical.adverse_events.AdverseEvent.natural_key` (patient, onset
    date, category, normalised description): a digest rather than the columns themselves,
    because a unique index on a 2000-character description is not portable.
    """

    __tablename__ = "adverse_events"
    __table_args__ = (UniqueConstraint("natural_key", name="uq_adverse_events_natural_key"),)

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    patient: Mapped[str] = mapped_column(String(PATIENT_LEN), index=True)
    onset_date: Mapped[str] = mapped_column(String(DATE_LEN))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(32))
    relation: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(32))
    natural_key: Mapped[str] = mapped_column(String(SHA256_LEN))
    content_sha256: Mapped[str] = mapped_column(String(SHA256_LEN))
    recorded_at: Mapped[str] = mapped_column(String(TS_LEN))
    updated_at: Mapped[str] = mapped_column(String(TS_LEN))


OXFORD_TABLE: Table = OxfordQuestionnaireRow.__table__  # type: ignore[assignment]
ADVERSE_EVENT_TABLE: Table = AdverseEventRow.__table__  # type: ignore[assignment]

# Registered here rather than listed in models.py so that the clinical tables live beside
# their own migration; the audit, verify and merge code see them through AUDITED_TABLES.
AUDITED_TABLES.setdefault(OXFORD_TABLE.name, OXFORD_TABLE)
AUDITED_TABLES.setdefault(ADVERSE_EVENT_TABLE.name, ADVERSE_EVENT_TABLE)
