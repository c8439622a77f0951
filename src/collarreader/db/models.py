"""SQLAlchemy models of reader and study databases.

Portable between SQLite and PostgreSQL on purpose:

- every primary key is a UUID as 36-character text (``str(uuid.UUID)``), so rows copy
  between databases (merge) without conversion;
- timestamps are UTC ISO 8601 text (see :func:`collarreader.model.utc_now_iso`), which sorts,
  compares and hashes identically on both engines;
- geometry is a JSON list of ``[x, y]`` pixel points (x=column, y=row, origin at the centre
  of the top-left pixel).

Rows of reading-set origin have deterministic ids (:func:`collarreader.db.ids.set_uuid5`),
so every reader database names the same case, image and reader alike and a merge can
match them. Every table in :data:`AUDITED_TABLES` changes only through
:class:`collarreader.db.repository.Repository`, which appends an audit event for each change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

UUID_LEN = 36
TS_LEN = 32


class Base(DeclarativeBase):
    """Declarative base of every collarreader table."""


class DbIdentity(Base):
    """The database's identity: exactly one row."""

    __tablename__ = "db_identity"

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    reader_id: Mapped[str | None] = mapped_column(String(64))
    set_uuid: Mapped[str | None] = mapped_column(String(UUID_LEN))
    protocol_name: Mapped[str | None] = mapped_column(String(128))
    protocol_version: Mapped[str | None] = mapped_column(String(64))
    protocol_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(TS_LEN))
    app_version: Mapped[str] = mapped_column(String(32))
    schema_revision: Mapped[str] = mapped_column(String(32))
    # Revision 0005: the author's Ed25519 public key, hex (collarreader.db.signing).
    public_key: Mapped[str | None] = mapped_column(String(64))
    # Revision 0004: the reading set's commitment to its key (study.keyfile).
    key_commitment: Mapped[str | None] = mapped_column(String(80))


class Reader(Base):
    """A reader, by the pseudonymous ID the study lead gave."""

    __tablename__ = "readers"

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    reader_code: Mapped[str] = mapped_column(String(64), unique=True)


class CaseRow(Base):
    """A case of the reading set (primary, or a repeat under its own code)."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    case_code: Mapped[str] = mapped_column(String(64), unique=True)
    joint: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(4))
    kind: Mapped[str] = mapped_column(String(16))
    repeat_of_id: Mapped[str | None] = mapped_column(
        String(UUID_LEN), ForeignKey("cases.id", ondelete="RESTRICT")
    )


class ImageRow(Base):
    """An image of a primary case (repeats show their primary's images)."""

    __tablename__ = "images"

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    image_code: Mapped[str] = mapped_column(String(64), unique=True)
    case_id: Mapped[str] = mapped_column(
        String(UUID_LEN), ForeignKey("cases.id", ondelete="RESTRICT"), index=True
    )
    view: Mapped[str] = mapped_column(String(16))
    timepoint: Mapped[str] = mapped_column(String(16))
    sop_instance_uid: Mapped[str] = mapped_column(String(64))
    file: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))


class ReadingRow(Base):
    """One reader's reading of one case."""

    __tablename__ = "readings"
    __table_args__ = (UniqueConstraint("case_id", "reader_id", name="uq_readings_case_reader"),)

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(UUID_LEN), ForeignKey("cases.id"))
    reader_id: Mapped[str] = mapped_column(String(UUID_LEN), ForeignKey("readers.id"))
    kind: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[str] = mapped_column(String(TS_LEN))
    submitted_at: Mapped[str | None] = mapped_column(String(TS_LEN))
    active_seconds: Mapped[float] = mapped_column(Float)
    locked: Mapped[bool] = mapped_column(Boolean)
    reopen_reason: Mapped[str | None] = mapped_column(Text)


