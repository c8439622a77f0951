"""The points of a drawn annotation and the value they measure (the RLL point layout).

Part of :mod:`collarreader.session` (see its docstring for the rules).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from collarreader.db.transaction import Transaction
from collarreader.errors import ProtocolError, SessionError
from collarreader.measure.geometry import as_points_px, polyline_length_mm, polyline_length_px
from collarreader.model import AnnotationKind
from collarreader.session.context import _CALIPERS, _ZONED, ReadingContext


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
