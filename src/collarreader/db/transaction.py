"""One audited write transaction: every row change appends its audit event.

:class:`Transaction` is the only writer of audited tables. It works on SQLAlchemy Core
statements (a gesture must commit in well under 2 ms) and records each change as a
:class:`Change` (table, id, state before, state after) so that a session command can later
restore exactly what it changed. :meth:`Transaction.seal` signs the chain head the
transaction leaves (:mod:`collarreader.db.signing`); callers seal just before committing.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Delete,
    Insert,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from collarreader.db.audit import GENESIS, canonical_json, event_hash, row_state
from collarreader.db.models import AUDITED_TABLES, AuditEvent, DbIdentity
from collarreader.errors import DatabaseError

if TYPE_CHECKING:
    from collarreader.db.signing import AuthorKey

_AUDIT: Table = AuditEvent.__table__  # type: ignore[assignment]
_IDENTITY: Table = DbIdentity.__table__  # type: ignore[assignment]


# Statements are built once and reused: SQLAlchemy memoises a statement object's cache key,
# so a gesture pays for execution only, not for building and keying ~10 statements.
@functools.cache
def _select_where(entity: str, columns: tuple[str, ...]) -> Select[Any]:
    table = table_for(entity)
    return select(table).where(and_(*(table.c[name] == bindparam(f"w_{name}") for name in columns)))


@functools.cache
def _insert(entity: str) -> Insert:
    return insert(table_for(entity))


@functools.cache
def _update(entity: str, columns: tuple[str, ...]) -> Update:
    table = table_for(entity)
    return (
        update(table)
        .where(table.c.id == bindparam("w_id"))
        .values({name: bindparam(f"v_{name}") for name in columns})
    )


@functools.cache
def _delete(entity: str) -> Delete:
    table = table_for(entity)
    return delete(table).where(table.c.id == bindparam("w_id"))


_INSERT_EVENT = insert(_AUDIT)
_TAIL = (
    select(_AUDIT.c.seq, _AUDIT.c.hash)
    .where(_AUDIT.c.db_id == bindparam("w_db_id"))
    .order_by(_AUDIT.c.seq.desc())
    .limit(1)
)
_LOCK_IDENTITY = select(_IDENTITY.c.id).with_for_update()
_SIGN_EVENT = (
    update(_AUDIT).where(_AUDIT.c.id == bindparam("w_id")).values(signature=bindparam("v_sig"))
)


@dataclass(frozen=True, slots=True)
class Change:
    """One row change: ``before`` None for a create, ``after`` None for a delete."""

    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def table_for(entity: str) -> Table:
    """The audited table named ``entity``; ``DatabaseError`` for any other name."""
    try:
        return AUDITED_TABLES[entity]
    except KeyError:
        message = f"{entity!r} is not an audited table; choose one of {', '.join(AUDITED_TABLES)}."
        raise DatabaseError(message) from None


class Transaction:
    """Row changes with their audit events, inside one open database transaction.

    Parameters
    ----------
    connection : a connection inside ``begin()``; the caller commits or rolls back
    db_id : UUID of the database written (the chain the events extend)
    actor : reader ID or ``"study-lead"``
    at : the UTC ISO timestamp every event of this transaction carries
    reason : stored with every event (e.g. a reopen reason, ``"undo: …"``)
    lock_identity : take a row lock on ``db_identity`` before extending the chain
        (PostgreSQL; SQLite serialises writers with ``BEGIN IMMEDIATE``)
    signer : the database author's key; :meth:`seal` signs the new chain head with it
        (None: the events stay unsigned, as in a database made before signatures)
    """

    def __init__(
        self,
        connection: Connection,
        *,
        db_id: str,
        actor: str,
        at: str,
        reason: str | None = None,
        lock_identity: bool = False,
        signer: AuthorKey | None = None,
    ) -> None:
        self.connection = connection
        self.db_id = db_id
        self.actor = actor
        self.at = at
        self.reason = reason
        self.changes: list[Change] = []
        self._lock_identity = lock_identity
        self._tail: tuple[int, str] | None = None
        self._signer = signer
        self._last_event_id: str | None = None

    # ---- reading
    def get(self, entity: str, entity_id: str) -> dict[str, Any] | None:
        """The normalised state of one row, or None when it does not exist."""
        table = table_for(entity)
        row = self.connection.execute(_select_where(entity, ("id",)), {"w_id": entity_id}).first()
        return None if row is None else row_state(table, row._mapping)

    def rows(self, entity: str, **equal: Any) -> list[dict[str, Any]]:
        """Normalised states of the rows whose columns equal the given values."""
        table = table_for(entity)
        statement = _select_where(entity, tuple(sorted(equal)))
        parameters = {f"w_{name}": value for name, value in equal.items()}
        return [
            row_state(table, row._mapping) for row in self.connection.execute(statement, parameters)
        ]

    # ---- writing
    def insert(
        self, entity: str, values: Mapping[str, Any], *, action: str = "create"
    ) -> dict[str, Any]:
        """Insert a row (``values`` holds ``id``; missing columns are NULL); return its state."""
        table = table_for(entity)
        state = row_state(table, values)
        if not state.get("id"):
            message = f"A new {entity} row needs an id."
            raise DatabaseError(message)
        self.connection.execute(_insert(entity), state)
        self._record(entity, state["id"], None, state, action)
        return state

    def update(
        self,
        entity: str,
        entity_id: str,
        changes: Mapping[str, Any],
        *,
        action: str = "update",
        before: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Change columns of one row; return its new state (no event when nothing changes).

        ``before`` may pass the row's current state when the caller has just read it.
        """
        table = table_for(entity)
        if before is None:
            before = self.get(entity, entity_id)
        if before is None:
            message = f"Cannot update {entity} {entity_id}: no such row."
            raise DatabaseError(message)
        after = row_state(table, {**before, **changes})
        if after["id"] != entity_id:
            message = f"Cannot change the id of {entity} {entity_id}."
            raise DatabaseError(message)
        if after == before:
            return after
        changed = tuple(key for key, value in after.items() if before[key] != value)
        self.connection.execute(
            _update(entity, changed),
            {"w_id": entity_id, **{f"v_{key}": after[key] for key in changed}},
        )
        self._record(entity, entity_id, before, after, action)
        return after

    def delete(
        self,
        entity: str,
        entity_id: str,
        *,
        action: str = "delete",
        before: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Delete one row; return the state it had."""
        if before is None:
            before = self.get(entity, entity_id)
        if before is None:
            message = f"Cannot delete {entity} {entity_id}: no such row."
            raise DatabaseError(message)
        self.connection.execute(_delete(entity), {"w_id": entity_id})
        self._record(entity, entity_id, before, None, action)
        return before

    def restore(
        self, entity: str, entity_id: str, state: dict[str, Any] | None, *, action: str
    ) -> None:
        """Bring one row to ``state`` (None: absent), inserting, updating or deleting."""
        current = self.get(entity, entity_id)
        if state is None:
            if current is not None:
                self.delete(entity, entity_id, action=action, before=current)
        elif current is None:
            self.insert(entity, state, action=action)
        else:
            self.update(entity, entity_id, state, action=action, before=current)

    # ---- the chain
    def seal(self) -> str | None:
        """Sign the chain head this transaction leaves; return the signature (hex).

        Call it last, just before the commit: the signature goes on the transaction's last
        event and vouches for every event up to it. Nothing happens when the transaction wrote
        no event or has no signer.
        """
        if self._signer is None or self._last_event_id is None or self._tail is None:
            return None
        seq, head = self._tail
        signature = self._signer.sign_head(self.db_id, seq, head)
        self.connection.execute(_SIGN_EVENT, {"w_id": self._last_event_id, "v_sig": signature})
        self._last_event_id = None
        return signature

    def _next_link(self) -> tuple[int, str]:
        if self._tail is None:
            if self._lock_identity:
                # Serialises concurrent writers of a PostgreSQL study database on one row, so
                # two transactions never extend the chain from the same tail.
                self.connection.execute(_LOCK_IDENTITY).all()
            row = self.connection.execute(_TAIL, {"w_db_id": self.db_id}).first()
            self._tail = (0, GENESIS) if row is None else (int(row.seq), str(row.hash))
        return self._tail

    def _record(
        self,
        entity: str,
        entity_id: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        action: str,
    ) -> None:
        seq, prev_hash = self._next_link()
        event: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "db_id": self.db_id,
            "seq": seq + 1,
            "actor": self.actor,
            "at": self.at,
            "entity": entity,
            "entity_id": entity_id,
            "action": action,
            "before": None if before is None else canonical_json(before),
            "after": None if after is None else canonical_json(after),
            "reason": self.reason,
        }
        event["prev_hash"] = prev_hash
        event["hash"] = event_hash(prev_hash, event)
        self.connection.execute(_INSERT_EVENT, event)
        self._tail = (seq + 1, event["hash"])
        self._last_event_id = event["id"]
        self.changes.append(Change(entity, entity_id, before, after))
