"""The reading session on a real SQLite file: commands, undo, measurement flow, submission."""

from __future__ import annotations

import dataclasses
import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from sqlalchemy import select

from collarreader.db.engine import Database, open_database
from collarreader.db.models import AUDITED_TABLES
from collarreader.db.repository import Repository
from collarreader.db.verify import verify_database
from collarreader.errors import SessionError
from collarreader.model import Case, CaseKind, ImageRef, ScoreSource
from collarreader.protocol import Protocol, load_protocol
from collarreader.session import (
    AddAnnotation,
    Calibrate,
    ClearScore,
    Command,
    DeleteAnnotation,
    MoveAnnotation,
    ReadingSession,
    RelabelZone,
    SetScore,
    Submit,
    cases_from_reading_set,
    rll_caliper_px,
    rll_line_px,
    rll_points,
)
from collarreader.study.readingset import open_reading_set


class Spacing(NamedTuple):
    row_mm: float
    col_mm: float
    source: str


def make_cases() -> list[Case]:
    images = tuple(
        ImageRef(f"I{view}{tp}", view, tp, f"2.25.{i}", f"images/I{view}{tp}.dcm", "0" * 64)
        for i, (view, tp) in enumerate([(v, t) for v in ("AP", "LAT") for t in ("6m", "12m")])
    )
    return [
        Case("C000", "knee", "R", images),
        Case("R000", "knee", "R", images, kind=CaseKind.REPEAT, repeat_of="C000"),
    ]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def protocol() -> Protocol:
    return load_protocol("collar-default")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, protocol: Protocol) -> Path:
    # Migrations run once per module; each test gets a copy of the fresh database.
    path = tmp_path_factory.mktemp("template") / "reader.sqlite"
    open_database(
        path,
        create=True,
        role="reader",
        reader_id="A",
        set_uuid=str(uuid.uuid4()),
        protocol=protocol,
    ).close()
    return path


@pytest.fixture
def database(tmp_path: Path, template: Path) -> Iterator[Database]:
    path = tmp_path / "reader.sqlite"
    shutil.copyfile(template, path)
    database = open_database(path)
    yield database
    database.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_session(
    database: Database, protocol: Protocol, clock: Clock
) -> Callable[..., ReadingSession]:
    def make(spacing: dict[str, Spacing] | None = None) -> ReadingSession:
        table = spacing or {}
        session = ReadingSession(
            Repository(database),
            make_cases(),
            protocol,
            "A",
            clock=clock,
            spacing_for=table.get,
        )
        session.open_case("C000")
        return session

    return make


@pytest.fixture
def session(make_session: Callable[..., ReadingSession]) -> ReadingSession:
    # AP images have a header spacing of 0.1 mm; LAT images have none.
    return make_session(
        {"IAP6m": Spacing(0.1, 0.1, "pixel_spacing"), "IAP12m": Spacing(0.1, 0.1, "pixel_spacing")}
    )


def snapshot(database: Database) -> dict[str, list[dict[str, Any]]]:
    with database.read() as connection:
        return {
            name: [dict(r._mapping) for r in connection.execute(select(t).order_by(t.c.id))]
            for name, t in AUDITED_TABLES.items()
        }


def scores(session: ReadingSession) -> dict[tuple[str, str | None, str], tuple[str, str]]:
    assert session.context is not None
    return {
        (s.timepoint, s.zone or s.view, s.field_key): (s.value, str(s.source))
        for s in session.repository.scores(session.context.reading_id)
    }


def ctx(session: ReadingSession) -> Any:
    assert session.context is not None
    return session.context


# ------------------------------------------------------------------ reading rows and time


def test_opening_a_case_creates_one_reading_and_resumes_it(
    session: ReadingSession, database: Database, clock: Clock
) -> None:
    first = session.reading
    assert first is not None
    assert first.case_code == "C000"
    assert first.reader_id == "A"
    clock.now += 30
    session.open_case("R000")
    clock.now += 5
    session.open_case("C000")
    assert session.reading is not None
    assert session.reading.id == first.id
    assert session.reading.active_seconds == pytest.approx(30.0)
    repeat = [r for r in session.repository.readings() if r.case_code == "R000"]
    assert repeat[0].kind is CaseKind.REPEAT
    assert repeat[0].active_seconds == pytest.approx(5.0)
    with pytest.raises(SessionError, match="not in reader A's worklist"):
        session.open_case("NOPE")


