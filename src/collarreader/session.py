"""A reader's session: the current case, its reading, and undoable commands (no Qt).

Data flows one way: a gesture becomes a :class:`Command`; ``apply(repository)`` writes it in
one database transaction whose every row change is an audit event; ``revert(repository)``
restores exactly the rows the command changed, as a new audited transaction (undo is itself a
recorded change). The GUI wraps commands in a ``QUndoStack`` adapter; ``redo`` is ``apply``
again, which replays the recorded change (same row ids) rather than recomputing it.

Measured values
    An annotation's value is computed from its pixel points and the spacing of its image in
    this reading: the reader's calibration if there is one, else the header spacing the
    session is given (``spacing_for``), else none (``value_mm`` None; the pixel length is kept).
    After every command the measured fields of the reading are recomputed from all its
    annotations:

    - ``rll`` calipers → the zone's ``rll_caliper`` field (``rll_width_mm``): the widest, and the
      zone's ``rll_present`` becomes true;
    - ``interface_line`` and ``bridged_segment`` → the zone's ``bridging`` field
      (``bridging_extent``): 100 × bridged length ÷ interface length, at most 100 (in mm when
      every line of the zone has mm, else in pixels);
    - ``cortical_caliper`` → the ``cortical_caliper`` field whose key names the caliper's zone
      (``cortical_thickness_medial_mm`` for zone ``medial``), or the only such field: the mean.

    Values are rounded to the field's decimals and stored with ``source="measured"`` and the
    measuring annotation. Derived fields (``rll_grade``) are recomputed with the protocol's
    rule and stored with ``source="derived"``.

Radiolucent line geometry (``rll`` annotations)
    ``points_px`` is ``[caliper_a, caliper_b, line_0, line_1, …]``: the first two points are
    the width caliper (its length is the annotation's value, the RLL width), the rest, when
    present (two or more points), the polyline traced along the radiolucent line at the
    collar–bone interface. A two-point ``rll`` is a caliper without a traced line (as older
    readings stored it); three points are refused. :func:`rll_points`,
    :func:`rll_caliper_px` and :func:`rll_line_px` build and split this layout.

Override rule
    A value the reader sets (:class:`SetScore`) is ``source="entered"`` and is never changed by
    a measurement, even on a field a tool measures. Clearing it (:class:`ClearScore`) hands the
    field back to the measurement: the next recomputation (the clear itself) fills it from the
    annotations, if any.

Time
    Active reading time accumulates between :meth:`ReadingSession.resume` and
    :meth:`ReadingSession.pause` (on an injectable monotonic clock) and is written to the
    reading at each pause and before a submit. A submitted reading does not accumulate time.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, runtime_checkable
from typing import Protocol as TypingProtocol

from collarreader import __version__
from collarreader.db.repository import Repository
from collarreader.db.transaction import Change, Transaction
from collarreader.errors import ProtocolError, SessionError
from collarreader.measure.extent import bridging_extent_pct
from collarreader.measure.geometry import (
    as_points_px,
    calibrated_spacing_mm,
    polyline_length_mm,
    polyline_length_px,
)
from collarreader.model import (
    AnnotationKind,
    CalibrationMethod,
    Case,
    CaseKind,
    ImageRef,
    Reading,
    ScoreSource,
)
from collarreader.protocol import Field, FieldType, FieldValue, Protocol, Scope, ToolKind

__all__ = [
    "AddAnnotation",
    "Calibrate",
    "ClearScore",
    "Command",
    "DeleteAnnotation",
    "MeasureDetail",
    "MoveAnnotation",
    "ReadingContext",
    "ReadingSession",
    "RelabelZone",
    "Reopen",
    "SetScore",
    "SpacingLike",
    "Submit",
    "cases_from_reading_set",
    "format_value",
    "measured_points_px",
    "parse_value",
    "rll_caliper_px",
    "rll_line_px",
    "rll_points",
    "score_target",
]

TOOL_FOR_KIND: dict[AnnotationKind, ToolKind] = {
    AnnotationKind.RLL: ToolKind.RLL_CALIPER,
    AnnotationKind.INTERFACE_LINE: ToolKind.BRIDGING,
    AnnotationKind.BRIDGED_SEGMENT: ToolKind.BRIDGING,
    AnnotationKind.CORTICAL_CALIPER: ToolKind.CORTICAL_CALIPER,
}
"""The protocol tool each drawable annotation kind measures with."""

_CALIPERS = (AnnotationKind.RLL, AnnotationKind.CORTICAL_CALIPER)
_ZONED = (AnnotationKind.RLL, AnnotationKind.INTERFACE_LINE, AnnotationKind.BRIDGED_SEGMENT)
_PRESENCE_FIELD = "rll_present"  # set true by an rll caliper (see the module docstring)


@runtime_checkable
class SpacingLike(TypingProtocol):
    """A header spacing: :class:`collarreader.imaging.Spacing` ``(row_mm, col_mm, source)``."""

    @property
    def row_mm(self) -> float: ...  # noqa: D102

    @property
    def col_mm(self) -> float: ...  # noqa: D102

    @property
    def source(self) -> Any: ...  # noqa: D102


SpacingFor = Callable[[str], SpacingLike | None]
"""Image code → the image's header spacing, or None when it has none."""


def _no_spacing(_image_code: str) -> SpacingLike | None:
    return None


# ------------------------------------------------------------------------------ values


def format_value(field: Field, value: FieldValue) -> str:
    """The canonical text of a field value, as stored in ``scores.value``.

    Choice and derived fields: the choice key; bool: ``true``/``false``; number: rounded half
    up to the field's decimals and written with exactly that many (``1.0``, ``45``), or
    ``repr(float)`` without decimals; text: as given.
    """
    if value is None:
        message = f"{field.key}: no value to format."
        raise ValueError(message)
    if field.type is FieldType.BOOL:
        return "true" if value else "false"
    if field.type is FieldType.NUMBER:
        number = float(value)
        if field.decimals is None:
            return repr(number)
        return f"{field.round(number):.{field.decimals}f}"
    return str(value)


