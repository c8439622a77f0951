"""Clinical rows ↔ records: the stored forms, reading every row, inserting, natural keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from collarreader.clinical.adverse_events import AdverseEvent
from collarreader.clinical.oxford import (
    ITEM_NAMES,
    OxfordRecord,
    OxfordScale,
    Timepoint,
    parse_instrument,
    parse_timepoint,
)
from collarreader.clinical.store.study_database import require_study
from collarreader.db.audit import canonical_json, row_state
from collarreader.db.clinical_models import ADVERSE_EVENT_TABLE, OXFORD_TABLE
from collarreader.db.engine import Database
from collarreader.db.transaction import Transaction

__all__ = [
    "AE_ENTITY",
    "OXFORD_ENTITY",
    "StoredAdverseEvent",
    "StoredOxford",
    "adverse_events",
    "oxford_questionnaires",
]

OXFORD_ENTITY = OXFORD_TABLE.name
AE_ENTITY = ADVERSE_EVENT_TABLE.name


@dataclass(frozen=True)
class StoredOxford:
    """A recorded questionnaire: its row id, the record, and when it was recorded/changed."""

    id: str
    record: OxfordRecord
    recorded_at: str
    updated_at: str


@dataclass(frozen=True)
class StoredAdverseEvent:
    """A recorded adverse event: its row id, the event, and when it was recorded/changed."""

    id: str
    event: AdverseEvent
    recorded_at: str
    updated_at: str


def _oxford_values(record: OxfordRecord) -> dict[str, Any]:
    values: dict[str, Any] = {
        "patient": record.patient,
        "instrument": record.instrument.value,
        "timepoint": record.timepoint.value,
        "completed_on": record.date.isoformat(),
        "scale": record.scale.value,
        "source": record.source,
        "content_sha256": record.content_sha256,
    }
    values.update(zip(ITEM_NAMES, record.items_as_entered, strict=True))
    return values


def _oxford_from_state(state: Mapping[str, Any]) -> OxfordRecord:
    return OxfordRecord(
        patient=state["patient"],
        instrument=parse_instrument(state["instrument"]),
        timepoint=parse_timepoint(state["timepoint"]),
        date=dt.date.fromisoformat(state["completed_on"]),
        items_as_entered=tuple(state[name] for name in ITEM_NAMES),
        source=state["source"],
        scale=OxfordScale(state["scale"]),
    )


def _ae_natural_key(event: AdverseEvent) -> str:
    return hashlib.sha256(canonical_json(list(event.natural_key)).encode("utf-8")).hexdigest()


def _ae_values(event: AdverseEvent) -> dict[str, Any]:
    return {
        "patient": event.patient,
        "onset_date": event.onset_date.isoformat(),
        "description": event.description,
        "category": event.category.value,
        "severity": event.severity.value,
        "relation": event.relation.value,
        "action": event.action.value,
        "outcome": event.outcome.value,
        "natural_key": _ae_natural_key(event),
        "content_sha256": event.content_sha256,
    }


def _ae_from_state(state: Mapping[str, Any]) -> AdverseEvent:
    # parse() rather than the constructor: the stored words become enum members again.
    return AdverseEvent.parse(
        patient=state["patient"],
        onset_date=dt.date.fromisoformat(state["onset_date"]),
        description=state["description"],
        category=state["category"],
        severity=state["severity"],
        relation=state["relation"],
        action=state["action"],
        outcome=state["outcome"],
        today=dt.date.max,  # what is stored is shown as stored, whatever today's date
    )


def _all_states(connection: Any, table: Any) -> list[dict[str, Any]]:
    return [row_state(table, row._mapping) for row in connection.execute(select(table))]


def oxford_questionnaires(database: Database) -> list[StoredOxford]:
    """Every recorded questionnaire, by patient, instrument and time point (6 m before 12 m)."""
    require_study(database)
    with database.read() as connection:
        states = _all_states(connection, OXFORD_TABLE)
    stored = [
        StoredOxford(
            state["id"], _oxford_from_state(state), state["recorded_at"], state["updated_at"]
        )
        for state in states
    ]
    order = {member: index for index, member in enumerate(Timepoint)}
    stored.sort(
        key=lambda s: (s.record.patient, s.record.instrument.value, order[s.record.timepoint])
    )
    return stored


def adverse_events(database: Database) -> list[StoredAdverseEvent]:
    """Every recorded adverse event, by patient and onset date."""
    require_study(database)
    with database.read() as connection:
        states = _all_states(connection, ADVERSE_EVENT_TABLE)
    stored = [
        StoredAdverseEvent(
            state["id"], _ae_from_state(state), state["recorded_at"], state["updated_at"]
        )
        for state in states
    ]
    stored.sort(key=lambda s: (s.event.patient, s.event.onset_date, s.event.category.value, s.id))
    return stored


def _insert_oxford(tx: Transaction, record: OxfordRecord) -> str:
    row_id = str(uuid.uuid4())
    tx.insert(
        OXFORD_ENTITY,
        {"id": row_id, **_oxford_values(record), "recorded_at": tx.at, "updated_at": tx.at},
    )
    return row_id


def _insert_ae(tx: Transaction, event: AdverseEvent) -> str:
    row_id = str(uuid.uuid4())
    tx.insert(
        AE_ENTITY, {"id": row_id, **_ae_values(event), "recorded_at": tx.at, "updated_at": tx.at}
    )
    return row_id


def _oxford_key_taken(
    tx: Transaction, record: OxfordRecord, *, other_than: str | None = None
) -> dict[str, Any] | None:
    for state in tx.rows(
        OXFORD_ENTITY,
        patient=record.patient,
        instrument=record.instrument.value,
        timepoint=record.timepoint.value,
    ):
        if state["id"] != other_than:
            return state
    return None


def _ae_key_taken(
    tx: Transaction, event: AdverseEvent, *, other_than: str | None = None
) -> dict[str, Any] | None:
    for state in tx.rows(AE_ENTITY, natural_key=_ae_natural_key(event)):
        if state["id"] != other_than:
            return state
    return None