def test_time_accumulates_between_resume_and_pause_only(
    session: ReadingSession, clock: Clock
) -> None:
    clock.now += 10
    session.pause()
    clock.now += 1000  # away from the workstation
    session.resume()
    clock.now += 2.5
    session.pause()
    assert session.reading is not None
    assert session.reading.active_seconds == pytest.approx(12.5)


# ------------------------------------------------------------------ undo is exact


def _commands(session: ReadingSession) -> list[Callable[[], Command]]:
    c = ctx(session)
    rll = session.add_annotation("IAP6m", "rll", [[10, 10], [10, 25]], zone="medial")
    line = session.add_annotation("IAP6m", "interface_line", [[0, 50], [100, 50]], zone="lateral")
    session.set_score("bridging", "partial", timepoint="6m", zone="lateral")
    return [
        lambda: AddAnnotation(c, "IAP6m", "bridged_segment", [[0, 50], [30, 50]], zone="lateral"),
        lambda: AddAnnotation(c, "ILAT6m", "rll", [[5, 5], [5, 9]], zone="anterior"),
        lambda: MoveAnnotation(c, rll.annotation_id, [[10, 10], [10, 40]]),
        lambda: DeleteAnnotation(c, rll.annotation_id),
        lambda: DeleteAnnotation(c, line.annotation_id),
        lambda: RelabelZone(c, rll.annotation_id, "lateral"),
        lambda: SetScore(c, "rll_width_mm", 4.04, timepoint="6m", zone="medial"),
        lambda: SetScore(c, "bridging", "complete", timepoint="6m", zone="lateral"),
        lambda: SetScore(c, "comment", "sclerotic rim", timepoint="12m"),
        lambda: SetScore(c, "image_quality", "good", timepoint="6m", view="LAT"),
        lambda: ClearScore(c, "bridging", timepoint="6m", zone="lateral"),
        lambda: ClearScore(c, "rll_width_mm", timepoint="6m", zone="medial"),
        lambda: Calibrate(c, "IAP6m", 20.0, [[0, 0], [100, 0]]),
        lambda: Calibrate(c, "ILAT6m", 5.0, [[0, 0], [0, 50]], method="ball"),
        lambda: SetScore(c, "osteolysis", True, timepoint="12m", zone="posterior"),
    ]


def test_every_command_reverts_to_the_exact_state_and_redoes(
    session: ReadingSession, database: Database
) -> None:
    repository = session.repository
    for make in _commands(session):
        before = snapshot(database)
        command = make()
        command.apply(repository)
        after = snapshot(database)
        assert after != before, command.text
        command.revert(repository)
        assert snapshot(database) == before, command.text
        command.apply(repository)  # redo replays the recorded change
        assert snapshot(database) == after, command.text
        command.revert(repository)
    assert verify_database(database.path or "") == []


def test_recalibration_recomputes_and_revert_restores(session: ReadingSession) -> None:
    annotation = session.add_annotation("IAP6m", "rll", [[0, 0], [0, 12]], zone="medial")
    repository = session.repository

    def value() -> tuple[float | None, str | None]:
        found = repository.annotations(ctx(session).reading_id)[0]
        return found.value_mm, found.spacing_source

    assert value() == (pytest.approx(1.2), "pixel_spacing")
    assert scores(session)[("6m", "medial", "rll_width_mm")] == ("1.2", "measured")
    first = session.calibrate("IAP6m", 10.0, [[0, 0], [50, 0]])  # 0.2 mm per pixel
    assert value() == (pytest.approx(2.4), "manual")
    assert scores(session)[("6m", "medial", "rll_width_mm")] == ("2.4", "measured")
    assert scores(session)[("6m", "medial", "rll_grade")] == ("ge2mm", "derived")
    second = session.calibrate("IAP6m", 10.0, [[0, 0], [200, 0]])  # 0.05 mm per pixel
    assert value() == (pytest.approx(0.6), "manual")
    assert scores(session)[("6m", "medial", "rll_grade")] == ("lt1mm", "derived")
    second.revert(repository)
    assert value() == (pytest.approx(2.4), "manual")
    first.revert(repository)
    assert value() == (pytest.approx(1.2), "pixel_spacing")
    assert repository.calibrations(ctx(session).reading_id) == []
    assert annotation.annotation_id == repository.annotations(ctx(session).reading_id)[0].id


