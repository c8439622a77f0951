"""A registration of real phantom films stored with the reading: audited, verified, merged."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from collarreader import __version__
from collarreader.db.engine import open_database
from collarreader.db.merge import merge_databases
from collarreader.db.repository import Repository
from collarreader.db.verify import verify_database
from collarreader.errors import SessionError
from collarreader.measure.registration import register
from collarreader.model import Case, ImageRef
from collarreader.protocol import load_protocol
from collarreader.session import ReadingSession
from collarreader.study.phantom_pairs import render_pair

METHOD = "implant similarity (collarreader.measure.registration)"


def _case() -> Case:
    images = tuple(
        ImageRef(f"I{view}{tp}", view, tp, f"2.25.{i}", f"images/I{view}{tp}.dcm", "0" * 64)
        for i, (view, tp) in enumerate([(v, t) for v in ("AP", "LAT") for t in ("6m", "12m")])
    )
    return Case("C000", "hip", "R", images)


@pytest.fixture
def reader_db(tmp_path: Path) -> Path:
    path = tmp_path / "reader.sqlite"
    open_database(
        path,
        create=True,
        role="reader",
        reader_id="A",
        set_uuid="5e7e1d0c-0000-4000-8000-000000000001",
        protocol=load_protocol("collar-default"),
    ).close()
    return path


def _session(path: Path) -> tuple[ReadingSession, Repository]:
    repository = Repository(open_database(path))
    session = ReadingSession(repository, [_case()], load_protocol("collar-default"), "A")
    session.open_case("C000")
    return session, repository


def test_registration_is_stored_audited_verified_and_merged(
    reader_db: Path, tmp_path: Path
) -> None:
    pair = render_pair(seed=3, rotation_deg=4.0, magnification=1.05, shift_px=(12, -9))
    result = register(pair.fixed, pair.moving)
    session, repository = _session(reader_db)
    session.store_registration(
        "IAP6m",
        "IAP12m",
        result.matrix.tolist(),
        residual=result.residual,
        overlap=result.overlap,
        method=METHOD,
    )
    reading_id = repository.reading_uuid("C000", "A")
    (stored,) = repository.registrations(reading_id)
    assert (stored.fixed_image_code, stored.moving_image_code) == ("IAP6m", "IAP12m")
    np.testing.assert_array_equal(np.array(stored.matrix), result.matrix)
    assert stored.software_version == __version__
    assert stored.residual == result.residual
    assert verify_database(reader_db) == []
    with repository.database.read() as connection:
        events = connection.execute(
            text("SELECT action FROM audit_events WHERE entity = 'registrations'")
        ).all()
    assert [row.action for row in events] == ["create"]

    # A later look reuses the first transform: storing again changes nothing.
    session.store_registration(
        "IAP6m", "IAP12m", np.eye(2, 3).tolist(), residual=0.0, overlap=1.0, method=METHOD
    )
    assert repository.registrations(reading_id)[0].matrix == stored.matrix

    # Merged into a study database with the reading.
    repository.database.close()
    report = merge_databases(tmp_path / "study.sqlite", [reader_db])
    assert report is not None
    study = Repository(open_database(tmp_path / "study.sqlite"))
    assert [r.matrix for r in study.registrations(reading_id)] == [stored.matrix]
    study.database.close()


def test_tampered_transform_is_found_by_verify(reader_db: Path) -> None:
    session, repository = _session(reader_db)
    session.store_registration(
        "ILAT6m",
        "ILAT12m",
        [[1.0, 0.0, 3.0], [0.0, 1.0, -2.0]],
        residual=0.03,
        overlap=0.95,
        method=METHOD,
    )
    repository.database.close()

    with sqlite3.connect(reader_db) as connection:
        connection.execute("UPDATE registrations SET matrix = '[[1,0,9],[0,1,-2]]'")
    findings = verify_database(reader_db)
    assert any(f.entity == "registrations" for f in findings)


def test_a_registration_pairs_two_films_of_one_view(reader_db: Path) -> None:
    session, repository = _session(reader_db)
    with pytest.raises(SessionError, match="two films of one view"):
        session.store_registration(
            "IAP6m", "ILAT12m", np.eye(2, 3).tolist(), residual=0, overlap=1, method=METHOD
        )
    with pytest.raises(SessionError, match="2 rows of 3"):
        session.store_registration(
            "IAP6m", "IAP12m", [[1.0, 0.0], [0.0, 1.0]], residual=0, overlap=1, method=METHOD
        )
    assert repository.registrations(repository.reading_uuid("C000", "A")) == []
    repository.database.close()


def test_stored_on_a_submitted_reading_too(reader_db: Path) -> None:
    session, repository = _session(reader_db)
    with repository.transaction() as tx:
        tx.update("readings", repository.reading_uuid("C000", "A"), {"locked": True})
    session.store_registration(
        "IAP6m", "IAP12m", np.eye(2, 3).tolist(), residual=0.01, overlap=1.0, method=METHOD
    )
    assert len(repository.registrations(repository.reading_uuid("C000", "A"))) == 1
    assert str(uuid.UUID(repository.registrations(repository.reading_uuid("C000", "A"))[0].id))
    repository.database.close()


def test_migration_is_recorded_with_its_landmarks_and_undone_as_one_gesture(
    reader_db: Path,
) -> None:
    from collarreader.measure.migration import FilmLandmarks
    from collarreader.series import RecordMigration

    session, repository = _session(reader_db)
    context = session.context
    assert context is not None
    # 0.2 mm per px on the earlier film, 0.25 on the later (a different magnification).
    earlier = FilmLandmarks((100.0, 100.0), (100.0, 300.0), ((50.0, 50.0), (170.0, 50.0)), 24.0)
    later = FilmLandmarks((90.0, 80.0), (90.0, 232.0), ((40.0, 40.0), (136.0, 40.0)), 24.0)
    command = RecordMigration(context, "IAP6m", "IAP12m", earlier, later)
    session.apply(command)
    reading_id = repository.reading_uuid("C000", "A")
    (row,) = repository.migrations(reading_id)
    assert row["earlier_mm"] == pytest.approx(40.0)
    assert row["later_mm"] == pytest.approx(38.0)
    assert row["migration_mm"] == pytest.approx(-2.0)
    assert row["landmarks_px"]["later"]["bone"] == [[90.0, 232.0]]
    assert row["method"].startswith("landmark distance")
    (score,) = [s for s in repository.scores(reading_id) if s.field_key == "migration_mm"]
    assert (score.value, score.unit, score.timepoint, score.view) == ("-2.0", "mm", "12m", "AP")
    assert score.source == "measured"
    assert verify_database(reader_db) == []
    command.revert(repository)
    assert repository.migrations(reading_id) == []
    assert not [s for s in repository.scores(reading_id) if s.field_key == "migration_mm"]
    with pytest.raises(SessionError, match="two films of one view"):
        RecordMigration(context, "IAP6m", "ILAT12m", earlier, later)
    degenerate = FilmLandmarks((1.0, 1.0), (2.0, 2.0), ((5.0, 5.0), (5.5, 5.0)), 24.0)
    with pytest.raises(SessionError, match="Migration on AP"):
        RecordMigration(context, "IAP6m", "IAP12m", earlier, degenerate)
    repository.database.close()