def parse_value(field: Field, text: str) -> FieldValue:
    """The field value of canonical text (the inverse of :func:`format_value`)."""
    if field.type is FieldType.BOOL:
        return text == "true"
    if field.type is FieldType.NUMBER:
        return float(text)
    return text


def score_target(timepoint: str, view: str | None, zone: str | None) -> str:
    """The uniqueness key of a score: ``"<timepoint>/<view or ->/<zone or ->"``."""
    return f"{timepoint}/{view or '-'}/{zone or '-'}"


# ------------------------------------------------------------------------------ reading sets


def cases_from_reading_set(reading_set: Any, reader_id: str) -> list[Case]:
    """The reader's cases in worklist order, as :class:`collarreader.model.Case`.

    Parameters
    ----------
    reading_set : a :class:`collarreader.study.readingset.ReadingSet`
    reader_id : the reader whose worklist is wanted

    Primary cases that a repeat in the worklist shows but that are not in the worklist
    themselves are appended, so the database can record the repeat's images.
    """
    result: list[Case] = []
    seen: set[str] = set()
    for entry in reading_set.worklist(reader_id):
        entry_case = reading_set.case(entry.case_code)
        result.append(_case_from_entry(entry_case, CaseKind(str(entry.kind)), entry.repeat_of))
        seen.add(entry.case_code)
    for case in list(result):
        if case.repeat_of is not None and case.repeat_of not in seen:
            result.append(
                _case_from_entry(reading_set.case(case.repeat_of), CaseKind.PRIMARY, None)
            )
            seen.add(case.repeat_of)
    return result


def _case_from_entry(entry: Any, kind: CaseKind, repeat_of: str | None) -> Case:
    return Case(
        case_code=entry.case_code,
        joint=str(entry.joint),
        side=str(entry.side),
        images=tuple(
            ImageRef(
                image_code=image.image_code,
                view=str(image.view),
                timepoint=str(image.timepoint),
                sop_instance_uid=image.sop_instance_uid,
                file=image.file,
                sha256=getattr(image, "sha256", ""),
            )
            for image in entry.images
        ),
        kind=kind,
        repeat_of=repeat_of if kind is CaseKind.REPEAT else None,
    )


# ------------------------------------------------------------------------------ context


@dataclass(frozen=True)
class ReadingContext:
    """What a command needs to know about the reading it changes.

    Attributes
    ----------
    reading_id : the reading's row id
    case : the case read (its images give view and time point)
    protocol : the scoring protocol
    spacing_for : image code → header spacing, or None
    """

    reading_id: str
    case: Case
    protocol: Protocol
    spacing_for: SpacingFor = _no_spacing

    def image(self, image_code: str) -> ImageRef:
        """The case's image ``image_code``; ``SessionError`` when the case has none."""
        try:
            return self.case.image(image_code)
        except KeyError:
            message = f"Case {self.case.case_code} has no image {image_code!r}."
            raise SessionError(message) from None

    def rule_timepoint(self, timepoint: str) -> str | None:
        """The time point the protocol's restrictions apply to (None for a blinded label)."""
        return timepoint if timepoint in self.protocol.timepoints else None


# ------------------------------------------------------------------------------ commands


class Command:
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
    def _do(self, tx: Transaction, repository: Repository) -> None:
        raise NotImplementedError

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


def rll_points(
    caliper_px: Sequence[Sequence[float]], line_px: Sequence[Sequence[float]] = ()
) -> list[list[float]]:
    """The ``points_px`` of an ``rll`` annotation: caliper (two points), then the traced line.

    Parameters
    ----------
    caliper_px : the two ends of the width caliper, pixel (x=column, y=row)
    line_px : the polyline along the radiolucent line (none, or two or more points)
    """
    caliper = [[float(x), float(y)] for x, y in caliper_px]
    line = [[float(x), float(y)] for x, y in line_px]
    if len(caliper) != 2 or len(line) == 1:
        message = (
            f"An RLL needs a two-point caliper and no line or a line of 2+ points, not "
            f"{len(caliper)} and {len(line)} points."
        )
        raise SessionError(message)
    return caliper + line


def rll_caliper_px(points_px: Sequence[Sequence[float]]) -> list[list[float]]:
    """The width caliper (first two points) of an ``rll`` annotation's points."""
    return [[float(x), float(y)] for x, y in list(points_px)[:2]]


def rll_line_px(points_px: Sequence[Sequence[float]]) -> list[list[float]]:
    """The traced line of an ``rll`` annotation's points (empty for a caliper alone)."""
    return [[float(x), float(y)] for x, y in list(points_px)[2:]]


def measured_points_px(
    kind: AnnotationKind | str, points_px: Sequence[Sequence[float]]
) -> list[list[float]]:
    """The points whose polyline length is the annotation's value (an RLL's caliper)."""
    if AnnotationKind(kind) is AnnotationKind.RLL:
        return rll_caliper_px(points_px)
    return [[float(x), float(y)] for x, y in points_px]


def _check_points(kind: AnnotationKind, points_px: Sequence[Sequence[float]]) -> list[list[float]]:
    try:
        array = as_points_px(points_px, minimum=2)
    except ValueError as error:
        message = f"{kind}: {error}"
        raise SessionError(message) from error
    if kind is AnnotationKind.RLL and array.shape[0] == 3:
        message = (
            "An RLL is a two-point width caliper, optionally followed by the traced line "
            "(2+ points); 3 points cannot be split that way."
        )
        raise SessionError(message)
    if kind in _CALIPERS and kind is not AnnotationKind.RLL and array.shape[0] != 2:
        message = f"A {kind} caliper has exactly two points, not {array.shape[0]}."
        raise SessionError(message)
    return [[float(x), float(y)] for x, y in array]


