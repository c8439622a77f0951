"""Clinical rows ↔ records: the stored forms, reading every row, inserting, natural keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Table, select

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
    "AE_ROWS",
    "OXFORD_ENTITY",
    "OXFORD_ROWS",
    "RowKind",
    "StoredAdverseEvent",
    "StoredOxford",
    "adverse_events",
    "ae_natural_key",
    "all_states",
    "insert_row",
    "key_taken",
    "oxford_questionnaires",
    "write_correction",
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


def ae_natural_key(event: AdverseEvent) -> str:
    """The ``natural_key`` column of an event: SHA-256 (hex) of its natural key."""
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
        "natural_key": ae_natural_key(event),
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


def all_states(connection: Any, table: Any) -> list[dict[str, Any]]:
    """The state of every row of ``table`` (as the audit trail records it)."""
    return [row_state(table, row._mapping) for row in connection.execute(select(table))]


# ---- one kind of clinical row, so that inserting, key lookups and corrections are written once


class _Recorded(Protocol):
    @property
    def content_sha256(self) -> str: ...


R = TypeVar("R", bound=_Recorded)


@dataclass(frozen=True)
class RowKind(Generic[R]):
    """How one kind of clinical record is stored.

    Attributes
    ----------
    table : the audited table
    noun : what the user calls one record ("Oxford questionnaire", "adverse event")
    values : the row's columns for a record (without id and timestamps)
    from_state : the record of a row's state
    key_columns : the columns (and values) of a record's natural key, to find it recorded
    """

    table: Table
    noun: str
    values: Callable[[R], dict[str, Any]]
    from_state: Callable[[Mapping[str, Any]], R]
    key_columns: Callable[[R], dict[str, Any]]

    @property
    def entity(self) -> str:
        """The table's name, which the audit trail calls the entity."""
        return str(self.table.name)


OXFORD_ROWS: RowKind[OxfordRecord] = RowKind(
    OXFORD_TABLE,
    "Oxford questionnaire",
    _oxford_values,
    _oxford_from_state,
    lambda record: {
        "patient": record.patient,
        "instrument": record.instrument.value,
        "timepoint": record.timepoint.value,
    },
)
AE_ROWS: RowKind[AdverseEvent] = RowKind(
    ADVERSE_EVENT_TABLE,
    "adverse event",
    _ae_values,
    _ae_from_state,
    lambda event: {"natural_key": ae_natural_key(event)},
)


def insert_row(tx: Transaction, kind: RowKind[R], record: R) -> str:
    """Insert ``record`` as a new row (audited in ``tx``); return its row id."""
    row_id = str(uuid.uuid4())
    tx.insert(
        kind.entity,
        {"id": row_id, **kind.values(record), "recorded_at": tx.at, "updated_at": tx.at},
    )
    return row_id


def key_taken(
    tx: Transaction, kind: RowKind[R], record: R, *, other_than: str | None = None
) -> dict[str, Any] | None:
    """The state of a row (other than ``other_than``) recording ``record``'s natural key."""
    for state in tx.rows(kind.entity, **kind.key_columns(record)):
        if state["id"] != other_than:
            return state
    return None


def write_correction(tx: Transaction, kind: RowKind[R], state: dict[str, Any], record: R) -> None:
    """Overwrite the row of ``state`` with ``record``, audited as a correction."""
    tx.update(
        kind.entity,
        state["id"],
        {**kind.values(record), "updated_at": tx.at},
        action="correct",
        before=state,
    )


S = TypeVar("S")


def _read_stored(
    database: Database, kind: RowKind[R], stored: Callable[[str, R, str, str], S]
) -> list[S]:
    """Every row of one kind as ``stored(id, record, recorded_at, updated_at)``, unsorted."""
    require_study(database)
    with database.read() as connection:
        states = all_states(connection, kind.table)
    return [
        stored(state["id"], kind.from_state(state), state["recorded_at"], state["updated_at"])
        for state in states
    ]


def oxford_questionnaires(database: Database) -> list[StoredOxford]:
    """Every recorded questionnaire, by patient, instrument and time point (6 m before 12 m)."""
    stored = _read_stored(database, OXFORD_ROWS, StoredOxford)
    order = {member: index for index, member in enumerate(Timepoint)}
    stored.sort(
        key=lambda s: (s.record.patient, s.record.instrument.value, order[s.record.timepoint])
    )
    return stored


def adverse_events(database: Database) -> list[StoredAdverseEvent]:
    """Every recorded adverse event, by patient and onset date."""
    stored = _read_stored(database, AE_ROWS, StoredAdverseEvent)
    stored.sort(key=lambda s: (s.event.patient, s.event.onset_date, s.event.category.value, s.id))
    return stored
