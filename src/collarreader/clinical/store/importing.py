"""CSV imports of Oxford scores and adverse events.

All or nothing, idempotent; corrections only when asked for with a reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collarreader.clinical.adverse_events import AdverseEvent
from collarreader.clinical.csv_import import parse_ae_csv, parse_oxford_csv
from collarreader.clinical.oxford import OxfordRecord
from collarreader.clinical.store.correction import (
    _check_reason,
    describe_ae_changes,
    describe_oxford_changes,
)
from collarreader.clinical.store.rows import (
    AE_ENTITY,
    OXFORD_ENTITY,
    _ae_from_state,
    _ae_natural_key,
    _ae_values,
    _all_states,
    _insert_ae,
    _insert_oxford,
    _oxford_from_state,
    _oxford_values,
)
from collarreader.clinical.store.study_database import require_study, study_patients
from collarreader.db.clinical_models import ADVERSE_EVENT_TABLE, OXFORD_TABLE
from collarreader.db.engine import STUDY_LEAD, Database
from collarreader.db.repository import Repository
from collarreader.errors import ClinicalDataError

__all__ = ["ImportReport", "import_ae_csv", "import_oxford_csv"]

_EDIT_HINT = (
    "Recorded data change only as a correction with a reason: correct it in "
    "'collarreader clinical edit DB', or import the file again with --update --reason \"…\"."
)


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


def _known(key_path: str | Path | None) -> Collection[str] | None:
    return None if key_path is None else study_patients(key_path)


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
    key_path: str | Path | None = None,
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
    key_path: str | Path | None = None,
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