def test_calibration_without_header_spacing_is_isotropic(session: ReadingSession) -> None:
    session.add_annotation("ILAT6m", "rll", [[0, 0], [3, 4]], zone="anterior")
    found = session.repository.annotations(ctx(session).reading_id)[0]
    assert found.value_mm is None
    assert found.value_px == pytest.approx(5.0)
    assert ("6m", "anterior", "rll_width_mm") not in scores(session)
    session.calibrate("ILAT6m", 25.0, [[0, 0], [0, 100]])
    found = session.repository.annotations(ctx(session).reading_id)[0]
    assert found.value_mm == pytest.approx(1.25)
    assert scores(session)[("6m", "anterior", "rll_width_mm")] == ("1.3", "measured")  # half up


# ------------------------------------------------------------------ measured → scores


def test_bridged_segments_give_the_bridging_extent(session: ReadingSession) -> None:
    session.add_annotation("IAP6m", "interface_line", [[0, 0], [80, 0]], zone="medial")
    assert scores(session)[("6m", "medial", "bridging_extent")] == ("0", "measured")
    seg = session.add_annotation("IAP6m", "bridged_segment", [[0, 0], [20, 0]], zone="medial")
    session.add_annotation("IAP6m", "bridged_segment", [[40, 0], [50, 0]], zone="medial")
    assert scores(session)[("6m", "medial", "bridging_extent")] == ("38", "measured")  # 37.5
    session.delete_annotation(seg.annotation_id)
    assert scores(session)[("6m", "medial", "bridging_extent")] == ("13", "measured")  # 12.5


def test_cortical_calipers_fill_the_field_named_by_their_side(session: ReadingSession) -> None:
    session.add_annotation("IAP12m", "cortical_caliper", [[0, 0], [40, 0]], zone="medial")
    session.add_annotation("IAP12m", "cortical_caliper", [[0, 0], [30, 0]], zone="lateral")
    found = scores(session)
    assert found[("12m", None, "cortical_thickness_medial_mm")] == ("4.0", "measured")
    assert found[("12m", None, "cortical_thickness_lateral_mm")] == ("3.0", "measured")


def test_rll_caliper_sets_width_presence_and_grade(session: ReadingSession) -> None:
    first = session.add_annotation("IAP6m", "rll", [[0, 0], [0, 5]], zone="lateral")
    session.add_annotation("IAP6m", "rll", [[0, 0], [0, 14]], zone="lateral")
    found = scores(session)
    assert found[("6m", "lateral", "rll_width_mm")] == ("1.4", "measured")  # the widest
    assert found[("6m", "lateral", "rll_present")] == ("true", "measured")
    assert found[("6m", "lateral", "rll_grade")] == ("1to2mm", "derived")
    session.move_annotation(first.annotation_id, [[0, 0], [0, 25]])
    assert scores(session)[("6m", "lateral", "rll_grade")] == ("ge2mm", "derived")


def test_override_is_kept_until_the_reader_clears_it(session: ReadingSession) -> None:
    rll = session.add_annotation("IAP6m", "rll", [[0, 0], [0, 5]], zone="medial")
    session.set_score("rll_width_mm", 0.8, timepoint="6m", zone="medial")
    assert scores(session)[("6m", "medial", "rll_width_mm")] == ("0.8", "entered")
    session.move_annotation(rll.annotation_id, [[0, 0], [0, 30]])
    assert scores(session)[("6m", "medial", "rll_width_mm")] == ("0.8", "entered")
    assert scores(session)[("6m", "medial", "rll_grade")] == ("lt1mm", "derived")
    session.clear_score("rll_width_mm", timepoint="6m", zone="medial")
    assert scores(session)[("6m", "medial", "rll_width_mm")] == ("3.0", "measured")
    session.delete_annotation(rll.annotation_id)
    assert ("6m", "medial", "rll_width_mm") not in scores(session)
    assert ("6m", "medial", "rll_grade") not in scores(session)


