"""``collarreader merge``: reader databases into one study database.

A merge copies each source's audit events verbatim (same ``db_id``, ``seq`` and hashes, so
each reader's chain verifies on its own in the study database) and brings the study's rows to
the state those events leave. The rules:

Validated
    A source must be an intact collarreader *reader* database: an SQLite file (magic bytes)
    that passes SQLite's ``quick_check``, with the tables, columns and identity of this
    collarreader, of the study's reading set and protocol, holding only its own chain and
    no changes to tables a reader does not write, and whose chain and rows verify as
    :func:`collarreader.db.verify.verify_database` checks them (hashes recomputed; every
    row's events link and end in the live row). Sources are opened read-only; in a large
    batch, worker processes check the next sources while one is being merged.
Atomic per source
    One transaction per source (``BEGIN IMMEDIATE`` on SQLite, a row lock on ``db_identity``
    on PostgreSQL): a source is merged completely or not at all. A refused source leaves the
    study database as it was and does not hold back the others; the call then raises
    :class:`~collarreader.errors.MergeError` naming every refused file and why, and what was
    merged. A new study database is created only for a source that is accepted.
Idempotent
    The study's own audit events tell what a source already brought: the tail of the source's
    chain (``db_id``) in the study. A source whose tail is already there adds nothing (not
    even a merge-log row).
Incremental
    A newer copy of a merged reader database (same ``db_id``, more events) brings only its new
    events, replayed in ``seq`` order onto the rows they name. The merged prefix must match
    hash for hash (the hash of the study's last event of that chain equals the source's event
    at the same ``seq``); otherwise the copy is a fork and is refused.
Conflicts
    Readings have deterministic ids (case and reader, :mod:`collarreader.db.ids`), so two
    databases of the same reader that read the same case hold the same reading id. A source
    whose readings the study already holds from another database is refused with the cases
    concerned.
Order-independent
    Rows only readers write (readings, calibrations, annotations, scores) belong to one chain.
    Rows every reader database of the set shares (readers, cases, images) take the ``after``
    of their latest event in the order ``at``, ``db_id``, ``seq`` over all chains — the rule
    :mod:`collarreader.db.verify` replays — so A then B equals B then A
    (:func:`canonical_dump`). A source's own ``db_identity`` row is not copied; its events
    stay in its chain.

SQLite targets take the source's rows with ``ATTACH`` + ``INSERT … SELECT`` (no Python per
row; shared rows are compared with the study's in SQL); PostgreSQL targets with
``COPY … FROM STDIN`` through psycopg. The SQLite target keeps its WAL journal and
``synchronous=FULL`` during a merge, so a merged source is on disk before the next one
starts (with ``NORMAL`` and one checkpoint at the end, a bare copy was at most 10–15 %
faster on the loaded reference machine: not worth a window in which a reported merge can
be lost). Each merged source adds one ``merge_log`` row (not audited): source UUID, file
name, counts of what the source holds, its last ``seq`` and hash, when.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Float,
    Integer,
    Table,
    delete,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url

from collarreader.db.audit import GENESIS, HASHED_FIELDS, canonical_json, row_state
from collarreader.db.engine import (
    REVISIONS,
    STUDY_LEAD,
    Database,
    database_url,
    make_engine,
    open_database,
)
from collarreader.db.ids import NAMESPACE
from collarreader.db.models import AUDITED_TABLES, AuditEvent, MergeLogRow
from collarreader.db.transaction import Transaction
from collarreader.db.verify import hash_matches
from collarreader.errors import MergeError
from collarreader.model import DatabaseRole, ProgressCallback, utc_now_iso

__all__ = [
    "OWNED_TABLES",
    "SHARED_TABLES",
    "MergeReport",
    "SourceOutcome",
    "canonical_dump",
    "merge_databases",
]


SHARED_TABLES: tuple[str, ...] = ("readers", "cases", "images")
"""Reading-set rows every reader database of a set holds alike, parents first."""

OWNED_TABLES: tuple[str, ...] = ("readings", "calibrations", "annotations", "scores")
"""Rows one reader's chain writes, parents first (foreign keys point backwards)."""

_TABLE_ORDER = (*SHARED_TABLES, *OWNED_TABLES)
_AUDIT: Table = AuditEvent.__table__  # type: ignore[assignment]
_MERGE_LOG: Table = MergeLogRow.__table__  # type: ignore[assignment]
_EVENT_COLUMNS = tuple(column.name for column in _AUDIT.columns)
_SQLITE_MAGIC = b"SQLite format 3\x00"
_CHUNK = 500
_MAX_LISTED = 12
_MAX_PROBLEMS = 50
_encode_str: Callable[[str], str] = encode_basestring  # C-accelerated; json.dumps uses it
_CACHE_KIB = -256 * 1024  # negative: KiB, SQLite's convention
_PARALLEL_BYTES = 64 * 2**20  # below this, starting worker processes costs more than it saves


