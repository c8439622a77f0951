"""Measurement detail: how a calibration or a width was measured, its fit and uncertainty.

Revision ID: 0006_measure_detail
Revises: 0005_signatures

Calibrations gain the fit of a ball or a snapped caliper (``fit``, JSON) and its residual;
annotations gain the method that placed them, the width's uncertainty and the profile it was
measured on (JSON, for showing the reader what was measured). Every new column is nullable:
older rows were placed by hand and have none of these.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collarreader.errors import DatabaseError

revision = "0006_measure_detail"
down_revision = "0005_signatures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable detail columns to calibrations and annotations."""
    with op.batch_alter_table("calibrations") as batch:
        batch.add_column(sa.Column("fit", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("residual_px", sa.Float(), nullable=True))
    with op.batch_alter_table("annotations") as batch:
        batch.add_column(sa.Column("method", sa.String(32), nullable=True))
        batch.add_column(sa.Column("width_uncertainty_mm", sa.Float(), nullable=True))
        batch.add_column(sa.Column("profile", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Databases are never downgraded: restore the backup made before the upgrade."""
    message = (
        "collarreader databases are never downgraded; restore the backup copy "
        "(<database>.bak-<revision>-<time>) made before the upgrade."
    )
    raise DatabaseError(message)
