"""Session commands from the window: form edits, undo and redo, submit and reopen.

Part of :mod:`collarreader.ui.main_window` (see its docstring).
"""

from __future__ import annotations

from typing import Any

from collarreader.errors import CollarReaderError, SettingsError
from collarreader.session import ClearScore, SetScore
from collarreader.ui.main_window.navigation import _CaseNavigation
from collarreader.ui.scoring_panel import FieldEdit
from collarreader.ui.worklist import CaseStatus


class _Editing(_CaseNavigation):
    """Gestures that become session commands; undo, redo, submit, reopen."""

    # ---------------------------------------------------------------- commands

    def _execute(self, command: Any) -> None:
        self.undo_adapter.execute(command)

    def _points_of(self, annotation_id: str) -> tuple[tuple[float, float], ...] | None:
        for annotation in self._annotations:
            if annotation.id == annotation_id:
                return annotation.points_px
        return None

    def _field_edited(self, edit: FieldEdit) -> None:
        context = self.session.context
        if context is None or self._locked:
            self.refresh()
            return
        try:
            if edit.value is None:
                command: Any = ClearScore(
                    context,
                    edit.field_key,
                    timepoint=edit.timepoint,
                    view=edit.view,
                    zone=edit.zone,
                )
            else:
                command = SetScore(
                    context,
                    edit.field_key,
                    edit.value,
                    timepoint=edit.timepoint,
                    view=edit.view,
                    zone=edit.zone,
                )
        except CollarReaderError as error:
            self.report_error(error)
            self.refresh()
            return
        if not self.undo_adapter.execute(command):
            self.refresh()

    def undo(self) -> None:
        """Undo the last command of this case."""
        if self._locked:
            self.report_error(self._locked_error())
            return
        self.undo_adapter.undo()

    def redo(self) -> None:
        """Redo the last undone command of this case."""
        if self._locked:
            self.report_error(self._locked_error())
            return
        self.undo_adapter.redo()

    def submit(self) -> None:
        """Submit the case: checks required fields, then locks it."""
        try:
            self.session.submit()
        except CollarReaderError as error:
            self.panel.outline_problems()
            count = self.panel.missing_list.count()
            if count and self.case is not None:
                # The full list stays in the panel; the status bar only points at it.
                self.statusBar().showMessage(
                    f"Case {self.case.case_code} cannot be submitted: {count} field"
                    f"{'s' if count != 1 else ''} to fill in, listed under the form.",
                    10000,
                )
            else:
                self.report_error(error)
            return
        self.refresh()
        submitted = self.case.case_code if self.case else ""
        following = self._next_open_case() if self.settings.advance_after_submit else None
        if following is not None:
            self.open_case(following)
            self.statusBar().showMessage(
                f"Case {submitted} submitted and locked; case {following} opened.", 6000
            )
            return
        done = " Every case is submitted." if self._next_open_case() is None else ""
        self.statusBar().showMessage(f"Case {submitted} submitted and locked.{done}", 6000)

    def _next_open_case(self) -> str | None:
        """The next case of the worklist not yet submitted, after the open one (wrapping)."""
        statuses = self._statuses()
        count = len(self.cases)
        for step in range(1, count):
            case = self.cases[(self._case_index + step) % count]
            if statuses.get(case.case_code) is not CaseStatus.submitted:
                return case.case_code
        return None

    def set_advance_after_submit(self, enabled: bool) -> None:
        """Move to the next open case after a submit (the default), or stay; saved."""
        self.settings.advance_after_submit = enabled
        self.actions_by_name["advance_after_submit"].setChecked(enabled)
        try:
            self.settings.save()
        except SettingsError as error:
            self.report_error(error)

    def reopen(self) -> None:
        """Reopen a submitted case after asking the reason (audited)."""
        case = self.case
        if case is None or not self._submitted or not self._integrity_ok:
            return
        reason = self.ask_reason(self, case.case_code)
        if not reason:
            return
        try:
            self.session.reopen(reason)
        except CollarReaderError as error:
            self.report_error(error)
            return
        self.refresh()
