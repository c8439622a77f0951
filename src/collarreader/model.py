"""Domain types shared by the session, the database and the user interface.

Plain frozen dataclasses and string enums, free of SQLAlchemy and Qt. Every geometry is pixel
(x=column, y=row), origin at the centre of the top-left pixel. Timestamps are UTC ISO 8601
text (``2024-05-01T09:30:00.123456Z``) so they compare, sort and hash the same everywhere.

Annotation geometry by kind (``points_px``):

- ``interface_line``: polyline (2+ points) along the collar–bone interface of one zone;
  its value is its length.
- ``bridged_segment``: polyline (2+ points) along a bridged part of that interface; the sum of
  a zone's segments over its interface length is the zone's bridging extent.
- ``rll``: the width caliper (two points across the radiolucent line at its widest) followed
  by the traced line (none, or a polyline of 2+ points along the radiolucent line); its value
  is the caliper's length (:func:`collarreader.session.rll_points` builds the layout).
- ``cortical_caliper``: two-point caliper across the cortex at the collar level.
- ``calibration_line``: reserved for a drawn calibration; the session keeps the calibration's
  points in :attr:`Calibration.points_px` instead, next to the spacing they gave.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

PointsPx = tuple[tuple[float, float], ...]


class DatabaseRole(StrEnum):
    """What a database holds: one reader's work or the merged study."""

    READER = "reader"
    STUDY = "study"


class Joint(StrEnum):
    """The operated joint."""

    HIP = "hip"
    KNEE = "knee"


class Side(StrEnum):
    """Body side of the prosthesis."""

    L = "L"
    R = "R"


class TimePoint(StrEnum):
    """Follow-up time point of an image (the true one; readers may see A/B instead)."""

    M6 = "6m"
    M12 = "12m"


class View(StrEnum):
    """Radiographic projection."""

    AP = "AP"
    LAT = "LAT"


class CaseKind(StrEnum):
    """A first read of a case, or a repeat read under a new code (intra-observer agreement)."""

    PRIMARY = "primary"
    REPEAT = "repeat"


class AnnotationKind(StrEnum):
    """The measurement tools; see the module docstring for each kind's geometry."""

    INTERFACE_LINE = "interface_line"
    BRIDGED_SEGMENT = "bridged_segment"
    RLL = "rll"
    CORTICAL_CALIPER = "cortical_caliper"
    CALIBRATION_LINE = "calibration_line"


class CalibrationMethod(StrEnum):
    """How a calibration was obtained."""

    LINE = "line"
    """A line drawn by hand across a known size."""
    BALL = "ball"
    """A line drawn by hand across the calibration ball."""
    HEADER = "header"
    BALL_FIT = "ball_fit"
    """A circle fitted to the ball's edge around a click (``fit`` holds it)."""
    SNAPPED_CALIPER = "snapped_caliper"
    """A caliper snapped to a collar's or stem's edges (``fit`` holds the edges)."""


class ScoreSource(StrEnum):
    """Where a score's value came from.

    ``measured`` values follow their annotations; ``entered`` values are the reader's and are
    never overwritten by a measurement; ``derived`` values follow the protocol's rule.
    """

    MEASURED = "measured"
    ENTERED = "entered"
    DERIVED = "derived"


class ScoreScope(StrEnum):
    """The protocol's field scopes: per zone, per view (image), per case and time point."""

    ZONE = "zone"
    VIEW = "view"
    CASE = "case"


def utc_now_iso() -> str:
    """The current UTC time as ISO 8601 text with microseconds and a ``Z`` suffix."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One image of a case as the reading set lists it (no identity, no source path).

    ``file`` is relative to the reading-set folder; ``timepoint`` is "6m"/"12m", or "A"/"B"
    when the set blinds time points.
    """

    image_code: str
    view: str
    timepoint: str
    sop_instance_uid: str
    file: str
    sha256: str = ""


@dataclass(frozen=True, slots=True)
class Case:
    """A case of a reading set: one joint of one patient, under a random code.

    A repeat case (``kind`` repeat) shows the images of the case ``repeat_of`` again under
    its own code; its ``images`` are that case's images.
    """

    case_code: str
    joint: str
    side: str
    images: tuple[ImageRef, ...] = ()
    kind: CaseKind = CaseKind.PRIMARY
    repeat_of: str | None = None

    def image(self, image_code: str) -> ImageRef:
        """The image with this code; ``KeyError`` when the case has none."""
        for image in self.images:
            if image.image_code == image_code:
                return image
        message = f"Case {self.case_code} has no image {image_code}."
        raise KeyError(message)


