"""Clinical data: Oxford Hip/Knee questionnaires and adverse events.

Revision ID: 0003_clinical
Revises: 0002_merge_log

Answers are stored as entered, never the computed total (see
:mod:`collarreader.db.clinical_models`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collarreader.errors import DatabaseError

revision = "0003_clinical"
down_revision = "0002_merge_log"
branch_labels = None
depends_on = None

UUID = sa.String(36)
TS = sa.String(32)
DATE = sa.String(10)
SHA256 = sa.String(64)
PATIENT = sa.String(64)


def upgrade() -> None:
    """Create the Oxford questionnaire and adverse-event tables."""
    op.create_table(
        "oxford_questionnaires",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("patient", PATIENT, nullable=False),
        sa.Column("instrument", sa.String(8), nullable=False),
        sa.Column("timepoint", sa.String(8), nullable=False),
        sa.Column("completed_on", DATE, nullable=False),
        *(sa.Column(f"q{number}", sa.Integer(), nullable=True) for number in range(1, 13)),
        sa.Column("scale", sa.String(16), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("content_sha256", SHA256, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint(
            "patient", "instrument", "timepoint", name="uq_oxford_patient_instrument_timepoint"
        ),
    )
    op.create_table(
        "adverse_events",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("patient", PATIENT, nullable=False),
        sa.Column("onset_date", DATE, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(32), nullable=False),
        sa.Column("relation", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("natural_key", SHA256, nullable=False),
        sa.Column("content_sha256", SHA256, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("natural_key", name="uq_adverse_events_natural_key"),
    )
    op.create_index("ix_adverse_events_patient", "adverse_events", ["patient"])


def downgrade() -> None:
    """Databases are never downgraded: restore the backup made before the upgrade."""
    # Never downgrade in place: the file was copied to <name>.bak-<revision>-<time> before
    # the upgrade, and that copy is the way back.
    message = (
        "collarreader databases are never downgraded; restore the backup copy "
        "(<database>.bak-<revision>-<time>) made before the upgrade."
    )
    raise DatabaseError(message)