def _check_zone(context: ReadingContext, kind: AnnotationKind, zone: str | None, view: str) -> None:
    if zone is None:
        if kind in _ZONED:
            message = f"A {kind} belongs to a zone; choose one of the {view} zones."
            raise SessionError(message)
        return
    try:
        zone_view = context.protocol.zone(zone).view
    except ProtocolError as error:
        raise SessionError(str(error)) from error
    if zone_view != view:
        message = f"Zone {zone} is scored on {zone_view} images, not on this {view} image."
        raise SessionError(message)


def _measurement(
    tx: Transaction,
    context: ReadingContext,
    image_id: str,
    image_code: str,
    points_px: list[list[float]],
    *,
    kind: AnnotationKind | str,
) -> dict[str, Any]:
    """Spacing columns and values of an annotation on ``image_id`` with these points."""
    points_px = measured_points_px(kind, points_px)
    calibration = tx.rows("calibrations", reading_id=context.reading_id, image_id=image_id)
    value_px = polyline_length_px(points_px)
    if calibration:
        row_mm = calibration[0]["spacing_row_mm"]
        col_mm = calibration[0]["spacing_col_mm"]
        return {
            "calibration_id": calibration[0]["id"],
            "spacing_row_mm": row_mm,
            "spacing_col_mm": col_mm,
            "spacing_source": calibration[0]["source"],
            "value_mm": polyline_length_mm(points_px, (row_mm, col_mm)),
            "value_px": value_px,
        }
    header = context.spacing_for(image_code)
    if header is None:
        return {
            "calibration_id": None,
            "spacing_row_mm": None,
            "spacing_col_mm": None,
            "spacing_source": None,
            "value_mm": None,
            "value_px": value_px,
        }
    spacing = (float(header.row_mm), float(header.col_mm))
    return {
        "calibration_id": None,
        "spacing_row_mm": spacing[0],
        "spacing_col_mm": spacing[1],
        "spacing_source": str(header.source),
        "value_mm": polyline_length_mm(points_px, spacing),
        "value_px": value_px,
    }


@dataclass(frozen=True)
class MeasureDetail:
    """How a semi-automatic measurement was made, stored with its annotation.

    Attributes
    ----------
    method : e.g. ``metal_edge_fit`` (:data:`collarreader.measure.rll.METHOD`)
    width_uncertainty_mm : one standard deviation of the width, mm (None without a spacing)
    profile : the profile measured, for display: ``offsets_mm`` (oriented: metal < 0, the
        band from 0 to the width), ``values``, ``model`` (lists of numbers), ``width_mm``
    """

    method: str
    width_uncertainty_mm: float | None = None
    profile: Mapping[str, Any] | None = None

    def columns(self) -> dict[str, Any]:
        """The annotation columns this detail fills."""
        return {
            "method": self.method,
            "width_uncertainty_mm": self.width_uncertainty_mm,
            "profile": None if self.profile is None else dict(self.profile),
        }


_BY_HAND: dict[str, Any] = {"method": None, "width_uncertainty_mm": None, "profile": None}


class AddAnnotation(Command):
    """Draw a measurement on an image of the case.

    Parameters
    ----------
    context : the reading
    image_code : the image drawn on
    kind : interface_line, bridged_segment, rll or cortical_caliper
    points_px : ``(x, y)`` pixel points (x=column, y=row), centre of the top-left pixel = (0, 0)
    zone : the zone (required for interface lines, bridged segments and rll calipers; the side
        for a cortical caliper)
    detail : how a semi-automatic measurement was made (None: placed by hand)
    """

    text = "add measurement"

    def __init__(
        self,
        context: ReadingContext,
        image_code: str,
        kind: AnnotationKind | str,
        points_px: Sequence[Sequence[float]],
        zone: str | None = None,
        *,
        detail: MeasureDetail | None = None,
    ) -> None:
        super().__init__(context)
        self.detail = detail
        self.kind = AnnotationKind(kind)
        if self.kind is AnnotationKind.CALIBRATION_LINE:
            message = "A calibration line is drawn with the Calibrate command."
            raise SessionError(message)
        self.image = context.image(image_code)
        _check_zone(context, self.kind, zone, self.image.view)
        self.zone = zone
        self.points_px = _check_points(self.kind, points_px)
        self.annotation_id = str(uuid.uuid4())
        self.text = f"add {self.kind.replace('_', ' ')}"

    def _do(self, tx: Transaction, repository: Repository) -> None:
        image_id = repository.image_id(self.image.image_code)
        tx.insert(
            "annotations",
            {
                "id": self.annotation_id,
                "reading_id": self.context.reading_id,
                "image_id": image_id,
                "kind": str(self.kind),
                "zone": self.zone,
                "points_px": self.points_px,
                "created_at": tx.at,
                **(_BY_HAND if self.detail is None else self.detail.columns()),
                **_measurement(
                    tx,
                    self.context,
                    image_id,
                    self.image.image_code,
                    self.points_px,
                    kind=self.kind,
                ),
            },
        )
        refresh_measured(tx, self.context, repository)


class MoveAnnotation(Command):
    """Give an annotation new points (one handle drag or move is one command).

    ``detail`` says how the new points were measured; None (a hand edit) clears the method,
    uncertainty and profile of an earlier semi-automatic measurement: they no longer apply.
    """

    text = "move measurement"

    def __init__(
        self,
        context: ReadingContext,
        annotation_id: str,
        points_px: Sequence[Sequence[float]],
        detail: MeasureDetail | None = None,
    ) -> None:
        super().__init__(context)
        self.detail = detail
        self.annotation_id = annotation_id
        self.points_px = [[float(x), float(y)] for x, y in points_px]

    def _do(self, tx: Transaction, repository: Repository) -> None:
        before = _own_annotation(tx, self.context, self.annotation_id)
        kind = AnnotationKind(before["kind"])
        points = _check_points(kind, self.points_px)
        image_code = repository.image_code(before["image_id"])
        changes = {
            "points_px": points,
            **(_BY_HAND if self.detail is None else self.detail.columns()),
            **_measurement(tx, self.context, before["image_id"], image_code, points, kind=kind),
        }
        tx.update("annotations", self.annotation_id, changes, before=before)
        refresh_measured(tx, self.context, repository)