class CalibrationRow(Base):
    """A reader's calibration of one image within one reading (updated on recalibration)."""

    __tablename__ = "calibrations"
    __table_args__ = (
        UniqueConstraint("reading_id", "image_id", name="uq_calibrations_reading_image"),
    )

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    reading_id: Mapped[str] = mapped_column(String(UUID_LEN), ForeignKey("readings.id"))
    image_id: Mapped[str] = mapped_column(String(UUID_LEN), ForeignKey("images.id"))
    method: Mapped[str] = mapped_column(String(16))
    known_size_mm: Mapped[float] = mapped_column(Float)
    length_px: Mapped[float] = mapped_column(Float)
    spacing_row_mm: Mapped[float] = mapped_column(Float)
    spacing_col_mm: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(32))
    points_px: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[str] = mapped_column(String(TS_LEN))
    # none_as_null: a missing fit is SQL NULL, not the JSON text "null" (the merge compares)
    fit: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    residual_px: Mapped[float | None] = mapped_column(Float)


class AnnotationRow(Base):
    """A drawn measurement: pixel geometry, the spacing used, the value."""

    __tablename__ = "annotations"

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    reading_id: Mapped[str] = mapped_column(String(UUID_LEN), ForeignKey("readings.id"), index=True)
    image_id: Mapped[str] = mapped_column(String(UUID_LEN), ForeignKey("images.id"))
    kind: Mapped[str] = mapped_column(String(32))
    zone: Mapped[str | None] = mapped_column(String(64))
    points_px: Mapped[Any] = mapped_column(JSON)
    calibration_id: Mapped[str | None] = mapped_column(
        String(UUID_LEN), ForeignKey("calibrations.id")
    )
    spacing_row_mm: Mapped[float | None] = mapped_column(Float)
    spacing_col_mm: Mapped[float | None] = mapped_column(Float)
    spacing_source: Mapped[str | None] = mapped_column(String(32))
    value_mm: Mapped[float | None] = mapped_column(Float)
    value_px: Mapped[float] = mapped_column(Float)
    created_at: Mapped[str] = mapped_column(String(TS_LEN))
    method: Mapped[str | None] = mapped_column(String(32))
    width_uncertainty_mm: Mapped[float | None] = mapped_column(Float)
    profile: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))


class ScoreRow(Base):
    """A field's value: zone fields have view and zone, view fields a view, case fields none.

    ``target`` is ``"<timepoint>/<view or ->/<zone or ->"``: NULLs never collide in a unique
    index, so uniqueness per reading, field and target rests on this non-null key.
    """

    __tablename__ = "scores"
    __table_args__ = (
        UniqueConstraint("reading_id", "target", "field_key", name="uq_scores_reading_target"),
    )

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    reading_id: Mapped[str] = mapped_column(String(UUID_LEN), ForeignKey("readings.id"))
    timepoint: Mapped[str] = mapped_column(String(16))
    view: Mapped[str | None] = mapped_column(String(16))
    zone: Mapped[str | None] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128))
    field_key: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    annotation_id: Mapped[str | None] = mapped_column(
        String(UUID_LEN), ForeignKey("annotations.id")
    )
    updated_at: Mapped[str] = mapped_column(String(TS_LEN))


class RegistrationRow(Base):
    """A stored registration of a later film onto an earlier film of one view (revision 0007).

    Derived data kept with the reading so that any later look (anatomy-linked hanging,
    flicker, difference) is the same. ``matrix`` is the 2 × 3 pixel matrix mapping a moving
    (``moving_image_id``) pixel (x, y, 1) to the fixed (``fixed_image_id``) pixel (x, y);
    ``residual`` and ``overlap`` are those of
    :class:`collarreader.measure.registration.Registration`; ``software_version`` is the
    collarreader version that computed it.
    """

    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint(
            "reading_id", "fixed_image_id", "moving_image_id", name="uq_registrations_pair"
        ),
    )

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    reading_id: Mapped[str] = mapped_column(String(UUID_LEN), ForeignKey("readings.id"))
    fixed_image_id: Mapped[str] = mapped_column(String(UUID_LEN), ForeignKey("images.id"))
    moving_image_id: Mapped[str] = mapped_column(String(UUID_LEN), ForeignKey("images.id"))
    matrix: Mapped[Any] = mapped_column(JSON)
    residual: Mapped[float] = mapped_column(Float)
    overlap: Mapped[float] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(64))
    software_version: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[str] = mapped_column(String(TS_LEN))