# ------------------------------------------------------------------------------ results


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
    """

    target: str
    created: bool
    sources: tuple[SourceOutcome, ...]
    seconds: float

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
        lines = [head]
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


# ------------------------------------------------------------------------------ sources


@dataclass(frozen=True)
class _Source:
    path: Path
    label: str
    db_id: str
    reader_id: str
    set_uuid: str
    protocol_name: str
    protocol_version: str
    protocol_sha256: str
    schema_revision: str
    last_seq: int
    last_hash: str
    counts: dict[str, int]
    key_commitment: str | None = None


@dataclass(frozen=True)
class _ProtocolRef:
    """What a database records of a protocol (satisfies ``engine.ProtocolIdentity``)."""

    name: str
    version: str
    sha256: str


def _refuse(source: Path | str, reason: str) -> MergeError:
    name = Path(source).name if isinstance(source, Path) else source
    return MergeError(f"{name}: refused: {reason}")


def _sqlite_uri(path: Path) -> str:
    return f"file:{quote(str(path))}?mode=ro"


@contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a source inside one read transaction (one snapshot)."""
    connection = sqlite3.connect(_sqlite_uri(path), uri=True, isolation_level=None)
    try:
        connection.execute("BEGIN")
        yield connection
    finally:
        connection.close()


def _inspect_source(path: Path) -> _Source:
    """Check one source completely (read-only) and describe it; ``MergeError`` if refused."""
    if not path.is_file():
        raise _refuse(path, f"no such file ({path}). Check the path.")
    with path.open("rb") as handle:
        magic = handle.read(len(_SQLITE_MAGIC))
    if magic != _SQLITE_MAGIC:
        raise _refuse(
            path,
            "not an SQLite database (corrupt, truncated or another kind of file). Ask the "
            "reader for the .sqlite file again, or restore it from a backup.",
        )
    try:
        return _describe_source(path)
    except sqlite3.Error as error:
        raise _refuse(
            path,
            f"cannot be read as a database ({error}); it is damaged or truncated. Ask the "
            "reader for the file again, or restore it from a backup.",
        ) from None


def _inspect_one(path: Path) -> _Source | MergeError:
    try:
        return _inspect_source(path)
    except MergeError as error:
        return error


