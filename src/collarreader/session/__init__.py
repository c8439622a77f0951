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

Modules
-------
:mod:`~collarreader.session.context`
    The case and its reading (:class:`ReadingContext`), values as text, cases from a set.
:mod:`~collarreader.session.command`
    The undoable :class:`Command` and the replay of its recorded row changes.
:mod:`~collarreader.session.measurement`
    The points of a drawn annotation and the value they measure.
:mod:`~collarreader.session.annotation_commands`
    Add, move, delete an annotation; relabel its zone.
:mod:`~collarreader.session.score_commands`
    Set and clear a score (the override rule).
:mod:`~collarreader.session.calibration_commands`
    Calibrate an image; store a registration.
:mod:`~collarreader.session.lock_commands`
    Submit and reopen a reading.
:mod:`~collarreader.session.measured_fields`
    Measured and derived fields, recomputed after every command.
:mod:`~collarreader.session.submission`
    What a reading still needs before it can be submitted.
:mod:`~collarreader.session.reading_session`
    :class:`ReadingSession`: the worklist, the current case, active reading time.
"""

from __future__ import annotations

from collarreader.errors import SessionError  # what every command raises; importable from here
from collarreader.session.annotation_commands import (
    AddAnnotation,
    DeleteAnnotation,
    MoveAnnotation,
    RelabelZone,
)
from collarreader.session.calibration_commands import Calibrate, StoreRegistration
from collarreader.session.command import Command
from collarreader.session.context import (
    TOOL_FOR_KIND,
    ReadingContext,
    SpacingFor,
    SpacingLike,
    cases_from_reading_set,
    format_value,
    parse_value,
    score_target,
)
from collarreader.session.lock_commands import Reopen, Submit
from collarreader.session.measured_fields import refresh_measured
from collarreader.session.measurement import (
    MeasureDetail,
    measured_points_px,
    rll_caliper_px,
    rll_line_px,
    rll_points,
)
from collarreader.session.reading_session import ReadingSession
from collarreader.session.score_commands import ClearScore, SetScore
from collarreader.session.submission import (
    SubmissionProblem,
    find_submission_problems,
    submission_problems,
    timepoint_label,
)

__all__ = [
    "TOOL_FOR_KIND",
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
    "SessionError",
    "SetScore",
    "SpacingFor",
    "SpacingLike",
    "StoreRegistration",
    "SubmissionProblem",
    "Submit",
    "cases_from_reading_set",
    "find_submission_problems",
    "format_value",
    "measured_points_px",
    "parse_value",
    "refresh_measured",
    "rll_caliper_px",
    "rll_line_px",
    "rll_points",
    "score_target",
    "submission_problems",
    "timepoint_label",
]