class DeleteAnnotation(Command):
    """Remove an annotation (its measured scores follow)."""

    text = "delete measurement"

    def __init__(self, context: ReadingContext, annotation_id: str) -> None:
        super().__init__(context)
        self.annotation_id = annotation_id

    def _do(self, tx: Transaction, repository: Repository) -> None:
        before = _own_annotation(tx, self.context, self.annotation_id)
        # Scores refer to their measuring annotation: recompute them without it first, so no
        # row points at the annotation when it goes.
        refresh_measured(tx, self.context, repository, exclude=self.annotation_id)
        tx.delete("annotations", self.annotation_id, before=before)


class RelabelZone(Command):
    """Move an annotation to another zone of the same view."""

    text = "change zone"

    def __init__(self, context: ReadingContext, annotation_id: str, zone: str | None) -> None:
        super().__init__(context)
        self.annotation_id = annotation_id
        self.zone = zone

    def _do(self, tx: Transaction, repository: Repository) -> None:
        before = _own_annotation(tx, self.context, self.annotation_id)
        image = self.context.image(repository.image_code(before["image_id"]))
        _check_zone(self.context, AnnotationKind(before["kind"]), self.zone, image.view)
        tx.update("annotations", self.annotation_id, {"zone": self.zone}, before=before)
        refresh_measured(tx, self.context, repository)


def _own_annotation(tx: Transaction, context: ReadingContext, annotation_id: str) -> dict[str, Any]:
    state = tx.get("annotations", annotation_id)
    if state is None or state["reading_id"] != context.reading_id:
        message = f"Annotation {annotation_id} is not part of this reading."
        raise SessionError(message)
    return state


class _ScoreCommand(Command):
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
        if self.field.type is FieldType.DERIVED:
            message = f"{field_key} is derived by the protocol and cannot be set."
            raise SessionError(message)
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
        self.text = f"set {self.field.label}"

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

    def __init__(
        self,
        context: ReadingContext,
        field_key: str,
        *,
        timepoint: str,
        view: str | None = None,
        zone: str | None = None,
    ) -> None:
        super().__init__(context, field_key, timepoint=timepoint, view=view, zone=zone)
        if self.field.type is FieldType.DERIVED:
            message = f"{field_key} is derived by the protocol and cannot be cleared."
            raise SessionError(message)
        self.text = f"clear {self.field.label}"

    def _do(self, tx: Transaction, repository: Repository) -> None:
        current = self._current(tx)
        if current is not None:
            tx.delete("scores", current["id"], before=current)
        refresh_measured(tx, self.context, repository)


class Calibrate(Command):
    """Calibrate an image from a drawn known size; every mm value of the image follows.

    With a header spacing ``(row_mm, col_mm)`` the calibration scales it by
    ``known_size_mm / header length of the line`` (keeping its aspect ratio); without one the
    spacing is isotropic, ``known_size_mm / pixel length``. A recalibration replaces the
    image's calibration in this reading (the audit keeps the old one; revert restores it).

    Parameters
    ----------
    context : the reading
    image_code : the image calibrated
    known_size_mm : the true size of the drawn object
    points_px : the two ends of the known size, pixel (x=column, y=row)
    method : ``line`` (a drawn known length), ``ball`` (a line across the ball by hand),
        ``ball_fit`` (a circle fitted to the ball's edge) or ``snapped_caliper`` (a caliper
        snapped to a collar's or stem's edges)
    fit : the fit behind ``ball_fit`` / ``snapped_caliper`` (JSON-able), stored with it
    residual_px : the fit's RMS residual, px
    """

    text = "calibrate"

    def __init__(
        self,
        context: ReadingContext,
        image_code: str,
        known_size_mm: float,
        points_px: Sequence[Sequence[float]],
        method: str = "line",
        *,
        fit: Mapping[str, Any] | None = None,
        residual_px: float | None = None,
    ) -> None:
        super().__init__(context)
        self.image = context.image(image_code)
        allowed = [str(m) for m in CalibrationMethod if m is not CalibrationMethod.HEADER]
        if method not in allowed:
            message = f"Calibration method {method!r}: choose one of {', '.join(allowed)}."
            raise SessionError(message)
        self.method = method
        self.fit = None if fit is None else dict(fit)
        self.residual_px = None if residual_px is None else float(residual_px)
        if not (known_size_mm > 0 and known_size_mm < 1000):
            message = f"The known size must be a positive length in mm, not {known_size_mm}."
            raise SessionError(message)
        self.known_size_mm = float(known_size_mm)
        self.points_px = _check_points(AnnotationKind.CORTICAL_CALIPER, points_px)  # two points
        self.length_px = polyline_length_px(self.points_px)
        if self.length_px < 1.0:
            message = "The calibration line is shorter than one pixel; draw it across the object."
            raise SessionError(message)

    def _spacing(self) -> tuple[float, float]:
        header = self.context.spacing_for(self.image.image_code)
        return calibrated_spacing_mm(
            self.points_px,
            self.known_size_mm,
            None if header is None else (float(header.row_mm), float(header.col_mm)),
        )

    def _do(self, tx: Transaction, repository: Repository) -> None:
        image_id = repository.image_id(self.image.image_code)
        row_mm, col_mm = self._spacing()
        values = {
            "method": self.method,
            "known_size_mm": self.known_size_mm,
            "length_px": self.length_px,
            "spacing_row_mm": row_mm,
            "spacing_col_mm": col_mm,
            "source": "manual",
            "points_px": self.points_px,
            "created_at": tx.at,
            "fit": self.fit,
            "residual_px": self.residual_px,
        }
        existing = tx.rows("calibrations", reading_id=self.context.reading_id, image_id=image_id)
        if existing:
            tx.update("calibrations", existing[0]["id"], values, before=existing[0])
        else:
            tx.insert(
                "calibrations",
                {
                    "id": str(uuid.uuid4()),
                    "reading_id": self.context.reading_id,
                    "image_id": image_id,
                    **values,
                },
            )
        for annotation in tx.rows(
            "annotations", reading_id=self.context.reading_id, image_id=image_id
        ):
            changes = _measurement(
                tx,
                self.context,
                image_id,
                self.image.image_code,
                annotation["points_px"],
                kind=annotation["kind"],
            )
            tx.update("annotations", annotation["id"], changes, before=annotation)
        refresh_measured(tx, self.context, repository)


