"""A real reader database on a temporary SQLite file, with a small reading set recorded.

``backend`` runs a test on SQLite and on PostgreSQL (a fresh database per target on the
server named by ``COLLARREADER_TEST_POSTGRES_URL``, dropped afterwards; ``./run.sh postgres``
starts one). Without a reachable server the PostgreSQL run skips with the reason, or fails
when ``CI=true``. A test that requests ``backend`` (directly or with
``pytest.mark.usefixtures("backend")``) also gets its ``database`` fixture on that backend.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from collarreader.db.engine import Database, open_database
from collarreader.db.models import AUDITED_TABLES
from collarreader.db.repository import Repository
from collarreader.model import Case, CaseKind, ImageRef
from collarreader.protocol import Protocol, load_protocol


def make_cases(n: int = 2) -> list[Case]:
    """``n`` primary cases with AP and LAT at 6m and 12m, and one repeat of the first."""
    cases = []
    for index in range(n):
        images = tuple(
            ImageRef(
                image_code=f"I{index}{view}{timepoint}",
                view=view,
                timepoint=timepoint,
                sop_instance_uid=f"2.25.{index}{n}{len(view)}{len(timepoint)}",
                file=f"images/I{index}{view}{timepoint}.dcm",
                sha256="0" * 64,
            )
            for view in ("AP", "LAT")
            for timepoint in ("6m", "12m")
        )
        cases.append(Case(f"C{index:03d}", "hip", "L", images))
    cases.append(Case("R000", "hip", "L", cases[0].images, kind=CaseKind.REPEAT, repeat_of="C000"))
    return cases


def snapshot(database: Database) -> dict[str, list[dict[str, Any]]]:
    """Every audited table's rows, sorted by id (for exact before/after comparisons)."""
    result = {}
    with database.read() as connection:
        for name, table in AUDITED_TABLES.items():
            rows = connection.execute(select(table).order_by(table.c.id)).all()
            result[name] = [dict(row._mapping) for row in rows]
    return result


@pytest.fixture(scope="session")
def protocol() -> Protocol:
    return load_protocol("collar-default")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "reader-A.sqlite"


@pytest.fixture
def database(
    request: pytest.FixtureRequest, db_path: Path, protocol: Protocol
) -> Iterator[Database]:
    target: str | Path = db_path
    if "backend" in request.fixturenames:
        target = request.getfixturevalue("backend").location("reader-A")
    database = open_database(
        target,
        create=True,
        role="reader",
        reader_id="A",
        set_uuid=str(uuid.uuid4()),
        protocol=protocol,
    )
    yield database
    database.close()


@pytest.fixture
def repository(database: Database) -> Repository:
    repository = Repository(database)
    repository.import_cases(make_cases(), ["A"])
    return repository


# ------------------------------------------------------------------------------ backends

POSTGRES_ENV = "COLLARREADER_TEST_POSTGRES_URL"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the PostgreSQL tests must run, not skip)")
    pytest.skip(reason)


class Backend:
    """Where a test's databases live: temporary SQLite files, or fresh PostgreSQL databases."""

    def __init__(self, name: str, tmp_path: Path, admin_url: str | None = None) -> None:
        self.name = name
        self.tmp_path = tmp_path
        self.admin_url = admin_url
        self.created: list[str] = []

    @property
    def is_sqlite(self) -> bool:
        return self.name == "sqlite"

    def location(self, label: str) -> str | Path:
        """A new, empty database location: an SQLite path, or a new PostgreSQL database URL."""
        if self.admin_url is None:
            return self.tmp_path / f"{label}.sqlite"
        import psycopg

        name = f"collar_test_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(_libpq(self.admin_url), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self.admin_url is None or not self.created:
            return
        import psycopg

        with psycopg.connect(_libpq(self.admin_url), autocommit=True) as connection:
            for name in self.created:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_admin_url() -> str:
    """The test server's URL after checking that it answers (skips or fails otherwise)."""
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        _unavailable(f"{POSTGRES_ENV} is not set; start a server with ./run.sh postgres")
    import psycopg

    try:
        with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        _unavailable(
            f"PostgreSQL at {make_url(url).render_as_string(True)} is unreachable: {error}"
        )
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """SQLite, then PostgreSQL: each ``location()`` is a new empty database on that backend."""
    if request.param == "sqlite":
        yield Backend("sqlite", tmp_path)
        return
    chosen = Backend("postgresql", tmp_path, postgres_admin_url())
    try:
        yield chosen
    finally:
        chosen.drop_all()


# ------------------------------------------------------------------------------ old databases


def make_old_database(
    path: Path, revision: str, reader_id: str | None = "A", role: str = "reader"
) -> str:
    """A database as a collarreader at ``revision`` wrote it: unsigned, no public key.

    The identity row and its one audit event are written with plain SQL and hashed with the
    project's own functions over the columns that revision had (no ``public_key``).
    """
    from collarreader.db.audit import GENESIS, canonical_json, event_hash
    from collarreader.db.engine import database_url, make_engine, run_migrations

    url, _ = database_url(path)
    engine = make_engine(url)
    db_id = str(uuid.uuid4())
    at = "2024-01-01T00:00:00.000000Z"
    state = {
        "id": db_id,
        "role": role,
        "reader_id": reader_id,
        "set_uuid": None,
        "protocol_name": None,
        "protocol_version": None,
        "protocol_sha256": None,
        "created_at": at,
        "app_version": "0.0.1",
        "schema_revision": revision,
    }
    event: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "db_id": db_id,
        "seq": 1,
        "actor": reader_id or "study-lead",
        "at": at,
        "entity": "db_identity",
        "entity_id": db_id,
        "action": "create",
        "before": None,
        "after": canonical_json(state),
        "reason": None,
        "prev_hash": GENESIS,
    }
    event["hash"] = event_hash(GENESIS, event)
    with engine.connect() as plain:
        connection = plain.execution_options(collar_begin="IMMEDIATE")
        with connection.begin():
            run_migrations(connection, revision)
            for table, values in (("db_identity", state), ("audit_events", event)):
                names = ", ".join(values)
                marks = ", ".join(f":{name}" for name in values)
                sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608
                connection.execute(text(sql), values)
    engine.dispose()
    return db_id
