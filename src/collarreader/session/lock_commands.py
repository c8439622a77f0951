"""Commands that lock and unlock a reading: submit and reopen.

Part of :mod:`collarreader.session` (see its docstring for the rules).
"""

from __future__ import annotations

from collarreader.db.repository import Repository
from collarreader.db.transaction import Transaction
from collarreader.errors import SessionError
from collarreader.session.command import Command
from collarreader.session.context import ReadingContext
from collarreader.session.submission import submission_problems


class Submit(Command):
    """Check that every required field has a value, then lock the reading."""

    text = "submit"
    edits_reading = False

    def _do(self, tx: Transaction, repository: Repository) -> None:
        reading = self._check_reading(tx)
        if reading["locked"]:
            message = f"Case {self.context.case.case_code} is already submitted."
            raise SessionError(message)
        problems = submission_problems(
            self.context,
            tx.rows("scores", reading_id=self.context.reading_id),
            [
                {"image_code": repository.image_code(row["image_id"])}
                for row in tx.rows("calibrations", reading_id=self.context.reading_id)
            ],
        )
        if problems:
            shown = "; ".join(problems[:8])
            more = f"; and {len(problems) - 8} more" if len(problems) > 8 else ""
            message = f"Case {self.context.case.case_code} cannot be submitted: {shown}{more}."
            raise SessionError(message)
        tx.update(
            "readings",
            self.context.reading_id,
            {"locked": True, "submitted_at": tx.at},
            action="submit",
            before=reading,
        )


class Reopen(Command):
    """Unlock a submitted reading; the reason is required and audited."""

    text = "reopen"
    edits_reading = False

    def __init__(self, context: ReadingContext, reason: str) -> None:
        super().__init__(context)
        self.reason = reason.strip()
        if not self.reason:
            message = "Reopening a submitted case needs a reason (it is kept in the audit trail)."
            raise SessionError(message)

    def _do(self, tx: Transaction, repository: Repository) -> None:
        reading = self._check_reading(tx)
        if not reading["locked"]:
            message = f"Case {self.context.case.case_code} is not submitted; nothing to reopen."
            raise SessionError(message)
        tx.reason = self.reason
        tx.update(
            "readings",
            self.context.reading_id,
            {"locked": False, "reopen_reason": self.reason},
            action="reopen",
            before=reading,
        )
