"""verify_database: a clean database has no findings; every kind of tampering is found."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from collarreader.db.audit import canonical_json, row_state
from collarreader.db.engine import Database, open_database
from collarreader.db.models import AUDITED_TABLES
from collarreader.db.repository import Repository
from collarreader.db.verify import RowText, verify_database
from collarreader.errors import DatabaseError
from collarreader.model import Case, ImageRef
from collarreader.protocol import Protocol
from collarreader.session import ReadingSession


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


# ------------------------------------------------------------------------------ streaming


class _Spacing:
    row_mm = 0.1
    col_mm = 0.1
    source = "pixel_spacing"


def _session_database(target: str | Path, protocol: Protocol) -> str | Path:
    """A reader database with an annotation of awkward floats, scores and a reading."""
    images = tuple(
        ImageRef(f"I{view}{tp}", view, tp, f"2.25.{i}", f"images/I{view}{tp}.dcm", "0" * 64)
        for i, (view, tp) in enumerate([(v, t) for v in ("AP", "LAT") for t in ("6m", "12m")])
    )
    database = open_database(
        target,
        create=True,
        role="reader",
        reader_id="A",
        set_uuid=str(uuid.uuid4()),
        protocol=protocol,
    )
    try:
        session = ReadingSession(
            Repository(database),
            [Case("C000", "hip", "L", images)],
            protocol,
            "A",
            spacing_for=lambda _code: _Spacing(),
        )
        session.open_case("C000")
        session.add_annotation("IAP6m", "rll", [[0.1, 1e-07], [3.3333333333333335, 4.0]], "medial")
        session.set_score("assessable", "yes", timepoint="6m", zone="medial")
        session.set_score("osteolysis", True, timepoint="6m", zone="medial")
        session.close_case()
    finally:
        database.close()
    return target


def _execute(target: str | Path, statement: str) -> None:
    if isinstance(target, Path):
        _tamper(target, statement)
        return
    import psycopg

    libpq = make_url(target).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as connection:
        connection.execute(statement)


def test_row_text_is_the_canonical_json_of_row_state(backend: Any, protocol: Protocol) -> None:
    target = _session_database(backend.location("reader"), protocol)
    database = open_database(target)
    try:
        with database.read() as connection:
            for table in AUDITED_TABLES.values():
                builder = RowText.of(table, connection.dialect.name)
                raw = {
                    row[builder.id_index]: builder.text(row)
                    for row in connection.execute(text(builder.select))
                }
                for row in connection.execute(select(table)):
                    assert raw[row.id] == canonical_json(row_state(table, row._mapping))
    finally:
        database.close()
    assert verify_database(target) == []


def test_float_changed_by_one_ulp_is_found(backend: Any, protocol: Protocol) -> None:
    target = _session_database(backend.location("reader"), protocol)
    # 3.3333333333333335 -> 3.333333333333333 (the next double down): same to 15 digits.
    _execute(
        target,
        "UPDATE annotations SET points_px = '[[0.1, 1e-07], [3.333333333333333, 4.0]]'",
    )
    findings = verify_database(target)
    assert [f.check for f in findings] == ["replay"]
    assert "annotations" in findings[0].message
    assert "points_px" in findings[0].message


def test_value_of_another_type_is_compared_as_row_state(populated: Path) -> None:
    # A BLOB in a text column: no canonical text, so compared through row_state (differs).
    _tamper(populated, "UPDATE cases SET side = CAST(side AS BLOB) WHERE case_code = 'C001'")
    findings = verify_database(populated)
    assert [f.check for f in findings] == ["replay"]
    assert "differs from its audit trail in side" in findings[0].message


def test_many_findings_are_capped_with_a_count(populated: Path) -> None:
    rows = ", ".join(f"('{uuid.UUID(int=n)}', 'Z{n}')" for n in range(1, 206))
    _tamper(populated, f"INSERT INTO readers (id, reader_code) VALUES {rows}")  # noqa: S608
    findings = verify_database(populated)
    assert len(findings) == 201
    assert all("has no audit event" in f.message for f in findings[:200])
    assert findings[200].message == "… and 5 more findings in the replay."


def test_event_of_an_unknown_table_is_found(populated: Path) -> None:
    _tamper(populated, "UPDATE audit_events SET entity = 'nope' WHERE seq = 2")
    messages = [f.message for f in verify_database(populated)]
    assert "Audit events name an unknown table 'nope'." in messages
    assert any("hash does not match its content" in m for m in messages)
