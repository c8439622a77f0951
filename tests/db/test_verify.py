"""verify_database: a clean database has no findings; every kind of tampering is found."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from collarreader.db.engine import Database
from collarreader.db.repository import Repository
from collarreader.db.verify import verify_database
from collarreader.errors import DatabaseError


def _tamper(path: Path, *statements: str) -> None:
    connection = sqlite3.connect(path)
    try:
        for statement in statements:
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()


@pytest.fixture
def populated(repository: Repository, database: Database) -> Path:
    with repository.transaction() as tx:
        tx.update("cases", repository.case_uuid("C000"), {"joint": "knee"})
    database.close()
    assert database.path is not None
    return database.path


def test_clean_database_verifies(populated: Path) -> None:
    assert verify_database(populated) == []


def test_value_changed_with_raw_sql_is_found(populated: Path) -> None:
    _tamper(populated, "UPDATE cases SET side = 'R' WHERE case_code = 'C001'")
    findings = verify_database(populated)
    assert len(findings) == 1
    assert findings[0].check == "replay"
    assert "differs from its audit trail in side" in findings[0].message


def test_row_inserted_or_deleted_behind_the_back_is_found(populated: Path) -> None:
    _tamper(
        populated,
        "INSERT INTO readers (id, reader_code) "
        "VALUES ('00000000-0000-0000-0000-000000000001', 'Z')",
        "DELETE FROM images WHERE image_code = 'I1AP6m'",
    )
    messages = [f.message for f in verify_database(populated)]
    assert any("has no audit event" in m for m in messages)
    assert any("is missing but its audit trail says it exists" in m for m in messages)


def test_deleted_audit_event_is_found(populated: Path) -> None:
    _tamper(populated, "DELETE FROM audit_events WHERE seq = 3")
    findings = verify_database(populated)
    assert any(f.check == "chain" and "3–3" in f.message for f in findings)
    assert any(f.check == "chain" and "prev_hash" in f.message for f in findings)


def test_deleted_last_event_is_found_by_replay(populated: Path) -> None:
    _tamper(populated, "DELETE FROM audit_events WHERE seq = (SELECT max(seq) FROM audit_events)")
    findings = verify_database(populated)
    assert [f.check for f in findings] == ["replay"]
    assert "joint" in findings[0].message


def test_changed_hash_or_content_is_found(populated: Path) -> None:
    _tamper(populated, "UPDATE audit_events SET hash = 'ab' || substr(hash, 3) WHERE seq = 2")
    findings = verify_database(populated)
    assert any("hash does not match its content" in f.message for f in findings)
    assert any("prev_hash does not match" in f.message for f in findings)


def test_rewritten_event_with_matching_row_is_still_found(populated: Path) -> None:
    # Changing a row *and* its last audit event consistently breaks the hash.
    _tamper(
        populated,
        "UPDATE cases SET joint = 'hip' WHERE case_code = 'C000'",
        'UPDATE audit_events SET after = replace(after, \'"joint":"knee"\', \'"joint":"hip"\') '
        "WHERE seq = (SELECT max(seq) FROM audit_events)",
    )
    findings = verify_database(populated)
    assert [f.check for f in findings] == ["chain"]


def test_schema_revision_and_identity_problems_are_found(populated: Path) -> None:
    _tamper(populated, "UPDATE alembic_version SET version_num = '0001_initial'")
    checks = {f.check for f in verify_database(populated)}
    assert {"schema", "identity"} <= checks


def test_integrity_check_failure_is_a_finding_or_an_error(populated: Path) -> None:
    data = bytearray(populated.read_bytes())
    # Scribble over the last page (a table or index page) but keep the header valid.
    data[-2000:-1000] = b"\x13" * 1000
    populated.write_bytes(bytes(data))
    try:
        findings = verify_database(populated)
    except DatabaseError as error:
        message = str(error)
        findings = []
    else:
        message = ""
    # Either the damage is reported as findings or the file is refused with its path.
    assert findings or str(populated) in message
    assert all(f.check in {"integrity", "foreign_key", "replay", "chain"} for f in findings)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no such database file"):
        verify_database(tmp_path / "nope.sqlite")
