"""Merging one verified source inside one write transaction."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    delete,
    insert,
    select,
    text,
    update,
)

from collarreader.db.audit import canonical_json, event_hash, row_state
from collarreader.db.engine import (
    STUDY_LEAD,
    Database,
)
from collarreader.db.ids import NAMESPACE
from collarreader.db.merge.backends import _Bulk, _PostgresBulk, _SqliteBulk
from collarreader.db.merge.common import (
    _AUDIT,
    _CACHE_KIB,
    _MAX_LISTED,
    _MERGE_LOG,
    OWNED_TABLES,
    SHARED_TABLES,
    _chunks,
    _refuse,
    _Source,
    _sqlite_uri,
)
from collarreader.db.merge.report import SourceOutcome
from collarreader.db.models import AUDITED_TABLES, ReaderKeyRow
from collarreader.db.signing import AuthorKey, fingerprint, signature_valid
from collarreader.model import utc_now_iso

_READER_KEYS: Table = ReaderKeyRow.__table__  # type: ignore[assignment]


def _merge_source(database: Database, source: _Source) -> SourceOutcome:
    lead = database.signer()
    if database.is_sqlite:
        with _attached(database, source.path) as connection:
            return _merge_in(connection, source, _SqliteBulk(connection, source.db_id), lead)
    bulk = _PostgresBulk(source.path, source.db_id)
    try:
        with database.write() as connection:
            # Serialises merges (and study-lead writes) into one PostgreSQL study database.
            connection.execute(text("SELECT id FROM db_identity FOR UPDATE")).all()
            bulk.connection = connection
            return _merge_in(connection, source, bulk, lead)
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


def _merge_in(
    connection: Connection, source: _Source, bulk: _Bulk, lead: AuthorKey
) -> SourceOutcome:
    """Merge one verified source inside the open write transaction ``connection``.

    ``lead`` (the study lead's key) signs the anchor the merge-log row records.
    """
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
    _pin_key(connection, source)
    if target_tail is not None:
        compare_seq = min(done_seq, source.last_seq)
        ours = connection.execute(
            select(_AUDIT.c.hash).where(_AUDIT.c.db_id == source.db_id, _AUDIT.c.seq == compare_seq)
        ).scalar_one_or_none()
        if ours is None or bulk.source_hash_at(compare_seq) != ours:
            raise _refuse(source.path, _parting_reason(connection, source, bulk, compare_seq))
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
            "public_key": source.public_key,
            "signature": lead.sign_head(source.db_id, source.last_seq, source.last_hash),
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


def _pin_key(connection: Connection, source: _Source) -> None:
    """Pin the reader's key at the first merge; refuse another key (or none) later."""
    pinned = connection.execute(
        select(_READER_KEYS.c.public_key).where(_READER_KEYS.c.reader_id == source.reader_id)
    ).scalar_one_or_none()
    if pinned is None:
        if source.public_key is not None:
            connection.execute(
                insert(_READER_KEYS),
                {
                    "reader_id": source.reader_id,
                    "public_key": source.public_key,
                    "first_db_id": source.db_id,
                    "pinned_at": utc_now_iso(),
                },
            )
        return
    if source.public_key != pinned:
        theirs = "no key" if source.public_key is None else f"key {fingerprint(source.public_key)}"
        raise _refuse(
            source.path,
            f"it is signed with {theirs}, but the study pinned key {fingerprint(pinned)} for "
            f"reader {source.reader_id} at the reader's first merge. Ask reader "
            f"{source.reader_id} which key is theirs ('collarreader verify --receipt' on their "
            "database shows its fingerprint); merge only a database signed with the pinned key.",
        )


def _parting_reason(connection: Connection, source: _Source, bulk: _Bulk, compare_seq: int) -> str:
    """Why a verified source's chain parts from the study's copy, in honest words.

    The source verified against the pinned key. When the study's copy of the chain no longer
    verifies (hashes, links, signatures against the pinned key), the study database changed
    after the merge; when it does, the author signed two histories (a restored copy).
    """
    first = compare_seq
    previous: str | None = None
    study_intact = True
    rows = connection.execute(
        select(_AUDIT)
        .where(_AUDIT.c.db_id == source.db_id, _AUDIT.c.seq <= compare_seq)
        .order_by(_AUDIT.c.seq)
    )
    last_signed = 0
    for row in rows:
        values = dict(row._mapping)
        if (previous is not None and values["prev_hash"] != previous) or event_hash(
            values["prev_hash"], values
        ) != values["hash"]:
            study_intact = False
        if values["signature"] is not None and source.public_key is not None:
            if signature_valid(
                source.public_key, source.db_id, values["seq"], values["hash"], values["signature"]
            ):
                last_signed = int(values["seq"])
            else:
                study_intact = False
        if first == compare_seq and bulk.source_hash_at(int(values["seq"])) != values["hash"]:
            first = int(values["seq"])
        previous = values["hash"]
    if source.public_key is not None and last_signed < compare_seq:
        study_intact = False
    if not study_intact:
        return (
            f"the study database no longer matches what it merged of database {source.db_id} "
            f"(reader {source.reader_id}): its copy differs from this source from event "
            f"{first} on, and that copy no longer verifies while this source does. The study "
            "database was changed after the merge: run 'collarreader verify' on it, restore "
            "it from a backup and merge again."
        )
    return (
        f"its audit chain parts from what the study holds of database {source.db_id} at event "
        f"{first}, and both histories are signed by reader {source.reader_id}'s key: the "
        "reader's database was restored from an older copy and continued. Ask the reader "
        "which copy is current; the study keeps what it merged."
    )


@dataclass
class _Counts:
    inserted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    updated: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    deleted: dict[str, int] = field(default_factory=lambda: defaultdict(int))


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
