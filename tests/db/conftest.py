"""A real reader database on a temporary SQLite file, with a small reading set recorded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

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
def database(db_path: Path, protocol: Protocol) -> Iterator[Database]:
    database = open_database(
        db_path,
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
