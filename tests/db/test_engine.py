"""Creating, opening, upgrading and refusing databases."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from collarreader.db.engine import (
    HEAD_REVISION,
    REVISIONS,
    Database,
    database_url,
    make_engine,
    open_database,
    run_migrations,
)
from collarreader.db.models import Base
from collarreader.db.transaction import Transaction
from collarreader.db.verify import verify_database
from collarreader.errors import DatabaseError
from collarreader.protocol import Protocol


def test_head_revision_constant_matches_the_migration_scripts() -> None:
    config = Config()
    migrations = Path(__file__).parents[2] / "src/collarreader/db/migrations"
    config.set_main_option("script_location", str(migrations))
    script = ScriptDirectory.from_config(config)
    assert script.get_current_head() == HEAD_REVISION
    ordered = [rev.revision for rev in script.walk_revisions()][::-1]
    assert tuple(ordered) == REVISIONS


def test_new_database_is_at_head_and_matches_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        diff = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
        )
    assert version == HEAD_REVISION
    assert diff == []
    assert database.identity.schema_revision == HEAD_REVISION
    assert database.identity.reader_id == "A"
    assert verify_database(database.path or "") == []


def test_pragmas_are_in_effect_on_every_connection(database: Database) -> None:
    for _ in range(2):
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_reopening_keeps_the_identity_and_checks_it(
    database: Database, db_path: Path, protocol: Protocol
) -> None:
    identity = database.identity
    database.close()
    again = open_database(db_path, role="reader", reader_id="A", protocol=protocol)
    assert again.identity == identity
    assert again.backup_path is None
    again.close()
    with pytest.raises(DatabaseError, match="belongs to reader 'A', not 'B'"):
        open_database(db_path, reader_id="B")
    with pytest.raises(DatabaseError, match="not a study database"):
        open_database(db_path, role="study")


def test_missing_file_without_create_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no such database"):
        open_database(tmp_path / "absent.sqlite")
    with pytest.raises(DatabaseError, match="needs its role"):
        open_database(tmp_path / "new.sqlite", create=True)


def test_foreign_sqlite_file_is_not_ours(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE patients (name TEXT)")
    with pytest.raises(DatabaseError, match="not a collarreader database"):
        open_database(path, create=True, role="reader", reader_id="A")


def test_corrupt_file_names_the_path_and_what_to_do(
    database: Database, db_path: Path, tmp_path: Path
) -> None:
    database.close()
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(DatabaseError, match=r"junk\.sqlite: not an SQLite database.*backup"):
        open_database(junk)
    # A real SQLite header with its pages overwritten.
    data = bytearray(db_path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(bytes(data))
    with pytest.raises(DatabaseError, match=r"broken\.sqlite"):
        open_database(broken)


def test_newer_schema_revision_is_refused(database: Database, db_path: Path) -> None:
    database.close()
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099_future'")
    with pytest.raises(DatabaseError, match="0099_future is newer"):
        open_database(db_path)


def test_old_revision_is_backed_up_then_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    url, _ = database_url(path)
    engine = make_engine(url)
    db_id = str(uuid.uuid4())
    with engine.connect() as plain:
        connection = plain.execution_options(collar_begin="IMMEDIATE")
        with connection.begin():
            run_migrations(connection, REVISIONS[0])
            # Today's Transaction writes every column of today's model: give the old table the
            # later column for this insert and drop it again, so the file is revision 1 as an
            # old collarreader wrote it.
            connection.exec_driver_sql(
                "ALTER TABLE db_identity ADD COLUMN key_commitment VARCHAR(80)"
            )
            Transaction(
                connection, db_id=db_id, actor="A", at="2024-01-01T00:00:00.000000Z"
            ).insert(
                "db_identity",
                {
                    "id": db_id,
                    "role": "reader",
                    "reader_id": "A",
                    "created_at": "2024-01-01T00:00:00.000000Z",
                    "app_version": "0.0.1",
                    "schema_revision": REVISIONS[0],
                },
            )
            connection.exec_driver_sql("ALTER TABLE db_identity DROP COLUMN key_commitment")
    engine.dispose()
    with pytest.raises(DatabaseError, match="older than"):
        open_database(path, upgrade=False)

    database = open_database(path)
    try:
        assert database.backup_path is not None
        assert database.backup_path.name.startswith(f"old.sqlite.bak-{REVISIONS[0]}-")
        with sqlite3.connect(database.backup_path) as backup:
            assert backup.execute("SELECT version_num FROM alembic_version").fetchone() == (
                REVISIONS[0],
            )
            tables = {row[0] for row in backup.execute("SELECT name FROM sqlite_master")}
            assert "merge_log" not in tables
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM merge_log").scalar() == 0
        assert database.identity.schema_revision == HEAD_REVISION
    finally:
        database.close()
    # The upgrade of the identity row is audited, so the database verifies.
    assert verify_database(path) == []


def test_urls_map_postgresql_to_psycopg_and_paths_to_sqlite(tmp_path: Path) -> None:
    url, path = database_url("postgresql://lead:secret@db.example/study")
    assert url.drivername == "postgresql+psycopg"
    assert path is None
    url, path = database_url(tmp_path / "x.sqlite")
    assert url.drivername == "sqlite+pysqlite"
    assert path == (tmp_path / "x.sqlite").resolve()
    url, path = database_url(f"sqlite:///{tmp_path}/y.sqlite")
    assert path == (tmp_path / "y.sqlite").resolve()
    with pytest.raises(DatabaseError, match="in-memory"):
        database_url("sqlite://")
    with pytest.raises(DatabaseError, match="unsupported"):
        database_url("mysql://x/y")
