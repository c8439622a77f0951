"""Alembic environment: runs on the connection :func:`collarreader.db.engine.run_migrations` passes.

There is no ``alembic.ini``: the application configures Alembic in code and hands over an
open connection inside its own transaction (``config.attributes["connection"]``), so the
upgrade and the audited identity update commit together.
"""

from __future__ import annotations

from alembic import context

from collarreader.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    message = (
        "collarreader migrations run from collarreader.db.engine.run_migrations "
        "(open_database), not from the alembic command line."
    )
    raise RuntimeError(message)

# render_as_batch: SQLite alters tables by copying them; Alembic's batch mode does that.
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