class StoreRegistration(Command):
    """Store the registration of a later film onto an earlier film of the case, once.

    Derived data, not a judgement: it is written on a submitted reading too (a later look must
    be the same as the first) and is never replaced — when the pair already has a stored
    transform, applying changes nothing, so every look uses the first stored one.

    Parameters
    ----------
    context : the reading
    fixed_image_code, moving_image_code : the earlier and the later film of one view
    matrix : (2, 3), a moving pixel (x, y, 1) → the fixed pixel (x, y)
    residual, overlap : the registration's quality figures
    method : how the transform was computed
    """

    text = "store registration"
    edits_reading = False

    def __init__(
        self,
        context: ReadingContext,
        fixed_image_code: str,
        moving_image_code: str,
        matrix: Sequence[Sequence[float]],
        *,
        residual: float,
        overlap: float,
        method: str,
    ) -> None:
        super().__init__(context)
        fixed, moving = context.image(fixed_image_code), context.image(moving_image_code)
        if fixed.view != moving.view or fixed.image_code == moving.image_code:
            message = (
                f"Case {context.case.case_code}: a registration pairs two films of one view, "
                f"not {fixed.image_code} ({fixed.view}) and {moving.image_code} ({moving.view})."
            )
            raise SessionError(message)
        rows = [[float(value) for value in row] for row in matrix]
        if len(rows) != 2 or any(len(row) != 3 for row in rows):
            message = "A registration matrix has 2 rows of 3 numbers (x' and y' of (x, y, 1))."
            raise SessionError(message)
        if not all(math.isfinite(value) for row in rows for value in row):
            message = "A registration matrix must hold finite numbers."
            raise SessionError(message)
        self.fixed, self.moving, self.matrix = fixed, moving, rows
        self.residual, self.overlap, self.method = float(residual), float(overlap), method

    def _do(self, tx: Transaction, repository: Repository) -> None:
        fixed_id = repository.image_id(self.fixed.image_code)
        moving_id = repository.image_id(self.moving.image_code)
        if tx.rows(
            "registrations",
            reading_id=self.context.reading_id,
            fixed_image_id=fixed_id,
            moving_image_id=moving_id,
        ):
            return
        tx.insert(
            "registrations",
            {
                "id": str(uuid.uuid4()),
                "reading_id": self.context.reading_id,
                "fixed_image_id": fixed_id,
                "moving_image_id": moving_id,
                "matrix": self.matrix,
                "residual": self.residual,
                "overlap": self.overlap,
                "method": self.method,
                "software_version": __version__,
                "created_at": tx.at,
            },
        )


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


# ------------------------------------------------------------------------------ measured flow


def _field_for_caliper(fields: Sequence[Field], zone: str | None) -> Field | None:
    if len(fields) == 1:
        return fields[0]
    if zone is None:
        return None
    named = [f for f in fields if zone in f.key.split("_")]
    return named[0] if len(named) == 1 else None


def refresh_measured(
    tx: Transaction,
    context: ReadingContext,
    repository: Repository,
    *,
    exclude: str | None = None,
) -> None:
    """Recompute the reading's measured and derived scores from its annotations.

    Rows with ``source="entered"`` are never touched (the override rule). ``exclude`` leaves
    one annotation out (it is about to be deleted).
    """
    protocol = context.protocol
    annotations = [
        a for a in tx.rows("annotations", reading_id=context.reading_id) if a["id"] != exclude
    ]
    annotations.sort(key=lambda a: (a["created_at"], a["id"]))
    images = {repository.image_id(image.image_code): image for image in context.case.images}
    measured_fields = [f for f in protocol.fields if f.measured_by is not None]
    by_tool: dict[ToolKind, list[Field]] = defaultdict(list)
    for fld in measured_fields:
        if fld.measured_by is not None:
            by_tool[fld.measured_by].append(fld)

    # desired[(target, field)] = (timepoint, view, zone, value text, annotation id)
    desired: dict[tuple[str, str], tuple[str, str | None, str | None, str, str | None]] = {}
    groups: dict[tuple[AnnotationKind, str, str | None], list[dict[str, Any]]] = defaultdict(list)
    for annotation in annotations:
        groups[
            (AnnotationKind(annotation["kind"]), annotation["image_id"], annotation["zone"])
        ].append(annotation)

    def put(fld: Field, image: ImageRef, zone: str | None, value: float, source_id: str) -> None:
        if fld.scope is Scope.ZONE and zone is None:
            return
        view = None if fld.scope is Scope.CASE else image.view
        zone_key = zone if fld.scope is Scope.ZONE else None
        target = score_target(image.timepoint, view, zone_key)
        desired[(target, fld.key)] = (
            image.timepoint,
            view,
            zone_key,
            format_value(fld, value),
            source_id,
        )

    for (kind, image_id, zone), group in groups.items():
        image = images.get(image_id)
        if image is None:
            continue
        if kind is AnnotationKind.RLL:
            with_mm = [a for a in group if a["value_mm"] is not None]
            if not with_mm:
                continue
            widest = max(with_mm, key=lambda a: a["value_mm"])
            for fld in by_tool.get(ToolKind.RLL_CALIPER, ()):
                put(fld, image, zone, widest["value_mm"], widest["id"])
        elif kind is AnnotationKind.INTERFACE_LINE:
            bridged = groups.get((AnnotationKind.BRIDGED_SEGMENT, image_id, zone), [])
            lines = group + bridged
            unit = "value_mm" if all(a["value_mm"] is not None for a in lines) else "value_px"
            extent = bridging_extent_pct((a[unit] for a in group), (a[unit] for a in bridged))
            if extent is None:
                continue
            for fld in by_tool.get(ToolKind.BRIDGING, ()):
                put(fld, image, zone, extent, group[0]["id"])
        elif kind is AnnotationKind.CORTICAL_CALIPER:
            fld_or_none = _field_for_caliper(by_tool.get(ToolKind.CORTICAL_CALIPER, []), zone)
            with_mm = [a for a in group if a["value_mm"] is not None]
            if fld_or_none is None or not with_mm:
                continue
            mean = sum(a["value_mm"] for a in with_mm) / len(with_mm)
            put(fld_or_none, image, zone, mean, with_mm[-1]["id"])

    # An rll caliper means a line is present (unless the reader entered otherwise).
    presence = protocol.field(_PRESENCE_FIELD) if _PRESENCE_FIELD in _field_keys(protocol) else None
    if presence is not None:
        for (target, field_key), (tp, view, zone, _value, source_id) in list(desired.items()):
            if protocol.field(field_key).measured_by is ToolKind.RLL_CALIPER:
                desired[(target, presence.key)] = (
                    tp,
                    view,
                    zone,
                    format_value(presence, True),
                    source_id,
                )

    scores = tx.rows("scores", reading_id=context.reading_id)
    managed = {f.key for f in measured_fields} | ({presence.key} if presence else set())
    current = {(s["target"], s["field_key"]): s for s in scores}
    for key, score in current.items():
        if (
            score["field_key"] in managed
            and score["source"] == ScoreSource.MEASURED
            and key not in desired
        ):
            tx.delete("scores", score["id"], before=score)
            del scores[scores.index(score)]
    for (target, field_key), (tp, view, zone, value, source_id) in desired.items():
        found = current.get((target, field_key))
        if found is not None and found["source"] != ScoreSource.MEASURED:
            continue  # entered by the reader (or derived): not the measurement's to change
        _upsert(
            tx,
            context,
            found,
            timepoint=tp,
            view=view,
            zone=zone,
            target=target,
            fld=protocol.field(field_key),
            value=value,
            source=ScoreSource.MEASURED,
            annotation_id=source_id,
            scores=scores,
        )
    _refresh_derived(tx, context, scores)


