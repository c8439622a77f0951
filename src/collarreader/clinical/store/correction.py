"""Corrections of recorded clinical data, always audited with a reason.

The fields that may change, the wording of a change, and the correction of a questionnaire or
an adverse event.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from collarreader.clinical.adverse_events import (
    AdverseEvent,
    check_patient_id,
    parse_iso_date,
)
from collarreader.clinical.oxford import (
    ITEM_NAMES,
    N_ITEMS,
    OxfordRecord,
    OxfordScale,
    parse_instrument,
    parse_timepoint,
)
from collarreader.clinical.store.entry import check_oxford_date
from collarreader.clinical.store.rows import (
    AE_ROWS,
    OXFORD_ROWS,
    R,
    RowKind,
    key_taken,
    write_correction,
)
from collarreader.clinical.store.study_database import require_study
from collarreader.db.engine import STUDY_LEAD, Database
from collarreader.db.repository import Repository
from collarreader.errors import ClinicalDataError

__all__ = [
    "AE_FIELDS",
    "OXFORD_FIELDS",
    "check_reason",
    "correct_adverse_event",
    "correct_oxford",
    "describe_ae_changes",
    "describe_oxford_changes",
]


def check_reason(reason: str | None, what: str) -> str:
    """The stripped reason for a correction; refuse a missing or blank one (``what`` needs it)."""
    if reason is None or not reason.strip():
        raise ClinicalDataError(
            f"{what} needs a reason (e.g. 'transcription error, checked against the paper "
            "form'); the reason is kept in the audit trail."
        )
    return reason.strip()


def _shown(value: object) -> str:
    return "blank" if value is None else str(value)


def describe_oxford_changes(old: OxfordRecord, new: OxfordRecord) -> str:
    """The differences between two questionnaires, e.g. ``"q3 3 → 1, source 'a' → 'b'"``."""
    changes = []
    for name in ("patient", "instrument", "timepoint"):
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            changes.append(f"{name} {before} → {after}")
    if old.date != new.date:
        changes.append(f"date {old.date.isoformat()} → {new.date.isoformat()}")
    if old.scale != new.scale:
        changes.append(f"scale {old.scale.value} → {new.scale.value}")
    for name, before, after in zip(
        ITEM_NAMES, old.items_as_entered, new.items_as_entered, strict=True
    ):
        if before != after:
            changes.append(f"{name} {_shown(before)} → {_shown(after)}")
    if old.source != new.source:
        changes.append(f"source {old.source!r} → {new.source!r}")
    return ", ".join(changes)


def describe_ae_changes(old: AdverseEvent, new: AdverseEvent) -> str:
    """The differences between two adverse events, e.g. ``"severity 'mild' → 'severe'"``."""
    changes = []
    for name in AE_FIELDS:
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            shown_before = before.isoformat() if isinstance(before, dt.date) else str(before)
            shown_after = after.isoformat() if isinstance(after, dt.date) else str(after)
            changes.append(f"{name} {shown_before!r} → {shown_after!r}")
    return ", ".join(changes)


OXFORD_FIELDS: tuple[str, ...] = (
    "patient",
    "instrument",
    "timepoint",
    "date",
    "items",
    *ITEM_NAMES,
    "source",
    "scale",
)
"""Keys :func:`correct_oxford` accepts in ``changes``."""

AE_FIELDS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(AdverseEvent))
"""Keys :func:`correct_adverse_event` accepts in ``changes``: every field of the event."""


def _unknown_fields(changes: Mapping[str, object], allowed: Iterable[str], what: str) -> None:
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise ClinicalDataError(
            f"{what}: cannot change {', '.join(unknown)}; the fields are {', '.join(allowed)}."
        )


def _changed_oxford(current: OxfordRecord, changes: Mapping[str, object]) -> OxfordRecord:
    _unknown_fields(changes, OXFORD_FIELDS, "Oxford correction")
    items: list[object] = list(current.items_as_entered)
    if "items" in changes:
        given = changes["items"]
        if not isinstance(given, Sequence) or isinstance(given, str) or len(given) != N_ITEMS:
            raise ClinicalDataError(
                f"Oxford correction: items must be a list of {N_ITEMS} answers (None = missing)."
            )
        items = list(given)
    for index, name in enumerate(ITEM_NAMES):
        if name in changes:
            items[index] = changes[name]
    fields: dict[str, Any] = {"items_as_entered": tuple(items)}
    try:
        if "patient" in changes:
            fields["patient"] = check_patient_id(changes["patient"])
        if "instrument" in changes:
            fields["instrument"] = parse_instrument(changes["instrument"])  # type: ignore[arg-type]
        if "timepoint" in changes:
            fields["timepoint"] = parse_timepoint(changes["timepoint"])  # type: ignore[arg-type]
        if "date" in changes:
            value = changes["date"]
            fields["date"] = value if isinstance(value, dt.date) else parse_iso_date(str(value))
        if "source" in changes:
            fields["source"] = str(changes["source"]).strip()
        if "scale" in changes:
            fields["scale"] = OxfordScale(str(changes["scale"]))
    except ValueError as error:  # OxfordScale("…")
        raise ClinicalDataError(
            f"Oxford correction: {error}; the scales are '0-48' and 'legacy-12-60'."
        ) from None
    return dataclasses.replace(current, **fields)


def correct_oxford(
    database: Database,
    record_id: str,
    changes: Mapping[str, object],
    *,
    reason: str,
    actor: str = STUDY_LEAD,
    today: dt.date | None = None,
) -> OxfordRecord:
    """Correct a recorded questionnaire; the audit event carries ``reason``.

    Parameters
    ----------
    database : an open study database
    record_id : the row id (from :func:`list_clinical` or :func:`oxford_questionnaires`)
    changes : field → new value; fields are :data:`OXFORD_FIELDS`: ``patient``,
        ``instrument``, ``timepoint``, ``date`` (date or ``YYYY-MM-DD``), ``items`` (12
        answers) or single items ``q1`` … ``q12`` (int, or None for missing), ``source``,
        ``scale`` (answers are on this scale)
    reason : why (required; stored in the audit trail)
    actor : who the audit names
    today : reference date for "not in the future" (default: today)

    Returns
    -------
    OxfordRecord
        The record as now stored (unchanged, and no audit event, when nothing differs).

    Raises
    ------
    ClinicalDataError
        Without a reason, for an unknown id or field, an invalid value, or when the change
        would make a second questionnaire for the same patient, instrument and time point.
    """
    require_study(database)
    why = check_reason(reason, "A correction")

    def change(current: OxfordRecord) -> OxfordRecord:
        corrected = _changed_oxford(current, changes)
        if corrected.date != current.date:
            check_oxford_date(corrected.date, today=today)
        return corrected

    def taken(corrected: OxfordRecord) -> str:
        return (
            f"patient {corrected.patient}, {corrected.instrument.value}, "
            f"{corrected.timepoint.value} is already recorded in another row; correct "
            "that one instead."
        )

    return _correct(database, OXFORD_ROWS, record_id, change, why=why, actor=actor, taken=taken)


def correct_adverse_event(
    database: Database,
    event_id: str,
    changes: Mapping[str, object],
    *,
    reason: str,
    actor: str = STUDY_LEAD,
    today: dt.date | None = None,
) -> AdverseEvent:
    """Correct a recorded adverse event; the audit event carries ``reason``.

    Parameters
    ----------
    database : an open study database
    event_id : the row id
    changes : field → new value (text as a form gives it, or the enum member / date); the
        fields are :data:`AE_FIELDS`
    reason : why (required; stored in the audit trail)
    actor : who the audit names
    today : reference date for "not in the future" (default: today)

    Returns
    -------
    AdverseEvent
        The event as now stored (unchanged, and no audit event, when nothing differs).

    Raises
    ------
    ClinicalDataError
        Without a reason, for an unknown id or field, an invalid value (every field named),
        or when the corrected event is the same as another recorded one.
    """
    require_study(database)
    why = check_reason(reason, "A correction")
    _unknown_fields(changes, AE_FIELDS, "adverse-event correction")

    def change(current: AdverseEvent) -> AdverseEvent:
        merged: dict[str, Any] = {name: getattr(current, name) for name in AE_FIELDS}
        merged.update(changes)
        reference = today
        if "onset_date" not in changes:
            # An unchanged date stays acceptable even if the rules were stricter when recorded.
            reference = dt.date.max
        return AdverseEvent.parse(**merged, today=reference)

    def taken(corrected: AdverseEvent) -> str:
        return (
            f"the corrected event of patient {corrected.patient} "
            f"({corrected.onset_date.isoformat()}, {corrected.category}) is already "
            "recorded as another event."
        )

    return _correct(database, AE_ROWS, event_id, change, why=why, actor=actor, taken=taken)


def _correct(
    database: Database,
    kind: RowKind[R],
    row_id: str,
    change: Callable[[R], R],
    *,
    why: str,
    actor: str,
    taken: Callable[[R], str],
) -> R:
    """Apply ``change`` to the recorded row ``row_id`` as an audited correction.

    Nothing is written when the corrected record equals the recorded one; a correction
    that would record a natural key another row already holds is refused with ``taken``.
    """
    with Repository(database, actor).transaction(why) as tx:
        state = tx.get(kind.entity, row_id)
        if state is None:
            raise ClinicalDataError(f"{database.label}: no {kind.noun} with id {row_id}.")
        current = kind.from_state(state)
        corrected = change(current)
        if corrected.content_sha256 == current.content_sha256:
            return current
        if key_taken(tx, kind, corrected, other_than=row_id) is not None:
            raise ClinicalDataError(taken(corrected))
        write_correction(tx, kind, state, corrected)
        return corrected
