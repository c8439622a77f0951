"""Series reading in the grid: anatomy linking, flicker, difference, blend, stored transform."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PySide6 import QtGui, QtWidgets
from pytestqt.qtbot import QtBot

from collarreader.db.engine import open_database
from collarreader.db.repository import Repository
from collarreader.db.verify import verify_database
from collarreader.imaging import Radiograph
from collarreader.measure.registration import Registration
from collarreader.model import Case, ImageRef
from collarreader.protocol import load_protocol
from collarreader.session import ReadingSession
from collarreader.study.phantom_pairs import FilmPair, render_pair
from collarreader.ui.hanging import HangingGrid, LinkUnit
from collarreader.ui.series import METHOD, BlendSlider, Mode, SeriesPair, SeriesView
from collarreader.ui.viewport import Corner

if TYPE_CHECKING:
    from tests.ui.conftest import MakeRadiograph


@pytest.fixture(scope="module")
def pair() -> FilmPair:
    return render_pair(seed=3, rotation_deg=6.0, magnification=1.06, shift_px=(18, -12))


def _films(pair: FilmPair, make_radiograph: MakeRadiograph) -> tuple[Radiograph, Radiograph]:
    window = (2600.0, 3000.0)
    fixed = make_radiograph(pixels=pair.fixed.copy(), seed=61, window=window)
    moving = make_radiograph(pixels=pair.moving.copy(), seed=62, window=window)
    return fixed, moving


def _stats(widget: QtWidgets.QWidget) -> tuple[float, float]:
    image = widget.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    buffer = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    values = buffer.reshape(image.height(), image.bytesPerLine())[:, : image.width()]
    return float(values.mean()), float(values.std())


def _registered(
    qtbot: QtBot,
    grid: HangingGrid,
    pair: FilmPair,
    make_radiograph: MakeRadiograph,
) -> tuple[SeriesView, list[tuple[SeriesPair, Registration]]]:
    fixed, moving = _films(pair, make_radiograph)
    grid.set_case({("AP", "6m"): fixed, ("AP", "12m"): moving})
    stored: list[tuple[SeriesPair, Registration]] = []
    series = SeriesView(grid, store=lambda p, r: stored.append((p, r)))
    series.show_case({"AP": SeriesPair("AP", "IAP6m", "IAP12m", fixed, moving)})
    qtbot.waitUntil(lambda: grid.registration("AP") is not None, timeout=60_000)
    return series, stored


def test_pan_and_zoom_keep_the_same_anatomy_under_the_same_screen_point(
    qtbot: QtBot, grid: HangingGrid, pair: FilmPair, make_radiograph: MakeRadiograph
) -> None:
    series, stored = _registered(qtbot, grid, pair, make_radiograph)
    assert grid.row_link_unit("AP") is LinkUnit.anatomy
    earlier, later = grid.viewport("AP", "6m"), grid.viewport("AP", "12m")
    assert earlier.size() == later.size()
    moving_px, fixed_px = pair.landmarks_px()
    for centre, zoom in (((130.0, 150.0), 3.0), ((100.0, 200.0), 1.7), ((160.0, 110.0), 5.0)):
        earlier.set_view(centre, zoom)  # a pan and zoom of the 6 m film
        for pm, pf in zip(moving_px, fixed_px, strict=True):
            on_earlier = earlier.pixel_to_widget(*pf)
            on_later = later.pixel_to_widget(*pm)
            assert abs(on_earlier.x() - on_later.x()) <= 2
            assert abs(on_earlier.y() - on_later.y()) <= 2
    # The toggle stays: unlinked, the later film no longer follows.
    grid.set_linked(False)
    before = later.target_rect()
    earlier.set_view((60.0, 60.0), 2.0)
    assert later.target_rect() == before
    qtbot.waitUntil(lambda: len(stored) == 1)
    series.close()


def test_flicker_difference_and_blend_render(
    qtbot: QtBot, grid: HangingGrid, pair: FilmPair, make_radiograph: MakeRadiograph
) -> None:
    series, _ = _registered(qtbot, grid, pair, make_radiograph)
    earlier, later = grid.viewport("AP", "6m"), grid.viewport("AP", "12m")
    films = (_stats(earlier), _stats(later))
    rect = earlier.target_rect()
    window = earlier.display_window

    series.toggle_flicker("AP")
    assert series.mode("AP") is Mode.flicker
    result = series.result("AP")
    assert result is not None
    assert result.comparison is not None
    shown = earlier.radiograph
    assert shown is not None
    np.testing.assert_allclose(shown.pixels, result.comparison.matched)
    assert earlier.display_window == window
    assert earlier.target_rect() == rect
    flicker = _stats(earlier)
    assert flicker[1] > 10
    assert flicker != films[0]
    series.toggle_flicker("AP")
    assert series.mode("AP") is Mode.films
    assert earlier.radiograph is not None
    assert earlier.radiograph.pixels is not shown.pixels

    series.toggle_difference("AP")
    assert series.mode("AP") is Mode.difference
    assert later.display_window.center == 0.0
    difference = _stats(later)
    assert difference[1] > 1
    assert difference != films[1]
    series.set_blend(0.3, "AP")
    assert series.mode("AP") is Mode.blend
    assert "30 %" in later.corner_text(Corner.top_left)
    series.show_films("AP")
    assert later.display_matrix is not None  # the later film is registered again
    series.close()


def test_blinded_labels_come_from_the_set(
    qtbot: QtBot, pair: FilmPair, make_radiograph: MakeRadiograph
) -> None:
    grid = HangingGrid(("AP", "LAT"), ("A", "B"), ("A", "B"))
    qtbot.addWidget(grid)
    grid.resize(820, 700)
    grid.show()
    fixed, moving = _films(pair, make_radiograph)
    grid.set_case({("AP", "A"): fixed, ("AP", "B"): moving})
    series = SeriesView(grid)
    series.show_case({"AP": SeriesPair("AP", "a", "b", fixed, moving)})
    qtbot.waitUntil(lambda: grid.registration("AP") is not None, timeout=60_000)
    series.toggle_flicker("AP")
    title = grid.viewport("AP", "A").corner_text(Corner.top_left)
    assert "B on A" in title
    assert "6" not in title
    assert "12" not in title
    series.close()


def test_unrelated_films_stay_linked_by_mm_and_say_why(
    qtbot: QtBot, grid: HangingGrid, make_radiograph: MakeRadiograph
) -> None:
    hip = render_pair(seed=3).fixed
    knee = render_pair(seed=11).fixed
    first = make_radiograph(pixels=hip.copy(), seed=71)
    second = make_radiograph(pixels=knee.copy(), seed=72)
    grid.set_case({("AP", "6m"): first, ("AP", "12m"): second})
    messages: list[str] = []
    series = SeriesView(grid, report=messages.append)
    series.show_case({"AP": SeriesPair("AP", "x", "y", first, second)})
    qtbot.waitUntil(lambda: bool(messages), timeout=60_000)
    assert "not registered" in messages[0]
    assert grid.registration("AP") is None
    assert grid.row_link_unit("AP") is not LinkUnit.anatomy
    series.close()


def test_the_transform_is_stored_with_the_reading_and_verifies(
    qtbot: QtBot,
    grid: HangingGrid,
    pair: FilmPair,
    make_radiograph: MakeRadiograph,
    tmp_path: Path,
) -> None:
    path = tmp_path / "reader.sqlite"
    protocol = load_protocol("collar-default")
    open_database(
        path,
        create=True,
        role="reader",
        reader_id="A",
        set_uuid="5e7e1d0c-0000-4000-8000-0000000000aa",
        protocol=protocol,
    ).close()
    images = tuple(
        ImageRef(f"IAP{tp}", "AP", tp, f"2.25.9{i}", f"images/IAP{tp}.dcm", "0" * 64)
        for i, tp in enumerate(("6m", "12m"))
    )
    repository = Repository(open_database(path))
    session = ReadingSession(repository, [Case("C000", "hip", "R", images)], protocol, "A")
    session.open_case("C000")
    fixed, moving = _films(pair, make_radiograph)
    grid.set_case({("AP", "6m"): fixed, ("AP", "12m"): moving})

    def store(series_pair: SeriesPair, registration: Registration) -> None:
        session.store_registration(
            series_pair.fixed_code,
            series_pair.moving_code,
            registration.matrix.tolist(),
            residual=registration.residual,
            overlap=registration.overlap,
            method=METHOD,
        )

    series = SeriesView(grid, store=store)
    series.show_case({"AP": SeriesPair("AP", "IAP6m", "IAP12m", fixed, moving)})
    reading_id = repository.reading_uuid("C000", "A")
    # Stored just after the row is linked (the write waits for the paint).
    qtbot.waitUntil(lambda: bool(repository.registrations(reading_id)), timeout=60_000)
    (stored,) = repository.registrations(reading_id)
    np.testing.assert_array_equal(np.array(stored.matrix), grid.registration("AP"))
    assert verify_database(path) == []
    series.close()
    repository.database.close()


def test_reader_window_registers_in_the_background_and_prefetches_the_next_case(
    qtbot: QtBot, tmp_path: Path
) -> None:
    from collarreader.study.phantom import generate_study
    from collarreader.study.prepare import prepare_reading_set
    from collarreader.ui.reader import open_reader

    phantom = tmp_path / "phantom"
    generate_study(phantom, patients=2, seed=3, small=True, burned_in=0)
    prepare_reading_set(
        phantom / "manifest.csv",
        tmp_path / "set",
        tmp_path / "key.json",
        ["A"],
        seed=3,
        repeat_fraction=0.0,
    )
    reader = open_reader(tmp_path / "set", "A", tmp_path / "A.sqlite")
    window = reader.window
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.start()
    qtbot.waitUntil(
        lambda: all(window.grid.registration(v) is not None for v in window.grid.views),
        timeout=60_000,
    )
    assert window.series.result("AP") is not None
    following = window.cases[1]

    def uid(view: str, column: int) -> str:
        timepoint = window.grid.timepoints[column]
        return next(
            i.sop_instance_uid
            for i in following.images
            if (i.view, i.timepoint) == (view, timepoint)
            for i in following.images
            if (i.view, i.timepoint) == (view, timepoint)
        )

    # The next case's pairs are registered in the background while this one is read.
    qtbot.waitUntil(
        lambda: all(window.series.has_result(uid(v, 0), uid(v, 1)) for v in window.grid.views),
        timeout=60_000,
    )
    window.step_case(1)
    # Already registered: the rows are linked by anatomy as soon as the case is shown.
    assert all(window.grid.registration(v) is not None for v in window.grid.views)
    window.action("flicker").trigger()
    assert window.series.mode(window.grid.views[0]) is Mode.flicker
    slider = window.findChild(BlendSlider)
    assert slider is not None
    slider.slider.setValue(30)  # the status bar's blend slider acts on the focused row
    assert window.series.mode(window.grid.views[0]) is Mode.blend
    repository = window.repository
    first = window.cases[0].case_code
    reading_id = repository.reading_uuid(first, "A")
    qtbot.waitUntil(lambda: len(repository.registrations(reading_id)) == 2)
    reader.close()
    assert verify_database(tmp_path / "A.sqlite") == []
