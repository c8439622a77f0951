"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collarreader.errors import DatabaseError

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    """Databases are never downgraded: restore the backup made before the upgrade."""
    # Never downgrade in place: the file was copied to <name>.bak-<revision>-<time> before
    # the upgrade, and that copy is the way back.
    message = (
        "collarreader databases are never downgraded; restore the backup copy "
        "(<database>.bak-<revision>-<time>) made before the upgrade."
    )
    raise DatabaseError(message)
