"""The audit checks: hash chains, and the replay of every audited table against its rows.

Part of :mod:`collarreader.db.verify` (see its docstring for the checks).
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Table, select, text

from collarreader.db.audit import GENESIS, HASHED_FIELDS, row_state, same_state
from collarreader.db.findings import Finding
from collarreader.db.models import AUDITED_TABLES, AuditEvent
from collarreader.db.verify.canonical import RowText, hash_matches

_AUDIT: Table = AuditEvent.__table__  # type: ignore[assignment]
_MAX_PER_CHECK = 200
_BATCH = 5000

# ------------------------------------------------------------------------------ the checks


class _Findings:
    """Findings of one check, the first ``_MAX_PER_CHECK`` kept, the rest counted."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.kept: list[Finding] = []
        self.more = 0

    def add(self, finding: Finding) -> None:
        if len(self.kept) < _MAX_PER_CHECK:
            self.kept.append(finding)
        else:
            self.more += 1

    def result(self) -> list[Finding]:
        if not self.more:
            return self.kept
        summary = Finding(
            self.kept[0].check, f"… and {self.more} more findings in the {self.what}."
        )
        return [*self.kept, summary]


def _stream(
    connection: Connection, sql: str, parameters: dict[str, Any] | None = None
) -> Iterator[Sequence[Any]]:
    """The rows of a query, fetched as they are consumed (memory bounded).

    SQLite: the driver's own cursor, in the connection's transaction (steps through the
    result as it is fetched, without SQLAlchemy's cost per row). PostgreSQL: a server-side
    cursor read in batches.
    """
    if connection.dialect.name == "sqlite":
        raw: Any = connection.connection.driver_connection
        cursor = raw.execute(sql, parameters or {})
        try:
            while batch := cursor.fetchmany(_BATCH):
                yield from batch
        finally:
            cursor.close()
        return
    streamed = connection.execution_options(yield_per=_BATCH)
    yield from streamed.execute(text(sql), parameters or {})


def _check_chains(connection: Connection) -> list[Finding]:
    """Every chain streamed in ``(db_id, seq)`` order (the unique index): memory is bounded."""
    columns = ", ".join(f'"{name}"' for name in (*HASHED_FIELDS, "prev_hash", "hash"))
    findings: list[Finding] = []
    problems: _Findings | None = None
    current: Any = _NO_CHAIN
    expected_seq, prev_hash = 1, GENESIS
    sql = f"SELECT {columns} FROM audit_events ORDER BY db_id, seq"  # noqa: S608
    for row in _stream(connection, sql):
        db_id, seq_value, stored_prev, stored_hash = row[5], row[10], row[11], row[12]
        if problems is None or db_id != current:
            if problems is not None:
                findings.extend(problems.result())
            problems = _Findings(f"chain of database {db_id}")
            current, expected_seq, prev_hash = db_id, 1, GENESIS
        seq = int(seq_value)
        if seq != expected_seq:
            problems.add(
                Finding(
                    "chain",
                    f"Audit events {expected_seq}–{seq - 1} of database {db_id} are missing "
                    "(deleted?).",
                )
            )
        if stored_prev != prev_hash:
            problems.add(
                Finding(
                    "chain",
                    f"audit event {seq} of database {db_id}: prev_hash does not match the "
                    "previous hash.",
                )
            )
        if not hash_matches(stored_prev, row[:11], stored_hash):
            entity, entity_id, action = row[6], row[7], row[0]
            problems.add(
                Finding(
                    "chain",
                    f"audit event {seq} of database {db_id} ({entity} {entity_id}, {action}): "
                    "its hash does not match its content (changed after it was written).",
                    entity=entity,
                    entity_id=entity_id,
                )
            )
        expected_seq = seq + 1
        prev_hash = stored_hash
    if problems is not None:
        findings.extend(problems.result())
    return findings


def _load_state(text_value: str | None) -> dict[str, Any] | None:
    return None if text_value is None else json.loads(text_value)


def _same_state(first: str | None, second: str | None) -> bool:
    # Canonical text written by this package: equal text is equal state; differing text is
    # compared parsed (a float written by another build, another key order).
    if first == second:
        return True
    return same_state(_load_state(first), _load_state(second))


def _sort_key(value: Any) -> tuple[int, Any]:
    """SQLite's order of values (NULL, numbers, text, BLOB) as a Python sort key.

    Ids are text on both engines; a value of another type can only have been written behind
    the program's back, and must still merge in the order the database returns it.
    """
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, bytes(value))


_DONE = (4, b"")


def _check_replay(connection: Connection, own_id: str | None) -> list[Finding]:
    """Each table merged with its audit events, both streamed in id order.

    Per row, its events (a handful: one chain, or one per reader database for the rows every
    reader database shares) are linked per database and the latest one compared with the
    live row, so memory stays bounded whatever the size of the database.
    """
    problems = _Findings("replay")
    known = tuple(AUDITED_TABLES)
    unknown = connection.execute(
        select(_AUDIT.c.entity, _AUDIT.c.entity_id)
        .where(_AUDIT.c.entity.not_in(known))
        .distinct()
        .order_by(_AUDIT.c.entity, _AUDIT.c.entity_id)
    )
    for entity, _entity_id in unknown:
        problems.add(Finding("replay", f"Audit events name an unknown table {entity!r}.", entity))
    # PostgreSQL sorts text by the database's collation; "C" is byte order, Python's order.
    collate = "" if connection.dialect.name == "sqlite" else ' COLLATE "C"'
    for entity, table in AUDITED_TABLES.items():
        _replay_table(
            connection,
            entity=entity,
            table=table,
            own_id=own_id,
            collate=collate,
            problems=problems,
        )
    return problems.result()


