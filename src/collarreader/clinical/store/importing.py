"""CSV imports of Oxford scores and adverse events.

All or nothing, idempotent; corrections only when asked for with a reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic

from collarreader.clinical.csv_import import parse_ae_csv, parse_oxford_csv
from collarreader.clinical.store.correction import (
    check_reason,
    describe_ae_changes,
    describe_oxford_changes,
)
from collarreader.clinical.store.rows import (
    AE_ROWS,
    OXFORD_ROWS,
    R,
    RowKind,
    ae_natural_key,
    all_states,
    insert_row,
    write_correction,
)
from collarreader.clinical.store.study_database import require_study, study_patients
from collarreader.db.clinical_models import ADVERSE_EVENT_TABLE, OXFORD_TABLE
from collarreader.db.engine import STUDY_LEAD, Database
from collarreader.db.repository import Repository
from collarreader.db.transaction import Transaction
from collarreader.errors import ClinicalDataError
from collarreader.study.keyfile import Key

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


def _known(key_path: str | Path | Key | None) -> Collection[str] | None:
    return None if key_path is None else study_patients(key_path)


@dataclass
class _ImportPlan(Generic[R]):
    """What an import does with each row, decided before anything is written.

    Attributes
    ----------
    kind : the kind of record imported
    describe : words the differences between a recorded and an imported record
    update : rows that differ from recorded ones become corrections (else conflicts)
    """

    kind: RowKind[R]
    describe: Callable[[R, R], str]
    update: bool
    added: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    corrected: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    inserts: list[R] = field(default_factory=list)
    updates: list[tuple[dict[str, Any], R]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def place(self, row: int, record: R, recorded: dict[str, Any] | None, label: str) -> bool:
        """Decide what spreadsheet row ``row`` does; True when its record is new.

        ``recorded`` is the state of the row recording the same natural key (None: none);
        ``label`` names the record in a conflict.
        """
        if recorded is None:
            self.inserts.append(record)
            self.added.append(row)
            return True
        if recorded["content_sha256"] == record.content_sha256:
            self.unchanged.append(row)
        elif self.update:
            self.updates.append((recorded, record))
            self.corrected.append(row)
        else:
            difference = self.describe(self.kind.from_state(recorded), record)
            self.conflicts.append(f"row {row}: {label} is recorded with {difference}.")
        return False

    def write(
        self, tx: Transaction, path: Path, database: Database, correction_reason: str | None
    ) -> None:
        """Refuse the whole file on any conflict; else insert, then correct (with the reason)."""
        _refuse_conflicts(path, database, self.conflicts)
        for record in self.inserts:
            insert_row(tx, self.kind, record)
        if self.updates:
            tx.reason = f"{correction_reason} (import of {path.name})"
            for state, record in self.updates:
                write_correction(tx, self.kind, state, record)

    def report(self, path: Path, kind: str) -> ImportReport:
        """What the import did."""
        return ImportReport(
            path,
            kind,
            tuple(self.added),
            tuple(self.unchanged),
            tuple(self.corrected),
            tuple(self.warnings),
        )


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
    correction_reason = check_reason(reason, "--update") if update else None
    path = Path(csv_path)
    records = parse_oxford_csv(path, legacy=legacy, known_patients=_known(key_path), today=today)
    plan = _ImportPlan(OXFORD_ROWS, describe_oxford_changes, update=update)
    with Repository(database, actor).transaction(f"import of {path.name}") as tx:
        existing = {
            (state["patient"], state["instrument"], state["timepoint"]): state
            for state in all_states(tx.connection, OXFORD_TABLE)
        }
        for record in records:
            label = f"patient {record.patient}, {record.instrument.value}, {record.timepoint.value}"
            plan.place(record.row or 0, record, existing.get(record.natural_key), label)
        plan.write(tx, path, database, correction_reason)
    return plan.report(path, "Oxford score")


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
    correction_reason = check_reason(reason, "--update") if update else None
    path = Path(csv_path)
    events = parse_ae_csv(path, known_patients=_known(key_path), today=today)
    row_numbers = _data_row_numbers(path)
    if len(row_numbers) != len(events):  # pragma: no cover - guarded by the parser's rules
        row_numbers = list(range(2, len(events) + 2))
    plan = _ImportPlan(AE_ROWS, describe_ae_changes, update=update)
    with Repository(database, actor).transaction(f"import of {path.name}") as tx:
        states = all_states(tx.connection, ADVERSE_EVENT_TABLE)
        by_key = {state["natural_key"]: state for state in states}
        near: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for state in states:
            near.setdefault((state["patient"], state["onset_date"], state["category"]), []).append(
                state
            )
        for row, event in zip(row_numbers, events, strict=True):
            label = f"patient {event.patient}, {event.onset_date.isoformat()}, {event.category}"
            if plan.place(row, event, by_key.get(ae_natural_key(event)), label):
                same_day = near.get(
                    (event.patient, event.onset_date.isoformat(), event.category.value), []
                )
                plan.warnings.extend(
                    f"row {row}: {label} is a new event, but one is already recorded on "
                    f"that day in that category ({other['description']!r}); if the row "
                    "rewords that event, correct the recorded one in 'collarreader "
                    "clinical edit' instead."
                    for other in same_day
                )
        plan.write(tx, path, database, correction_reason)
    return plan.report(path, "adverse-event")