def _describe_source(path: Path) -> _Source:
    with _read_only(path) as connection:
        problem = connection.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise _refuse(
                path,
                f"SQLite reports damage ({problem}). Ask the reader for the file again, or "
                "restore it from a backup.",
            )
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        needed = {"db_identity", "audit_events", "alembic_version", *_TABLE_ORDER}
        if "db_identity" not in tables or "audit_events" not in tables:
            raise _refuse(
                path, "not a collarreader database (no db_identity or audit_events table)."
            )
        missing = needed - tables
        if missing:
            raise _refuse(
                path, f"an incomplete collarreader database (no {', '.join(sorted(missing))})."
            )
        revisions = [
            row[0] for row in connection.execute("SELECT version_num FROM alembic_version")
        ]
        if len(revisions) != 1 or revisions[0] not in REVISIONS:
            raise _refuse(
                path,
                f"schema revision {revisions} is not one this collarreader knows "
                f"({', '.join(REVISIONS)}); merge with the collarreader version that wrote it.",
            )
        identities = connection.execute(
            "SELECT id, role, reader_id, set_uuid, protocol_name, protocol_version, "
            "protocol_sha256 FROM db_identity"
        ).fetchall()
        if len(identities) != 1:
            raise _refuse(path, f"db_identity holds {len(identities)} rows instead of one.")
        db_id, role, reader_id, set_uuid, p_name, p_version, p_sha = identities[0]
        # Revision 0004 and later: the set's commitment to its key, carried into the study.
        columns = {row[1] for row in connection.execute("PRAGMA table_info(db_identity)")}
        commitment = (
            connection.execute("SELECT key_commitment FROM db_identity").fetchone()[0]
            if "key_commitment" in columns
            else None
        )
        if role != DatabaseRole.READER or not reader_id:
            raise _refuse(
                path,
                f"it is a {role} database, not a reader database; merge the readers' "
                "databases themselves.",
            )
        if not set_uuid or not p_sha:
            raise _refuse(path, "it records no reading set or protocol; it was never read.")
        foreign = connection.execute(
            "SELECT count(*) FROM audit_events WHERE db_id <> ?", (db_id,)
        ).fetchone()[0]
        if foreign:
            raise _refuse(
                path,
                f"it holds {foreign} audit events of other databases; a reader database holds "
                "only its own.",
            )
        allowed = ("db_identity", *_TABLE_ORDER)
        placeholders = ", ".join("?" for _ in allowed)
        stray = connection.execute(
            f"SELECT DISTINCT entity FROM audit_events WHERE entity NOT IN ({placeholders})",  # noqa: S608
            allowed,
        ).fetchall()
        if stray:
            raise _refuse(
                path,
                f"it holds changes of {', '.join(sorted(r[0] for r in stray))}, which readers "
                "do not write; it is not a reader database.",
            )
        tail = connection.execute(
            "SELECT seq, hash FROM audit_events WHERE db_id = ? ORDER BY seq DESC LIMIT 1",
            (db_id,),
        ).fetchone()
        if tail is None:
            raise _refuse(path, "it has no audit events; it is empty.")
        counts = {
            name: int(connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0])  # noqa: S608
            for name in _TABLE_ORDER
        }
        counts["audit_events"] = int(tail[0])
        _check_columns(connection, path)
        problems = _verify_rows(connection, str(db_id))
    if problems:
        shown = "; ".join(problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise _refuse(
            path,
            f"it does not verify: {shown}{more}. Run 'collarreader verify {path}' for every "
            "finding; merge only an intact copy of the reader's database.",
        )
    return _Source(
        path=path,
        label=path.name,
        db_id=str(db_id),
        reader_id=str(reader_id),
        set_uuid=str(set_uuid),
        protocol_name=str(p_name),
        protocol_version=str(p_version),
        protocol_sha256=str(p_sha),
        schema_revision=revisions[0],
        last_seq=int(tail[0]),
        last_hash=str(tail[1]),
        key_commitment=commitment,
        counts=counts,
    )


def _check_columns(connection: sqlite3.Connection, path: Path) -> None:
    """The source's tables must have this collarreader's columns (rows copy by name)."""
    for name in ("audit_events", "db_identity", *_TABLE_ORDER):
        found = {row[1] for row in connection.execute(f"PRAGMA table_info({name})")}
        wanted = set(
            _AUDIT.columns.keys() if name == "audit_events" else AUDITED_TABLES[name].columns.keys()
        )
        if found != wanted:
            raise _refuse(
                path,
                f"its {name} table has other columns than this collarreader's "
                f"({', '.join(sorted(found ^ wanted))}); open it with this collarreader "
                "once (it upgrades after a backup), then merge it.",
            )


def _same_state(stored: str | None, live: str | None) -> bool:
    # Both sides are canonical JSON written by this package, so equal text is equal state;
    # differing text is compared parsed (a float written by another build, key order).
    if stored == live:
        return True
    if stored is None or live is None:
        return False
    return bool(json.loads(stored) == json.loads(live))


def _kinds(table: Table) -> list[tuple[str, str]]:
    kinds = []
    for column in table.columns:
        kind = "str"
        for sa_type, name in (
            (Boolean, "bool"),
            (Float, "float"),
            (Integer, "int"),
            (JSON, "json"),
        ):
            if isinstance(column.type, sa_type):
                kind = name
                break
        kinds.append((column.name, kind))
    return kinds


def _row_matches(claimed_text: str, values: Sequence[Any], kinds: list[tuple[str, str]]) -> bool:
    """Whether a live row (raw SQLite values) has the state of the claimed canonical JSON.

    The normalisation of :func:`collarreader.db.audit.row_state`, without building the
    state: booleans from 0/1, floats, integers, JSON columns decoded, text.
    """
    claimed = json.loads(claimed_text)
    if not isinstance(claimed, dict) or len(claimed) != len(kinds):
        return False
    for (name, kind), value in zip(kinds, values, strict=True):
        if name not in claimed:
            return False
        expected = claimed[name]
        if value is None or expected is None:
            if value is not expected:
                return False
        elif kind == "bool":
            if bool(value) != expected:
                return False
        elif kind == "float":
            if float(value) != expected:
                return False
        elif kind == "int":
            if int(value) != expected:
                return False
        elif kind == "json":
            if json.loads(value) != expected:
                return False
        elif str(value) != expected:
            return False
    return True


def _verify_rows(connection: sqlite3.Connection, db_id: str) -> list[str]:
    """The checks of :func:`collarreader.db.verify.verify_database`, fast, for one chain.

    A reader database has one chain (checked by the caller): ``seq`` from 1 without gaps,
    every ``prev_hash`` the previous ``hash``, every hash recomputed; each row's events link
    (``before`` equals the previous ``after``) and its last ``after`` is the live row; no
    live row lacks events (SQLite's ``quick_check`` ran before). Returns the problems found.
    """
    problems: list[str] = []
    expected_seq, prev = 1, GENESIS
    last: dict[tuple[str, str], str | None] = {}
    columns = ", ".join(f'"{name}"' for name in (*HASHED_FIELDS, "prev_hash", "hash"))
    # Through the (db_id, seq) index: in order without sorting the whole table (the caller
    # has checked that every event is the database's own).
    cursor = connection.execute(
        f"SELECT {columns} FROM audit_events WHERE db_id = ? ORDER BY seq",  # noqa: S608
        (db_id,),
    )
    for row in cursor:
        prev_hash, stored_hash = row[11], row[12]
        seq, entity, entity_id, before = row[10], row[6], row[7], row[4]
        if seq != expected_seq:
            problems.append(f"[chain] audit events {expected_seq}–{seq - 1} are missing")
        if prev_hash != prev:
            problems.append(f"[chain] audit event {seq}: prev_hash does not match the previous")
        if not hash_matches(prev_hash, row[:11], stored_hash):
            problems.append(
                f"[chain] audit event {seq} ({entity} {entity_id}): its hash does not match "
                "its content (changed after it was written)"
            )
        key = (entity, entity_id)
        if key in last and not _same_state(before, last[key]):
            problems.append(
                f"[replay] {entity} {entity_id}: audit event {seq} starts from a state the "
                "previous event did not leave (an event is missing)"
            )
        last[key] = row[2]
        expected_seq, prev = (seq + 1 if isinstance(seq, int) else expected_seq), stored_hash
        if len(problems) > _MAX_PROBLEMS:
            return problems
    for name in ("db_identity", *_TABLE_ORDER):
        kinds = _kinds(AUDITED_TABLES[name])
        listed = ", ".join(f'"{column}"' for column, _kind in kinds)
        id_index = [column for column, _kind in kinds].index("id")
        for values in connection.execute(f"SELECT {listed} FROM {name}"):  # noqa: S608
            key = (name, str(values[id_index]))
            if key not in last:
                problems.append(
                    f"[replay] {name} {key[1]} has no audit event (written behind the "
                    "program's back)"
                )
                continue
            claimed = last.pop(key)
            if claimed is None:
                problems.append(
                    f"[replay] {name} {key[1]} exists but its audit trail says it was deleted"
                )
            elif not _row_matches(claimed, values, kinds):
                problems.append(
                    f"[replay] {name} {key[1]} differs from its audit trail (changed behind "
                    "the program's back)"
                )
            if len(problems) > _MAX_PROBLEMS:
                return problems
    for (entity, entity_id), claimed in last.items():
        if claimed is not None and entity in ("db_identity", *_TABLE_ORDER):
            problems.append(
                f"[replay] {entity} {entity_id} is missing but its audit trail says it exists "
                "(deleted behind the program's back)"
            )
    return problems


# ------------------------------------------------------------------------------ the target


def _ensure_postgres_database(target: str) -> bool:
    """Create the PostgreSQL database named in ``target`` when the server lacks it."""
    import psycopg

    url = make_url(target).set(drivername="postgresql")
    name = url.database
    if not name:
        raise MergeError(f"{url.render_as_string(True)}: the URL names no database.")
    conninfo = url.set(database="postgres").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            found = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if found is not None:
                return False
            connection.execute(f'CREATE DATABASE "{name}"')  # name from the operator's URL
            return True
    except psycopg.Error as error:
        message = (
            f"{url.render_as_string(True)}: cannot reach the PostgreSQL server or create the "
            f"database ({error}). Check the URL, the server and the user's rights."
        )
        raise MergeError(message) from None


def _open_target(target: str | Path, first: _Source) -> tuple[Database, bool]:
    """Open the study database, or create it with the first source's set and protocol."""
    url, path = database_url(target)
    if path is None:
        _ensure_postgres_database(str(target))
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                exists = inspect(connection).has_table("db_identity")
        finally:
            engine.dispose()
    else:
        exists = path.exists() and path.stat().st_size > 0
        if exists:
            _check_target_file(path)
    if not exists:
        protocol = _ProtocolRef(first.protocol_name, first.protocol_version, first.protocol_sha256)
        database = open_database(
            target,
            create=True,
            role="study",
            set_uuid=first.set_uuid,
            protocol=protocol,
            key_commitment=first.key_commitment,
        )
        return database, True
    database = open_database(target, role="study")
    identity = database.identity
    if (
        identity.set_uuid is None
        or identity.protocol_sha256 is None
        or (identity.key_commitment is None and first.key_commitment is not None)
    ):
        # A study database made before it knew its set: the first merge records it (audited).
        with database.write() as connection:
            tx = Transaction(
                connection,
                db_id=identity.id,
                actor=STUDY_LEAD,
                at=utc_now_iso(),
                reason="reading set and protocol of the first merged reader database",
                lock_identity=not database.is_sqlite,
            )
            tx.update(
                "db_identity",
                identity.id,
                {
                    "set_uuid": identity.set_uuid or first.set_uuid,
                    "protocol_name": identity.protocol_name or first.protocol_name,
                    "protocol_version": identity.protocol_version or first.protocol_version,
                    "protocol_sha256": identity.protocol_sha256 or first.protocol_sha256,
                    "key_commitment": identity.key_commitment or first.key_commitment,
                },
            )
        database.close()
        database = open_database(target, role="study")
    return database, False


def _check_against(source: _Source, set_uuid: str, protocol_sha256: str, study: str) -> None:
    if source.set_uuid != set_uuid:
        raise _refuse(
            source.path,
            f"it holds reading set {source.set_uuid}, but {study} holds set {set_uuid}. "
            "Merge only databases read on this study's reading set.",
        )
    if source.protocol_sha256 != protocol_sha256:
        raise _refuse(
            source.path,
            f"it was read with protocol {source.protocol_name} {source.protocol_version} "
            f"(sha256 {source.protocol_sha256[:12]}…), but {study} uses sha256 "
            f"{protocol_sha256[:12]}…. Merge only databases read with the study's protocol.",
        )


# ------------------------------------------------------------------------------ merging


def merge_databases(
    target: str | Path,
    sources: Sequence[str | Path],
    *,
    progress: ProgressCallback | None = None,
) -> MergeReport:
    """Merge reader databases into a study database (created when absent).

    Each source is checked completely, then merged in its own transaction; while one source
    is merged, the next ones are checked in worker processes (large batches).

    Parameters
    ----------
    target : the study database: SQLite path or SQLAlchemy URL (``postgresql://…``); created
        (role ``study``, the reading set and protocol of the first accepted source) when
        absent
    sources : reader databases (SQLite files), merged in this order
    progress : called as ``progress(done, total)`` after each source

    Returns
    -------
    MergeReport
        Per source: merged, updated (newer copy) or already merged, with row counts.

    Raises
    ------
    MergeError
        When any source was refused, after the others were merged: naming each refused file
        and the reason (not a reader database of ours, damaged or truncated, another reading
        set or protocol, an audit chain or rows that do not verify, a fork of an already
        merged database, readings the study already holds from another database of the same
        reader) and listing what was merged. A refused source leaves the study database as
        it was; when every source is refused, a new study database is not even created.
    DatabaseError
        When the target cannot be opened or created, or is not a study database.
    """
    started = time.perf_counter()
    if not sources:
        raise MergeError("No source databases given: name the readers' .sqlite files.")
    paths = [Path(given).expanduser().resolve() for given in sources]
    problems: list[str] = []
    outcomes: list[SourceOutcome] = []
    database: Database | None = None
    created = False
    if progress is not None:
        progress(0, len(paths))
    try:
        for done, result in enumerate(_inspected(paths), start=1):
            if isinstance(result, MergeError):
                problems.append(str(result))
            else:
                if database is None:
                    database, created = _open_target(target, result)
                identity = database.identity
                try:
                    _check_against(
                        result,
                        identity.set_uuid or "",
                        identity.protocol_sha256 or "",
                        database.label,
                    )
                    outcomes.append(_merge_source(database, result))
                except MergeError as error:
                    problems.append(str(error))
            if progress is not None:
                progress(done, len(paths))
    finally:
        if database is not None:
            database.close()
    report = MergeReport(
        target=str(target) if database is None else database.label,
        created=created,
        sources=tuple(outcomes),
        seconds=time.perf_counter() - started,
    )
    if problems:
        raise MergeError(_problems_text(problems, report, len(paths)))
    return report


def _inspected(paths: Sequence[Path]) -> Iterator[_Source | MergeError]:
    """Each source checked, in order; large batches checked ahead in worker processes.

    The workers leave one core to the merging process, which inserts while they check (on
    two cores: one worker checking source *k + 1* while source *k* is inserted).
    """
    workers = min((os.cpu_count() or 1) - 1, len(paths) - 1)
    size = sum(path.stat().st_size for path in paths if path.is_file())
    if workers < 1 or size < _PARALLEL_BYTES:
        for path in paths:
            yield _inspect_one(path)
        return
    # "spawn": a forked copy of a process running threads (a progress bar) can deadlock.
    done = 0
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_inspect_one, path) for path in paths]
            try:
                for future in futures:
                    result = future.result()
                    done += 1
                    yield result
            finally:
                for future in futures:
                    future.cancel()
    except BrokenProcessPool:
        # Workers could not start (e.g. a script without a __main__ guard): check here.
        for path in paths[done:]:
            yield _inspect_one(path)


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


