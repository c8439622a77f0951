"""The GRRAS section of the report: what a reliability paper must state, from the database.

Kottner et al. (2011), "Guidelines for Reporting Reliability and Agreement Studies (GRRAS)
were proposed", *J Clin Epidemiol* 64:96–106, list 15 items. The study database knows several
of them exactly — readers, cases, repeats and missing reads; whether time-point labels were
shown; the interval between a reader's primary and repeat read of a case (from the audit
timestamps); whether each reader's readings came from their own database; software and protocol
versions and hashes. :func:`grras_facts` reads those; :func:`grras_html` prints them beside the
items only the authors can write ("to be written by the authors").

:func:`summarise_reads` is the arithmetic on plain tables, so it is tested against a simulated
study whose counts and intervals are known.
"""

from __future__ import annotations

import datetime as dt
import html
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd  # type: ignore[import-untyped]
from sqlalchemy import func, select

from collarreader.analysis.tables import CONSENSUS_READER
from collarreader.db.engine import Database
from collarreader.db.models import (
    AuditEvent,
    CaseRow,
    ImageRow,
    MergeLogRow,
    Reader,
    ReadingRow,
)
from collarreader.errors import AnalysisError

__all__ = [
    "READ_COLUMNS",
    "GrrasFacts",
    "ReadSummary",
    "grras_facts",
    "grras_html",
    "summarise_reads",
]

#: Columns :func:`summarise_reads` needs, one row per reading.
READ_COLUMNS = ("reader", "case_code", "kind", "repeat_of", "submitted", "first_event_at")

_BLINDED_LABELS = frozenset({"A", "B"})


@dataclass(frozen=True)
class GrrasFacts:
    """What the database says about the study's design (GRRAS items it can fill).

    Attributes
    ----------
    readers : reader codes, sorted.
    n_cases : real cases (primary codes).
    n_repeat_cases : repeat reads planned (repeat cases in the database, all readers).
    n_primary_expected : readers × cases — every reader reads every case.
    n_primary_submitted, n_repeat_submitted : submitted readings of each kind.
    n_missing_primary : expected primary reads with no submitted reading.
    interval_days : per matched repeat, days from the primary reading's first audited change to
        the repeat reading's (same reader, the case it repeats); empty when none.
    timepoints_blinded : True when images carry the labels A/B instead of 6m/12m; None when the
        database holds no images.
    n_sources, readers_with_one_source : merged reader databases, and whether every reader's
        readings came from exactly one database of their own.
    app_version, schema_revision : the program and schema that wrote the study database.
    source_revisions : schema revisions of the merged sources.
    protocol : protocol name, version and SHA-256.
    n_adjudicated : submitted consensus readings (reader ``consensus``, not counted as a reader).
    """

    readers: tuple[str, ...]
    n_cases: int
    n_repeat_cases: int
    n_primary_expected: int
    n_primary_submitted: int
    n_repeat_submitted: int
    n_missing_primary: int
    interval_days: tuple[float, ...]
    timepoints_blinded: bool | None
    n_sources: int
    readers_with_one_source: bool
    app_version: str
    schema_revision: str
    source_revisions: tuple[str, ...]
    protocol: str
    n_adjudicated: int = 0


