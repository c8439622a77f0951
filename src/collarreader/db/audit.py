"""The audit chain: canonical JSON, row states and event hashes.

Every change of a row in an audited table (:data:`collarreader.db.models.AUDITED_TABLES`)
is one row of ``audit_events``. Merge and verify recompute the hashes, so the rule is exact:

Row state
    A row's state is a JSON object with every column of the table, by column name, normalised
    by column type: ``None`` stays ``null``; Float → Python ``float``; Integer → ``int``;
    Boolean → ``bool``; String/Text → ``str``; JSON → the decoded value as stored (lists of
    ``[x, y]`` floats for geometry). See :func:`row_state`.

Canonical JSON
    ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    allow_nan=False)``, encoded UTF-8. Floats are written by Python's ``float.__repr__`` (the
    shortest text that reads back to the same double, e.g. ``0.1``, ``1e-07``, ``2.0``);
    integers without a decimal point; NaN and infinity are refused. See :func:`canonical_json`.

Columns added later
    A column added to an audited table by a later schema revision (``db_identity.public_key``,
    revision 0005) is absent from the states written before it. An absent column equals
    ``null`` when states are compared (:func:`same_state`).

Stored event
    ``before`` and ``after`` hold the canonical JSON *text* of the row state before and after
    the change, or NULL (``before`` for a create, ``after`` for a delete).

Hashed event
    The object ``{"action", "actor", "after", "at", "before", "db_id", "entity",
    "entity_id", "id", "reason", "seq"}`` with the stored values (``before``/``after`` as the
    stored *strings*, not re-parsed; ``reason`` may be null), written as canonical JSON.
    ``hash = sha256((prev_hash + canonical_json(event)).encode("utf-8")).hexdigest()``, lower-case
    hex. The first event of a database (``seq`` 1) has ``prev_hash`` = 64 zeros (:data:`GENESIS`);
    each later one the ``hash`` of the event with ``seq - 1`` of the same ``db_id``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, Table

GENESIS = "0" * 64
"""``prev_hash`` of the first event of a chain."""

HASHED_FIELDS = (
    "action",
    "actor",
    "after",
    "at",
    "before",
    "db_id",
    "entity",
    "entity_id",
    "id",
    "reason",
    "seq",
)
"""The audit-event columns the hash covers (all but ``prev_hash`` and ``hash`` themselves)."""


def canonical_json(value: Any) -> str:
    """Canonical JSON text of a value (see the module docstring)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def event_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    """SHA-256 of ``prev_hash`` followed by the canonical JSON of the event's hashed fields.

    Parameters
    ----------
    prev_hash : hash of the previous event of the chain, or :data:`GENESIS`
    event : mapping holding at least :data:`HASHED_FIELDS`, with ``before``/``after`` as the
        stored canonical text (or None)
    """
    payload = {name: event[name] for name in HASHED_FIELDS}
    return hashlib.sha256((prev_hash + canonical_json(payload)).encode("utf-8")).hexdigest()


def _normalise_json(value: Any) -> Any:
    # Geometry comes back from both engines as lists; tuples from callers become lists too so
    # that the state written to the audit is the state read back.
    if isinstance(value, (list, tuple)):
        return [_normalise_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _normalise_json(item) for key, item in value.items()}
    return value


def _converter(column_type: Any) -> Callable[[Any], Any]:
    if isinstance(column_type, Boolean):
        return bool
    if isinstance(column_type, Float):
        return float
    if isinstance(column_type, Integer):
        return int
    if isinstance(column_type, JSON):
        return _normalise_json
    return str


@functools.cache
def _converters(table: Table) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    return tuple((column.name, _converter(column.type)) for column in table.columns)


def row_state(table: Table, values: Mapping[Any, Any]) -> dict[str, Any]:
    """The normalised state of a row: every column of ``table``, typed by its column type.

    Parameters
    ----------
    table : an audited table
    values : column name → value (a result row's ``._mapping`` or the values to insert);
        missing columns are None
    """
    state: dict[str, Any] = {}
    for name, convert in _converters(table):
        value = values.get(name)
        state[name] = None if value is None else convert(value)
    return state


def same_state(first: Mapping[str, Any] | None, second: Mapping[str, Any] | None) -> bool:
    """Whether two row states are equal, a column absent from one of them counting as null.

    See "Columns added later" in the module docstring.
    """
    if first is None or second is None:
        return first is second
    if first == second:
        return True
    return all(first.get(key) == second.get(key) for key in set(first) | set(second))
