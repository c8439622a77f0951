"""The undoable command: ``apply`` writes it in one audited transaction, ``revert`` undoes it.

Part of :mod:`collarreader.session` (see its docstring for the rules).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from collarreader.db.repository import Repository
from collarreader.db.transaction import Change, Transaction
from collarreader.errors import SessionError
from collarreader.session.context import ReadingContext

# ------------------------------------------------------------------------------ commands


class Command(ABC):
    """A gesture: ``apply`` writes it, ``revert`` restores what it changed.

    Subclasses implement :meth:`_do` (the first application, computing the change) and
    set :attr:`text` (what an undo menu shows). Later applications (redo) replay the recorded
    row states, so ids stay stable and later commands that refer to them remain valid.
    """

    text = "change"
    edits_reading = True  # refused on a locked (submitted) reading

    def __init__(self, context: ReadingContext) -> None:
        self.context = context
        self.changes: tuple[Change, ...] | None = None

    # ---- the protocol of a command
    def apply(self, repository: Repository) -> None:
        """Write the command in one audited transaction (replaying it after a revert)."""
        with repository.transaction() as tx:
            self._check_reading(tx)
            if self.changes is None:
                self._do(tx, repository)
                self.changes = tuple(tx.changes)
                return
            for change in self.changes:
                _restore(tx, change, forward=True, text=self.text)

    def revert(self, repository: Repository) -> None:
        """Restore every row the command changed, in one audited transaction (the undo)."""
        if self.changes is None:
            message = f"{self.text}: not applied, nothing to undo."
            raise SessionError(message)
        with repository.transaction(reason=f"undo: {self.text}") as tx:
            self._check_reading(tx, reverting=True)
            for change in reversed(self.changes):
                _restore(tx, change, forward=False, text=self.text)

    # ---- for subclasses
    @abstractmethod
    def _do(self, tx: Transaction, repository: Repository) -> None:
        """The first application: make the change through ``tx``."""

    def _check_reading(self, tx: Transaction, *, reverting: bool = False) -> dict[str, Any]:
        reading = tx.get("readings", self.context.reading_id)
        if reading is None:
            message = f"Reading {self.context.reading_id} does not exist."
            raise SessionError(message)
        if self.edits_reading and reading["locked"]:
            message = (
                f"Case {self.context.case.case_code} is submitted and locked: "
                f"cannot {'undo ' if reverting else ''}{self.text}. Reopen it (with a reason) "
                "to change it."
            )
            raise SessionError(message)
        return reading


def _restore(tx: Transaction, change: Change, *, forward: bool, text: str) -> None:
    """Bring one row from one side of a recorded change to the other, refusing on a conflict."""
    source, target = (change.before, change.after) if forward else (change.after, change.before)
    current = tx.get(change.entity, change.entity_id)
    action = "redo" if forward else "undo"
    if source is None or target is None:
        if current != source:
            message = (
                f"Cannot {action} {text}: {change.entity} {change.entity_id} has changed since."
            )
            raise SessionError(message)
        tx.restore(change.entity, change.entity_id, target, action=action)
        return
    # An update: compare and restore only the columns this change touched, so a later change
    # of other columns (e.g. reading time written at a pause) does not block the undo.
    columns = [key for key in source if source[key] != target.get(key)]
    if current is None or any(current[key] != source[key] for key in columns):
        message = f"Cannot {action} {text}: {change.entity} {change.entity_id} has changed since."
        raise SessionError(message)
    tx.update(
        change.entity,
        change.entity_id,
        {key: target[key] for key in columns},
        action=action,
        before=current,
    )
