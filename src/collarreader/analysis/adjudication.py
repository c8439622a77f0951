"""Adjudication: a consensus reading recorded in the study database, beside the readers'.

``collarreader adjudicate STUDY_DB SETDIR`` opens the reader window in consensus mode (the Qt
part is :mod:`collarreader.ui.adjudication`). This module is the Qt-free core:

- :func:`select_cases` — the cases to adjudicate: the disagreement list of the agreement
  analysis (default), every primary case, or codes the study lead names;
- :class:`ConsensusSet` — the reading set as the consensus reader's worklist, so the reader
  window and :class:`~collarreader.session.ReadingSession` work unchanged;
- :func:`open_consensus_session` — a session of reader :data:`CONSENSUS_READER` on the study
  database. Every mark and score goes through the same repository transaction as any reading
  (audited in the hash chain, so ``verify`` catches a value changed behind the program's back);
- :func:`reader_marks` — each reader's annotations and scores of a case, for the overlay.

The consensus is a reading by reader ``consensus``: the tidy export and the longitudinal
tables carry it as one more reader, and the agreement analysis leaves it out of the statistics
and prints it beside the readers' values in the disagreement list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collarreader.analysis.tables import CONSENSUS_READER
from collarreader.db.engine import Database, open_database
from collarreader.db.repository import Repository
from collarreader.errors import AnalysisError
from collarreader.model import Annotation, CaseKind, Score
from collarreader.study.readingset import ReadingSet, WorklistEntry

__all__ = [
    "CONSENSUS_READER",
    "ConsensusSet",
    "ReaderMarks",
    "close_session",
    "open_consensus_session",
    "reader_marks",
    "select_cases",
]


class ConsensusSet:
    """A reading set whose worklist for :data:`CONSENSUS_READER` is the chosen primary cases.

    Everything else is the wrapped :class:`~collarreader.study.readingset.ReadingSet`.
    """

    def __init__(self, reading_set: ReadingSet, case_codes: Sequence[str]) -> None:
        self._set = reading_set
        self.case_codes = tuple(case_codes)
        self._worklist = tuple(WorklistEntry(code, CaseKind.PRIMARY) for code in self.case_codes)

    def worklist(self, reader_id: str) -> tuple[WorklistEntry, ...]:
        """The consensus worklist; any other reader's comes from the set."""
        if reader_id == CONSENSUS_READER:
            return self._worklist
        return self._set.worklist(reader_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._set, name)


def select_cases(
    reading_set: ReadingSet,
    disagreement_codes: Callable[[], Sequence[str]],
    *,
    codes: Sequence[str] = (),
    all_cases: bool = False,
) -> list[str]:
    """The primary case codes to adjudicate, in order.

    Parameters
    ----------
    reading_set : the set the study was read from.
    disagreement_codes : called only when neither ``codes`` nor ``all_cases`` is given: the
        disagreement list's case codes, largest spread first.
    codes : case codes the study lead chose (checked against the set).
    all_cases : every primary case of the set.

    Raises
    ------
    AnalysisError
        When a chosen code is not a primary case of the set, or nothing is left to adjudicate.
    """
    primary = [case.case_code for case in reading_set.cases]
    known = set(primary)
    if codes:
        unknown = [code for code in codes if code not in known]
        if unknown:
            raise AnalysisError(
                f"{reading_set.path}: case codes {', '.join(unknown)} are not primary cases of "
                "this reading set; use codes from the disagreement list or the export."
            )
        chosen = list(dict.fromkeys(codes))
    elif all_cases:
        chosen = primary
    else:
        chosen = [code for code in dict.fromkeys(disagreement_codes()) if code in known]
    if not chosen:
        raise AnalysisError(
            f"{reading_set.path}: no case to adjudicate (the disagreement list is empty); pass "
            "--all or --cases CODE,…"
        )
    return chosen


def open_consensus_session(
    study_db: str | Path,
    reading_set: ReadingSet,
    case_codes: Sequence[str],
    **session_options: Any,
) -> Any:
    """A :class:`~collarreader.session.ReadingSession` of reader ``consensus`` on the study db.

    Parameters
    ----------
    study_db : the merged study database (SQLite path or SQLAlchemy URL); it must exist.
    reading_set : the set the readers read.
    case_codes : from :func:`select_cases`.
    session_options : passed to the session (``spacing_for``, ``clock``).

    Raises
    ------
    AnalysisError
        When the database was merged from another reading set.
    """
    from collarreader.session import ReadingSession

    database = open_database(study_db)
    identity = database.identity
    if identity.set_uuid not in (None, reading_set.set_uuid):
        label = database.label
        database.close()
        raise AnalysisError(
            f"{label}: was merged from reading set {identity.set_uuid}, not from "
            f"{reading_set.path} ({reading_set.set_uuid}); give the set the readers read."
        )
    consensus_set = ConsensusSet(reading_set, case_codes)
    return ReadingSession(
        Repository(database),
        consensus_set,
        reading_set.protocol,
        CONSENSUS_READER,
        **session_options,
    )


@dataclass(frozen=True)
class ReaderMarks:
    """One reader's submitted or unsubmitted reading of a case: marks and scores."""

    reader: str
    submitted: bool
    annotations: tuple[Annotation, ...]
    scores: tuple[Score, ...]


def reader_marks(repository: Repository, case_code: str) -> list[ReaderMarks]:
    """Every reader's primary reading of ``case_code`` (consensus left out), readers sorted."""
    found = []
    for reading in repository.readings():
        if reading.case_code != case_code or reading.reader_id == CONSENSUS_READER:
            continue
        found.append(
            ReaderMarks(
                reader=reading.reader_id,
                submitted=reading.submitted_at is not None,
                annotations=tuple(repository.annotations(reading.id)),
                scores=tuple(repository.scores(reading.id)),
            )
        )
    return sorted(found, key=lambda marks: marks.reader)


def close_session(session: Any) -> None:
    """Close a session's database (after the window is closed)."""
    database: Database = session.repository.database
    database.close()