def _check_target_file(path: Path) -> None:
    with path.open("rb") as handle:
        magic = handle.read(len(_SQLITE_MAGIC))
    if magic != _SQLITE_MAGIC:
        raise MergeError(
            f"{path}: the study database is not an SQLite file; choose the study database "
            "or a new file name."
        )


def _merge_source(database: Database, source: _Source) -> SourceOutcome:
    if database.is_sqlite:
        with _attached(database, source.path) as connection:
            return _merge_in(connection, source, _SqliteBulk(connection, source.db_id))
    bulk = _PostgresBulk(source.path, source.db_id)
    try:
        with database.write() as connection:
            # Serialises merges (and study-lead writes) into one PostgreSQL study database.
            connection.execute(text("SELECT id FROM db_identity FOR UPDATE")).all()
            bulk.connection = connection
            return _merge_in(connection, source, bulk)
    finally:
        bulk.close()


@contextmanager
def _attached(database: Database, path: Path) -> Iterator[Connection]:
    """A write transaction on the SQLite target with the source attached read-only as ``src``."""
    with database.engine.connect() as plain:
        raw: Any = plain.connection.driver_connection
        # Inserting into the indexes of a large study database with random UUID keys is
        # bound by the page cache (SQLite's default is 2 MiB): 256 MiB nearly doubles it.
        raw.execute(f"PRAGMA main.cache_size = {_CACHE_KIB}")
        # ATTACH is refused inside a transaction: run it on the driver before SQLAlchemy begins.
        raw.execute("ATTACH DATABASE ? AS src", (_sqlite_uri(path),))
        try:
            connection = plain.execution_options(collar_begin="IMMEDIATE")
            with connection.begin():
                yield connection
        finally:
            raw.execute("DETACH DATABASE src")