def test_no_line_entered_grades_none(session: ReadingSession) -> None:
    session.set_score("rll_present", False, timepoint="12m", zone="anterior")
    assert scores(session)[("12m", "anterior", "rll_grade")] == ("none", "derived")


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("field", "value", "where", "match"),
    [
        ("rll_grade", "none", {"zone": "medial"}, "derived"),
        ("bridging", "lots", {"zone": "medial"}, "not one of"),
        ("rll_width_mm", 11.0, {"zone": "medial"}, "above the maximum"),
        ("osteolysis", "yes", {"zone": "medial"}, "not true or false"),
        ("rll_progression", "new", {"zone": "medial"}, "only at 12m"),
        ("bridging", "none", {}, "needs a zone"),
        ("image_quality", "good", {"zone": "medial"}, "needs a view and no zone"),
        ("comment", "x", {"view": "AP"}, "per case"),
        ("bridging", "none", {"zone": "medial", "view": "LAT"}, "belongs to view AP"),
        ("nonsense", "x", {}, "no field"),
    ],
)
def test_set_score_validates_against_the_protocol(
    session: ReadingSession, field: str, value: Any, where: dict[str, str], match: str
) -> None:
    with pytest.raises(SessionError, match=match):
        session.set_score(field, value, timepoint="6m", **where)


def test_a_derived_field_can_be_neither_set_nor_cleared(session: ReadingSession) -> None:
    with pytest.raises(
        SessionError, match="rll_grade is derived by the protocol and cannot be set"
    ):
        session.set_score("rll_grade", "none", timepoint="6m", zone="medial")
    with pytest.raises(SessionError, match="derived by the protocol and cannot be cleared"):
        session.clear_score("rll_grade", timepoint="6m", zone="medial")


def test_blinded_or_unknown_timepoints(session: ReadingSession) -> None:
    with pytest.raises(SessionError, match="no time point"):
        session.set_score("comment", "x", timepoint="24m")
    session.set_score("rll_progression", "stable", timepoint="12m", zone="medial")


def test_annotation_validation(session: ReadingSession) -> None:
    with pytest.raises(SessionError, match="3 points cannot be split"):
        session.add_annotation("IAP6m", "rll", [[0, 0], [1, 1], [2, 2]], zone="medial")
    with pytest.raises(SessionError, match="exactly two points"):
        session.add_annotation("IAP6m", "cortical_caliper", [[0, 0], [1, 1], [2, 2]])
    with pytest.raises(SessionError, match="belongs to a zone"):
        session.add_annotation("IAP6m", "interface_line", [[0, 0], [1, 1]])
    with pytest.raises(SessionError, match="scored on LAT images"):
        session.add_annotation("IAP6m", "rll", [[0, 0], [1, 1]], zone="anterior")
    with pytest.raises(SessionError, match="no image"):
        session.add_annotation("NOPE", "rll", [[0, 0], [1, 1]], zone="medial")
    with pytest.raises(SessionError, match="Calibrate"):
        session.add_annotation("IAP6m", "calibration_line", [[0, 0], [1, 1]])
    with pytest.raises(SessionError, match="shorter than one pixel"):
        session.calibrate("IAP6m", 10, [[0, 0], [0.5, 0]])


# ------------------------------------------------------------------ submit, lock, reopen


def fill_required(session: ReadingSession, *, skip: str | None = None) -> None:
    for tp in ("6m", "12m"):
        for view in ("AP", "LAT"):
            session.set_score("image_quality", "good", timepoint=tp, view=view)
        for zone in ("medial", "lateral", "anterior", "posterior"):
            if zone == skip:
                session.set_score("assessable", "no", timepoint=tp, zone=zone)
                continue
            session.set_score("assessable", "yes", timepoint=tp, zone=zone)
            session.set_score("bridging", "none", timepoint=tp, zone=zone)
            session.set_score("rll_present", False, timepoint=tp, zone=zone)
            session.set_score("remodeling", "none", timepoint=tp, zone=zone)
            session.set_score("osteolysis", False, timepoint=tp, zone=zone)


def test_submit_lists_what_is_missing(session: ReadingSession) -> None:
    with pytest.raises(SessionError, match=r"6 m · AP: Image quality missing") as error:
        session.submit()
    message = str(error.value)
    assert (
        "6 m · AP · Medial: Assessable, Bone bridging, Radiolucent line, Remodelling, "
        "Osteolysis missing" in message
    )
    # The order the panel shows: 6 m before 12 m, zones before the view's own fields.
    assert message.index("6 m · AP · Medial") < message.index("6 m · AP: Image quality")
    assert message.index("6 m · AP: Image quality") < message.index("12 m")
    assert session.reading is not None
    assert not session.reading.locked


