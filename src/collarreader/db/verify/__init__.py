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

Modules
-------
:mod:`~collarreader.db.verify.opening`
    :func:`verify_database` and :func:`read_only`: opening a database and running the checks.
:mod:`~collarreader.db.verify.canonical`
    The canonical text of an event and of a row (:func:`event_text`, :class:`RowText`).
:mod:`~collarreader.db.verify.checks`
    The hash chains and the replay of every audited table.
"""

from __future__ import annotations

from collarreader.db.verify.canonical import RowText, event_text, hash_matches
from collarreader.db.verify.opening import read_only, verify_database

__all__ = ["RowText", "event_text", "hash_matches", "read_only", "verify_database"]
