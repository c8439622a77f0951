"""``collarreader verify``: whether a database is intact, current and explained by its audit.

Checks, in order (each problem is one :class:`Finding`):

1. SQLite ``PRAGMA integrity_check`` and ``PRAGMA foreign_key_check``;
2. the schema revision is the application's (:data:`~collarreader.db.engine.HEAD_REVISION`)
   and ``db_identity`` holds exactly one row that records it;
3. the audit chain of every database that wrote events (``db_id``): ``seq`` runs 1, 2, 3 … with
   no gap, each ``prev_hash`` is the previous event's ``hash``, and every ``hash`` recomputes
   (:func:`collarreader.db.audit.event_hash`);
4. replay: for every row an audit event names, the events of each database that changed it
   must link in ``seq`` order (each ``before`` equals that database's previous ``after``), and
   the last ``after`` — in the order ``at``, then ``db_id``, then ``seq`` when several
   databases changed the row (rows every reader database of a set shares: readers, cases,
   images) — must be the live row, so a row changed, inserted or deleted behind the program's
   back is found. ``db_identity`` events of other databases (merged reader databases) describe
   those databases, not a row of this one, and are not replayed onto a live row.

An SQLite file is opened read-only (``mode=ro``), without the pragmas of
:func:`collarreader.db.engine.make_engine`: verifying never writes to the file it checks.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, Table, create_engine, inspect, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from collarreader.db.audit import GENESIS, event_hash, row_state
from collarreader.db.engine import (
    HEAD_REVISION,
    current_revision,
    database_url,
    make_engine,
)
from collarreader.db.models import AUDITED_TABLES, AuditEvent, DbIdentity
from collarreader.errors import DatabaseError

_AUDIT: Table = AuditEvent.__table__  # type: ignore[assignment]
_MAX_PER_CHECK = 200


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with a database.

    Attributes
    ----------
    check : ``integrity``, ``foreign_key``, ``schema``, ``identity``, ``chain`` or ``replay``
    message : what is wrong, as a sentence naming the row or event
    entity, entity_id : the table and row concerned, when one is
    """

    check: str
    message: str
    entity: str | None = None
    entity_id: str | None = None

    def __str__(self) -> str:
        return f"[{self.check}] {self.message}"


def verify_database(path_or_url: str | Path) -> list[Finding]:
    """Check a database without changing it; return its findings (empty: it verifies).

    Parameters
    ----------
    path_or_url : SQLite file path or database URL (as for
        :func:`collarreader.db.engine.open_database`)

    Raises
    ------
    DatabaseError
        When the path does not exist or is no database at all (nothing can be checked).
    """
    url, path = database_url(path_or_url)
    if path is not None and not path.is_file():
        message = f"{path}: no such database file. Check the path."
        raise DatabaseError(message)
    engine = make_engine(url) if path is None else _read_only_engine(path)
    try:
        with engine.connect() as connection, connection.begin():
            return _verify(connection, is_sqlite=path is not None)
    except sa_exc.DBAPIError as error:
        label = str(path) if path is not None else url.render_as_string(True)
        message = (
            f"{label}: cannot be read as a database ({error.orig}). Restore it from a "
            f"backup ({Path(label).name}.bak-*)."
        )
        raise DatabaseError(message) from error
    finally:
        engine.dispose()


def _read_only_engine(path: Path) -> Engine:
    # A URI filename with mode=ro: SQLite refuses every write, and no journal-mode pragma runs
    # (make_engine's WAL pragma would rewrite the header of a file in another journal mode).
    uri = f"file:{quote(str(path))}?mode=ro"
    return create_engine(
        "sqlite+pysqlite://",
        creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
        poolclass=NullPool,
    )


def _verify(connection: Connection, *, is_sqlite: bool) -> list[Finding]:
    findings: list[Finding] = []
    if is_sqlite:
        for (result,) in connection.execute(text("PRAGMA integrity_check")):
            if result != "ok":
                findings.append(Finding("integrity", f"SQLite integrity check: {result}"))
        findings.extend(
            Finding(
                "foreign_key",
                f"{row[0]} row {row[1]} refers to a missing {row[2]} row.",
                entity=str(row[0]),
            )
            for row in connection.execute(text("PRAGMA foreign_key_check"))
        )
    tables = set(inspect(connection).get_table_names())
    missing = [name for name in (*AUDITED_TABLES, "audit_events") if name not in tables]
    if missing:
        findings.append(
            Finding(
                "schema",
                f"Not a complete collarreader database: table(s) {', '.join(missing)} missing.",
            )
        )
        return findings
    revision = current_revision(connection)
    if revision != HEAD_REVISION:
        findings.append(
            Finding(
                "schema",
                f"Schema revision is {revision}, this collarreader writes {HEAD_REVISION}; "
                "open it with collarreader once to upgrade (a backup is made).",
            )
        )
    identities = connection.execute(select(DbIdentity.__table__)).all()
    if len(identities) != 1:
        findings.append(
            Finding("identity", f"db_identity holds {len(identities)} rows instead of one.")
        )
    elif revision is not None and identities[0].schema_revision != revision:
        findings.append(
            Finding(
                "identity",
                f"db_identity records schema revision {identities[0].schema_revision} but the "
                f"schema is at {revision}.",
            )
        )
    events = [dict(row._mapping) for row in connection.execute(select(_AUDIT))]
    findings.extend(_check_chains(events))
    own_id = str(identities[0].id) if len(identities) == 1 else None
    findings.extend(_check_replay(connection, events, own_id))
    return findings


