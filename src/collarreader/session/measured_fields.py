"""Measured and derived fields: recomputing a reading's scores from its annotations.

Part of :mod:`collarreader.session` (see its docstring for the rules).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from collarreader.db.repository import Repository
from collarreader.db.transaction import Transaction
from collarreader.errors import ProtocolError
from collarreader.measure.extent import bridging_extent_pct
from collarreader.model import AnnotationKind, ImageRef, ScoreSource
from collarreader.protocol import Field, FieldType, FieldValue, Protocol, Scope, ToolKind
from collarreader.session.context import (
    _PRESENCE_FIELD,
    ReadingContext,
    format_value,
    parse_value,
    score_target,
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
