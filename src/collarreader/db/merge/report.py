"""What a merge did: per-source outcomes, the report the command prints, table dumps."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import (
    select,
)

from collarreader.db.audit import canonical_json, row_state
from collarreader.db.engine import (
    Database,
)
from collarreader.db.merge.common import _AUDIT, _EVENT_COLUMNS, _MERGE_LOG, _TABLE_ORDER
from collarreader.db.models import AUDITED_TABLES


@dataclass(frozen=True)
class SourceOutcome:
    """What one source brought.

    Attributes
    ----------
    label : the source's file name
    db_id : the source database's UUID
    reader_id : its reader
    status : ``merged`` (first time), ``updated`` (a newer copy: only its new events),
        ``already merged`` (nothing new; nothing written)
    events : audit events copied
    inserted, updated, deleted : rows per table
    last_seq : the source's last audit ``seq``
    """

    label: str
    db_id: str
    reader_id: str | None
    status: str
    events: int = 0
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    last_seq: int = 0

    @property
    def rows_written(self) -> int:
        """Audit events copied plus rows inserted, updated and deleted."""
        return (
            self.events
            + sum(self.inserted.values())
            + sum(self.updated.values())
            + sum(self.deleted.values())
        )


@dataclass(frozen=True)
class MergeReport:
    """What :func:`merge_databases` did; ``str()`` is the summary the command prints.

    Attributes
    ----------
    target : the study database (path, or URL without password)
    created : whether the study database was created by this merge
    sources : one outcome per source, in the order given
    seconds : wall time of the whole merge
    notes : what the merge did besides merging (e.g. a stub it recreated)
    """

    target: str
    created: bool
    sources: tuple[SourceOutcome, ...]
    seconds: float
    notes: tuple[str, ...] = ()

    @property
    def rows_written(self) -> int:
        """Audit events and rows written over all sources."""
        return sum(outcome.rows_written for outcome in self.sources)

    def totals(self) -> dict[str, tuple[int, int, int]]:
        """Table → (inserted, updated, deleted) over all sources, ``audit_events`` first."""
        result: dict[str, list[int]] = {name: [0, 0, 0] for name in ("audit_events", *_TABLE_ORDER)}
        for outcome in self.sources:
            result["audit_events"][0] += outcome.events
            for index, counts in enumerate((outcome.inserted, outcome.updated, outcome.deleted)):
                for table, count in counts.items():
                    result.setdefault(table, [0, 0, 0])[index] += count
        return {table: (n[0], n[1], n[2]) for table, n in result.items()}

    def __str__(self) -> str:
        merged = [o for o in self.sources if o.status != "already merged"]
        skipped = [o for o in self.sources if o.status == "already merged"]
        head = (
            f"{'created' if self.created else 'merged into'} {self.target}: "
            f"{len(merged)} source(s) merged, {len(skipped)} already merged, "
            f"{self.rows_written} rows in {self.seconds:.2f} s"
        )
        lines = [head, *(f"  note: {note}" for note in self.notes)]
        for outcome in self.sources:
            detail = (
                ""
                if outcome.status == "already merged"
                else f", {outcome.events} audit events, {sum(outcome.inserted.values())} rows "
                f"inserted, {sum(outcome.updated.values())} updated, "
                f"{sum(outcome.deleted.values())} deleted"
            )
            lines.append(
                f"  {outcome.label} (reader {outcome.reader_id}, up to event "
                f"{outcome.last_seq}): {outcome.status}{detail}"
            )
        lines.append(f"  {'table':<14} {'inserted':>9} {'updated':>9} {'deleted':>9}")
        for table, (inserted, updated, deleted) in self.totals().items():
            lines.append(f"  {table:<14} {inserted:>9} {updated:>9} {deleted:>9}")
        return "\n".join(lines)


def _problems_text(problems: list[str], report: MergeReport, n_sources: int) -> str:
    if not report.sources:
        if len(problems) == 1:
            return f"{problems[0]} ({report.target} was not changed.)"
        head = f"refused all {n_sources} source databases; {report.target} was not changed:"
        return "\n".join([head, *(f"  {problem}" for problem in problems)])
    head = (
        f"refused {len(problems)} of {n_sources} source databases (each left "
        f"{report.target} unchanged):"
    )
    lines = [
        head,
        *(f"  {problem}" for problem in problems),
        "the others were merged:",
        str(report),
    ]
    return "\n".join(lines)


def canonical_dump(database: Database) -> dict[str, list[str]]:
    """Every table's rows as sorted canonical JSON, for comparing two study databases.

    Left out: what differs between two study databases by construction and not by content —
    the database's own identity row and its own audit chain (its UUID and creation time), and
    ``merge_log.merged_at``. Two merges of the same sources in any order give equal dumps.
    """
    own_id = database.identity.id
    result: dict[str, list[str]] = {}
    with database.read() as connection:
        for name in _TABLE_ORDER:
            table = AUDITED_TABLES[name]
            result[name] = sorted(
                canonical_json(row_state(table, row._mapping))
                for row in connection.execute(select(table))
            )
        result["audit_events"] = sorted(
            canonical_json({key: row._mapping[key] for key in _EVENT_COLUMNS})
            for row in connection.execute(select(_AUDIT).where(_AUDIT.c.db_id != own_id))
        )
        result["merge_log"] = sorted(
            canonical_json(
                {key: value for key, value in row._mapping.items() if key != "merged_at"}
            )
            for row in connection.execute(select(_MERGE_LOG))
        )
    return result
