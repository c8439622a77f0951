"""Commands on drawn annotations: add, move, delete, relabel the zone.

Part of :mod:`collarreader.session` (see its docstring for the rules).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from collarreader.db.repository import Repository
from collarreader.db.transaction import Transaction
from collarreader.errors import SessionError
from collarreader.model import AnnotationKind
from collarreader.session.command import Command
from collarreader.session.context import ReadingContext
from collarreader.session.measured_fields import refresh_measured
from collarreader.session.measurement import (
    _BY_HAND,
    MeasureDetail,
    _check_points,
    _check_zone,
    _measurement,
)


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
