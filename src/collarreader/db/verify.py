"""``collarreader verify``: whether a database is intact, current and explained by its audit.

Checks, in order (each problem is one :class:`Finding`):

1. SQLite ``PRAGMA integrity_check`` and ``PRAGMA foreign_key_check``;
2. the schema revision is the application's (:data:`~collarreader.db.engine.HEAD_REVISION`)
   and ``db_identity`` holds exactly one row that records it;
3. the audit chain of every database that wrote events (``db_id``): ``seq`` runs 1, 2, 3 … with
   no gap, each ``prev_hash`` is the previous event's ``hash``, and every ``hash`` recomputes
   (:func:`collarreader.db.audit.event_hash`);
4. signatures and anchors (:mod:`collarreader.db.anchors`): every chain against its author's
   key, and a study database's merged chains against the heads its merges recorded;
5. replay: for every row an audit event names, the events of each database that changed it
   must link in ``seq`` order (each ``before`` equals that database's previous ``after``), and
   the last ``after`` — in the order ``at``, then ``db_id``, then ``seq`` when several
   databases changed the row (rows every reader database of a set shares: readers, cases,
   images) — must be the live row, so a row changed, inserted or deleted behind the program's
   back is found. ``db_identity`` events of other databases (merged reader databases) describe
   those databases, not a row of this one, and are not replayed onto a live row.

An SQLite file is opened read-only (``mode=ro``), without the pragmas of
:func:`collarreader.db.engine.make_engine`: verifying never writes to the file it checks.

Memory stays bounded whatever the size of the database: the chains are streamed in
``(db_id, seq)`` order (the unique index), and each table is merged with its audit events,
both streamed in id order (the primary key and the ``(entity, entity_id)`` index), one row's
events at a time (SQLite: the driver's cursor; PostgreSQL: server-side cursors, ordered with
``COLLATE "C"`` so that both sides sort as Python compares). A live row is compared with its
claimed state as canonical JSON text built from the raw values (:class:`RowText`); only when
the texts differ is the row read through SQLAlchemy and compared value by value.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Engine,
    Float,
    Integer,
    Table,
    create_engine,
    inspect,
    select,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from collarreader.db.anchors import check_signatures
from collarreader.db.audit import GENESIS, HASHED_FIELDS, row_state, same_state
from collarreader.db.engine import (
    HEAD_REVISION,
    current_revision,
    database_url,
    make_engine,
    restore_advice,
)
from collarreader.db.findings import Finding
from collarreader.db.models import AUDITED_TABLES, AuditEvent, DbIdentity
from collarreader.errors import DatabaseError

_AUDIT: Table = AuditEvent.__table__  # type: ignore[assignment]
_MAX_PER_CHECK = 200
_BATCH = 5000
_sha256 = hashlib.sha256


def _make_encode() -> Callable[[Any], str]:
    """``canonical_json`` as one function made once.

    ``json.dumps`` with options builds an encoder per call, and its ``encode`` a C encoder per
    call: a third of the time of an event's text. The C encoder is made here once with
    canonical_json's settings (no circular-reference markers: rows are flat), the pure-Python
    encoder when the C one is missing.
    """
    options = {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False}
    encoder = json.JSONEncoder(allow_nan=False, **options)  # type: ignore[arg-type]
    if c_make_encoder is None:  # pragma: no cover - CPython has the C encoder
        return encoder.encode
    iterencode = c_make_encoder(
        None, encoder.default, encode_basestring, None, ":", ",", True, False, False
    )

    def encode(value: Any) -> str:
        return "".join(iterencode(value, 0))

    return encode


_encode = _make_encode()


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
    with read_only(path_or_url) as (connection, is_sqlite):
        return _verify(connection, is_sqlite=is_sqlite)


@contextmanager
def read_only(path_or_url: str | Path) -> Iterator[tuple[Connection, bool]]:
    """A connection in one read transaction that cannot write (SQLite ``mode=ro``).

    Yields the connection and whether it is SQLite; database errors become ``DatabaseError``
    naming the database.
    """
    url, path = database_url(path_or_url)
    if path is not None and not path.is_file():
        kind = "a folder, not a database file" if path.is_dir() else "no such database file"
        message = f"{path}: {kind}. Check the path."
        raise DatabaseError(message)
    engine = make_engine(url) if path is None else _read_only_engine(path)
    try:
        with engine.connect() as connection, connection.begin():
            yield connection, path is not None
    except (sa_exc.DBAPIError, sqlite3.Error) as error:
        # The streamed scans use the driver's cursor on SQLite: its errors arrive unwrapped.
        reason = error.orig if isinstance(error, sa_exc.DBAPIError) else error
        label = str(path) if path is not None else url.render_as_string(True)
        advice = (
            restore_advice(path)
            if path is not None
            else "Check the URL and that the server is running."
        )
        message = f"{label}: cannot be read as a database ({reason}). {advice}"
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
    own_id = str(identities[0].id) if len(identities) == 1 else None
    findings.extend(_check_chains(connection))
    findings.extend(check_signatures(connection, own_id))
    findings.extend(_check_replay(connection, own_id))
    return findings


# ------------------------------------------------------------------------------ canonical text


def _quoted(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def event_text(values: Sequence[Any]) -> str:
    """Canonical JSON of an event's hashed fields, given in :data:`HASHED_FIELDS` order.

    Exactly the text :func:`collarreader.db.audit.event_hash` hashes (``canonical_json`` of
    the same mapping). Written out by hand when every value is text or None and ``seq`` an
    integer (the keys are fixed and already sorted): twice as fast as encoding a dict.

    Raises
    ------
    TypeError
        When a value is of a type JSON cannot hold (a BLOB written behind the program's back).
    """
    action, actor, after, at, before, db_id, entity, entity_id, event_id, reason, seq = values
    if type(seq) is int:
        try:
            return (
                f'{{"action":{_quoted(action)},"actor":{_quoted(actor)},'
                f'"after":{_quoted(after)},"at":{_quoted(at)},"before":{_quoted(before)},'
                f'"db_id":{_quoted(db_id)},"entity":{_quoted(entity)},'
                f'"entity_id":{_quoted(entity_id)},"id":{_quoted(event_id)},'
                f'"reason":{_quoted(reason)},"seq":{seq}}}'
            )
        except TypeError:
            pass  # a value that is not text: encoded as canonical_json encodes it
    return _encode(dict(zip(HASHED_FIELDS, values, strict=True)))


def hash_matches(prev_hash: Any, values: Sequence[Any], stored_hash: Any) -> bool:
    """Whether ``stored_hash`` is the hash of an event (hashed fields in ``HASHED_FIELDS`` order).

    Parameters
    ----------
    prev_hash : the event's stored ``prev_hash``
    values : the event's :data:`~collarreader.db.audit.HASHED_FIELDS`, in that order
    stored_hash : the event's stored ``hash``
    """
    try:
        text_ = prev_hash + event_text(values)
    except (TypeError, ValueError):  # a value no JSON holds: the event cannot be ours
        return False
    return bool(_sha256(text_.encode("utf-8")).hexdigest() == stored_hash)


# SQLite types (``typeof``) of the values the program writes, per column type; a row with any
# other type is compared through row_state instead.
_SQLITE_TYPES = {
    "bool": "integer",
    "float": "real",
    "int": "integer",
    "json": "text",
    "text": "text",
}


def _kind(column_type: Any) -> str:
    for sa_type, name in ((Boolean, "bool"), (Float, "float"), (Integer, "int"), (JSON, "json")):
        if isinstance(column_type, sa_type):
            return name
    return "text"


def _sqlite_json(value: Any) -> Any:
    return json.loads(value)


@dataclass(frozen=True)
class RowText:
    """Canonical JSON text of live rows of one table, from the raw values the driver returns.

    :attr:`select` lists the columns (sorted by name) and a last value that tells whether
    every value has the type the program writes (SQLite's ``typeof``; PostgreSQL's columns
    are typed). :meth:`text` of such a result row is the text of
    ``canonical_json(row_state(table, row))``; it is None when the types are not the
    program's (compare through :func:`collarreader.db.audit.row_state` then). Equal text
    is equal state; differing text is not proof of a difference.

    Attributes
    ----------
    columns : the table's column names, sorted
    select : ``SELECT <columns>, <typed> FROM <table>`` (add WHERE / ORDER BY)
    decoders : (position, function) for values the driver returns in another form than
        row_state's (SQLite: booleans as 0/1, JSON as its text)
    id_index : position of ``id`` in :attr:`columns`
    """

    columns: tuple[str, ...]
    select: str
    decoders: tuple[tuple[int, Callable[[Any], Any]], ...]
    id_index: int

    @classmethod
    def of(cls, table: Table, dialect: str) -> RowText:
        """The text builder of ``table`` on the ``sqlite`` or ``postgresql`` dialect."""
        ordered = sorted(table.columns, key=lambda column: column.name)
        names = tuple(column.name for column in ordered)
        kinds = [_kind(column.type) for column in ordered]
        decoders: list[tuple[int, Callable[[Any], Any]]] = []
        typed = "1"
        if dialect == "sqlite":
            decoders = [
                (index, bool if kind == "bool" else _sqlite_json)
                for index, kind in enumerate(kinds)
                if kind in ("bool", "json")
            ]
            typed = " AND ".join(
                f"typeof(\"{name}\") IN ('{_SQLITE_TYPES[kind]}', 'null')"
                for name, kind in zip(names, kinds, strict=True)
            )
        listed = ", ".join(f'"{name}"' for name in names)
        return cls(
            columns=names,
            select=f"SELECT {listed}, {typed} FROM {table.name}",  # noqa: S608
            decoders=tuple(decoders),
            id_index=names.index("id"),
        )

    def text(self, row: Sequence[Any]) -> str | None:
        """The canonical JSON of a result row of :attr:`select`, or None (see the class)."""
        if not row[-1]:
            return None
        values = list(row[:-1])
        try:
            for index, decode in self.decoders:
                if values[index] is not None:
                    values[index] = decode(values[index])
            return _encode(dict(zip(self.columns, values, strict=True)))
        except (TypeError, ValueError):  # JSON that does not parse, NaN or infinity
            return None


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
