"""Submission rules: what a reading still needs before it can be submitted.

Part of :mod:`collarreader.session` (see its docstring for the rules).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from collarreader.errors import ProtocolError
from collarreader.model import ScoreSource
from collarreader.protocol import FieldValue, Protocol, Scope
from collarreader.session.context import ReadingContext, parse_value, score_target

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
