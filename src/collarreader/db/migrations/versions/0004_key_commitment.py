"""Key commitment: the hash of the reading set's key, copied from ``readingset.json``.

Revision ID: 0004_key_commitment
Revises: 0003_clinical

A reader database copies the commitment of its reading set when it is created, and a merge
carries it into the study database, so every command that takes ``--key`` on a database can
refuse a key that was edited. Nullable: databases made before it have none (their key is then
checked against the set UUID only).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collarreader.errors import DatabaseError

revision = "0004_key_commitment"
down_revision = "0003_clinical"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``db_identity.key_commitment``."""
    op.add_column("db_identity", sa.Column("key_commitment", sa.String(80), nullable=True))


def downgrade() -> None:
    """Databases are never downgraded: restore the backup made before the upgrade."""
    message = (
        "collarreader databases are never downgraded; restore the backup made before the "
        "upgrade (<name>.bak-<revision>-<time>)."
    )
    raise DatabaseError(message)
