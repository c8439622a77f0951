"""Stored registrations and migrations: a later film against an earlier film of one view.

Revision ID: 0007_registrations
Revises: 0006_measure_detail

Derived data and measurements, audited like the reading they belong to (see
:class:`collarreader.db.models.RegistrationRow` and :class:`~collarreader.db.models.MigrationRow`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collarreader.errors import DatabaseError

revision = "0007_registrations"
down_revision = "0006_measure_detail"
branch_labels = None
depends_on = None

UUID = sa.String(36)


def upgrade() -> None:
    """Create the registrations and migrations tables."""
    op.create_table(
        "registrations",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("reading_id", UUID, sa.ForeignKey("readings.id"), nullable=False),
        sa.Column("fixed_image_id", UUID, sa.ForeignKey("images.id"), nullable=False),
        sa.Column("moving_image_id", UUID, sa.ForeignKey("images.id"), nullable=False),
        sa.Column("matrix", sa.JSON(), nullable=False),
        sa.Column("residual", sa.Float(), nullable=False),
        sa.Column("overlap", sa.Float(), nullable=False),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("software_version", sa.String(32), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.UniqueConstraint(
            "reading_id", "fixed_image_id", "moving_image_id", name="uq_registrations_pair"
        ),
    )
    op.create_table(
        "migrations",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("reading_id", UUID, sa.ForeignKey("readings.id"), nullable=False),
        sa.Column("earlier_image_id", UUID, sa.ForeignKey("images.id"), nullable=False),
        sa.Column("later_image_id", UUID, sa.ForeignKey("images.id"), nullable=False),
        sa.Column("landmarks_px", sa.JSON(), nullable=False),
        sa.Column("reference_mm", sa.JSON(), nullable=False),
        sa.Column("earlier_mm", sa.Float(), nullable=False),
        sa.Column("later_mm", sa.Float(), nullable=False),
        sa.Column("migration_mm", sa.Float(), nullable=False),
        sa.Column("method", sa.String(128), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.UniqueConstraint(
            "reading_id", "earlier_image_id", "later_image_id", name="uq_migrations_pair"
        ),
    )


def downgrade() -> None:
    """Databases are never downgraded: restore the backup made before the upgrade."""
    message = (
        "collarreader never downgrades a database; restore the backup copy made before the "
        "upgrade (<name>.bak-<revision>-<time>)."
    )
    raise DatabaseError(message)