def _parse(timestamp: str, where: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(timestamp)
    except ValueError:
        raise AnalysisError(
            f"{where}: audit timestamp {timestamp!r} is not ISO 8601; run 'collarreader verify' "
            "on the database."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class ReadSummary:
    """Counts and intervals of :func:`summarise_reads` (fields as in :class:`GrrasFacts`)."""

    readers: tuple[str, ...]
    n_primary_expected: int
    n_primary_submitted: int
    n_repeat_submitted: int
    n_missing_primary: int
    interval_days: tuple[float, ...]


def summarise_reads(reads: pd.DataFrame, n_cases: int, where: str = "reads") -> ReadSummary:
    """Counts and primary → repeat intervals from one row per reading (:data:`READ_COLUMNS`).

    Parameters
    ----------
    reads : ``reader``, ``case_code``, ``kind`` (primary/repeat), ``repeat_of`` (the primary
        case code of a repeat), ``submitted`` (bool), ``first_event_at`` (ISO 8601 time of the
        reading's first audited change).
    n_cases : real cases in the study.
    where : what ``reads`` came from, for error messages.

    Returns
    -------
    ReadSummary
        ``readers``, ``n_primary_expected``, ``n_primary_submitted``, ``n_repeat_submitted``,
        ``n_missing_primary``, ``interval_days``, as in :class:`GrrasFacts`. Intervals pair a
        reader's repeat reading with the same reader's primary reading of the repeated case; a
        repeat without one is not paired.
    """
    missing = [column for column in READ_COLUMNS if column not in reads.columns]
    if missing:
        raise AnalysisError(f"{where}: missing columns {', '.join(missing)}.")
    readers = tuple(sorted(str(r) for r in reads["reader"].unique()))
    submitted = reads[reads["submitted"].astype(bool)]
    primary = submitted[submitted["kind"] == "primary"]
    repeat = submitted[submitted["kind"] == "repeat"]
    n_primary_done = int(primary[["reader", "case_code"]].drop_duplicates().shape[0])
    starts = {
        (str(row.reader), str(row.case_code)): _parse(str(row.first_event_at), where)
        for row in reads[reads["kind"] == "primary"].itertuples()
    }
    intervals = []
    for row in repeat.itertuples():
        first = starts.get((str(row.reader), str(row.repeat_of)))
        if first is None:
            continue
        seconds = (_parse(str(row.first_event_at), where) - first).total_seconds()
        intervals.append(seconds / 86_400.0)
    expected = len(readers) * n_cases
    return ReadSummary(
        readers=readers,
        n_primary_expected=expected,
        n_primary_submitted=n_primary_done,
        n_repeat_submitted=int(repeat.shape[0]),
        n_missing_primary=max(expected - n_primary_done, 0),
        interval_days=tuple(sorted(intervals)),
    )


def grras_facts(database: Database) -> GrrasFacts:
    """Read the GRRAS facts from an open study (or reader) database.

    Raises
    ------
    AnalysisError
        When an audit timestamp cannot be parsed (naming the database).
    """
    with database.read() as connection:
        first_event = (
            select(AuditEvent.entity_id, func.min(AuditEvent.at).label("first_at"))
            .where(AuditEvent.entity == ReadingRow.__tablename__)
            .group_by(AuditEvent.entity_id)
            .subquery()
        )
        repeated = CaseRow.__table__.alias("repeated")
        rows = connection.execute(
            select(
                Reader.reader_code,
                CaseRow.case_code,
                CaseRow.kind,
                repeated.c.case_code,
                ReadingRow.submitted_at,
                func.coalesce(first_event.c.first_at, ReadingRow.started_at),
            )
            .join(CaseRow, CaseRow.id == ReadingRow.case_id)
            .join(Reader, Reader.id == ReadingRow.reader_id)
            .outerjoin(repeated, repeated.c.id == CaseRow.repeat_of_id)
            .outerjoin(first_event, first_event.c.entity_id == ReadingRow.id)
        ).all()
        kinds = connection.execute(select(CaseRow.kind, func.count()).group_by(CaseRow.kind)).all()
        labels = {str(t) for (t,) in connection.execute(select(ImageRow.timepoint).distinct())}
        sources = connection.execute(
            select(
                MergeLogRow.source_db_id, MergeLogRow.reader_id, MergeLogRow.source_schema_revision
            )
        ).all()
    reads = pd.DataFrame(
        [
            {
                "reader": reader,
                "case_code": code,
                "kind": kind,
                "repeat_of": repeat_of or "",
                "submitted": submitted_at is not None,
                "first_event_at": first_at,
            }
            for reader, code, kind, repeat_of, submitted_at, first_at in rows
        ],
        columns=list(READ_COLUMNS),
    )
    adjudicated = reads["reader"] == CONSENSUS_READER
    n_adjudicated = int((adjudicated & reads["submitted"].astype(bool)).sum())
    reads = reads[~adjudicated]
    by_kind = {str(kind): int(count) for kind, count in kinds}
    n_cases = by_kind.get("primary", 0)
    summary = summarise_reads(reads, n_cases, where=database.label)
    source_dbs_per_reader: dict[str, set[str]] = {}
    for source_db, reader, _ in sources:
        source_dbs_per_reader.setdefault(str(reader), set()).add(str(source_db))
    identity = database.identity
    readers = summary.readers
    return GrrasFacts(
        readers=readers,
        n_cases=n_cases,
        n_repeat_cases=by_kind.get("repeat", 0),
        n_primary_expected=summary.n_primary_expected,
        n_primary_submitted=summary.n_primary_submitted,
        n_repeat_submitted=summary.n_repeat_submitted,
        n_missing_primary=summary.n_missing_primary,
        interval_days=summary.interval_days,
        timepoints_blinded=None if not labels else labels <= _BLINDED_LABELS,
        n_sources=len({str(s) for s, _, _ in sources}),
        readers_with_one_source=bool(source_dbs_per_reader)
        and all(len(dbs) == 1 for dbs in source_dbs_per_reader.values())
        and set(source_dbs_per_reader) >= set(readers),
        app_version=str(identity.app_version),
        schema_revision=str(identity.schema_revision),
        source_revisions=tuple(sorted({str(r) for _, _, r in sources})),
        n_adjudicated=n_adjudicated,
        protocol=(
            f"{identity.protocol_name} {identity.protocol_version} "
            f"(SHA-256 {identity.protocol_sha256})"
        ),
    )


def _interval_text(days: Sequence[float]) -> str:
    if not days:
        return "no repeat reading was matched to its primary reading"
    return (
        f"median {statistics.median(days):.1f} days, range {min(days):.1f}–{max(days):.1f} "
        f"days ({len(days)} repeat readings; from each reading's first audited change)"
    )


_AUTHORS = "<i>to be written by the authors</i>"


def grras_html(facts: GrrasFacts, ci_widths: str = "") -> str:
    """The GRRAS section: each item with what the database says, or a gap for the authors.

    Parameters
    ----------
    facts : from :func:`grras_facts`.
    ci_widths : an HTML fragment (escaped by the caller) stating the interval widths achieved,
        for item 5 (sample size).
    """
    e = html.escape
    blinding = {
        True: "time-point labels blinded: readers saw A/B, not 6 months / 1 year",
        False: "time-point labels shown (6m/12m) to the readers",
        None: "no images in the database",
    }[facts.timepoints_blinded]
    readers_text = ", ".join(facts.readers)
    n_readers = len(facts.readers)
    independence = (
        f"each reader's readings came from their own database ({facts.n_sources} merged "
        "sources, one per reader); readers never saw each other's marks or scores"
        if facts.readers_with_one_source
        else f"{facts.n_sources} merged sources; not every reader maps to exactly one database "
        "(check the merge log)"
    )
    items: list[tuple[str, str]] = [
        ("1. Title/abstract: interrater/intrarater reliability identified", _AUTHORS),
        ("2. Rationale; 3. subject population; 4. rater population", _AUTHORS),
        (
            "5. Sample size",
            (ci_widths or "") + " Rationale for the number of cases and readers: " + _AUTHORS,
        ),
        ("6. How subjects and raters were sampled", _AUTHORS),
        (
            "7. Rating process: readers and cases",
            e(
                f"{n_readers} readers ({readers_text}); {facts.n_cases} cases, each to be read "
                f"once by every reader ({facts.n_primary_expected} primary reads expected, "
                f"{facts.n_primary_submitted} submitted, {facts.n_missing_primary} missing); "
                f"{facts.n_repeat_cases} repeat reads planned, {facts.n_repeat_submitted} "
                f"submitted; {facts.n_adjudicated} cases adjudicated to a consensus reading"
            ),
        ),
        (
            "7. Rating process: blinding",
            e(
                f"de-identified images under random codes; {blinding}; readers blinded to "
                "patient, site and the other readers"
            ),
        ),
        (
            "7. Rating process: randomisation",
            e(
                "each reader's worklist order randomised at preparation from a per-study "
                "secret (seeded or random), kept in the study lead's key file"
            ),
        ),
        ("7. Rating process: interval primary → repeat", e(_interval_text(facts.interval_days))),
        ("8. Independence of the ratings", e(independence)),
        (
            "9. Statistical analysis; software",
            e(
                f"collarreader {facts.app_version} (study database schema "
                f"{facts.schema_revision}; sources {', '.join(facts.source_revisions) or 'none'}"
                f"); protocol {facts.protocol}. Methods: see Methods and references."
            ),
        ),
        ("10–15. Results, discussion, auxiliary material", _AUTHORS),
    ]
    rows = "".join(f"<tr><td>{e(item)}</td><td>{text}</td></tr>" for item, text in items)
    return (
        "<p>Items of the Guidelines for Reporting Reliability and Agreement Studies (Kottner "
        "et al. 2011) filled from the study database; the rest are left to the authors.</p>"
        f'<table class="counts"><thead><tr><th>GRRAS item</th><th>from the study database'
        f"</th></tr></thead><tbody>{rows}</tbody></table>"
    )
