"""The migration tool driven with real keys and mouse clicks on a phantom case; DB rows checked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from scipy import ndimage

from collarreader.db.verify import verify_database
from collarreader.measure.migration import FilmLandmarks, measure_migration, snap_to_edges
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.tools import CalibrationAnswer
from collarreader.ui.main_window import MainWindow
from collarreader.ui.reader import Reader, open_reader
from collarreader.ui.viewport import Viewport

if TYPE_CHECKING:
    from tests.ui.conftest import Mouse

KNOWN_MM = 25.0


@pytest.fixture(scope="module", params=[False, True], ids=["timepoints", "blinded"])
def setdir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A two-patient phantom set; blinded: the grid's columns are the set's "A"/"B"."""
    root = tmp_path_factory.mktemp("migration")
    generate_study(root / "phantom", patients=2, seed=5, small=True, burned_in=0)
    prepare_reading_set(
        root / "phantom" / "manifest.csv",
        root / "set",
        root / "key.json",
        ["A"],
        seed=5,
        repeat_fraction=0.0,
        blind_timepoints=request.param,
    )
    return root / "set"


class Opened:
    def __init__(self, reader: Reader, path: Path, asked: list[float]) -> None:
        self.reader, self.path, self.asked = reader, path, asked

    @property
    def window(self) -> MainWindow:
        return self.reader.window


@pytest.fixture
def opened(qtbot: QtBot, setdir: Path, tmp_path: Path) -> Iterator[Opened]:
    asked: list[float] = []

    def ask_size(_parent: object, length_px: float) -> CalibrationAnswer:
        asked.append(length_px)
        return CalibrationAnswer(KNOWN_MM, "line")

    path = tmp_path / "A.sqlite"
    reader = open_reader(setdir, "A", path, ask_size=ask_size)
    qtbot.addWidget(reader.window)
    reader.window.show()
    qtbot.waitExposed(reader.window)
    reader.window.start()
    viewports = reader.window.grid.viewports[:2]
    qtbot.waitUntil(lambda: all(v.radiograph is not None for v in viewports), timeout=30_000)
    yield Opened(reader, path, asked)
    reader.close()


def metal_caliper(viewport: Viewport) -> tuple[tuple[float, float], tuple[float, float]]:
    """A horizontal caliper across the film's largest metal part, both ends outside it."""
    radiograph = viewport.radiograph
    assert radiograph is not None
    pixels = ndimage.gaussian_filter(np.asarray(radiograph.pixels, dtype=float), 1.0)
    if radiograph.photometric == "MONOCHROME1":
        pixels = pixels.max() + pixels.min() - pixels
    level = 0.5 * (np.median(pixels) + np.percentile(pixels, 99.5))
    labels, count = ndimage.label(pixels >= level)
    assert count >= 1
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, range(1, count + 1))
    largest = int(np.argmax(sizes)) + 1
    rows, cols = np.nonzero(labels == largest)
    row = int(np.median(rows))
    run = cols[rows == row]
    start = max(float(run.min()) - 8.0, 1.0)
    end = min(float(run.max()) + 8.0, pixels.shape[1] - 2.0)
    return (start, float(row)), (end, float(row))


def focus(qtbot: QtBot, widget: QtWidgets.QWidget) -> None:
    widget.window().activateWindow()
    widget.setFocus(QtCore.Qt.FocusReason.MouseFocusReason)
    qtbot.waitUntil(widget.hasFocus)


def test_the_key_obeys_the_typing_guard_and_the_button_is_on_the_tool_bar(
    opened: Opened, qtbot: QtBot
) -> None:
    window = opened.window
    action = window.action("tool_migration")
    assert action in window.toolbar.actions()
    assert action.iconText() == "Migration E"
    combo = window.panel.findChildren(QtWidgets.QComboBox)[0]
    focus(qtbot, combo)
    QTest.keyClick(combo, QtCore.Qt.Key.Key_E)
    assert not window.migration.active  # the letter went to the dropdown
    viewport = window.grid.focused_viewport
    focus(qtbot, viewport.graphics_view)
    QTest.keyClick(viewport.graphics_view, QtCore.Qt.Key.Key_E)
    assert window.migration.active
    earlier_label = window.grid.labels[0]
    assert earlier_label == ("A" if window.reading_set.blind_timepoints else "6 m")
    assert f"implant landmark on the {earlier_label} film" in window.statusBar().currentMessage()
    assert window.tool_label.text() == "Tool: migration"
    window.action("tool_thickness").trigger()  # another tool takes the left button back
    assert not window.migration.active
    assert not action.isChecked()