@dataclass(frozen=True, slots=True)
class Reading:
    """One reader's reading of one case."""

    id: str
    case_code: str
    reader_id: str
    kind: CaseKind
    started_at: str
    submitted_at: str | None
    active_seconds: float
    locked: bool
    reopen_reason: str | None


@dataclass(frozen=True, slots=True)
class Calibration:
    """A reader's calibration of one image in one reading.

    ``length_px`` is the drawn length of the known size, ``spacing_*_mm`` the resulting
    spacing; ``points_px`` the drawn points.
    """

    id: str
    reading_id: str
    image_code: str
    method: CalibrationMethod
    known_size_mm: float
    length_px: float
    spacing_row_mm: float
    spacing_col_mm: float
    source: str
    points_px: PointsPx
    created_at: str
    fit: Mapping[str, Any] | None = None
    """The fit behind a ``ball_fit`` or ``snapped_caliper`` calibration (None by hand)."""
    residual_px: float | None = None
    """RMS distance of the fitted edge points from the fit, px."""


@dataclass(frozen=True, slots=True)
class Annotation:
    """A drawn measurement with the spacing it used.

    ``calibration_id`` is None when the spacing came from the DICOM header
    (``spacing_source`` names which attribute), and ``value_mm`` is None when the image has
    no spacing at all; ``value_px`` is always set.
    """

    id: str
    reading_id: str
    image_code: str
    kind: AnnotationKind
    zone: str | None
    points_px: PointsPx
    calibration_id: str | None
    spacing_row_mm: float | None
    spacing_col_mm: float | None
    spacing_source: str | None
    value_mm: float | None
    value_px: float
    created_at: str
    method: str | None = None
    """How it was placed: None by hand, ``metal_edge_fit`` for the RLL width from profiles."""
    width_uncertainty_mm: float | None = None
    """One standard deviation of a measured width, mm."""
    profile: Mapping[str, Any] | None = None
    """The profile a width was measured on (offsets_mm, values, model), for display."""


@dataclass(frozen=True, slots=True)
class Score:
    """One field's value in a reading.

    Scope by which parts are set: zone fields have ``view`` and ``zone``; view fields have
    ``view``; case fields have neither. Every score has its ``timepoint`` label. ``value`` is
    canonical text: a choice key, ``true``/``false``, a number with the field's decimals, or
    free text.
    """

    id: str
    reading_id: str
    timepoint: str
    view: str | None
    zone: str | None
    field_key: str
    value: str
    unit: str | None
    source: ScoreSource
    annotation_id: str | None
    updated_at: str


ZoneScore = Score


@dataclass(frozen=True, slots=True)
class StoredRegistration:
    """A later film registered onto an earlier film of one view, stored with a reading.

    ``matrix`` maps a pixel (x, y, 1) of ``moving_image_code`` to the pixel (x, y) of
    ``fixed_image_code`` (x=column, y=row, origin at the centre of the top-left pixel).
    """

    id: str
    reading_id: str
    fixed_image_code: str
    moving_image_code: str
    matrix: tuple[tuple[float, float, float], tuple[float, float, float]]
    residual: float
    overlap: float
    method: str
    software_version: str
    created_at: str


"""Zone, view and case scores share one type (and one table)."""


@dataclass(frozen=True, slots=True)
class DatabaseIdentity:
    """Who a database is: its own UUID, role, reader, reading set and protocol."""

    id: str
    role: DatabaseRole
    reader_id: str | None
    set_uuid: str | None
    protocol_name: str | None
    protocol_version: str | None
    protocol_sha256: str | None
    created_at: str
    app_version: str
    schema_revision: str
    public_key: str | None = None
    """The author's Ed25519 public key (hex); None in a database not yet signed."""
    key_commitment: str | None = None
    """SHA-256 commitment of the reading set to its key; None before revision 0004."""


TIDY_COLUMNS: tuple[str, ...] = (
    "reader",
    "case_code",
    "kind",
    "repeat_of",
    "joint",
    "view",
    "timepoint",
    "zone",
    "field",
    "value",
    "unit",
    "calibration_source",
    "source",
    "submitted",
)
"""Columns of the tidy long table (one row per recorded value), in the export's order.

The database's export writes them and the analysis reads them; with the key file the export
adds ``site``, ``patient`` and ``true_timepoint``.
"""


ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)``: how long steps report progress (a rich bar, a Qt dialog, a test)."""
