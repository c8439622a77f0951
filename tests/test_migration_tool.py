"""The Qt-free migration tool driven with fake pointer events, on a real reader database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from collarreader.db.engine import open_database
from collarreader.db.repository import Repository
from collarreader.db.verify import verify_database
from collarreader.errors import SessionError
from collarreader.measure.migration import FilmLandmarks, measure_migration, snap_to_edges
from collarreader.migration_tool import MigrationStep, MigrationTool
from collarreader.model import Case, ImageRef
from collarreader.protocol import Protocol, load_protocol
from collarreader.session import Command, ReadingSession
from collarreader.tools import CalibrationAnswer, Pointer


def _images(timepoints: tuple[str, str]) -> tuple[ImageRef, ...]:
    pairs = [(v, t) for v in ("AP", "LAT") for t in timepoints]
    return tuple(
        ImageRef(f"I{view}{tp}", view, tp, f"2.25.{i}", f"images/I{view}{tp}.dcm", "0" * 64)
        for i, (view, tp) in enumerate(pairs)
    )


def _film(collar: tuple[int, int, int, int]) -> np.ndarray:
    """A small film with one bright rectangle (the collar): columns c0..c1, rows r0..r1."""
    pixels = np.full((120, 160), 200.0)
    c0, c1, r0, r1 = collar
    pixels[r0:r1, c0 : c1 + 1] = 3000.0
    return pixels


# The collar is 40 px wide on the earlier film and 50 px on the later (magnified 1.25x).
FILMS = {"6m": _film((40, 79, 30, 70)), "12m": _film((30, 79, 20, 80)), "A": None, "B": None}
FILMS["A"], FILMS["B"] = FILMS["6m"], FILMS["12m"]


class Rig(NamedTuple):
    session: ReadingSession
    tool: MigrationTool
    executed: list[Command]
    answers: list[CalibrationAnswer | None]
    path: Path


@pytest.fixture(scope="module")
def protocol() -> Protocol:
    return load_protocol("collar-default")


def _rig(tmp_path: Path, protocol: Protocol, timepoints: tuple[str, str]) -> Rig:
    path = tmp_path / "reader.sqlite"
    open_database(
        path,
        create=True,
        role="reader",
        reader_id="A",
        set_uuid=str(uuid.uuid4()),
        protocol=protocol,
    ).close()
    session = ReadingSession(
        Repository(open_database(path)),
        [Case("C000", "hip", "L", _images(timepoints))],
        protocol,
        "A",
    )
    session.open_case("C000")
    executed: list[Command] = []
    answers: list[CalibrationAnswer | None] = [CalibrationAnswer(24.0)]

    def execute(command: Command) -> None:
        session.apply(command)
        executed.append(command)

    def snap(code: str, start: tuple[float, float], end: tuple[float, float]) -> object:
        timepoint = code.removeprefix("IAP").removeprefix("ILAT")
        return snap_to_edges(FILMS[timepoint], start, end)

    tool = MigrationTool(
        lambda: session.context,
        execute,
        timepoints=timepoints,
        ask_size=lambda _length: answers[0],
        snap=snap,  # type: ignore[arg-type]
    )
    return Rig(session, tool, executed, answers, path)


@pytest.fixture
def rig(tmp_path: Path, protocol: Protocol) -> Iterator[Rig]:
    made = _rig(tmp_path, protocol, ("6m", "12m"))
    yield made
    made.session.repository.database.close()


def click(tool: MigrationTool, code: str, x: float, y: float) -> None:
    tool.press(code, Pointer(x, y))
    tool.release(code, Pointer(x, y))


def drag(
    tool: MigrationTool, code: str, start: tuple[float, float], end: tuple[float, float]
) -> None:
    tool.press(code, Pointer(*start))
    tool.move(code, Pointer((start[0] + end[0]) / 2, (start[1] + end[1]) / 2))
    tool.release(code, Pointer(*end))


def place_both(tool: MigrationTool, earlier: str, later: str) -> None:
    click(tool, earlier, 60.0, 30.0)  # the collar's face
    click(tool, earlier, 60.0, 110.0)  # a bone notch 80 px (16 mm) below
    drag(tool, earlier, (30.0, 50.0), (90.0, 50.0))
    click(tool, later, 55.0, 20.0)
    click(tool, later, 55.0, 115.0)  # 95 px at 0.48 mm/px
    tool.press(later, Pointer(20.0, 50.0))  # the caliper by two clicks this time
    tool.release(later, Pointer(20.0, 50.0))
    click(tool, later, 90.0, 50.0)


def test_the_steps_are_prompted_and_one_migration_is_recorded(rig: Rig) -> None:
    tool = rig.tool
    assert "implant landmark on the 6 m film" in tool.prompt()
    click(tool, "IAP6m", 60.0, 30.0)
    assert tool.step is MigrationStep.bone
    assert "bone landmark on the 6 m film" in tool.prompt()
    click(tool, "IAP6m", 60.0, 110.0)
    assert tool.step is MigrationStep.reference
    tool.press("IAP6m", Pointer(30.0, 50.0))
    tool.move("IAP6m", Pointer(70.0, 52.0))
    assert tool.marks()["IAP6m"].reference_px == [(30.0, 50.0), (70.0, 52.0)]  # drawn live
    tool.release("IAP6m", Pointer(90.0, 50.0))
    assert tool.films[0].reference_mm == 24.0
    assert "implant landmark on the 12 m film" in tool.prompt()
    assert rig.executed == []  # nothing written before the last caliper
    click(tool, "IAP12m", 55.0, 20.0)
    click(tool, "IAP12m", 55.0, 115.0)
    click(tool, "IAP12m", 20.0, 50.0)
    click(tool, "IAP12m", 90.0, 50.0)
    (command,) = rig.executed
    earlier_ends = snap_to_edges(FILMS["6m"], (30.0, 50.0), (90.0, 50.0))
    later_ends = snap_to_edges(FILMS["12m"], (20.0, 50.0), (90.0, 50.0))
    expected = measure_migration(
        FilmLandmarks((60.0, 30.0), (60.0, 110.0), earlier_ends, 24.0),
        FilmLandmarks((55.0, 20.0), (55.0, 115.0), later_ends, 24.0),
    )
    # Snapped to the collar's edges: 40 px and 50 px wide (24 mm: 0.6 and 0.48 mm/px).
    assert abs(earlier_ends[1][0] - earlier_ends[0][0]) == pytest.approx(40.0, abs=0.2)
    assert abs(later_ends[1][0] - later_ends[0][0]) == pytest.approx(50.0, abs=0.2)
    reading_id = rig.session.repository.reading_uuid("C000", "A")
    (row,) = rig.session.repository.migrations(reading_id)
    assert row["migration_mm"] == pytest.approx(expected.migration_mm)
    assert row["migration_mm"] == pytest.approx(95 * 24.0 / 50 - 80 * 24.0 / 40, abs=0.1)
    assert row["method"] == expected.method
    assert row["landmarks_px"]["earlier"]["implant"] == [[60.0, 30.0]]
    assert tool.films == []
    assert tool.last_recorded is command
    assert verify_database(rig.path) == []
    command.revert(rig.session.repository)  # one undo step removes all of it
    assert rig.session.repository.migrations(reading_id) == []


def test_wrong_films_are_refused_with_where_to_click(rig: Rig) -> None:
    tool = rig.tool
    with pytest.raises(SessionError, match="start on the 6 m film of AP"):
        tool.press("IAP12m", Pointer(10.0, 10.0))
    click(tool, "IAP6m", 60.0, 30.0)
    with pytest.raises(SessionError, match="Migration on AP is under way"):
        tool.press("ILAT6m", Pointer(10.0, 10.0))
    with pytest.raises(SessionError, match=r"bone landmark on the 6 m film"):
        tool.press("IAP12m", Pointer(10.0, 10.0))
    click(tool, "IAP6m", 60.0, 110.0)
    # A caliper that crosses no metal: refused, and the caliper step stays.
    with pytest.raises(SessionError, match="Migration \\(AP, film IAP6m\\)"):
        drag(tool, "IAP6m", (100.0, 100.0), (150.0, 100.0))
    assert tool.step is MigrationStep.reference
    assert tool.marks()["IAP6m"].reference_px == []
    assert tool.cancel()
    assert tool.films == []
    assert rig.executed == []


def test_a_cancelled_size_dialog_keeps_the_caliper_step(rig: Rig) -> None:
    tool = rig.tool
    click(tool, "IAP6m", 60.0, 30.0)
    click(tool, "IAP6m", 60.0, 110.0)
    rig.answers[0] = None
    drag(tool, "IAP6m", (30.0, 50.0), (90.0, 50.0))
    assert tool.step is MigrationStep.reference
    assert tool.films[0].reference_mm is None
    rig.answers[0] = CalibrationAnswer(24.0)
    drag(tool, "IAP6m", (30.0, 50.0), (90.0, 50.0))
    assert tool.films[0].reference_mm == 24.0
    assert rig.executed == []


def test_blinded_time_points_use_the_sets_labels(tmp_path: Path, protocol: Protocol) -> None:
    made = _rig(tmp_path, protocol, ("A", "B"))
    try:
        assert "on the A film" in made.tool.prompt()
        place_both(made.tool, "IAPA", "IAPB")
        (command,) = made.executed
        reading_id = made.session.repository.reading_uuid("C000", "A")
        (row,) = made.session.repository.migrations(reading_id)
        assert row["migration_mm"] == pytest.approx(95 * 24.0 / 50 - 80 * 24.0 / 40, abs=0.1)
        (score,) = [
            s for s in made.session.repository.scores(reading_id) if s.field_key == "migration_mm"
        ]
        assert (score.timepoint, score.view) == ("B", "AP")
        assert command.text == "record migration (AP)"
    finally:
        made.session.repository.database.close()


def test_a_view_without_its_later_film_is_refused(tmp_path: Path, protocol: Protocol) -> None:
    made = _rig(tmp_path, protocol, ("6m", "24m"))
    try:
        # The case's films are 6m/24m but the grid asks for 6m and 12m.
        tool = MigrationTool(
            lambda: made.session.context,
            made.session.apply,
            timepoints=("6m", "12m"),
            ask_size=lambda _length: None,
        )
        with pytest.raises(SessionError, match="no 12 m film of AP"):
            click(tool, "IAP6m", 1.0, 1.0)
        with pytest.raises(SessionError, match="two time points"):
            MigrationTool(lambda: None, made.session.apply, timepoints=("6m",), ask_size=print)  # type: ignore[arg-type]
    finally:
        made.session.repository.database.close()
