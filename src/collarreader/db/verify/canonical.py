"""The canonical text of an audit event and of a row, as hashed and compared.

Part of :mod:`collarreader.db.verify` (see its docstring for the checks).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, Table

from collarreader.db.audit import HASHED_FIELDS

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