def test_present_line_needs_a_width(session: ReadingSession) -> None:
    fill_required(session)
    session.set_score("rll_present", True, timepoint="6m", zone="medial")
    with pytest.raises(SessionError, match="6 m · AP · Medial: RLL width missing"):
        session.submit()
    session.add_annotation("IAP6m", "rll", [[0, 0], [0, 7]], zone="medial")
    session.submit()


def test_submit_locks_and_reopen_needs_a_reason(
    session: ReadingSession, database: Database, clock: Clock
) -> None:
    fill_required(session, skip="posterior")  # a skipped zone needs nothing else
    clock.now += 42
    submit = session.submit()
    reading = session.reading
    assert reading is not None
    assert reading.locked
    assert reading.submitted_at is not None
    assert reading.active_seconds == pytest.approx(42.0)
    c = ctx(session)
    with pytest.raises(SessionError, match="submitted and locked"):
        session.set_score("bridging", "partial", timepoint="6m", zone="medial")
    with pytest.raises(SessionError, match="submitted and locked"):
        session.add_annotation("IAP6m", "rll", [[0, 0], [0, 7]], zone="medial")
    with pytest.raises(SessionError, match="already submitted"):
        Submit(c).apply(session.repository)
    with pytest.raises(SessionError, match="needs a reason"):
        session.reopen("  ")
    clock.now += 100  # a locked reading does not count time
    session.pause()
    assert session.reading is not None
    assert session.reading.active_seconds == pytest.approx(42.0)
    reopen = session.reopen("adjudication: medial zone")
    assert session.reading is not None
    assert not session.reading.locked
    assert session.reading.reopen_reason == "adjudication: medial zone"
    session.set_score("bridging", "partial", timepoint="6m", zone="medial")
    with database.read() as connection:
        actions = [
            row[0]
            for row in connection.exec_driver_sql(
                "SELECT action FROM audit_events WHERE entity = 'readings' ORDER BY seq"
            )
        ]
        reasons = connection.exec_driver_sql(
            "SELECT reason FROM audit_events WHERE action = 'reopen'"
        ).scalar()
    assert "submit" in actions
    assert "reopen" in actions
    assert reasons == "adjudication: medial zone"
    assert reopen.changes is not None
    assert submit.changes is not None
    assert verify_database(database.path or "") == []


def test_undo_of_an_edit_is_refused_once_submitted(session: ReadingSession) -> None:
    fill_required(session)
    last = session.set_score("comment", "ok", timepoint="6m")
    session.submit()
    with pytest.raises(SessionError, match="cannot undo"):
        last.revert(session.repository)


def test_undo_conflict_is_refused(session: ReadingSession) -> None:
    first = session.set_score("bridging", "none", timepoint="6m", zone="medial")
    session.set_score("bridging", "partial", timepoint="6m", zone="medial")
    with pytest.raises(SessionError, match="has changed since"):
        first.revert(session.repository)


def _write_reading_set(setdir: Path, protocol: Protocol) -> None:
    setdir.mkdir()
    (setdir / "protocol.toml").write_text(protocol.text, encoding="utf-8")
    images = [
        {
            "image_code": f"{view}{tp}MAGE2345"[:12].upper().replace("0", "2"),
            "file": f"images/{view}{tp}.dcm",
            "view": view,
            "timepoint": tp,
            "sop_instance_uid": f"2.25.{i}",
            "sha256": "a" * 64,
        }
        for i, (view, tp) in enumerate([(v, t) for v in ("AP", "LAT") for t in ("6m", "12m")])
    ]
    for image in images:
        image["image_code"] = "".join(
            c if c in "23456789ABCDEFGHJKMNPQRSTUVWXYZ" else "Z" for c in image["image_code"]
        )
    document = {
        "format": "collarreader-readingset",
        "version": 1,
        "set_uuid": str(uuid.uuid4()),
        "protocol": {
            "file": "protocol.toml",
            "name": protocol.name,
            "version": protocol.version,
            "sha256": protocol.sha256,
        },
        "blind_timepoints": False,
        "cases": [{"case_code": "K7Q2M", "joint": "knee", "side": "R", "images": images}],
        "readers": {
            "A": {
                "worklist": [
                    {"case_code": "K7Q2M", "kind": "primary"},
                    {"case_code": "P3X9T", "kind": "repeat", "repeat_of": "K7Q2M"},
                ]
            }
        },
    }
    (setdir / "readingset.json").write_text(json.dumps(document), encoding="utf-8")


