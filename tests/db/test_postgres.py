"""The database layer on a real PostgreSQL server (``./run.sh postgres``).

Each test gets fresh databases on the server named by ``COLLARREADER_TEST_POSTGRES_URL``
(created and dropped by the ``backend`` fixture of ``conftest.py``). Without a reachable
server these tests skip with the reason; with ``CI=true`` they fail instead. Merge and
export run on both backends in ``test_merge.py`` and ``test_export.py``; here is what is
PostgreSQL's own: identity checks, the audit chain of session commands, exact JSON and
float round trips, raw tampering found by verify, and a study database the merge creates on
the server.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from collarreader.db.engine import open_database
from collarreader.db.merge import merge_databases
from collarreader.db.repository import Repository
from collarreader.db.verify import verify_database
from collarreader.errors import DatabaseError
from collarreader.model import Case, ImageRef
from collarreader.protocol import Protocol
from collarreader.session import ReadingSession

pytestmark = pytest.mark.postgres


class _Spacing:
    row_mm = 0.1
    col_mm = 0.1
    source = "pixel_spacing"


def _cases() -> list[Case]:
    images = tuple(
        ImageRef(f"I{view}{tp}", view, tp, f"2.25.{i}", f"images/I{view}{tp}.dcm", "0" * 64)
        for i, (view, tp) in enumerate([(v, t) for v in ("AP", "LAT") for t in ("6m", "12m")])
    )
    return [Case("C000", "hip", "L", images)]


on_postgres = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
"""Only the PostgreSQL member of the ``backend`` fixture."""


@on_postgres
def test_identity_is_kept_and_checked(backend: Any, protocol: Protocol) -> None:
    url = backend.location("reader")
    set_uuid = str(uuid.uuid4())
    database = open_database(
        url, create=True, role="reader", reader_id="A", set_uuid=set_uuid, protocol=protocol
    )
    identity = database.identity
    database.close()
    again = open_database(url, role="reader", reader_id="A", set_uuid=set_uuid)
    try:
        assert again.identity == identity
        assert not again.is_sqlite
        assert "password" not in again.label
    finally:
        again.close()
    with pytest.raises(DatabaseError, match="belongs to reader 'A', not 'B'"):
        open_database(url, reader_id="B")
    with pytest.raises(DatabaseError, match="not a study database"):
        open_database(url, role="study")


@on_postgres
def test_session_commands_verify_and_tampering_is_found(backend: Any, protocol: Protocol) -> None:
    url = backend.location("reader")
    database = open_database(
        url,
        create=True,
        role="reader",
        reader_id="A",
        set_uuid=str(uuid.uuid4()),
        protocol=protocol,
    )
    try:
        session = ReadingSession(
            Repository(database), _cases(), protocol, "A", spacing_for=lambda _code: _Spacing()
        )
        session.open_case("C000")
        # Floats whose shortest repr must survive the server unchanged (hash chain).
        session.add_annotation("IAP6m", "rll", [[0.1, 1e-07], [3.3333333333333335, 4.0]], "medial")
        session.set_score("assessable", "yes", timepoint="6m", zone="medial")
        session.set_score("osteolysis", True, timepoint="6m", zone="medial")
        annotation = session.repository.annotations(session.context.reading_id)[0]  # type: ignore[union-attr]
        assert annotation.points_px == ((0.1, 1e-07), (3.3333333333333335, 4.0))
        session.close_case()
    finally:
        database.close()
    assert verify_database(url) == []
    with psycopg.connect(_libpq(url), autocommit=True) as connection:
        connection.execute("UPDATE scores SET value = 'false' WHERE field_key = 'osteolysis'")
    findings = verify_database(url)
    assert any("behind the program's back" in finding.message for finding in findings)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@on_postgres
def test_merge_creates_a_missing_study_database_on_the_server(
    backend: Any, protocol: Protocol, tmp_path: Path
) -> None:
    set_uuid = str(uuid.uuid4())
    source = tmp_path / "reader-A.sqlite"
    database = open_database(
        source, create=True, role="reader", reader_id="A", set_uuid=set_uuid, protocol=protocol
    )
    try:
        session = ReadingSession(Repository(database), _cases(), protocol, "A")
        session.open_case("C000")
        session.set_score("image_quality", "good", timepoint="6m", view="AP")
        session.close_case()
    finally:
        database.close()
    existing = make_url(backend.location("scratch"))
    name = f"collar_test_{uuid.uuid4().hex[:16]}"
    backend.created.append(name)  # dropped with the others
    target = existing.set(database=name, drivername="postgresql").render_as_string(False)
    report = merge_databases(target, [source])
    assert report.created
    assert verify_database(target) == []
    study = open_database(target, role="study")
    try:
        assert study.identity.set_uuid == set_uuid
        assert study.identity.protocol_sha256 == protocol.sha256
    finally:
        study.close()
    copy = tmp_path / "copy.sqlite"
    shutil.copy(source, copy)
    assert merge_databases(target, [copy]).sources[0].status == "already merged"