def _field_keys(protocol: Protocol) -> set[str]:
    return {f.key for f in protocol.fields}


def _upsert(
    tx: Transaction,
    context: ReadingContext,
    score: dict[str, Any] | None,
    *,
    timepoint: str,
    view: str | None,
    zone: str | None,
    target: str,
    fld: Field,
    value: str,
    source: ScoreSource,
    annotation_id: str | None,
    scores: list[dict[str, Any]],
) -> None:
    values = {
        "value": value,
        "unit": fld.unit,
        "source": str(source),
        "annotation_id": annotation_id,
    }
    if score is None:
        scores.append(
            tx.insert(
                "scores",
                {
                    "id": str(uuid.uuid4()),
                    "reading_id": context.reading_id,
                    "timepoint": timepoint,
                    "view": view,
                    "zone": zone,
                    "target": target,
                    "field_key": fld.key,
                    "updated_at": tx.at,
                    **values,
                },
            )
        )
    elif any(score[key] != item for key, item in values.items()):
        after = tx.update("scores", score["id"], {**values, "updated_at": tx.at}, before=score)
        scores[scores.index(score)] = after


def _refresh_derived(
    tx: Transaction, context: ReadingContext, scores: list[dict[str, Any]]
) -> None:
    protocol = context.protocol
    derived_fields = [f for f in protocol.fields if f.type is FieldType.DERIVED]
    if not derived_fields:
        return
    by_target: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for score in scores:
        by_target[score["target"]].append(score)
    for target, entries in by_target.items():
        values: dict[str, FieldValue] = {}
        for score in entries:
            try:
                fld = protocol.field(score["field_key"])
            except ProtocolError:
                continue
            if fld.type is not FieldType.DERIVED:
                values[fld.key] = parse_value(fld, score["value"])
        first = entries[0]
        scope = Scope.ZONE if first["zone"] else Scope.VIEW if first["view"] else Scope.CASE
        for fld in derived_fields:
            if fld.scope is not scope:
                continue
            value = protocol.derive(fld.key, values)
            existing = next((s for s in entries if s["field_key"] == fld.key), None)
            if value is None:
                if existing is not None:
                    tx.delete("scores", existing["id"], before=existing)
                continue
            _upsert(
                tx,
                context,
                existing,
                timepoint=first["timepoint"],
                view=first["view"],
                zone=first["zone"],
                target=target,
                fld=fld,
                value=value,
                source=ScoreSource.DERIVED,
                annotation_id=None,
                scores=scores,
            )


# ------------------------------------------------------------------------------ submission


def timepoint_label(timepoint: str) -> str:
    """The time point as the reader sees it: ``"6m"`` → ``"6 m"``; blinded labels unchanged."""
    if timepoint.endswith("m") and timepoint[:-1].isdigit():
        return f"{timepoint[:-1]} m"
    return timepoint


@dataclass(frozen=True)
class SubmissionProblem:
    """One field that keeps a reading from being submitted.

    Attributes
    ----------
    timepoint, view, zone : where the field is (view and zone None for case fields)
    field_key : the protocol field
    place : where, in the words on screen (``"6 m · AP · Medial"``)
    label : the field's protocol label (``"Bone bridging"``)
    reason : ``"missing"``, or why the value is invalid
    """

    timepoint: str
    view: str | None
    zone: str | None
    field_key: str
    place: str
    label: str
    reason: str

    @property
    def missing(self) -> bool:
        """True when the field has no value (else its value is invalid)."""
        return self.reason == "missing"

    @property
    def text(self) -> str:
        """One line for a list: ``"6 m · AP · Medial: Bone bridging missing"``."""
        return f"{self.place}: {self.label} {self.reason}"


def _timepoint_order(protocol: Protocol, timepoints: Iterable[str]) -> list[str]:
    """The case's time points as the panel's tabs show them (protocol order, not text order)."""
    rank = {t: i for i, t in enumerate(protocol.timepoints)}
    return sorted(set(timepoints), key=lambda t: (rank.get(t, len(rank)), t))


