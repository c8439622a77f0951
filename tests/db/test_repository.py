"""Repository: recording the reading set, reading back domain objects, atomic audit."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from collarreader.db.engine import Database
from collarreader.db.repository import Repository
from collarreader.errors import DatabaseError
from collarreader.model import CaseKind

# Every repository test runs on SQLite and on a real PostgreSQL server (tests/db/conftest.py).
pytestmark = pytest.mark.usefixtures("backend")


def _count(database: Database, table: str) -> int:
    with database.read() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


def test_import_is_idempotent_and_cases_round_trip(
    repository: Repository, database: Database
) -> None:
    events = _count(database, "audit_events")
    cases = repository.cases()
    assert repository.import_cases(cases, ["A"]) == 0
    assert _count(database, "audit_events") == events
    by_code = {case.case_code: case for case in cases}
    assert by_code["R000"].kind is CaseKind.REPEAT
    assert by_code["R000"].repeat_of == "C000"
    assert by_code["R000"].images == by_code["C000"].images
    assert len(by_code["C001"].images) == 4
    assert _count(database, "images") == 8  # repeats add no images


def test_ids_of_reading_set_rows_are_deterministic(repository: Repository) -> None:
    assert repository.case_uuid("C000") == repository.case_uuid("C000")
    assert repository.case_uuid("C000") != repository.case_uuid("C001")
    assert repository.image_id("I0AP6m")
    with pytest.raises(DatabaseError, match="no image"):
        repository.image_id("NOPE")


def test_a_failed_transaction_leaves_no_row_and_no_event(
    repository: Repository, database: Database
) -> None:
    events = _count(database, "audit_events")

    def failing() -> None:
        with repository.transaction() as tx:
            tx.insert("readers", {"id": "11111111-1111-1111-1111-111111111111", "reader_code": "Q"})
            raise RuntimeError

    with pytest.raises(RuntimeError):
        failing()
    assert _count(database, "audit_events") == events
    assert _count(database, "readers") == 1


def test_updates_without_change_write_no_event(repository: Repository, database: Database) -> None:
    events = _count(database, "audit_events")
    with repository.transaction() as tx:
        tx.update("cases", repository.case_uuid("C000"), {"joint": "hip"})
    assert _count(database, "audit_events") == events
    with pytest.raises(DatabaseError, match="not an audited table"), repository.transaction() as tx:
        tx.insert("audit_events", {"id": "x"})
