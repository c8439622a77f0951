"""Initial schema: identity, reading-set rows, readings, measurements, scores, audit chain.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collarreader.errors import DatabaseError

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

UUID = sa.String(36)
TS = sa.String(32)


def upgrade() -> None:
    """Create every table of revision 0001."""
    op.create_table(
        "db_identity",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("reader_id", sa.String(64), nullable=True),
        sa.Column("set_uuid", UUID, nullable=True),
        sa.Column("protocol_name", sa.String(128), nullable=True),
        sa.Column("protocol_version", sa.String(64), nullable=True),
        sa.Column("protocol_sha256", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("app_version", sa.String(32), nullable=False),
        sa.Column("schema_revision", sa.String(32), nullable=False),
    )
    op.create_table(
        "readers",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("reader_code", sa.String(64), nullable=False, unique=True),
    )
    op.create_table(
        "cases",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("case_code", sa.String(64), nullable=False, unique=True),
        sa.Column("joint", sa.String(16), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column(
            "repeat_of_id", UUID, sa.ForeignKey("cases.id", ondelete="RESTRICT"), nullable=True
        ),
    )
    op.create_table(
        "images",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("image_code", sa.String(64), nullable=False, unique=True),
        sa.Column("case_id", UUID, sa.ForeignKey("cases.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("view", sa.String(16), nullable=False),
        sa.Column("timepoint", sa.String(16), nullable=False),
        sa.Column("sop_instance_uid", sa.String(64), nullable=False),
        sa.Column("file", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
    )
    op.create_index("ix_images_case_id", "images", ["case_id"])
    op.create_table(
        "readings",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("case_id", UUID, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("reader_id", UUID, sa.ForeignKey("readers.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("submitted_at", TS, nullable=True),
        sa.Column("active_seconds", sa.Float(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("reopen_reason", sa.Text(), nullable=True),
        sa.UniqueConstraint("case_id", "reader_id", name="uq_readings_case_reader"),
    )
    op.create_table(
        "calibrations",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("reading_id", UUID, sa.ForeignKey("readings.id"), nullable=False),
        sa.Column("image_id", UUID, sa.ForeignKey("images.id"), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("known_size_mm", sa.Float(), nullable=False),
        sa.Column("length_px", sa.Float(), nullable=False),
        sa.Column("spacing_row_mm", sa.Float(), nullable=False),
        sa.Column("spacing_col_mm", sa.Float(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("points_px", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("reading_id", "image_id", name="uq_calibrations_reading_image"),
    )
    op.create_table(
        "annotations",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("reading_id", UUID, sa.ForeignKey("readings.id"), nullable=False),
        sa.Column("image_id", UUID, sa.ForeignKey("images.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("zone", sa.String(64), nullable=True),
        sa.Column("points_px", sa.JSON(), nullable=False),
        sa.Column("calibration_id", UUID, sa.ForeignKey("calibrations.id"), nullable=True),
        sa.Column("spacing_row_mm", sa.Float(), nullable=True),
        sa.Column("spacing_col_mm", sa.Float(), nullable=True),
        sa.Column("spacing_source", sa.String(32), nullable=True),
        sa.Column("value_mm", sa.Float(), nullable=True),
        sa.Column("value_px", sa.Float(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_annotations_reading_id", "annotations", ["reading_id"])
    op.create_table(
        "scores",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("reading_id", UUID, sa.ForeignKey("readings.id"), nullable=False),
        sa.Column("timepoint", sa.String(16), nullable=False),
        sa.Column("view", sa.String(16), nullable=True),
        sa.Column("zone", sa.String(64), nullable=True),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("field_key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(16), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("annotation_id", UUID, sa.ForeignKey("annotations.id"), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("reading_id", "target", "field_key", name="uq_scores_reading_target"),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("db_id", UUID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("entity_id", UUID, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("db_id", "seq", name="uq_audit_db_seq"),
    )
    op.create_index("ix_audit_entity", "audit_events", ["entity", "entity_id"])


def downgrade() -> None:
    """Databases are never downgraded: restore the backup made before the upgrade."""
    # Never downgrade in place: the file was copied to <name>.bak-<revision>-<time> before
    # the upgrade, and that copy is the way back.
    message = (
        "collarreader databases are never downgraded; restore the backup copy "
        "(<database>.bak-<revision>-<time>) made before the upgrade."
    )
    raise DatabaseError(message)