def find_submission_problems(
    context: ReadingContext,
    scores: Iterable[Mapping[str, Any]],
    calibrations: Iterable[Mapping[str, Any]] = (),
) -> list[SubmissionProblem]:
    """Every field that keeps a reading from being submitted, in the panel's order.

    Every required field of every zone, view and time point of the case needs a value; a zone
    marked not assessable (the protocol's skip rule) needs nothing else; values in a skipped
    zone are kept but not checked. Values must be valid (choices, ranges).

    With the protocol's ``require_manual_calibration``, a mm value measured on an image the
    reader has not calibrated (``calibrations``: one mapping per calibration of the reading,
    with its ``image_code``) is a problem too.

    Order: time points as the tabs (6 m before 12 m), then per view its zones and the view's
    fields, then the case fields: the order the scoring panel shows them.
    """
    protocol = context.protocol
    values: dict[str, dict[str, FieldValue]] = defaultdict(dict)
    uncalibrated: set[tuple[str, str]] = set()  # (target, field key) measured without one
    calibrated = {row["image_code"] for row in calibrations}
    image_at = {(i.timepoint, i.view): i.image_code for i in context.case.images}
    for score in scores:
        try:
            fld = protocol.field(score["field_key"])
        except ProtocolError:
            continue
        values[score["target"]][fld.key] = parse_value(fld, score["value"])
        if (
            protocol.require_manual_calibration
            and fld.unit == "mm"
            and score.get("source") == ScoreSource.MEASURED
            and image_at.get((str(score.get("timepoint")), str(score.get("view"))))
            not in calibrated
        ):
            uncalibrated.add((score["target"], fld.key))
    problems: list[SubmissionProblem] = []
    images = context.case.images
    for timepoint in _timepoint_order(protocol, (image.timepoint for image in images)):
        rule_tp = context.rule_timepoint(timepoint)
        shown_tp = timepoint_label(timepoint)
        views = [
            v
            for v in protocol.views
            if any(i.view == v and i.timepoint == timepoint for i in images)
        ]
        entries: list[tuple[Scope, str | None, str | None, str]] = []
        for view in views:
            entries.extend(
                (Scope.ZONE, view, zone.key, f"{shown_tp} · {view} · {zone.label}")
                for zone in protocol.zones_for(view)
            )
            entries.append((Scope.VIEW, view, None, f"{shown_tp} · {view}"))
        entries.append((Scope.CASE, None, None, shown_tp))
        for scope, entry_view, zone, place in entries:
            entry = values.get(score_target(timepoint, entry_view, zone), {})
            for key in protocol.missing_fields(scope, entry, timepoint=rule_tp, view=entry_view):
                fld = protocol.field(key)
                if fld.view is None or fld.view in views:
                    problems.append(
                        SubmissionProblem(
                            timepoint, entry_view, zone, key, place, fld.label, "missing"
                        )
                    )
            for key, value in entry.items():
                if protocol.is_skipped(key, entry):
                    continue
                fld = protocol.field(key)
                problem = fld.check_value(value)
                if (score_target(timepoint, entry_view, zone), key) in uncalibrated:
                    problem = (
                        f"{key}: measured without a manual calibration of this image, which "
                        "the protocol requires; calibrate the image (C) to update it"
                    )
                if problem:
                    reason = problem.split(": ", 1)[-1]
                    problems.append(
                        SubmissionProblem(
                            timepoint, entry_view, zone, key, place, fld.label, reason
                        )
                    )
    return problems


def submission_problems(
    context: ReadingContext,
    scores: Iterable[Mapping[str, Any]],
    calibrations: Iterable[Mapping[str, Any]] = (),
) -> list[str]:
    """What keeps a reading from being submitted, as short phrases (empty: it may be).

    The wording every front end shows: protocol labels, in the panel's order, the missing
    fields of one place on one line (``"6 m · AP · Medial: Assessable, Bone bridging
    missing"``). See :func:`find_submission_problems` for the rules.
    """
    lines: list[str] = []
    missing: list[str] = []
    place = ""
    for problem in find_submission_problems(context, scores, calibrations):
        if not problem.missing or problem.place != place:
            if missing:
                lines.append(f"{place}: {', '.join(missing)} missing")
            missing = []
        place = problem.place
        if problem.missing:
            missing.append(problem.label)
        else:
            lines.append(problem.text)
    if missing:
        lines.append(f"{place}: {', '.join(missing)} missing")
    return lines


# ------------------------------------------------------------------------------ the session


