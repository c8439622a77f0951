"""The canonical JSON and hash rule that merge and verify recompute."""

from __future__ import annotations

import hashlib
import math

import pytest

from collarreader.db.audit import GENESIS, canonical_json, event_hash, row_state
from collarreader.db.models import AUDITED_TABLES


def test_canonical_json_is_sorted_compact_utf8_with_repr_floats() -> None:
    value = {"b": [1, 2.0, 0.1, 1e-07], "a": "Ä ≥", "c": None, "d": True}
    assert canonical_json(value) == '{"a":"Ä ≥","b":[1,2.0,0.1,1e-07],"c":null,"d":true}'
    with pytest.raises(ValueError, match="JSON compliant"):
        canonical_json({"x": math.nan})


def test_event_hash_is_sha256_of_prev_hash_and_canonical_event() -> None:
    event = {
        "id": "e1",
        "db_id": "d1",
        "seq": 1,
        "actor": "A",
        "at": "2024-01-01T00:00:00.000000Z",
        "entity": "readers",
        "entity_id": "r1",
        "action": "create",
        "before": None,
        "after": '{"id":"r1","reader_code":"A"}',
        "reason": None,
        "prev_hash": "ignored",
        "hash": "ignored",
    }
    payload = (
        '{"action":"create","actor":"A","after":"{\\"id\\":\\"r1\\",\\"reader_code\\":\\"A\\"}",'
        '"at":"2024-01-01T00:00:00.000000Z","before":null,"db_id":"d1","entity":"readers",'
        '"entity_id":"r1","id":"e1","reason":null,"seq":1}'
    )
    expected = hashlib.sha256((GENESIS + payload).encode("utf-8")).hexdigest()
    assert event_hash(GENESIS, event) == expected
    assert event_hash("f" * 64, event) != expected


def test_row_state_normalises_by_column_type() -> None:
    state = row_state(
        AUDITED_TABLES["annotations"],
        {"id": "a", "value_px": 3, "points_px": ((1, 2.5),), "zone": None},
    )
    assert state["value_px"] == 3.0
    assert isinstance(state["value_px"], float)
    assert state["points_px"] == [[1, 2.5]]
    assert state["zone"] is None
    assert set(state) == {c.name for c in AUDITED_TABLES["annotations"].columns}
    reading = row_state(AUDITED_TABLES["readings"], {"locked": 1, "active_seconds": 0})
    assert reading["locked"] is True
