"""Signatures and anchors: author public keys, signed chain heads, pinned reader keys.

Revision ID: 0005_signatures
Revises: 0004_key_commitment

- ``db_identity.public_key``: the author's Ed25519 public key (hex); NULL in databases made
  before this revision until their next write (the upgrade records the key then).
- ``audit_events.signature``: the author's signature of the chain head this event ends
  (the last event of each transaction); NULL on the other events and on events written
  before this revision (see :mod:`collarreader.db.signing`).
- ``merge_log.public_key`` and ``merge_log.signature``: the source's key at the merge and
  the study lead's signature of the merged head (the anchor).
- ``reader_keys``: a study database's pinned key per reader, set at the reader's first merge.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collarreader.errors import DatabaseError

revision = "0005_signatures"
down_revision = "0004_key_commitment"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the key, signature and pin columns and table (all nullable: old rows stay)."""
    # Plain ADD COLUMN (nullable, no default): SQLite adds it without rebuilding the table.
    op.add_column("db_identity", sa.Column("public_key", sa.String(64), nullable=True))
    op.add_column("audit_events", sa.Column("signature", sa.String(128), nullable=True))
    op.add_column("merge_log", sa.Column("public_key", sa.String(64), nullable=True))
    op.add_column("merge_log", sa.Column("signature", sa.String(128), nullable=True))
    op.create_table(
        "reader_keys",
        sa.Column("reader_id", sa.String(64), primary_key=True),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("first_db_id", sa.String(36), nullable=False),
        sa.Column("pinned_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    """Databases are never downgraded: restore the backup made before the upgrade."""
    message = (
        "collarreader databases are never downgraded; restore the backup copy "
        "(<database>.bak-<revision>-<time>) made before the upgrade."
    )
    raise DatabaseError(message)