def _merge_in(connection: Connection, source: _Source, bulk: _Bulk) -> SourceOutcome:
    """Merge one verified source inside the open write transaction ``connection``."""
    tail = bulk.source_tail()
    if tail != (source.last_seq, source.last_hash):
        raise _refuse(
            source.path,
            "it changed while it was being merged (is the reader still working on it?). "
            "Close the reader's collarreader and merge a copy.",
        )
    target_tail = connection.execute(
        select(_AUDIT.c.seq, _AUDIT.c.hash)
        .where(_AUDIT.c.db_id == source.db_id)
        .order_by(_AUDIT.c.seq.desc())
        .limit(1)
    ).first()
    done_seq = 0 if target_tail is None else int(target_tail.seq)
    if target_tail is not None:
        compare_seq = min(done_seq, source.last_seq)
        ours = connection.execute(
            select(_AUDIT.c.hash).where(_AUDIT.c.db_id == source.db_id, _AUDIT.c.seq == compare_seq)
        ).scalar_one_or_none()
        if ours is None or bulk.source_hash_at(compare_seq) != ours:
            raise _refuse(
                source.path,
                f"its audit chain parts from what the study holds of database {source.db_id} "
                f"at event {compare_seq}: it is a fork (a restored or edited copy), not a "
                "newer copy. Find the reader's current database and merge that one.",
            )
        if source.last_seq <= done_seq:
            return SourceOutcome(
                source.label,
                source.db_id,
                source.reader_id,
                "already merged",
                last_seq=source.last_seq,
            )
    _check_conflicts(connection, source, bulk, done_seq)
    counts = _Counts()
    events = bulk.copy_events(done_seq)
    shared = _shared_candidates(connection, bulk, bulk.touched(done_seq, SHARED_TABLES))
    _settle_shared(connection, shared, counts, deletes=False)
    if done_seq == 0:
        for table in OWNED_TABLES:
            counts.inserted[table] += bulk.copy_rows(table)
    else:
        _replay_owned(connection, source, bulk.new_events(done_seq), counts)
    _settle_shared(connection, shared, counts, deletes=True)
    connection.execute(
        insert(_MERGE_LOG),
        {
            "id": str(uuid.uuid5(NAMESPACE, f"merge/{source.db_id}/{source.last_seq}")),
            "source_db_id": source.db_id,
            "source_label": source.label,
            "source_schema_revision": source.schema_revision,
            "reader_id": source.reader_id,
            "counts": canonical_json(source.counts),
            "last_seq": source.last_seq,
            "last_hash": source.last_hash,
            "merged_at": utc_now_iso(),
            "merged_by": STUDY_LEAD,
        },
    )
    return SourceOutcome(
        label=source.label,
        db_id=source.db_id,
        reader_id=source.reader_id,
        status="merged" if done_seq == 0 else "updated",
        events=events,
        inserted={t: n for t, n in counts.inserted.items() if n},
        updated={t: n for t, n in counts.updated.items() if n},
        deleted={t: n for t, n in counts.deleted.items() if n},
        last_seq=source.last_seq,
    )


