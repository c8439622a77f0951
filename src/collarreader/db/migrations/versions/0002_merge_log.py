"""Merge log: one row per source database merged into a study database.

Revision ID: 0002_merge_log
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collarreader.errors import DatabaseError

revision = "0002_merge_log"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the merge log."""
    op.create_table(
        "merge_log",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("source_db_id", sa.String(36), nullable=False),
        sa.Column("source_label", sa.String(255), nullable=False),
        sa.Column("source_schema_revision", sa.String(32), nullable=False),
        sa.Column("reader_id", sa.String(64), nullable=True),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("merged_at", sa.String(32), nullable=False),
        sa.Column("merged_by", sa.String(64), nullable=False),
    )
    op.create_index("ix_merge_log_source_db_id", "merge_log", ["source_db_id"])


def downgrade() -> None:
    """Databases are never downgraded: restore the backup made before the upgrade."""
    # Never downgrade in place: the file was copied to <name>.bak-<revision>-<time> before
    # the upgrade, and that copy is the way back.
    message = (
        "collarreader databases are never downgraded; restore the backup copy "
        "(<database>.bak-<revision>-<time>) made before the upgrade."
    )
    raise DatabaseError(message)
