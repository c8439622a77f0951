"""Oxford scores and adverse events in the study database: import, entry, correction, listing.

Every write goes through :meth:`collarreader.db.repository.Repository.transaction`, so each
inserted or corrected row appends its audit event in the same database transaction, and
``collarreader verify`` replays it like a reading.

Rules
-----
* Clinical data live in the **study** database (the one ``collarreader merge`` creates); a
  reader's database is refused, and so is a path that does not exist (no study database is
  created here, so a typing error in the path cannot start a second, empty study).
* A CSV import validates every row first (:mod:`collarreader.clinical.csv_import`), then
  writes everything in one transaction: all or nothing.
* Importing the same file again adds nothing and writes no audit event: a row whose natural
  key (Oxford: patient, instrument, time point; adverse event: patient, onset date, category,
  description) is recorded with the same content is skipped.
* A row whose natural key is recorded with *different* content is a correction of recorded
  data. It is refused, naming the row, unless the import is asked to apply corrections
  (``update=True`` with a ``reason``; the command's ``--update --reason``), in which case each
  such row is an audited correction carrying the reason.
* A correction always carries a reason (:func:`correct_oxford`, :func:`correct_adverse_event`);
  the functions take it as an argument and never ask for it (dialogs belong to the UI).
* Totals are never stored: :func:`list_clinical` scores every questionnaire when it lists it.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
from sqlalchemy import select

from collarreader.clinical.adverse_events import (
    AdverseEvent,
    check_date,
    check_patient_id,
    parse_iso_date,
)
from collarreader.clinical.csv_import import parse_ae_csv, parse_oxford_csv
from collarreader.clinical.oxford import (
    ITEM_NAMES,
    N_ITEMS,
    OxfordRecord,
    OxfordScale,
    Timepoint,
    parse_instrument,
    parse_timepoint,
)
from collarreader.db.audit import canonical_json, row_state
from collarreader.db.clinical_models import ADVERSE_EVENT_TABLE, OXFORD_TABLE
from collarreader.db.engine import STUDY_LEAD, Database, database_url, open_database
from collarreader.db.repository import Repository
from collarreader.db.transaction import Transaction
from collarreader.errors import ClinicalDataError, DatabaseError
from collarreader.model import DatabaseRole
from collarreader.study.keyfile import Key, load_key

__all__ = [
    "AE_COLUMNS",
    "OXFORD_COLUMNS",
    "ImportReport",
    "StoredAdverseEvent",
    "StoredOxford",
    "add_adverse_event",
    "add_oxford",
    "adverse_events",
    "clinical_findings",
    "correct_adverse_event",
    "correct_oxford",
    "describe_ae_changes",
    "describe_oxford_changes",
    "format_clinical",
    "import_ae_csv",
    "import_oxford_csv",
    "list_clinical",
    "open_study_database",
    "oxford_questionnaires",
    "require_study",
    "study_patients",
]

OXFORD_ENTITY = OXFORD_TABLE.name
AE_ENTITY = ADVERSE_EVENT_TABLE.name

OXFORD_COLUMNS: tuple[str, ...] = (
    "id",
    "patient",
    "instrument",
    "timepoint",
    "date",
    *ITEM_NAMES,
    "scale",
    "source",
    "total",
    "total_unrounded",
    "band",
    "n_missing",
    "imputed",
    "updated_at",
)
"""Columns of the Oxford table of :func:`list_clinical` (items as entered, on ``scale``)."""

AE_COLUMNS: tuple[str, ...] = (
    "id",
    "patient",
    "onset_date",
    "category",
    "henderson_type",
    "severity",
    "grade",
    "relation",
    "related",
    "action",
    "outcome",
    "description",
    "updated_at",
)
"""Columns of the adverse-event table of :func:`list_clinical`."""

_EDIT_HINT = (
    "Recorded data change only as a correction with a reason: correct it in "
    "'collarreader clinical edit DB', or import the file again with --update --reason \"…\"."
)


# ---------------------------------------------------------------------------- the database


def require_study(database: Database) -> None:
    """Refuse anything but a study database.

    Raises
    ------
    DatabaseError
        For a reader database, naming its reader.
    """
    identity = database.identity
    if identity.role is not DatabaseRole.STUDY:
        who = f" of reader {identity.reader_id!r}" if identity.reader_id else ""
        message = (
            f"{database.label}: this is the {identity.role} database{who}. Oxford scores and "
            "adverse events belong in the study database (the one 'collarreader merge' "
            "writes); give that database instead."
        )
        raise DatabaseError(message)


def open_study_database(path_or_url: str | Path) -> Database:
    """Open an existing study database for clinical data.

    Parameters
    ----------
    path_or_url : SQLite file or ``postgresql://`` URL of the study database

    Raises
    ------
    DatabaseError
        When the file does not exist (it is not created: clinical data join the study
        database that ``collarreader merge`` made), or it is a reader's database, damaged, or
        from a newer collarreader.
    """
    _url, path = database_url(path_or_url)
    if path is not None and not path.exists():
        message = (
            f"{path}: no such study database. Clinical data go into the study database that "
            "'collarreader merge STUDY.sqlite READER.sqlite …' creates; check the path."
        )
        raise DatabaseError(message)
    database = open_database(path_or_url)
    try:
        require_study(database)
    except DatabaseError:
        database.close()
        raise
    return database


def study_patients(key_path: str | Path | Key) -> frozenset[str]:
    """The patient study IDs of an unblinding key file (``collarreader prepare --key``).

    Raises
    ------
    KeyFileError
        When the key cannot be read.
    """
    key = key_path if isinstance(key_path, Key) else load_key(key_path)
    return frozenset(case.patient for case in key.cases.values())


# ---------------------------------------------------------------------------- row ↔ record


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


# ---------------------------------------------------------------------------- import


@dataclass(frozen=True)
class ImportReport:
    """What an import did.

    Attributes
    ----------
    path : the CSV file
    kind : ``"Oxford score"`` or ``"adverse-event"``
    added : spreadsheet row numbers (header = row 1) of the records inserted
    unchanged : rows already recorded with the same content (skipped)
    corrected : rows applied as audited corrections (only with ``update=True``)
    warnings : things worth a look that did not stop the import
    """

    path: Path
    kind: str
    added: tuple[int, ...]
    unchanged: tuple[int, ...]
    corrected: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        """Number of data rows in the file."""
        return len(self.added) + len(self.unchanged) + len(self.corrected)

    def __str__(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.unchanged)} already recorded"]
        if self.corrected:
            parts.append(f"{len(self.corrected)} corrected")
        lines = [f"{self.path.name}: {self.rows} {self.kind} rows — {', '.join(parts)}."]
        lines.extend(f"warning: {warning}" for warning in self.warnings)
        return "\n".join(lines)


def _check_reason(reason: str | None, what: str) -> str:
    if reason is None or not reason.strip():
        raise ClinicalDataError(
            f"{what} needs a reason (e.g. 'transcription error, checked against the paper "
            "form'); the reason is kept in the audit trail."
        )
    return reason.strip()


def _known(key_path: str | Path | Key | None) -> Collection[str] | None:
    return None if key_path is None else study_patients(key_path)


def _shown(value: object) -> str:
    return "blank" if value is None else str(value)


def describe_oxford_changes(old: OxfordRecord, new: OxfordRecord) -> str:
    """The differences between two questionnaires, e.g. ``"q3 3 → 1, source 'a' → 'b'"``."""
    changes = []
    for name in ("patient", "instrument", "timepoint"):
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            changes.append(f"{name} {before} → {after}")
    if old.date != new.date:
        changes.append(f"date {old.date.isoformat()} → {new.date.isoformat()}")
    if old.scale != new.scale:
        changes.append(f"scale {old.scale.value} → {new.scale.value}")
    for name, before, after in zip(
        ITEM_NAMES, old.items_as_entered, new.items_as_entered, strict=True
    ):
        if before != after:
            changes.append(f"{name} {_shown(before)} → {_shown(after)}")
    if old.source != new.source:
        changes.append(f"source {old.source!r} → {new.source!r}")
    return ", ".join(changes)


def describe_ae_changes(old: AdverseEvent, new: AdverseEvent) -> str:
    """The differences between two adverse events, e.g. ``"severity 'mild' → 'severe'"``."""
    changes = []
    for name in AE_FIELDS:
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            shown_before = before.isoformat() if isinstance(before, dt.date) else str(before)
            shown_after = after.isoformat() if isinstance(after, dt.date) else str(after)
            changes.append(f"{name} {shown_before!r} → {shown_after!r}")
    return ", ".join(changes)


def _refuse_conflicts(path: Path, database: Database, conflicts: Sequence[str]) -> None:
    if not conflicts:
        return
    noun = "row differs" if len(conflicts) == 1 else "rows differ"
    raise ClinicalDataError(
        f"{path}: {len(conflicts)} {noun} from what {database.label} already records; "
        f"nothing was imported. {_EDIT_HINT}\n" + "\n".join(f"  {line}" for line in conflicts)
    )


def import_oxford_csv(
    database: Database,
    csv_path: str | Path,
    *,
    legacy: bool = False,
    key_path: str | Path | Key | None = None,
    actor: str = STUDY_LEAD,
    update: bool = False,
    reason: str | None = None,
    today: dt.date | None = None,
) -> ImportReport:
    """Import an Oxford Hip/Knee Score CSV file into the study database (all or nothing).

    Parameters
    ----------
    database : an open study database
    csv_path : the file (format: :mod:`collarreader.clinical.csv_import`)
    legacy : the whole file uses the legacy 12–60 scoring (``--legacy``)
    key_path : the unblinding key; when given, a patient not in it is an error naming the row
    actor : who the audit names
    update : apply rows that differ from a recorded questionnaire (same patient, instrument,
        time point) as corrections; needs ``reason``
    reason : the reason stored with each correction (required with ``update``)
    today : reference date for "not in the future" (default: today)

    Returns
    -------
    ImportReport
        Rows added, already recorded, corrected.

    Raises
    ------
    ClinicalDataError
        For any invalid row (every problem listed with its row number), a patient not in the
        key, or a row that differs from recorded data without ``update``; nothing is written.
    DatabaseError
        For a reader database.
    """
    require_study(database)
    correction_reason = _check_reason(reason, "--update") if update else None
    path = Path(csv_path)
    records = parse_oxford_csv(path, legacy=legacy, known_patients=_known(key_path), today=today)
    repository = Repository(database, actor)
    added: list[int] = []
    unchanged: list[int] = []
    corrected: list[int] = []
    with repository.transaction(f"import of {path.name}") as tx:
        existing = {
            (state["patient"], state["instrument"], state["timepoint"]): state
            for state in _all_states(tx.connection, OXFORD_TABLE)
        }
        inserts: list[OxfordRecord] = []
        updates: list[tuple[dict[str, Any], OxfordRecord]] = []
        conflicts: list[str] = []
        for record in records:
            row = record.row or 0
            state = existing.get(record.natural_key)
            if state is None:
                inserts.append(record)
                added.append(row)
            elif state["content_sha256"] == record.content_sha256:
                unchanged.append(row)
            elif update:
                updates.append((state, record))
                corrected.append(row)
            else:
                old = _oxford_from_state(state)
                conflicts.append(
                    f"row {row}: patient {record.patient}, {record.instrument.value}, "
                    f"{record.timepoint.value} is recorded with "
                    f"{describe_oxford_changes(old, record)}."
                )
        _refuse_conflicts(path, database, conflicts)
        for record in inserts:
            _insert_oxford(tx, record)
        if updates:
            tx.reason = f"{correction_reason} (import of {path.name})"
            for state, record in updates:
                tx.update(
                    OXFORD_ENTITY,
                    state["id"],
                    {**_oxford_values(record), "updated_at": tx.at},
                    action="correct",
                    before=state,
                )
    return ImportReport(path, "Oxford score", tuple(added), tuple(unchanged), tuple(corrected))


def _data_row_numbers(path: Path) -> list[int]:
    """Spreadsheet row numbers of the data rows of a CSV file that parsed without problems.

    The parser returns one event per non-empty row after the header (any other row would
    have been an error), so the n-th event came from the n-th non-empty data row.
    """
    text = path.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    numbers = [index + 1 for index, row in enumerate(rows) if any(cell.strip() for cell in row)]
    return numbers[1:]


def import_ae_csv(
    database: Database,
    csv_path: str | Path,
    *,
    key_path: str | Path | Key | None = None,
    actor: str = STUDY_LEAD,
    update: bool = False,
    reason: str | None = None,
    today: dt.date | None = None,
) -> ImportReport:
    """Import an adverse-event CSV file into the study database (all or nothing).

    An event is the same event when patient, onset date, category and description (ignoring
    case and spacing) match. A new event with the same patient, onset date and category as a
    recorded one but another description is imported with a warning: it may be a reworded
    description of the recorded event.

    Parameters
    ----------
    database : an open study database
    csv_path : the file (format: :mod:`collarreader.clinical.csv_import`)
    key_path : the unblinding key; when given, a patient not in it is an error naming the row
    actor : who the audit names
    update : apply rows that differ from a recorded event (severity, relation, action,
        outcome, or the description's case and spacing) as corrections; needs ``reason``
    reason : the reason stored with each correction (required with ``update``)
    today : reference date for "not in the future" (default: today)

    Raises
    ------
    ClinicalDataError
        For any invalid row, a patient not in the key, or a row that differs from a recorded
        event without ``update``; nothing is written.
    DatabaseError
        For a reader database.
    """
    require_study(database)
    correction_reason = _check_reason(reason, "--update") if update else None
    path = Path(csv_path)
    events = parse_ae_csv(path, known_patients=_known(key_path), today=today)
    row_numbers = _data_row_numbers(path)
    if len(row_numbers) != len(events):  # pragma: no cover - guarded by the parser's rules
        row_numbers = list(range(2, len(events) + 2))
    repository = Repository(database, actor)
    added: list[int] = []
    unchanged: list[int] = []
    corrected: list[int] = []
    warnings: list[str] = []
    with repository.transaction(f"import of {path.name}") as tx:
        states = _all_states(tx.connection, ADVERSE_EVENT_TABLE)
        by_key = {state["natural_key"]: state for state in states}
        near: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for state in states:
            near.setdefault((state["patient"], state["onset_date"], state["category"]), []).append(
                state
            )
        inserts: list[AdverseEvent] = []
        updates: list[tuple[dict[str, Any], AdverseEvent]] = []
        conflicts: list[str] = []
        for row, event in zip(row_numbers, events, strict=True):
            recorded = by_key.get(_ae_natural_key(event))
            label = f"patient {event.patient}, {event.onset_date.isoformat()}, {event.category}"
            if recorded is None:
                inserts.append(event)
                added.append(row)
                same_day = near.get(
                    (event.patient, event.onset_date.isoformat(), event.category.value), []
                )
                warnings.extend(
                    f"row {row}: {label} is a new event, but one is already recorded on "
                    f"that day in that category ({other['description']!r}); if the row "
                    "rewords that event, correct the recorded one in 'collarreader "
                    "clinical edit' instead."
                    for other in same_day
                )
            elif recorded["content_sha256"] == event.content_sha256:
                unchanged.append(row)
            elif update:
                updates.append((recorded, event))
                corrected.append(row)
            else:
                difference = describe_ae_changes(_ae_from_state(recorded), event)
                conflicts.append(f"row {row}: {label} is recorded with {difference}.")
        _refuse_conflicts(path, database, conflicts)
        for event in inserts:
            _insert_ae(tx, event)
        if updates:
            tx.reason = f"{correction_reason} (import of {path.name})"
            for state, event in updates:
                tx.update(
                    AE_ENTITY,
                    state["id"],
                    {**_ae_values(event), "updated_at": tx.at},
                    action="correct",
                    before=state,
                )
    return ImportReport(
        path, "adverse-event", tuple(added), tuple(unchanged), tuple(corrected), tuple(warnings)
    )


# ---------------------------------------------------------------------------- entry


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


def add_oxford(
    database: Database,
    record: OxfordRecord,
    *,
    actor: str = STUDY_LEAD,
    reason: str | None = None,
    today: dt.date | None = None,
) -> str:
    """Record one questionnaire entered by hand; return its row id.

    Parameters
    ----------
    database : an open study database
    record : the questionnaire (validated on construction)
    actor : who the audit names
    reason : stored with the audit event (optional for a new record)
    today : reference date for "not in the future" (default: today)

    Raises
    ------
    ClinicalDataError
        When the date is implausible or this patient's questionnaire for that instrument and
        time point is already recorded (correct that one instead).
    """
    require_study(database)
    try:
        check_date(record.date, today=today)
    except ClinicalDataError as error:
        raise ClinicalDataError(f"Oxford questionnaire date: {error}") from None
    with Repository(database, actor).transaction(reason) as tx:
        if _oxford_key_taken(tx, record) is not None:
            raise ClinicalDataError(
                f"patient {record.patient}, {record.instrument.value}, "
                f"{record.timepoint.value} is already recorded; one questionnaire per patient, "
                "instrument and time point. Correct the recorded one (with a reason) instead."
            )
        return _insert_oxford(tx, record)


def add_adverse_event(
    database: Database,
    event: AdverseEvent,
    *,
    actor: str = STUDY_LEAD,
    reason: str | None = None,
    today: dt.date | None = None,
) -> str:
    """Record one adverse event entered by hand; return its row id.

    Raises
    ------
    ClinicalDataError
        When the event is invalid (every field named) or already recorded.
    """
    require_study(database)
    event.validate(today=today)
    with Repository(database, actor).transaction(reason) as tx:
        if _ae_key_taken(tx, event) is not None:
            raise ClinicalDataError(
                f"this adverse event of patient {event.patient} "
                f"({event.onset_date.isoformat()}, {event.category}) is already recorded; "
                "correct the recorded one (with a reason) instead."
            )
        return _insert_ae(tx, event)


# ---------------------------------------------------------------------------- correction

OXFORD_FIELDS: tuple[str, ...] = (
    "patient",
    "instrument",
    "timepoint",
    "date",
    "items",
    *ITEM_NAMES,
    "source",
    "scale",
)
"""Keys :func:`correct_oxford` accepts in ``changes``."""

AE_FIELDS: tuple[str, ...] = (
    "patient",
    "onset_date",
    "description",
    "category",
    "severity",
    "relation",
    "action",
    "outcome",
)
"""Keys :func:`correct_adverse_event` accepts in ``changes``."""


def _unknown_fields(changes: Mapping[str, object], allowed: Iterable[str], what: str) -> None:
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise ClinicalDataError(
            f"{what}: cannot change {', '.join(unknown)}; the fields are {', '.join(allowed)}."
        )


def _changed_oxford(current: OxfordRecord, changes: Mapping[str, object]) -> OxfordRecord:
    _unknown_fields(changes, OXFORD_FIELDS, "Oxford correction")
    items: list[object] = list(current.items_as_entered)
    if "items" in changes:
        given = changes["items"]
        if not isinstance(given, Sequence) or isinstance(given, str) or len(given) != N_ITEMS:
            raise ClinicalDataError(
                f"Oxford correction: items must be a list of {N_ITEMS} answers (None = missing)."
            )
        items = list(given)
    for index, name in enumerate(ITEM_NAMES):
        if name in changes:
            items[index] = changes[name]
    fields: dict[str, Any] = {"items_as_entered": tuple(items)}
    try:
        if "patient" in changes:
            fields["patient"] = check_patient_id(changes["patient"])
        if "instrument" in changes:
            fields["instrument"] = parse_instrument(changes["instrument"])  # type: ignore[arg-type]
        if "timepoint" in changes:
            fields["timepoint"] = parse_timepoint(changes["timepoint"])  # type: ignore[arg-type]
        if "date" in changes:
            value = changes["date"]
            fields["date"] = value if isinstance(value, dt.date) else parse_iso_date(str(value))
        if "source" in changes:
            fields["source"] = str(changes["source"]).strip()
        if "scale" in changes:
            fields["scale"] = OxfordScale(str(changes["scale"]))
    except ValueError as error:  # OxfordScale("…")
        raise ClinicalDataError(
            f"Oxford correction: {error}; the scales are '0-48' and 'legacy-12-60'."
        ) from None
    return dataclasses.replace(current, **fields)


def correct_oxford(
    database: Database,
    record_id: str,
    changes: Mapping[str, object],
    *,
    reason: str,
    actor: str = STUDY_LEAD,
    today: dt.date | None = None,
) -> OxfordRecord:
    """Correct a recorded questionnaire; the audit event carries ``reason``.

    Parameters
    ----------
    database : an open study database
    record_id : the row id (from :func:`list_clinical` or :func:`oxford_questionnaires`)
    changes : field → new value; fields are :data:`OXFORD_FIELDS`: ``patient``,
        ``instrument``, ``timepoint``, ``date`` (date or ``YYYY-MM-DD``), ``items`` (12
        answers) or single items ``q1`` … ``q12`` (int, or None for missing), ``source``,
        ``scale`` (answers are on this scale)
    reason : why (required; stored in the audit trail)
    actor : who the audit names
    today : reference date for "not in the future" (default: today)

    Returns
    -------
    OxfordRecord
        The record as now stored (unchanged, and no audit event, when nothing differs).

    Raises
    ------
    ClinicalDataError
        Without a reason, for an unknown id or field, an invalid value, or when the change
        would make a second questionnaire for the same patient, instrument and time point.
    """
    require_study(database)
    why = _check_reason(reason, "A correction")
    with Repository(database, actor).transaction(why) as tx:
        state = tx.get(OXFORD_ENTITY, record_id)
        if state is None:
            raise ClinicalDataError(
                f"{database.label}: no Oxford questionnaire with id {record_id}."
            )
        current = _oxford_from_state(state)
        corrected = _changed_oxford(current, changes)
        if corrected.content_sha256 == current.content_sha256:
            return current
        if corrected.date != current.date:
            try:
                check_date(corrected.date, today=today)
            except ClinicalDataError as error:
                raise ClinicalDataError(f"Oxford questionnaire date: {error}") from None
        if _oxford_key_taken(tx, corrected, other_than=record_id) is not None:
            raise ClinicalDataError(
                f"patient {corrected.patient}, {corrected.instrument.value}, "
                f"{corrected.timepoint.value} is already recorded in another row; correct "
                "that one instead."
            )
        tx.update(
            OXFORD_ENTITY,
            record_id,
            {**_oxford_values(corrected), "updated_at": tx.at},
            action="correct",
            before=state,
        )
        return corrected


def correct_adverse_event(
    database: Database,
    event_id: str,
    changes: Mapping[str, object],
    *,
    reason: str,
    actor: str = STUDY_LEAD,
    today: dt.date | None = None,
) -> AdverseEvent:
    """Correct a recorded adverse event; the audit event carries ``reason``.

    Parameters
    ----------
    database : an open study database
    event_id : the row id
    changes : field → new value (text as a form gives it, or the enum member / date); the
        fields are :data:`AE_FIELDS`
    reason : why (required; stored in the audit trail)
    actor : who the audit names
    today : reference date for "not in the future" (default: today)

    Returns
    -------
    AdverseEvent
        The event as now stored (unchanged, and no audit event, when nothing differs).

    Raises
    ------
    ClinicalDataError
        Without a reason, for an unknown id or field, an invalid value (every field named),
        or when the corrected event is the same as another recorded one.
    """
    require_study(database)
    why = _check_reason(reason, "A correction")
    _unknown_fields(changes, AE_FIELDS, "adverse-event correction")
    with Repository(database, actor).transaction(why) as tx:
        state = tx.get(AE_ENTITY, event_id)
        if state is None:
            raise ClinicalDataError(f"{database.label}: no adverse event with id {event_id}.")
        current = _ae_from_state(state)
        merged: dict[str, Any] = {name: getattr(current, name) for name in AE_FIELDS}
        merged.update(changes)
        reference = today
        if "onset_date" not in changes:
            # An unchanged date stays acceptable even if the rules were stricter when recorded.
            reference = dt.date.max
        corrected = AdverseEvent.parse(**merged, today=reference)
        if corrected.content_sha256 == current.content_sha256:
            return current
        if _ae_key_taken(tx, corrected, other_than=event_id) is not None:
            raise ClinicalDataError(
                f"the corrected event of patient {corrected.patient} "
                f"({corrected.onset_date.isoformat()}, {corrected.category}) is already "
                "recorded as another event."
            )
        tx.update(
            AE_ENTITY,
            event_id,
            {**_ae_values(corrected), "updated_at": tx.at},
            action="correct",
            before=state,
        )
        return corrected


# ---------------------------------------------------------------------------- listing


def oxford_frame(stored: Sequence[StoredOxford]) -> pd.DataFrame:
    """The Oxford table of :func:`list_clinical` from recorded questionnaires."""
    rows = []
    for item in stored:
        record = item.record
        result = record.score
        rows.append(
            {
                "id": item.id,
                "patient": record.patient,
                "instrument": record.instrument.value,
                "timepoint": record.timepoint.value,
                "date": record.date.isoformat(),
                **dict(zip(ITEM_NAMES, record.items_as_entered, strict=True)),
                "scale": record.scale.value,
                "source": record.source,
                "total": result.total,
                "total_unrounded": result.total_unrounded,
                "band": None if result.band is None else result.band.value,
                "n_missing": result.n_missing,
                "imputed": result.imputed,
                "updated_at": item.updated_at,
            }
        )
    frame = pd.DataFrame(rows, columns=list(OXFORD_COLUMNS))
    for name in (*ITEM_NAMES, "total"):
        frame[name] = frame[name].astype("Int64")
    frame["total_unrounded"] = frame["total_unrounded"].astype("float64")
    frame["n_missing"] = frame["n_missing"].astype("int64")
    frame["imputed"] = frame["imputed"].astype("bool")
    return frame


def ae_frame(stored: Sequence[StoredAdverseEvent]) -> pd.DataFrame:
    """The adverse-event table of :func:`list_clinical` from recorded events."""
    rows = []
    for item in stored:
        event = item.event
        rows.append(
            {
                "id": item.id,
                "patient": event.patient,
                "onset_date": event.onset_date.isoformat(),
                "category": event.category.value,
                "henderson_type": event.category.henderson_type,
                "severity": event.severity.value,
                "grade": event.severity.grade,
                "relation": event.relation.value,
                "related": event.relation.related,
                "action": event.action.value,
                "outcome": event.outcome.value,
                "description": event.description,
                "updated_at": item.updated_at,
            }
        )
    frame = pd.DataFrame(rows, columns=list(AE_COLUMNS))
    frame["henderson_type"] = frame["henderson_type"].astype("Int64")
    frame["grade"] = frame["grade"].astype("int64")
    frame["related"] = frame["related"].astype("bool")
    return frame


def list_clinical(database: Database) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every questionnaire (scored) and every adverse event of the study database.

    Returns
    -------
    (oxford, adverse_events) : pandas.DataFrame, pandas.DataFrame
        ``oxford`` has :data:`OXFORD_COLUMNS`: the answers as entered (nullable ``Int64``, on
        ``scale``) and the computed ``total`` (``Int64``, NA with more than 2 missing),
        ``band``, ``n_missing`` and ``imputed``; ``adverse_events`` has :data:`AE_COLUMNS`.
    """
    return oxford_frame(oxford_questionnaires(database)), ae_frame(adverse_events(database))


def _items_text(row: pd.Series) -> str:
    return " ".join("·" if pd.isna(row[name]) else str(int(row[name])) for name in ITEM_NAMES)


def format_clinical(oxford: pd.DataFrame, events: pd.DataFrame, *, width: int = 60) -> str:
    """Plain-text listing for ``collarreader clinical list DB``.

    Parameters
    ----------
    oxford, events : the two tables of :func:`list_clinical`
    width : longest description shown (longer ones are cut with "…")
    """
    lines: list[str] = []
    lines.append(f"Oxford questionnaires: {len(oxford)}")
    if len(oxford):
        shown = pd.DataFrame(
            {
                "patient": oxford["patient"],
                "instrument": oxford["instrument"],
                "time point": oxford["timepoint"],
                "date": oxford["date"],
                "answers q1…q12 (· missing)": oxford.apply(_items_text, axis=1),
                "scale": oxford["scale"],
                "total": ["—" if pd.isna(total) else str(int(total)) for total in oxford["total"]],
                "band": [
                    "no score (>2 missing)" if pd.isna(band) else band for band in oxford["band"]
                ],
                "source": oxford["source"],
            }
        )
        lines.append(shown.to_string(index=False))
    lines.append("")
    lines.append(f"Adverse events: {len(events)}")
    if len(events):
        shown = pd.DataFrame(
            {
                "patient": events["patient"],
                "onset": events["onset_date"],
                "category": [
                    category if pd.isna(kind) else f"{category} (type {int(kind)})"
                    for category, kind in zip(
                        events["category"], events["henderson_type"], strict=True
                    )
                ],
                "severity": events["severity"],
                "relation": events["relation"],
                "action": events["action"],
                "outcome": events["outcome"],
                "description": [
                    text if len(text) <= width else text[: width - 1] + "…"
                    for text in events["description"]
                ],
            }
        )
        lines.append(shown.to_string(index=False))
    return "\n".join(lines)


# ---------------------------------------------------------------------------- checking


def clinical_findings(database: Database) -> list[str]:
    """Re-validate every clinical row (values, vocabularies, content hashes, natural keys).

    ``collarreader verify`` already proves that each row is what its audit trail says; this
    checks that what was written is itself valid, e.g. after a manual repair. Returns one
    sentence per problem (empty: all good).
    """
    findings: list[str] = []
    with database.read() as connection:
        oxford_states = _all_states(connection, OXFORD_TABLE)
        ae_states = _all_states(connection, ADVERSE_EVENT_TABLE)
    for state in oxford_states:
        try:
            record = _oxford_from_state(state)
        except (ClinicalDataError, ValueError) as error:
            findings.append(f"{OXFORD_ENTITY} {state['id']}: {error}")
            continue
        if record.content_sha256 != state["content_sha256"]:
            findings.append(
                f"{OXFORD_ENTITY} {state['id']}: content_sha256 does not match the row's data."
            )
    for state in ae_states:
        try:
            event = _ae_from_state(state)
        except (ClinicalDataError, ValueError) as error:
            findings.append(f"{AE_ENTITY} {state['id']}: {error}")
            continue
        if event.content_sha256 != state["content_sha256"]:
            findings.append(
                f"{AE_ENTITY} {state['id']}: content_sha256 does not match the row's data."
            )
        if _ae_natural_key(event) != state["natural_key"]:
            findings.append(
                f"{AE_ENTITY} {state['id']}: natural_key does not match the row's data."
            )
    return findings