@dataclass
class _Counts:
    inserted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    updated: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    deleted: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _check_conflicts(connection: Connection, source: _Source, bulk: _Bulk, done_seq: int) -> None:
    reading_ids = sorted(bulk.touched(done_seq, ("readings",)).get("readings", ()))
    clashes: dict[str, set[str]] = defaultdict(set)
    for chunk in _chunks(reading_ids):
        rows = connection.execute(
            select(_AUDIT.c.entity_id, _AUDIT.c.db_id)
            .where(
                _AUDIT.c.entity == "readings",
                _AUDIT.c.db_id != source.db_id,
                _AUDIT.c.entity_id.in_(chunk),
            )
            .distinct()
        )
        for row in rows:
            clashes[str(row.db_id)].add(str(row.entity_id))
    if not clashes:
        return
    parts = []
    for db_id, ids in sorted(clashes.items()):
        codes = bulk.case_codes(sorted(ids))
        label = connection.execute(
            select(_MERGE_LOG.c.source_label)
            .where(_MERGE_LOG.c.source_db_id == db_id)
            .order_by(_MERGE_LOG.c.last_seq.desc())
            .limit(1)
        ).scalar_one_or_none()
        shown = ", ".join(codes[:_MAX_LISTED]) + (" …" if len(codes) > _MAX_LISTED else "")
        parts.append(
            f"{len(ids)} reading(s) of case(s) {shown} are already in the study from "
            f"{label or 'another database'} (database {db_id})"
        )
    raise _refuse(
        source.path,
        f"reader {source.reader_id} read the same cases in two databases: {'; '.join(parts)}. "
        "Decide which database holds the reader's valid readings and merge only that one.",
    )


def _load(after: str | None) -> dict[str, Any] | None:
    return None if after is None else json.loads(after)


def _shared_candidates(
    connection: Connection, bulk: _Bulk, touched: dict[str, set[str]]
) -> dict[str, set[str]]:
    """The touched shared rows whose state in the source differs from the study's.

    The study's live row is the ``after`` of its latest event (verify's rule). When the
    source ends a row in that same state, the row keeps it whichever event is latest; only
    rows that are new or differ need the events compared — usually none but a new reader's
    own row, so the cost does not grow with the number of databases merged before.
    """
    result: dict[str, set[str]] = {}
    for entity, ids in touched.items():
        table = AUDITED_TABLES[entity]
        ordered = sorted(ids)
        same = bulk.same_rows(entity, ordered)
        if same is not None:
            result[entity] = set(ordered) - same
            continue
        theirs = bulk.rows_by_id(entity, ordered)
        differ: set[str] = set()
        for chunk in _chunks(ordered):
            live = {
                row.id: row_state(table, row._mapping)
                for row in connection.execute(select(table).where(table.c.id.in_(chunk)))
            }
            differ.update(i for i in chunk if i not in live or live[i] != theirs.get(i))
        result[entity] = differ
    return result


def _settle_shared(
    connection: Connection, touched: dict[str, set[str]], counts: _Counts, *, deletes: bool
) -> None:
    """Give each given shared row the ``after`` of its latest event over every chain."""
    order = reversed(SHARED_TABLES) if deletes else SHARED_TABLES
    for entity in order:
        ids = sorted(touched.get(entity, ()))
        if not ids:
            continue
        table = AUDITED_TABLES[entity]
        for chunk in _chunks(ids):
            latest: dict[str, tuple[tuple[str, str, int], str | None]] = {}
            for row in connection.execute(
                select(
                    _AUDIT.c.entity_id, _AUDIT.c.at, _AUDIT.c.db_id, _AUDIT.c.seq, _AUDIT.c.after
                ).where(_AUDIT.c.entity == entity, _AUDIT.c.entity_id.in_(chunk))
            ):
                key = (str(row.at), str(row.db_id), int(row.seq))
                known = latest.get(row.entity_id)
                if known is None or key > known[0]:
                    latest[row.entity_id] = (key, row.after)
            live = {
                row.id: row_state(table, row._mapping)
                for row in connection.execute(select(table).where(table.c.id.in_(chunk)))
            }
            wanted = {entity_id: _load(after) for entity_id, (_key, after) in latest.items()}
            if deletes:
                for entity_id, state in wanted.items():
                    if state is None and entity_id in live:
                        connection.execute(delete(table).where(table.c.id == entity_id))
                        counts.deleted[entity] += 1
                continue
            new_rows = [s for i, s in wanted.items() if s is not None and i not in live]
            # A repeat case refers to its primary: primaries first.
            new_rows.sort(key=lambda state: state.get("repeat_of_id") is not None)
            if new_rows:
                connection.execute(insert(table), [row_state(table, s) for s in new_rows])
                counts.inserted[entity] += len(new_rows)
            for entity_id, state in wanted.items():
                if state is not None and entity_id in live and live[entity_id] != state:
                    values = row_state(table, state)
                    connection.execute(update(table).where(table.c.id == entity_id), values)
                    counts.updated[entity] += 1