class ReadingSession:
    """One reader working through the worklist of a reading set.

    Parameters
    ----------
    repository : the reader's database
    cases : a :class:`~collarreader.study.readingset.ReadingSet` (the reader's worklist is
        taken from it) or the cases themselves, in reading order
    protocol : the scoring protocol
    reader_id : the reader
    clock : monotonic seconds, for active reading time (injectable for tests)
    spacing_for : image code → header spacing (:class:`collarreader.imaging.Spacing`) or None
    """

    def __init__(
        self,
        repository: Repository,
        cases: Any,
        protocol: Protocol,
        reader_id: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        spacing_for: SpacingFor = _no_spacing,
    ) -> None:
        self.repository = repository
        self.protocol = protocol
        self.reader_id = reader_id
        self.clock = clock
        self.spacing_for = spacing_for
        identity = repository.identity
        if identity.reader_id not in (None, reader_id):
            message = (
                f"{repository.database.label} belongs to reader {identity.reader_id!r}, "
                f"not {reader_id!r}."
            )
            raise SessionError(message)
        if identity.protocol_sha256 not in (None, protocol.sha256):
            message = (
                f"{repository.database.label} was read with another protocol "
                f"({identity.protocol_name} {identity.protocol_version})."
            )
            raise SessionError(message)
        if hasattr(cases, "worklist"):
            self.cases: tuple[Case, ...] = tuple(cases_from_reading_set(cases, reader_id))
        else:
            self.cases = tuple(cases)
        repository.import_cases(self.cases, [reader_id])
        self._by_code = {case.case_code: case for case in self.cases}
        self.context: ReadingContext | None = None
        self._resumed_at: float | None = None

    # ---- navigation
    @property
    def case(self) -> Case | None:
        """The case open now, or None."""
        return None if self.context is None else self.context.case

    @property
    def reading(self) -> Reading | None:
        """The reading open now (fresh from the database), or None."""
        if self.context is None:
            return None
        return self.repository.reading(self.context.reading_id)

    def open_case(self, case_code: str) -> ReadingContext:
        """Open (or resume) the reader's reading of a case and start its clock.

        The first opening creates the reading row; the current case's time is written first.
        """
        case = self._by_code.get(case_code)
        if case is None:
            message = f"Case {case_code!r} is not in reader {self.reader_id}'s worklist."
            raise SessionError(message)
        self.pause()
        repository = self.repository
        reading_id = repository.reading_uuid(case_code, self.reader_id)
        if repository.reading(reading_id) is None:
            with repository.transaction() as tx:
                tx.insert(
                    "readings",
                    {
                        "id": reading_id,
                        "case_id": repository.case_uuid(case_code),
                        "reader_id": repository.reader_uuid(self.reader_id),
                        "kind": str(case.kind),
                        "started_at": tx.at,
                        "submitted_at": None,
                        "active_seconds": 0.0,
                        "locked": False,
                        "reopen_reason": None,
                    },
                )
        self.context = ReadingContext(reading_id, case, self.protocol, self.spacing_for)
        self.resume()
        return self.context

    def close_case(self) -> None:
        """Write the time of the current case and leave it."""
        self.pause()
        self.context = None

    # ---- time
    def resume(self) -> None:
        """Start counting active reading time (no-op when running or the reading is locked)."""
        if self.context is None or self._resumed_at is not None:
            return
        reading = self.reading
        if reading is not None and not reading.locked:
            self._resumed_at = self.clock()

    def pause(self) -> None:
        """Stop counting and add the elapsed time to the reading (an audited update)."""
        if self.context is None or self._resumed_at is None:
            return
        elapsed = max(0.0, self.clock() - self._resumed_at)
        self._resumed_at = None
        with self.repository.transaction() as tx:
            reading = tx.get("readings", self.context.reading_id)
            if reading is None or reading["locked"] or elapsed == 0.0:
                return
            tx.update(
                "readings",
                self.context.reading_id,
                {"active_seconds": reading["active_seconds"] + elapsed},
                before=reading,
            )

    # ---- commands
    def _context(self) -> ReadingContext:
        if self.context is None:
            message = "No case is open; open one from the worklist first."
            raise SessionError(message)
        return self.context

    def apply(self, command: Command) -> Command:
        """Apply a command to the repository and return it (for an undo stack)."""
        command.apply(self.repository)
        return command

    def add_annotation(
        self,
        image_code: str,
        kind: AnnotationKind | str,
        points_px: Sequence[Sequence[float]],
        zone: str | None = None,
    ) -> AddAnnotation:
        """Apply :class:`AddAnnotation` to the open case."""
        command = AddAnnotation(self._context(), image_code, kind, points_px, zone)
        self.apply(command)
        return command

    def move_annotation(
        self, annotation_id: str, points_px: Sequence[Sequence[float]]
    ) -> MoveAnnotation:
        """Apply :class:`MoveAnnotation`."""
        command = MoveAnnotation(self._context(), annotation_id, points_px)
        self.apply(command)
        return command

    def delete_annotation(self, annotation_id: str) -> DeleteAnnotation:
        """Apply :class:`DeleteAnnotation`."""
        command = DeleteAnnotation(self._context(), annotation_id)
        self.apply(command)
        return command

    def relabel_zone(self, annotation_id: str, zone: str | None) -> RelabelZone:
        """Apply :class:`RelabelZone`."""
        command = RelabelZone(self._context(), annotation_id, zone)
        self.apply(command)
        return command

    def set_score(
        self,
        field_key: str,
        value: FieldValue,
        *,
        timepoint: str,
        view: str | None = None,
        zone: str | None = None,
    ) -> SetScore:
        """Apply :class:`SetScore`."""
        command = SetScore(
            self._context(), field_key, value, timepoint=timepoint, view=view, zone=zone
        )
        self.apply(command)
        return command

    def clear_score(
        self,
        field_key: str,
        *,
        timepoint: str,
        view: str | None = None,
        zone: str | None = None,
    ) -> ClearScore:
        """Apply :class:`ClearScore`."""
        command = ClearScore(self._context(), field_key, timepoint=timepoint, view=view, zone=zone)
        self.apply(command)
        return command

    def calibrate(
        self,
        image_code: str,
        known_size_mm: float,
        points_px: Sequence[Sequence[float]],
        method: str = "line",
    ) -> Calibrate:
        """Apply :class:`Calibrate`."""
        command = Calibrate(self._context(), image_code, known_size_mm, points_px, method)
        self.apply(command)
        return command

    def store_registration(
        self,
        fixed_image_code: str,
        moving_image_code: str,
        matrix: Sequence[Sequence[float]],
        *,
        residual: float,
        overlap: float,
        method: str,
    ) -> StoreRegistration:
        """Apply :class:`StoreRegistration` (not an undo step: it is derived data)."""
        command = StoreRegistration(
            self._context(),
            fixed_image_code,
            moving_image_code,
            matrix,
            residual=residual,
            overlap=overlap,
            method=method,
        )
        self.apply(command)
        return command

    def submit(self) -> Submit:
        """Write the reading time, then apply :class:`Submit` (the clock stops)."""
        context = self._context()
        self.pause()
        command = Submit(context)
        try:
            self.apply(command)
        except SessionError:
            self.resume()
            raise
        return command

    def reopen(self, reason: str) -> Reopen:
        """Apply :class:`Reopen` and restart the clock."""
        command = Reopen(self._context(), reason)
        self.apply(command)
        self.resume()
        return command