def _event_groups(
    connection: Connection, entity: str, collate: str
) -> Iterator[tuple[Any, list[Sequence[Any]]]]:
    """The events of ``entity``, one list per row id, in id order."""
    sql = (
        "SELECT entity_id, db_id, seq, at, before, after FROM audit_events "  # noqa: S608
        f"WHERE entity = :entity ORDER BY entity_id{collate}"
    )
    group: list[Sequence[Any]] = []
    for row in _stream(connection, sql, {"entity": entity}):
        if group and row[0] != group[0][0]:
            yield group[0][0], group
            group = []
        group.append(row)
    if group:
        yield group[0][0], group


def _replay_table(
    connection: Connection,
    *,
    entity: str,
    table: Table,
    own_id: str | None,
    collate: str,
    problems: _Findings,
) -> None:
    builder = RowText.of(table, connection.dialect.name)
    live_rows = _stream(connection, f"{builder.select} ORDER BY id{collate}")
    groups = _event_groups(connection, entity, collate)
    live = next(live_rows, None)
    group = next(groups, None)
    while live is not None or group is not None:
        live_key = _DONE if live is None else _sort_key(live[builder.id_index])
        group_key = _DONE if group is None else _sort_key(group[0])
        if group is not None and group_key <= live_key:
            entity_id, events = group
            if entity == "db_identity" and entity_id != own_id:
                claimed: Any = _SKIP  # a merged database's own identity: kept in its chain
            else:
                claimed = _replay_row(entity, entity_id, events, problems)
            matched = live if group_key == live_key else None
            _compare(
                connection,
                entity=entity,
                table=table,
                builder=builder,
                row_id=entity_id,
                claimed=claimed,
                live=matched,
                problems=problems,
            )
            group = next(groups, None)
            if matched is not None:
                live = next(live_rows, None)
        elif live is not None:
            row_id = live[builder.id_index]
            problems.add(
                Finding(
                    "replay",
                    f"{entity} {row_id} has no audit event (written behind the program's back).",
                    entity,
                    row_id,
                )
            )
            live = next(live_rows, None)


_SKIP = object()
_NO_CHAIN = object()


def _replay_row(
    entity: str, entity_id: Any, events: list[Sequence[Any]], problems: _Findings
) -> str | None:
    """Link the row's events per database; return the ``after`` of the latest event."""
    by_db: dict[Any, list[Sequence[Any]]] = defaultdict(list)
    for event in events:
        by_db[event[1]].append(event)
    for db_events in by_db.values():
        db_events.sort(key=lambda event: int(event[2]))
        for previous, event in itertools.pairwise(db_events):
            if not _same_state(event[4], previous[5]):
                problems.add(
                    Finding(
                        "replay",
                        f"{entity} {entity_id}: audit event {event[2]} of database {event[1]} "
                        "starts from a state the previous event did not leave (an event is "
                        "missing).",
                        entity,
                        entity_id,
                    )
                )
    if len(events) == 1:
        only: str | None = events[0][5]
        return only
    last = max(events, key=lambda event: (event[3], event[1], int(event[2])))
    after: str | None = last[5]
    return after


def _compare(
    connection: Connection,
    *,
    entity: str,
    table: Table,
    builder: RowText,
    row_id: Any,
    claimed: Any,
    live: Sequence[Any] | None,
    problems: _Findings,
) -> None:
    """Compare a row's live values (None: no such row) with its claimed state (text)."""
    if claimed is _SKIP:
        if live is not None:
            problems.add(
                Finding(
                    "replay",
                    f"{entity} {row_id} has no audit event (written behind the program's back).",
                    entity,
                    row_id,
                )
            )
        return
    if live is None:
        if claimed is not None:
            problems.add(
                Finding(
                    "replay",
                    f"{entity} {row_id} is missing but its audit trail says it exists "
                    "(deleted behind the program's back).",
                    entity,
                    row_id,
                )
            )
        return
    if claimed is None:
        problems.add(
            Finding(
                "replay",
                f"{entity} {row_id} exists but its audit trail says it was deleted.",
                entity,
                row_id,
            )
        )
        return
    if builder.text(live) == claimed:
        return
    # Rare (a finding, a value of another type than the program writes, or text written by
    # another build): the state as row_state reads it.
    typed = connection.execute(select(table).where(table.c.id == row_id)).first()
    state = row_state(table, typed._mapping) if typed is not None else {}
    expected_state = _load_state(claimed) or {}
    columns = sorted(
        key for key in set(state) | set(expected_state) if state.get(key) != expected_state.get(key)
    )
    if not columns:  # equal, a column added by a later revision counting as null
        return
    problems.add(
        Finding(
            "replay",
            f"{entity} {row_id} differs from its audit trail in "
            f"{', '.join(columns)} (changed behind the program's back).",
            entity,
            row_id,
        )
    )
