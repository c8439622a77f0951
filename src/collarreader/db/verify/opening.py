"""Opening a database read-only and running every check on it.

Part of :mod:`collarreader.db.verify` (see its docstring for the checks).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, inspect, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from collarreader.db.anchors import check_signatures
from collarreader.db.engine import (
    HEAD_REVISION,
    current_revision,
    database_url,
    make_engine,
    restore_advice,
)
from collarreader.db.findings import Finding
from collarreader.db.models import AUDITED_TABLES, DbIdentity
from collarreader.db.verify.checks import _check_chains, _check_replay
from collarreader.errors import DatabaseError


def verify_database(path_or_url: str | Path) -> list[Finding]:
    """Check a database without changing it; return its findings (empty: it verifies).

    Parameters
    ----------
    path_or_url : SQLite file path or database URL (as for
        :func:`collarreader.db.engine.open_database`)

    Raises
    ------
    DatabaseError
        When the path does not exist or is no database at all (nothing can be checked).
    """
    with read_only(path_or_url) as (connection, is_sqlite):
        return _verify(connection, is_sqlite=is_sqlite)


@contextmanager
def read_only(path_or_url: str | Path) -> Iterator[tuple[Connection, bool]]:
    """A connection in one read transaction that cannot write (SQLite ``mode=ro``).

    Yields the connection and whether it is SQLite; database errors become ``DatabaseError``
    naming the database.
    """
    url, path = database_url(path_or_url)
    if path is not None and not path.is_file():
        kind = "a folder, not a database file" if path.is_dir() else "no such database file"
        message = f"{path}: {kind}. Check the path."
        raise DatabaseError(message)
    engine = make_engine(url) if path is None else _read_only_engine(path)
    try:
        with engine.connect() as connection, connection.begin():
            yield connection, path is not None
    except (sa_exc.DBAPIError, sqlite3.Error) as error:
        # The streamed scans use the driver's cursor on SQLite: its errors arrive unwrapped.
        reason = error.orig if isinstance(error, sa_exc.DBAPIError) else error
        label = str(path) if path is not None else url.render_as_string(True)
        advice = (
            restore_advice(path)
            if path is not None
            else "Check the URL and that the server is running."
        )
        message = f"{label}: cannot be read as a database ({reason}). {advice}"
        raise DatabaseError(message) from error
    finally:
        engine.dispose()


def _read_only_engine(path: Path) -> Engine:
    # A URI filename with mode=ro: SQLite refuses every write, and no journal-mode pragma runs
    # (make_engine's WAL pragma would rewrite the header of a file in another journal mode).
    uri = f"file:{quote(str(path))}?mode=ro"
    return create_engine(
        "sqlite+pysqlite://",
        creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
        poolclass=NullPool,
    )


def _verify(connection: Connection, *, is_sqlite: bool) -> list[Finding]:
    findings: list[Finding] = []
    if is_sqlite:
        for (result,) in connection.execute(text("PRAGMA integrity_check")):
            if result != "ok":
                findings.append(Finding("integrity", f"SQLite integrity check: {result}"))
        findings.extend(
            Finding(
                "foreign_key",
                f"{row[0]} row {row[1]} refers to a missing {row[2]} row.",
                entity=str(row[0]),
            )
            for row in connection.execute(text("PRAGMA foreign_key_check"))
        )
    tables = set(inspect(connection).get_table_names())
    missing = [name for name in (*AUDITED_TABLES, "audit_events") if name not in tables]
    if missing:
        findings.append(
            Finding(
                "schema",
                f"Not a complete collarreader database: table(s) {', '.join(missing)} missing.",
            )
        )
        return findings
    revision = current_revision(connection)
    if revision != HEAD_REVISION:
        findings.append(
            Finding(
                "schema",
                f"Schema revision is {revision}, this collarreader writes {HEAD_REVISION}; "
                "open it with collarreader once to upgrade (a backup is made).",
            )
        )
    identities = connection.execute(select(DbIdentity.__table__)).all()
    if len(identities) != 1:
        findings.append(
            Finding("identity", f"db_identity holds {len(identities)} rows instead of one.")
        )
    elif revision is not None and identities[0].schema_revision != revision:
        findings.append(
            Finding(
                "identity",
                f"db_identity records schema revision {identities[0].schema_revision} but the "
                f"schema is at {revision}.",
            )
        )
    own_id = str(identities[0].id) if len(identities) == 1 else None
    findings.extend(_check_chains(connection))
    findings.extend(check_signatures(connection, own_id))
    findings.extend(_check_replay(connection, own_id))
    return findings
