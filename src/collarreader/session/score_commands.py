"""Commands on scores the reader enters: set and clear (the override rule).

Part of :mod:`collarreader.session` (see its docstring for the rules).
"""

from __future__ import annotations

import uuid
from typing import Any

from collarreader.db.repository import Repository
from collarreader.db.transaction import Transaction
from collarreader.errors import ProtocolError, SessionError
from collarreader.model import ScoreSource
from collarreader.protocol import FieldType, FieldValue, Scope
from collarreader.session.command import Command
from collarreader.session.context import ReadingContext, format_value, score_target
from collarreader.session.measured_fields import refresh_measured


class _ScoreCommand(Command):
    #: The verb of the undo text ("set Grade") and, past tense, of the refusal of a derived field.
    verb = ""
    verb_past = ""

    def __init__(
        self,
        context: ReadingContext,
        field_key: str,
        *,
        timepoint: str,
        view: str | None = None,
        zone: str | None = None,
    ) -> None:
        super().__init__(context)
        protocol = context.protocol
        try:
            self.field = protocol.field(field_key)
        except ProtocolError as error:
            raise SessionError(str(error)) from error
        if zone is not None:
            try:
                zone_view = protocol.zone(zone).view
            except ProtocolError as error:
                raise SessionError(str(error)) from error
            if view is not None and view != zone_view:
                message = f"Zone {zone} belongs to view {zone_view}, not {view}."
                raise SessionError(message)
            view = zone_view
        scope = self.field.scope
        where = f"{field_key} ({scope} field)"
        if scope is Scope.ZONE and zone is None:
            message = f"{where} needs a zone."
            raise SessionError(message)
        if scope is Scope.VIEW and (view is None or zone is not None):
            message = f"{where} needs a view and no zone."
            raise SessionError(message)
        if scope is Scope.CASE and (view is not None or zone is not None):
            message = f"{where} is recorded per case and time point: give no view or zone."
            raise SessionError(message)
        views_at = {image.view for image in context.case.images if image.timepoint == timepoint}
        if not views_at:
            known = sorted({image.timepoint for image in context.case.images})
            message = f"Case {context.case.case_code} has no time point {timepoint!r} ({known})."
            raise SessionError(message)
        if view is not None and view not in views_at:
            message = f"Case {context.case.case_code} has no {view} image at {timepoint}."
            raise SessionError(message)
        if self.field.view is not None and self.field.view not in views_at:
            message = f"{field_key} is scored on {self.field.view} images; {timepoint} has none."
            raise SessionError(message)
        if not self.field.applies_at(context.rule_timepoint(timepoint)):
            message = f"{field_key} is recorded only at {', '.join(self.field.timepoints or ())}."
            raise SessionError(message)
        self.timepoint = timepoint
        self.view = None if scope is Scope.CASE else view
        self.zone = zone
        self.target = score_target(timepoint, self.view, zone)
        if self.field.type is FieldType.DERIVED:
            message = f"{field_key} is derived by the protocol and cannot be {self.verb_past}."
            raise SessionError(message)
        self.text = f"{self.verb} {self.field.label}"

    def _current(self, tx: Transaction) -> dict[str, Any] | None:
        rows = tx.rows(
            "scores",
            reading_id=self.context.reading_id,
            target=self.target,
            field_key=self.field.key,
        )
        return rows[0] if rows else None


class SetScore(_ScoreCommand):
    """The reader enters a value (``source="entered"``; see the override rule).

    Parameters
    ----------
    context : the reading
    field_key : a protocol field (not a derived one)
    value : str for choice and text, bool for bool, int/float for number fields
    timepoint : the time point label of the case's images
    view : for view fields (zone fields take the zone's view)
    zone : for zone fields
    """

    text = "set score"
    verb = verb_past = "set"

    def __init__(
        self,
        context: ReadingContext,
        field_key: str,
        value: FieldValue,
        *,
        timepoint: str,
        view: str | None = None,
        zone: str | None = None,
    ) -> None:
        super().__init__(context, field_key, timepoint=timepoint, view=view, zone=zone)
        if value is None or value == "":
            message = f"{field_key}: no value given; use ClearScore to remove a value."
            raise SessionError(message)
        if self.field.type is FieldType.NUMBER and isinstance(value, int | float):
            if isinstance(value, bool):
                message = f"{field_key}: {value!r} is not a number."
                raise SessionError(message)
            value = self.field.round(float(value))
        problem = self.field.check_value(value)
        if problem:
            raise SessionError(problem)
        self.value = format_value(self.field, value)

    def _do(self, tx: Transaction, repository: Repository) -> None:
        current = self._current(tx)
        values = {
            "value": self.value,
            "unit": self.field.unit,
            "source": str(ScoreSource.ENTERED),
            "annotation_id": None,
            "updated_at": tx.at,
        }
        if current is None:
            tx.insert(
                "scores",
                {
                    "id": str(uuid.uuid4()),
                    "reading_id": self.context.reading_id,
                    "timepoint": self.timepoint,
                    "view": self.view,
                    "zone": self.zone,
                    "target": self.target,
                    "field_key": self.field.key,
                    **values,
                },
            )
        elif not (current["value"] == self.value and current["source"] == ScoreSource.ENTERED):
            tx.update("scores", current["id"], values, before=current)
        refresh_measured(tx, self.context, repository)


class ClearScore(_ScoreCommand):
    """Remove a value; a measured field then follows its measurement again."""

    text = "clear score"
    verb = "clear"
    verb_past = "cleared"

    def _do(self, tx: Transaction, repository: Repository) -> None:
        current = self._current(tx)
        if current is not None:
            tx.delete("scores", current["id"], before=current)
        refresh_measured(tx, self.context, repository)