def _check_chains(events: list[dict[str, Any]]) -> list[Finding]:
    findings: list[Finding] = []
    chains: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        chains[event["db_id"]].append(event)
    for db_id, chain in chains.items():
        chain.sort(key=lambda event: int(event["seq"]))
        problems: list[Finding] = []
        expected_seq = 1
        prev_hash = GENESIS
        for event in chain:
            seq = int(event["seq"])
            where = f"audit event {seq} of database {db_id}"
            if seq != expected_seq:
                problems.append(
                    Finding(
                        "chain",
                        f"Audit events {expected_seq}–{seq - 1} of database {db_id} are missing "
                        "(deleted?).",
                    )
                )
            if event["prev_hash"] != prev_hash:
                problems.append(
                    Finding("chain", f"{where}: prev_hash does not match the previous hash.")
                )
            if event_hash(event["prev_hash"], event) != event["hash"]:
                problems.append(
                    Finding(
                        "chain",
                        f"{where} ({event['entity']} {event['entity_id']}, {event['action']}): "
                        "its hash does not match its content (changed after it was written).",
                        entity=event["entity"],
                        entity_id=event["entity_id"],
                    )
                )
            expected_seq = seq + 1
            prev_hash = event["hash"]
        findings.extend(_capped(problems, f"chain of database {db_id}"))
    return findings


def _order_key(event: dict[str, Any]) -> tuple[str, str, int]:
    return (event["at"], event["db_id"], int(event["seq"]))


def _load_state(text_value: str | None) -> dict[str, Any] | None:
    return None if text_value is None else json.loads(text_value)


def _check_replay(
    connection: Connection, events: list[dict[str, Any]], own_id: str | None
) -> list[Finding]:
    by_row: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        if event["entity"] == "db_identity" and event["entity_id"] != own_id:
            continue  # a merged database's own identity: kept in its chain, not a row here
        by_row[(event["entity"], event["entity_id"])].append(event)
    problems: list[Finding] = []
    expected: dict[str, dict[str, dict[str, Any] | None]] = defaultdict(dict)
    for (entity, entity_id), row_events in by_row.items():
        if entity not in AUDITED_TABLES:
            problems.append(
                Finding("replay", f"Audit events name an unknown table {entity!r}.", entity)
            )
            continue
        by_db: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in row_events:
            by_db[event["db_id"]].append(event)
        for db_events in by_db.values():
            db_events.sort(key=lambda event: int(event["seq"]))
            state: dict[str, Any] | None = None
            for index, event in enumerate(db_events):
                before = _load_state(event["before"])
                if index > 0 and before != state:
                    problems.append(
                        Finding(
                            "replay",
                            f"{entity} {entity_id}: audit event {event['seq']} of database "
                            f"{event['db_id']} starts from a state the previous event did not "
                            "leave (an event is missing).",
                            entity,
                            entity_id,
                        )
                    )
                state = _load_state(event["after"])
        last = max(row_events, key=_order_key)
        expected[entity][entity_id] = _load_state(last["after"])
    for entity, table in AUDITED_TABLES.items():
        live = {row.id: row_state(table, row._mapping) for row in connection.execute(select(table))}
        claimed = expected.get(entity, {})
        for row_id, state in live.items():
            if row_id not in claimed:
                problems.append(
                    Finding(
                        "replay",
                        f"{entity} {row_id} has no audit event (written behind the program's "
                        "back).",
                        entity,
                        row_id,
                    )
                )
            elif claimed[row_id] is None:
                problems.append(
                    Finding(
                        "replay",
                        f"{entity} {row_id} exists but its audit trail says it was deleted.",
                        entity,
                        row_id,
                    )
                )
            elif claimed[row_id] != state:
                expected_state = claimed[row_id] or {}
                columns = sorted(
                    key
                    for key in set(state) | set(expected_state)
                    if state.get(key) != expected_state.get(key)
                )
                problems.append(
                    Finding(
                        "replay",
                        f"{entity} {row_id} differs from its audit trail in "
                        f"{', '.join(columns)} (changed behind the program's back).",
                        entity,
                        row_id,
                    )
                )
        for row_id, state in claimed.items():
            if state is not None and row_id not in live:
                problems.append(
                    Finding(
                        "replay",
                        f"{entity} {row_id} is missing but its audit trail says it exists "
                        "(deleted behind the program's back).",
                        entity,
                        row_id,
                    )
                )
    return _capped(problems, "replay")


def _capped(findings: list[Finding], what: str) -> list[Finding]:
    if len(findings) <= _MAX_PER_CHECK:
        return findings
    rest = len(findings) - _MAX_PER_CHECK
    return [
        *findings[:_MAX_PER_CHECK],
        Finding(findings[0].check, f"… and {rest} more findings in the {what}."),
    ]