def test_clicks_on_both_films_record_the_migration_as_one_undo_step(
    opened: Opened, mouse: Mouse
) -> None:
    window = opened.window
    earlier_view, later_view = window.grid.viewports[0], window.grid.viewports[1]
    window.action("tool_migration").trigger()
    # The calipers as the tool received them (through the screen, so a fraction of a pixel
    # from the points asked for): the expected value is computed from these same points.
    received: list[tuple[tuple[float, float], tuple[float, float]]] = []
    snap = window.migration.tool.snap
    assert snap is not None

    def spy(code: str, start: tuple[float, float], end: tuple[float, float]) -> object:
        received.append((start, end))
        return snap(code, start, end)

    window.migration.tool.snap = spy  # type: ignore[assignment]
    clicks: dict[str, tuple[tuple[float, float], ...]] = {}
    films: dict[str, FilmLandmarks] = {}
    for name, viewport, shift in (("earlier", earlier_view, 0.0), ("later", later_view, 6.0)):
        start, end = metal_caliper(viewport)
        implant = ((start[0] + end[0]) / 2, start[1])
        bone = (implant[0], min(implant[1] + 70.0 + shift, 300.0))
        for point in (implant, bone):
            mouse.click(viewport, mouse.point(viewport, *point))
        mouse.drag(viewport, mouse.point(viewport, *start), mouse.point(viewport, *end))
        clicks[name] = (implant, bone)
        radiograph = viewport.radiograph
        assert radiograph is not None
        invert = radiograph.photometric == "MONOCHROME1"
        assert np.allclose(received[-1], (start, end), atol=1.5)
        ends = snap_to_edges(radiograph.pixels, *received[-1], invert=invert)
        films[name] = FilmLandmarks(implant, bone, ends, KNOWN_MM)
        if name == "earlier":
            message = window.statusBar().currentMessage()
            assert f"implant landmark on the {window.grid.labels[1]} film" in message
    assert len(opened.asked) == 2  # the known size confirmed once per film
    context = window.session.context
    assert context is not None
    (row,) = window.repository.migrations(context.reading_id)
    for name in ("earlier", "later"):
        stored = row["landmarks_px"][name]
        for key, asked in zip(("implant", "bone"), clicks[name], strict=True):
            assert np.allclose(stored[key][0], asked, atol=1.5)
        assert np.allclose(stored["reference"], films[name].reference_px)
        films[name] = FilmLandmarks(
            tuple(stored["implant"][0]),  # type: ignore[arg-type]
            tuple(stored["bone"][0]),  # type: ignore[arg-type]
            films[name].reference_px,
            KNOWN_MM,
        )
    expected = measure_migration(films["earlier"], films["later"])
    assert row["migration_mm"] == pytest.approx(expected.migration_mm)
    assert row["reference_mm"] == {"earlier": KNOWN_MM, "later": KNOWN_MM}
    assert row["method"] == expected.method
    (score,) = [
        s for s in window.repository.scores(context.reading_id) if s.field_key == "migration_mm"
    ]
    assert score.timepoint == window.grid.timepoints[1]  # "B" when blinded: never the truth
    assert float(score.value) == pytest.approx(row["migration_mm"], abs=0.05)  # protocol: 0.1 mm
    assert "recorded" in window.statusBar().currentMessage()
    assert verify_database(opened.path) == []
    window.undo()
    assert window.repository.migrations(context.reading_id) == []
    assert not [
        s for s in window.repository.scores(context.reading_id) if s.field_key == "migration_mm"
    ]


def test_a_click_on_the_later_film_first_says_where_to_start(opened: Opened, mouse: Mouse) -> None:
    window = opened.window
    window.action("tool_migration").trigger()
    later_view = window.grid.viewports[1]
    mouse.click(later_view, mouse.point(later_view, 100.0, 100.0))
    message = window.statusBar().currentMessage()
    assert f"start on the {window.grid.labels[0]} film of AP" in message
    earlier_view = window.grid.viewports[0]
    mouse.click(earlier_view, mouse.point(earlier_view, 100.0, 100.0))
    assert window.migration.tool.films[0].implant_px is not None
    assert window.migration._items  # the mark is drawn
    QTest.keyClick(earlier_view.graphics_view, QtCore.Qt.Key.Key_Escape)
    assert window.migration.active
    assert window.migration.tool.films == []
    assert not window.migration._items
    QTest.keyClick(earlier_view.graphics_view, QtCore.Qt.Key.Key_Escape)
    assert not window.migration.active


def test_marks_are_dropped_when_another_case_opens(
    opened: Opened, mouse: Mouse, qtbot: QtBot
) -> None:
    window = opened.window
    window.action("tool_migration").trigger()
    earlier_view = window.grid.viewports[0]
    mouse.click(earlier_view, mouse.point(earlier_view, 100.0, 100.0))
    first = window.migration.tool.case_code
    assert first is not None
    assert window.migration._items
    with qtbot.waitSignal(window.images_ready, timeout=30_000):
        window.step_case(1)
    assert window.case is not None
    assert window.case.case_code != first
    assert window.migration.tool.films == []
    assert not window.migration._items
    assert window.migration.active  # the tool stays on for the next case