class MigrationRow(Base):
    """An implant migration measured between two films of one view (revision 0007).

    ``landmarks_px`` holds, per film (``earlier``/``later``), the implant and bone landmarks
    and the two ends of the implant dimension of known size (pixel points); ``reference_mm``
    that size on each film; ``earlier_mm``/``later_mm`` the landmarks' calibrated distances,
    ``migration_mm`` their change; ``method`` how it was measured.
    """

    __tablename__ = "migrations"
    __table_args__ = (
        UniqueConstraint(
            "reading_id", "earlier_image_id", "later_image_id", name="uq_migrations_pair"
        ),
    )

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    reading_id: Mapped[str] = mapped_column(String(UUID_LEN), ForeignKey("readings.id"))
    earlier_image_id: Mapped[str] = mapped_column(String(UUID_LEN), ForeignKey("images.id"))
    later_image_id: Mapped[str] = mapped_column(String(UUID_LEN), ForeignKey("images.id"))
    landmarks_px: Mapped[Any] = mapped_column(JSON)
    reference_mm: Mapped[Any] = mapped_column(JSON)
    earlier_mm: Mapped[float] = mapped_column(Float)
    later_mm: Mapped[float] = mapped_column(Float)
    migration_mm: Mapped[float] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[str] = mapped_column(String(TS_LEN))


class AuditEvent(Base):
    """One change of one row; see :mod:`collarreader.db.audit` for the hash chain.

    ``seq`` counts from 1 within the database that wrote the event (``db_id``); events merged
    from a reader keep that reader's ``db_id``, ``seq`` and hashes, so each chain verifies on
    its own.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("db_id", "seq", name="uq_audit_db_seq"),
        Index("ix_audit_entity", "entity", "entity_id"),
    )

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    db_id: Mapped[str] = mapped_column(String(UUID_LEN))
    seq: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(TS_LEN))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(UUID_LEN))
    action: Mapped[str] = mapped_column(String(32))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # Revision 0005: the author's signature of the chain head, on the last event of each
    # transaction (not hashed: it signs the hash).
    signature: Mapped[str | None] = mapped_column(String(128))


class MergeLogRow(Base):
    """One merged source database (revision 0002)."""

    __tablename__ = "merge_log"

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    source_db_id: Mapped[str] = mapped_column(String(UUID_LEN), index=True)
    source_label: Mapped[str] = mapped_column(String(255))
    source_schema_revision: Mapped[str] = mapped_column(String(32))
    reader_id: Mapped[str | None] = mapped_column(String(64))
    counts: Mapped[str] = mapped_column(Text)
    last_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    merged_at: Mapped[str] = mapped_column(String(TS_LEN))
    merged_by: Mapped[str] = mapped_column(String(64))
    # Revision 0005: the source's public key, and the study lead's signature of the anchor.
    public_key: Mapped[str | None] = mapped_column(String(64))
    signature: Mapped[str | None] = mapped_column(String(128))


class ReaderKeyRow(Base):
    """A reader's public key, pinned by a study database at the reader's first merge (0005)."""

    __tablename__ = "reader_keys"

    reader_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))
    first_db_id: Mapped[str] = mapped_column(String(UUID_LEN))
    pinned_at: Mapped[str] = mapped_column(String(TS_LEN))


AUDITED_TABLES: dict[str, Table] = {
    model.__tablename__: model.__table__  # type: ignore[misc]
    for model in (
        DbIdentity,
        Reader,
        CaseRow,
        ImageRow,
        ReadingRow,
        CalibrationRow,
        AnnotationRow,
        ScoreRow,
        RegistrationRow,
        MigrationRow,
    )
}
"""Tables whose every change is an audit event, by name (the event's ``entity``)."""