def _replay_owned(
    connection: Connection,
    source: _Source,
    events: Iterable[tuple[str, str, str | None, str | None, int]],
    counts: _Counts,
) -> None:
    """Apply a newer copy's events to the rows of its own chain, in ``seq`` order.

    The source passed the replay check, so its events lead to its live rows; applying them
    in order meets every constraint the source met. Counts are net per row.
    """
    first_before: dict[tuple[str, str], bool] = {}
    last_after: dict[tuple[str, str], bool] = {}
    for entity, entity_id, before, after, seq in events:
        if entity not in OWNED_TABLES:
            continue
        table = AUDITED_TABLES[entity]
        key = (entity, entity_id)
        first_before.setdefault(key, before is not None)
        last_after[key] = after is not None
        state = _load(after)
        if state is None:
            result = connection.execute(delete(table).where(table.c.id == entity_id))
        elif before is None:
            # An insert that cannot apply raises (the id exists); its rowcount is not reliable
            # on every driver (psycopg reports -1).
            connection.execute(insert(table), row_state(table, state))
            continue
        else:
            values = row_state(table, state)
            result = connection.execute(update(table).where(table.c.id == entity_id), values)
        if result.rowcount != 1:
            raise _refuse(
                source.path,
                f"event {seq} ({entity} {entity_id}) does not apply to the study database: "
                "its rows of this reader were changed outside the merge. Run "
                "'collarreader verify' on the study database.",
            )
    for key, existed in first_before.items():
        exists = last_after[key]
        if existed and exists:
            counts.updated[key[0]] += 1
        elif exists:
            counts.inserted[key[0]] += 1
        elif existed:
            counts.deleted[key[0]] += 1


# ------------------------------------------------------------------------------ bulk copies