def test_session_reads_a_reading_set_worklist(
    tmp_path: Path, protocol: Protocol, clock: Clock
) -> None:
    setdir = tmp_path / "set"
    _write_reading_set(setdir, protocol)
    reading_set = open_reading_set(setdir, verify=False)
    cases = cases_from_reading_set(reading_set, "A")
    assert [c.case_code for c in cases] == ["K7Q2M", "P3X9T"]
    assert cases[1].kind is CaseKind.REPEAT
    assert cases[1].repeat_of == "K7Q2M"
    assert cases[1].images == cases[0].images
    database = open_database(
        tmp_path / "r.sqlite",
        create=True,
        role="reader",
        reader_id="A",
        set_uuid=reading_set.set_uuid,
        protocol=reading_set.protocol,
    )
    try:
        session = ReadingSession(Repository(database), reading_set, protocol, "A", clock=clock)
        session.open_case("P3X9T")
        image = cases[1].images[0].image_code
        session.add_annotation(image, "cortical_caliper", [[0, 0], [5, 0]], zone="medial")
        assert session.reading is not None
        assert session.reading.kind is CaseKind.REPEAT
        assert session.repository.annotations(session.reading.id)[0].image_code == image
        assert ScoreSource("entered") is ScoreSource.ENTERED
    finally:
        database.close()


def test_rll_with_traced_line_measures_its_caliper_only(session: ReadingSession) -> None:
    # Layout: caliper (2 points) then the traced line; the value is the caliper's length.
    line = [[0.0, 50.0], [40.0, 52.0], [80.0, 50.0]]
    points = rll_points([[40.0, 52.0], [40.0, 66.0]], line)
    assert points[:2] == [[40.0, 52.0], [40.0, 66.0]]
    assert points[2:] == line
    added = session.add_annotation("IAP6m", "rll", points, zone="medial")
    [annotation] = session.repository.annotations(session.context.reading_id)  # type: ignore[union-attr]
    assert annotation.value_px == pytest.approx(14.0)
    assert rll_line_px(annotation.points_px) == line
    assert rll_caliper_px(annotation.points_px) == [[40.0, 52.0], [40.0, 66.0]]
    assert scores(session)[("6m", "medial", "rll_width_mm")] == ("1.4", "measured")
    # Dragging a caliper handle is one MoveAnnotation: the line stays, the width follows.
    moved = [*rll_points([[40.0, 52.0], [40.0, 72.0]], line)]
    session.move_annotation(added.annotation_id, moved)
    assert scores(session)[("6m", "medial", "rll_width_mm")] == ("2.0", "measured")
    # Moving a point of the line does not change the width.
    session.move_annotation(added.annotation_id, [*moved[:2], [0.0, 40.0], *line[1:]])
    assert scores(session)[("6m", "medial", "rll_width_mm")] == ("2.0", "measured")
    with pytest.raises(SessionError, match="no line or a line of 2"):
        rll_points([[0, 0], [1, 1]], [[5, 5]])


def test_required_manual_calibration_refuses_header_mm_until_calibrated(
    database: Database, protocol: Protocol, clock: Clock
) -> None:
    strict = dataclasses.replace(protocol, require_manual_calibration=True)
    session = ReadingSession(
        Repository(database),
        make_cases(),
        strict,
        "A",
        clock=clock,
        spacing_for={"IAP6m": Spacing(0.1, 0.1, "pixel_spacing")}.get,
    )
    session.open_case("C000")
    fill_required(session)
    session.add_annotation("IAP6m", "rll", [[0, 0], [0, 12]], zone="medial")
    session.set_score("rll_present", True, timepoint="6m", zone="medial")
    with pytest.raises(SessionError) as refused:
        session.submit()
    assert (
        "6 m · AP · Medial: RLL width measured without a manual calibration of this image, "
        "which the protocol requires; calibrate the image (C) to update it"
    ) in str(refused.value)
    # Typed values are the reader's own; only measured mm need the calibration.
    session.calibrate("IAP6m", 25.0, [[0, 0], [250, 0]])
    session.submit()
    assert session.reading is not None
    assert session.reading.locked
    # Without the option the header's spacing is enough (the default protocol).
    assert not protocol.require_manual_calibration
