"""Checking a source completely (read-only) before anything is written."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    Integer,
    Table,
)

from collarreader.db.audit import GENESIS, HASHED_FIELDS, same_state
from collarreader.db.engine import (
    REVISIONS,
)
from collarreader.db.merge.common import (
    _AUDIT,
    _MAX_PROBLEMS,
    _PARALLEL_BYTES,
    _SQLITE_MAGIC,
    _TABLE_ORDER,
    _read_only,
    _refuse,
    _Source,
)
from collarreader.db.models import AUDITED_TABLES
from collarreader.db.signing import fingerprint, head_verifier
from collarreader.db.verify import hash_matches
from collarreader.errors import MergeError
from collarreader.model import DatabaseRole


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
        public_key = connection.execute("SELECT public_key FROM db_identity").fetchone()[0]
        if public_key is None:
            # Creation and every upgrade to this schema record the key (see anchors).
            raise _refuse(
                path,
                "it records no author key, although this collarreader records one when it "
                "creates or upgrades a database: the key and the signatures were removed. "
                "Ask the reader for their database again.",
            )
        problems = _verify_rows(connection, str(db_id), public_key)
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
        counts=counts,
        public_key=None if public_key is None else str(public_key),
        key_commitment=commitment,
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
    return same_state(json.loads(stored), json.loads(live))


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
    if not isinstance(claimed, dict) or not set(claimed) <= {name for name, _kind in kinds}:
        return False
    for (name, kind), value in zip(kinds, values, strict=True):
        # A column added by a later revision is absent from older states: null.
        expected = claimed.get(name)
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


def _verify_rows(
    connection: sqlite3.Connection, db_id: str, public_key: str | None = None
) -> list[str]:
    """The checks of :func:`collarreader.db.verify.verify_database`, fast, for one chain.

    A reader database has one chain (checked by the caller): ``seq`` from 1 without gaps,
    every ``prev_hash`` the previous ``hash``, every hash recomputed; each row's events link
    (``before`` equals the previous ``after``) and its last ``after`` is the live row; no
    live row lacks events (SQLite's ``quick_check`` ran before); with the author's
    ``public_key``, every signature is the key's and the last event is signed
    (:mod:`collarreader.db.anchors`). Returns the problems found.
    """
    problems: list[str] = []
    expected_seq, prev = 1, GENESIS
    last: dict[tuple[str, str], str | None] = {}
    columns = ", ".join(f'"{name}"' for name in (*HASHED_FIELDS, "prev_hash", "hash", "signature"))
    last_signed = tail = 0
    valid = None if public_key is None else head_verifier(public_key)
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
        tail = seq
        if valid is not None and public_key is not None and row[13] is not None:
            if valid(db_id, seq, stored_hash, row[13]):
                last_signed = seq
            else:
                problems.append(
                    f"[signature] audit event {seq} ({entity} {entity_id}): its signature is "
                    f"not the author's (key {fingerprint(public_key)}) for this event: events "
                    f"{last_signed + 1}–{seq} were changed after they were signed (and "
                    "re-hashed), or the signature was copied from another event"
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
    if public_key is not None and last_signed < tail:
        problems.append(
            f"[signature] audit events {last_signed + 1}–{tail} are not signed by the author "
            f"(key {fingerprint(public_key)}): written without the author's key"
        )
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