class _Bulk(ABC):
    """Reading a source and copying its events and rows in bulk, per target backend.

    A backend says how to query the source (:meth:`_query`) and how its tables are named
    there (:meth:`_source_table`: ``src.x`` when ATTACHed to a SQLite target, ``x`` when read
    on its own); the queries shared by both backends are written once here.
    """

    db_id: str

    @abstractmethod
    def source_tail(self) -> tuple[int, str]: ...

    @abstractmethod
    def source_hash_at(self, seq: int) -> str | None: ...

    @abstractmethod
    def copy_events(self, after_seq: int) -> int: ...

    @abstractmethod
    def copy_rows(self, table: str) -> int: ...

    @abstractmethod
    def _query(self, sql: str, *parameters: Any) -> list[Any]: ...

    @abstractmethod
    def _source_table(self, name: str) -> str: ...

    def touched(self, after_seq: int, entities: Sequence[str]) -> dict[str, set[str]]:
        """Entity ids, per entity, that the source's events after ``after_seq`` touch."""
        result: dict[str, set[str]] = defaultdict(set)
        placeholders = ", ".join("?" for _ in entities)
        for entity, entity_id in self._query(
            f"SELECT DISTINCT entity, entity_id FROM {self._source_table('audit_events')} "  # noqa: S608
            f"WHERE seq > ? AND entity IN ({placeholders})",
            after_seq,
            *entities,
        ):
            result[str(entity)].add(str(entity_id))
        return result

    def new_events(self, after_seq: int) -> Iterator[tuple[str, str, str | None, str | None, int]]:
        """The source's own events after ``after_seq``: entity, id, before, after, seq."""
        for row in self._query(
            "SELECT entity, entity_id, before, after, seq "  # noqa: S608
            f"FROM {self._source_table('audit_events')} "
            "WHERE db_id = ? AND seq > ? ORDER BY seq",
            self.db_id,
            after_seq,
        ):
            yield (str(row[0]), str(row[1]), row[2], row[3], int(row[4]))

    def case_codes(self, reading_ids: Sequence[str]) -> list[str]:
        """Case codes of these readings in the source, sorted."""
        readings, cases = self._source_table("readings"), self._source_table("cases")
        codes: list[str] = []
        for chunk in _chunks(reading_ids):
            placeholders = ", ".join("?" for _ in chunk)
            codes.extend(
                str(row[0])
                for row in self._query(
                    f"SELECT c.case_code FROM {readings} r JOIN {cases} c ON c.id = r.case_id "  # noqa: S608
                    f"WHERE r.id IN ({placeholders})",
                    *chunk,
                )
            )
        return sorted(codes)

    def same_rows(self, entity: str, ids: Sequence[str]) -> set[str] | None:
        """Of these ids, those whose row the source and the study hold alike; None: unknown."""
        return None

    def rows_by_id(self, entity: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The source's live rows of ``entity`` with these ids, as row states."""
        table = AUDITED_TABLES[entity]
        names = list(table.columns.keys())
        columns = ", ".join(f'"{name}"' for name in names)
        result: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(ids):
            placeholders = ", ".join("?" for _ in chunk)
            for values in self._query(
                f"SELECT {columns} FROM {self._source_table(entity)} "  # noqa: S608
                f"WHERE id IN ({placeholders})",
                *chunk,
            ):
                record = dict(zip(names, values, strict=True))
                for column in table.columns:
                    if isinstance(column.type, JSON) and record[column.name] is not None:
                        record[column.name] = json.loads(record[column.name])
                result[str(record["id"])] = row_state(table, record)
        return result


def _columns(table: str) -> str:
    names = _EVENT_COLUMNS if table == "audit_events" else AUDITED_TABLES[table].columns.keys()
    return ", ".join(f'"{name}"' for name in names)


class _SqliteBulk(_Bulk):
    """The source attached to the target's connection as ``src``: INSERT … SELECT."""

    def __init__(self, connection: Connection, db_id: str) -> None:
        self.connection = connection
        self.db_id = db_id  # every query names it: the (db_id, seq) index orders by seq

    def _query(self, sql: str, *parameters: Any) -> list[Any]:
        return list(self.connection.exec_driver_sql(sql, parameters).all())

    def _source_table(self, name: str) -> str:
        return f"src.{name}"

    def same_rows(self, entity: str, ids: Sequence[str]) -> set[str]:
        """Of these ids, those whose row the source and the study hold alike.

        Compared in SQL, value by value: SQLite's ``IS`` is exact for text and numbers, and
        equal JSON text is equal JSON (different text only makes a row a candidate).
        """
        names = AUDITED_TABLES[entity].columns.keys()
        alike = " AND ".join(f'm."{name}" IS s."{name}"' for name in names)
        same: set[str] = set()
        for chunk in _chunks(ids):
            placeholders = ", ".join("?" for _ in chunk)
            same.update(
                str(row[0])
                for row in self._query(
                    f"SELECT s.id FROM src.{entity} s JOIN main.{entity} m ON m.id = s.id "  # noqa: S608
                    f"WHERE s.id IN ({placeholders}) AND {alike}",
                    *chunk,
                )
            )
        return same

    def source_tail(self) -> tuple[int, str]:
        rows = self._query(
            "SELECT seq, hash FROM src.audit_events WHERE db_id = ? ORDER BY seq DESC LIMIT 1",
            self.db_id,
        )
        return (int(rows[0][0]), str(rows[0][1])) if rows else (0, "")

    def source_hash_at(self, seq: int) -> str | None:
        rows = self._query(
            "SELECT hash FROM src.audit_events WHERE db_id = ? AND seq = ?", self.db_id, seq
        )
        return str(rows[0][0]) if rows else None

    def copy_events(self, after_seq: int) -> int:
        columns = _columns("audit_events")
        result = self.connection.exec_driver_sql(
            f"INSERT INTO main.audit_events ({columns}) SELECT {columns} "  # noqa: S608
            "FROM src.audit_events WHERE db_id = ? AND seq > ?",
            (self.db_id, after_seq),
        )
        return int(result.rowcount)

    def copy_rows(self, table: str) -> int:
        columns = _columns(table)
        result = self.connection.exec_driver_sql(
            f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM src.{table}"  # noqa: S608
        )
        return int(result.rowcount)


class _PostgresBulk(_Bulk):
    """The source read with sqlite3 (read-only), rows written with psycopg ``COPY``."""

    def __init__(self, path: Path, db_id: str) -> None:
        self.db_id = db_id  # every query names it: the (db_id, seq) index orders by seq
        self.connection: Connection | None = None
        self.source = sqlite3.connect(_sqlite_uri(path), uri=True, isolation_level=None)
        self.source.execute("BEGIN")

    def close(self) -> None:
        """Close the source."""
        self.source.close()

    def _query(self, sql: str, *parameters: Any) -> list[Any]:
        return self.source.execute(sql, parameters).fetchall()

    def _source_table(self, name: str) -> str:
        return name

    def source_tail(self) -> tuple[int, str]:
        rows = self._query(
            "SELECT seq, hash FROM audit_events WHERE db_id = ? ORDER BY seq DESC LIMIT 1",
            self.db_id,
        )
        return (int(rows[0][0]), str(rows[0][1])) if rows else (0, "")

    def source_hash_at(self, seq: int) -> str | None:
        rows = self._query(
            "SELECT hash FROM audit_events WHERE db_id = ? AND seq = ?", self.db_id, seq
        )
        return str(rows[0][0]) if rows else None

    def _copy(self, table: str, rows: Iterable[Sequence[Any]]) -> int:
        if self.connection is None:  # pragma: no cover - set before any copy
            raise MergeError("internal: no target connection for COPY")
        driver: Any = self.connection.connection.driver_connection
        count = 0
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table} ({_columns(table)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def copy_events(self, after_seq: int) -> int:
        cursor = self.source.execute(
            f"SELECT {_columns('audit_events')} FROM audit_events "  # noqa: S608
            "WHERE db_id = ? AND seq > ? ORDER BY seq",
            (self.db_id, after_seq),
        )
        return self._copy("audit_events", iter(cursor))

    def copy_rows(self, table: str) -> int:
        model = AUDITED_TABLES[table]
        booleans = [
            index for index, column in enumerate(model.columns) if column.type.python_type is bool
        ]
        cursor = self.source.execute(f"SELECT {_columns(table)} FROM {table}")  # noqa: S608

        def rows() -> Iterator[Sequence[Any]]:
            for row in cursor:
                if booleans:
                    values = list(row)
                    for index in booleans:
                        if values[index] is not None:
                            values[index] = bool(values[index])
                    yield values
                else:
                    yield row  # JSON columns travel as their stored text; json parses it

        return self._copy(table, rows())


# ------------------------------------------------------------------------------ comparing


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
