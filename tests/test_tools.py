"""The Qt-free measurement tools driven with fake pointer events, on a real reader database."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pytest

from collarreader.db.engine import open_database
from collarreader.db.repository import Repository
from collarreader.errors import SessionError
from collarreader.model import AnnotationKind, Case, ImageRef
from collarreader.protocol import Protocol, load_protocol
from collarreader.session import Command, ReadingSession
from collarreader.tools import CalibrationAnswer, Pointer, Tool, ToolController, auto_rll_caliper


class Spacing(NamedTuple):
    row_mm: float
    col_mm: float
    source: str


IMAGES = tuple(
    ImageRef(f"I{view}{tp}", view, tp, f"2.25.{i}", f"images/I{view}{tp}.dcm", "0" * 64)
    for i, (view, tp) in enumerate([(v, t) for v in ("AP", "LAT") for t in ("6m", "12m")])
)
HEADER = {"IAP6m": Spacing(0.1, 0.1, "pixel_spacing")}


@pytest.fixture(scope="module")
def protocol() -> Protocol:
    return load_protocol("collar-default")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, protocol: Protocol) -> Path:
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


class Rig(NamedTuple):
    session: ReadingSession
    tools: ToolController
    executed: list[Command]
    answers: list[CalibrationAnswer | None]


@pytest.fixture
def rig(tmp_path: Path, template: Path, protocol: Protocol) -> Iterator[Rig]:
    path = tmp_path / "reader.sqlite"
    shutil.copyfile(template, path)
    database = open_database(path)
    session = ReadingSession(
        Repository(database),
        [Case("C000", "hip", "L", IMAGES)],
        protocol,
        "A",
        spacing_for=HEADER.get,
    )
    session.open_case("C000")
    executed: list[Command] = []
    answers: list[CalibrationAnswer | None] = [CalibrationAnswer(25.0, "ball")]

    def execute(command: Command) -> None:
        session.apply(command)
        executed.append(command)

    def points_of(annotation_id: str) -> tuple[tuple[float, float], ...] | None:
        for annotation in session.repository.annotations(session.context.reading_id):  # type: ignore[union-attr]
            if annotation.id == annotation_id:
                return annotation.points_px
        return None

    tools = ToolController(
        lambda: session.context,
        execute,
        ask_size=lambda _length: answers[0],
        points_of=points_of,
    )
    yield Rig(session, tools, executed, answers)
    database.close()


def drag(
    tools: ToolController, image: str, start: tuple[float, float], end: tuple[float, float]
) -> None:
    tools.press(image, Pointer(*start))
    mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    tools.move(image, Pointer(*mid))
    tools.move(image, Pointer(*end))
    tools.release(image, Pointer(*end))


def click(tools: ToolController, image: str, point: tuple[float, float]) -> None:
    tools.press(image, Pointer(*point))
    tools.release(image, Pointer(*point))


def annotations(rig: Rig) -> list:  # type: ignore[type-arg]
    return rig.session.repository.annotations(rig.session.context.reading_id)  # type: ignore[union-attr]


def scores(rig: Rig) -> dict[tuple[str | None, str], tuple[str, str]]:
    reading_id = rig.session.context.reading_id  # type: ignore[union-attr]
    return {
        (s.zone, s.field_key): (s.value, str(s.source))
        for s in rig.session.repository.scores(reading_id)
    }


def test_rll_drag_is_one_command_filling_the_width(rig: Rig) -> None:
    rig.tools.set_tool(Tool.rll)
    drag(rig.tools, "IAP6m", (10, 10), (10, 25))
    assert len(rig.executed) == 1
    [annotation] = annotations(rig)
    assert annotation.kind is AnnotationKind.RLL
    assert annotation.zone == "medial"
    assert annotation.value_mm == pytest.approx(1.5)
    assert scores(rig)[("medial", "rll_width_mm")] == ("1.5", "measured")
    assert rig.tools.tool is Tool.rll  # the tool stays on for the next caliper
    assert rig.tools.selected == annotation.id


def test_preview_follows_the_drag_and_nothing_is_written_before_release(rig: Rig) -> None:
    rig.tools.set_tool(Tool.thickness)
    rig.tools.press("IAP6m", Pointer(5, 5))
    rig.tools.move("IAP6m", Pointer(30, 5))
    assert rig.tools.preview is not None
    assert rig.tools.preview.points_px == [(5.0, 5.0), (30.0, 5.0)]
    assert annotations(rig) == []
    rig.tools.release("IAP6m", Pointer(30, 5))
    assert rig.tools.preview is None
    assert scores(rig)[(None, "cortical_thickness_medial_mm")] == ("2.5", "measured")


def test_current_zone_selects_the_field(rig: Rig) -> None:
    rig.tools.set_zone("AP", "lateral")
    rig.tools.set_tool(Tool.rll)
    drag(rig.tools, "IAP6m", (0, 0), (0, 20))
    assert annotations(rig)[0].zone == "lateral"
    assert rig.tools.zone_for("LAT") == "anterior"
    with pytest.raises(SessionError, match="not a LAT zone"):
        rig.tools.set_zone("LAT", "medial")


def test_clicked_polyline_interface_and_bridging_give_the_extent(rig: Rig) -> None:
    rig.tools.set_tool(Tool.interface)
    for point in [(0, 50), (50, 50), (100, 50)]:
        click(rig.tools, "IAP6m", point)
    assert annotations(rig) == []  # a polyline waits for finish
    assert rig.tools.finish()
    rig.tools.set_tool(Tool.bridging)
    drag(rig.tools, "IAP6m", (0, 50), (25, 50))
    rows = annotations(rig)
    assert [a.kind for a in rows] == [AnnotationKind.INTERFACE_LINE, AnnotationKind.BRIDGED_SEGMENT]
    assert rows[0].points_px == ((0.0, 50.0), (50.0, 50.0), (100.0, 50.0))
    assert scores(rig)[("medial", "bridging_extent")] == ("25", "measured")


def test_two_clicks_make_a_caliper_and_a_click_elsewhere_starts_over(rig: Rig) -> None:
    rig.tools.set_tool(Tool.thickness)
    click(rig.tools, "IAP6m", (1, 1))
    click(rig.tools, "IAP12m", (2, 2))  # another image: the first point is dropped
    assert annotations(rig) == []
    click(rig.tools, "IAP12m", (2, 12))
    [annotation] = annotations(rig)
    assert annotation.points_px == ((2.0, 2.0), (2.0, 12.0))
    assert annotation.value_mm is None  # no header spacing on this image: pixels only
    assert annotation.value_px == pytest.approx(10.0)


def test_calibration_asks_the_size_and_recomputes_the_image(rig: Rig) -> None:
    rig.tools.set_tool(Tool.rll)
    drag(rig.tools, "IAP12m", (0, 0), (0, 10))
    rig.tools.set_tool(Tool.calibrate)
    drag(rig.tools, "IAP12m", (0, 0), (50, 0))  # 50 px = 25 mm → 0.5 mm/px
    [calibration] = rig.session.repository.calibrations(rig.session.context.reading_id)  # type: ignore[union-attr]
    assert calibration.known_size_mm == 25.0
    assert str(calibration.method) == "ball"
    assert annotations(rig)[0].value_mm == pytest.approx(5.0)
    assert scores(rig)[("medial", "rll_width_mm")][0] == "5.0"


def test_cancelled_calibration_writes_nothing(rig: Rig) -> None:
    rig.answers[0] = None
    rig.tools.set_tool(Tool.calibrate)
    drag(rig.tools, "IAP6m", (0, 0), (50, 0))
    assert rig.executed == []


def test_handle_drag_is_one_move_on_release(rig: Rig) -> None:
    rig.tools.set_tool(Tool.rll)
    drag(rig.tools, "IAP6m", (10, 10), (10, 20))
    annotation_id = annotations(rig)[0].id
    rig.tools.set_tool(Tool.none)
    assert rig.tools.begin_handle_drag(annotation_id, 1, "IAP6m")
    for y in (22, 26, 30):
        rig.tools.drag_handle(10, y)
        assert annotations(rig)[0].points_px[1] == (10.0, 20.0)  # unchanged while dragging
    rig.tools.end_handle_drag(10, 30)
    assert len(rig.executed) == 2
    assert annotations(rig)[0].value_mm == pytest.approx(2.0)
    rig.executed[-1].revert(rig.session.repository)  # one undo step restores the old points
    assert annotations(rig)[0].points_px[1] == (10.0, 20.0)


def test_handle_released_in_place_writes_nothing(rig: Rig) -> None:
    rig.tools.set_tool(Tool.rll)
    drag(rig.tools, "IAP6m", (10, 10), (10, 20))
    annotation_id = annotations(rig)[0].id
    assert rig.tools.begin_handle_drag(annotation_id, 0, "IAP6m")
    rig.tools.end_handle_drag(10, 10)
    assert len(rig.executed) == 1


def test_delete_and_relabel_the_selection(rig: Rig) -> None:
    rig.tools.set_tool(Tool.rll)
    drag(rig.tools, "IAP6m", (10, 10), (10, 20))
    assert rig.tools.relabel_selected("lateral")
    assert annotations(rig)[0].zone == "lateral"
    assert ("lateral", "rll_width_mm") in scores(rig)
    assert rig.tools.delete_selected()
    assert annotations(rig) == []
    assert ("lateral", "rll_width_mm") not in scores(rig)
    assert not rig.tools.delete_selected()


def test_read_only_and_other_buttons_do_nothing(rig: Rig) -> None:
    rig.tools.set_tool(Tool.rll)
    rig.tools.press("IAP6m", Pointer(0, 0, button="right"))
    assert rig.tools.preview is None
    rig.tools.read_only = True
    drag(rig.tools, "IAP6m", (10, 10), (10, 20))
    assert rig.executed == []


def test_cancel_drops_the_gesture(rig: Rig) -> None:
    rig.tools.set_tool(Tool.interface)
    click(rig.tools, "IAP6m", (0, 0))
    assert rig.tools.busy
    assert rig.tools.cancel()
    assert not rig.tools.cancel()
    assert not rig.tools.finish()
    assert rig.executed == []


def test_rll_traced_line_then_dragged_caliper_is_one_annotation(rig: Rig) -> None:
    rig.tools.set_tool(Tool.rll)
    for point in ((0, 50), (40, 52), (80, 50)):
        click(rig.tools, "IAP6m", point)
    assert annotations(rig) == []  # clicks trace the line; nothing is written yet
    assert rig.tools.finish()  # Return / double-click ends the line
    assert rig.tools.rll_line == [(0.0, 50.0), (40.0, 52.0), (80.0, 50.0)]
    assert rig.tools.preview is not None
    assert len(rig.tools.preview.line_px) == 3
    drag(rig.tools, "IAP6m", (40, 52), (40, 70))  # the caliper across the band
    [annotation] = annotations(rig)
    assert annotation.kind is AnnotationKind.RLL
    assert annotation.points_px == (
        (40.0, 52.0),
        (40.0, 70.0),
        (0.0, 50.0),
        (40.0, 52.0),
        (80.0, 50.0),
    )
    assert annotation.value_mm == pytest.approx(1.8)  # the caliper, at 0.1 mm/px
    assert scores(rig)[("medial", "rll_width_mm")] == ("1.8", "measured")
    assert len(rig.executed) == 1
    assert rig.tools.rll_line is None
    assert rig.tools.preview is None


def test_rll_caliper_by_two_clicks_and_handle_drag_of_the_line(rig: Rig) -> None:
    rig.tools.set_tool(Tool.rll)
    click(rig.tools, "IAP6m", (0, 50))
    click(rig.tools, "IAP6m", (80, 50))
    assert rig.tools.finish()
    click(rig.tools, "IAP6m", (30, 50))
    assert annotations(rig) == []
    click(rig.tools, "IAP6m", (30, 60))
    [annotation] = annotations(rig)
    assert len(annotation.points_px) == 4
    # A line handle (index 3) drag is one MoveAnnotation; the width is unchanged.
    assert rig.tools.begin_handle_drag(annotation.id, 3, "IAP6m")
    rig.tools.end_handle_drag(80, 40)
    [moved] = annotations(rig)
    assert moved.points_px[3] == (80.0, 40.0)
    assert moved.value_mm == pytest.approx(1.0)
    assert len(rig.executed) == 2


def test_escape_drops_the_rll_line_waiting_for_its_caliper(rig: Rig) -> None:
    rig.tools.set_tool(Tool.rll)
    click(rig.tools, "IAP6m", (0, 50))
    click(rig.tools, "IAP6m", (80, 50))
    assert rig.tools.finish()
    assert rig.tools.cancel()
    assert rig.tools.rll_line is None
    drag(rig.tools, "IAP6m", (10, 10), (10, 20))  # a drag first: a caliper alone
    [annotation] = annotations(rig)
    assert len(annotation.points_px) == 2


def test_auto_width_places_the_caliper_on_the_traced_line(rig: Rig) -> None:
    # A fake measurement stands in for the profiles here (the real one is tested on a
    # phantom image in tests/ui/test_auto_width.py): the tool's job is the command.
    calls: list[tuple[str, list[list[float]]]] = []

    def fake(image_code: str, line: object) -> list[list[float]] | None:
        calls.append((image_code, [list(p) for p in line]))  # type: ignore[attr-defined]
        return [[40.0, 50.0], [40.0, 63.0]] if len(calls) == 1 else [[20.0, 50.0], [20.0, 75.0]]

    rig.tools.auto_caliper = fake
    rig.tools.image_of = lambda _id: "IAP6m"
    rig.tools.set_tool(Tool.rll)
    assert not rig.tools.auto_width()  # nothing traced, nothing selected
    click(rig.tools, "IAP6m", (0, 50))
    click(rig.tools, "IAP6m", (80, 50))
    rig.tools.finish()
    assert rig.tools.auto_width()
    [annotation] = annotations(rig)
    assert annotation.points_px[:2] == ((40.0, 50.0), (40.0, 63.0))
    assert calls[0] == ("IAP6m", [[0.0, 50.0], [80.0, 50.0]])
    # On the selected RLL: the caliper moves (one command), the line stays.
    assert rig.tools.selected == annotation.id
    assert rig.tools.auto_width()
    [moved] = annotations(rig)
    assert moved.points_px[:2] == ((20.0, 50.0), (20.0, 75.0))
    assert moved.points_px[2:] == ((0.0, 50.0), (80.0, 50.0))
    assert len(rig.executed) == 2
    rig.tools.auto_caliper = lambda _code, _line: None
    with pytest.raises(SessionError, match="No radiolucent band"):
        rig.tools.auto_width()


@pytest.fixture(scope="module")
def phantom_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from collarreader.study.phantom import generate_study

    folder = tmp_path_factory.mktemp("phantom")
    generate_study(folder, patients=1, seed=7, small=False, burned_in=0)
    return folder


def test_auto_rll_caliper_finds_the_true_width_on_a_full_size_phantom(
    phantom_study: Path,
) -> None:
    import json

    import numpy as np

    from collarreader.imaging import load_radiograph
    from collarreader.measure.geometry import line_length_px

    truth = json.loads((phantom_study / "truth.json").read_text(encoding="utf-8"))
    # Every zone with a radiolucent line of this study (0.0 mm zones have none).
    zones = [
        (name, zone_name, image, zone)
        for name, image in truth["images"].items()
        for zone_name, zone in image["zones"].items()
        if zone["rll_width_mm"] > 0.5
    ]
    assert zones, "seed 7 has radiolucent lines on patient 1"
    for name, zone_name, image, zone in zones:
        radiograph = load_radiograph(phantom_study / name)
        spacing = (radiograph.spacing.row_mm, radiograph.spacing.col_mm)  # type: ignore[union-attr]
        # The reader traces the interface across the zone (a little inside its ends).
        (x0, y0), (x1, y1) = zone["interface_px"]
        line = [
            [x0 + 0.1 * (x1 - x0), y0 + 0.1 * (y1 - y0)],
            [x1 - 0.1 * (x1 - x0), y1 - 0.1 * (y1 - y0)],
        ]
        caliper = auto_rll_caliper(
            radiograph.pixels,
            line,
            invert=radiograph.photometric == "MONOCHROME1",
            spacing_mm=spacing,
        )
        assert caliper is not None, f"{name} {zone_name}: no band found"
        width_px = line_length_px(*caliper)
        tolerance_px = 0.1 * image["px_per_mm"]  # 0.1 mm in the object plane
        assert abs(width_px - zone["rll_width_px"]) <= tolerance_px, (name, zone_name, width_px)
        # The caliper crosses the line near perpendicular (it follows the profile normal).
        direction = np.subtract(line[1], line[0])
        across = np.subtract(caliper[1], caliper[0])
        cosine = abs(float(np.dot(direction, across))) / (
            float(np.hypot(*direction)) * float(np.hypot(*across))
        )
        assert cosine < 0.05


def test_auto_rll_caliper_finds_nothing_where_bone_bridges(phantom_study: Path) -> None:
    import json

    from collarreader.imaging import load_radiograph

    truth = json.loads((phantom_study / "truth.json").read_text(encoding="utf-8"))
    name, zone = next(
        (name, zone)
        for name, image in truth["images"].items()
        for zone in image["zones"].values()
        if zone["rll_width_mm"] == 0.0 and zone["bridging_extent_pct"] == 100.0
    )
    radiograph = load_radiograph(phantom_study / name)
    caliper = auto_rll_caliper(
        radiograph.pixels, zone["interface_px"], invert=radiograph.photometric == "MONOCHROME1"
    )
    assert caliper is None


def _ball_pixels(
    diameter_px: float, centre: tuple[float, float], shape: tuple[int, int]
) -> npt.NDArray[np.float64]:
    """A metal ball: attenuation by chord length, blurred, a little noise (MONOCHROME2)."""
    from scipy import ndimage

    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    r2 = (diameter_px / 2) ** 2 - (xs - centre[0]) ** 2 - (ys - centre[1]) ** 2
    chord = np.sqrt(np.clip(r2, 0.0, None))
    image = ndimage.gaussian_filter(chord / (diameter_px / 2), 1.0) * 1000.0 + 300.0
    return image + np.random.default_rng(5).normal(0.0, 5.0, shape)


def test_one_click_inside_a_ball_calibrates_by_the_fitted_circle(rig: Rig) -> None:
    from collarreader.semiauto import calibration_fitter

    pixels = _ball_pixels(80.0, (70.3, 65.8), (140, 150))
    rig.tools.fit_calibration = calibration_fitter(lambda _code: (pixels, False))
    drawn: list[object] = []
    rig.tools.redraw = lambda: drawn.append(rig.tools.preview)
    rig.answers[0] = CalibrationAnswer(20.0, "ball")
    rig.tools.set_tool(Tool.calibrate)
    click(rig.tools, "IAP12m", (75.0, 60.0))
    # The fitted circle was proposed before the size was asked, and one command calibrated.
    assert drawn
    assert drawn[0].circle_px == pytest.approx((70.3, 65.8, 40.0), abs=0.15)  # type: ignore[attr-defined]
    assert len(rig.executed) == 1
    [calibration] = rig.session.repository.calibrations(rig.session.context.reading_id)  # type: ignore[union-attr]
    assert str(calibration.method) == "ball_fit"
    assert calibration.length_px == pytest.approx(80.0, rel=0.003)
    assert calibration.fit is not None
    assert calibration.fit["diameter_px"] == pytest.approx(80.0, rel=0.003)
    assert calibration.residual_px is not None
    assert calibration.residual_px < 0.3
    assert calibration.spacing_row_mm == pytest.approx(20.0 / 80.0, rel=0.003)
    assert rig.tools.preview is None


def test_a_click_outside_any_ball_starts_a_hand_line(rig: Rig) -> None:
    from collarreader.semiauto import calibration_fitter

    pixels = _ball_pixels(60.0, (100.0, 100.0), (200, 200))
    rig.tools.fit_calibration = calibration_fitter(lambda _code: (pixels, False))
    rig.tools.set_tool(Tool.calibrate)
    click(rig.tools, "IAP12m", (10.0, 190.0))
    assert rig.tools.last_fit_message is not None
    assert "No calibration ball" in rig.tools.last_fit_message
    assert rig.executed == []
    click(rig.tools, "IAP12m", (60.0, 190.0))  # the second end of a hand line (no edges)
    [calibration] = rig.session.repository.calibrations(rig.session.context.reading_id)  # type: ignore[union-attr]
    assert str(calibration.method) == "ball"
    assert calibration.fit is None
    assert calibration.length_px == pytest.approx(50.0)


def test_a_line_drawn_across_a_ball_snaps_to_its_edges(rig: Rig) -> None:
    from collarreader.semiauto import calibration_fitter

    pixels = _ball_pixels(80.0, (75.0, 60.0), (120, 150))
    rig.tools.fit_calibration = calibration_fitter(lambda _code: (pixels, False))
    rig.tools.set_tool(Tool.calibrate)
    drag(rig.tools, "IAP12m", (33.0, 60.0), (118.0, 60.0))  # 2–3 px beyond each edge
    [calibration] = rig.session.repository.calibrations(rig.session.context.reading_id)  # type: ignore[union-attr]
    assert str(calibration.method) == "snapped_caliper"
    # A 1-D chord edge through the centre: the snapped length is the diameter.
    assert calibration.length_px == pytest.approx(80.0, abs=0.5)
    assert calibration.fit is not None
    assert calibration.fit["drawn_px"] == [[33.0, 60.0], [118.0, 60.0]]


def test_auto_width_stores_width_uncertainty_method_and_profile(rig: Rig) -> None:
    import numpy as np
    from scipy import ndimage

    from collarreader.measure.rll import measure_rll
    from collarreader.semiauto import rll_detail

    # Metal above row 40, a 5-row (0.5 mm at the header's 0.1 mm) band, then bone.
    ys = np.mgrid[0:90, 0:120][0].astype(np.float64)
    image = np.where(ys < 39.5, 1.0, np.where(ys < 44.5, 0.0, 0.4))
    pixels = ndimage.gaussian_filter(image, 1.2) * 1000.0 + 200.0
    pixels += np.random.default_rng(2).normal(0.0, 3.0, pixels.shape)
    rig.tools.auto_caliper = lambda _code, line: measure_rll(pixels, line, spacing_mm=(0.1, 0.1))
    rig.tools.auto_detail = lambda _code, result: rll_detail(result)
    rig.tools.set_tool(Tool.rll)
    click(rig.tools, "IAP6m", (10, 42))
    click(rig.tools, "IAP6m", (110, 42))
    rig.tools.finish()
    assert rig.tools.auto_width()
    [annotation] = annotations(rig)
    assert annotation.value_mm == pytest.approx(0.5, abs=0.05)
    assert annotation.method == "metal_edge_fit"
    assert annotation.width_uncertainty_mm is not None
    assert 0.0 < annotation.width_uncertainty_mm < 0.1
    assert annotation.profile is not None
    assert annotation.profile["unit"] == "mm"
    assert annotation.profile["width"] == pytest.approx(annotation.value_mm)
    assert len(annotation.profile["offsets"]) == len(annotation.profile["values"]) > 10
    # A hand edit of the caliper clears what no longer applies.
    points = [list(p) for p in annotation.points_px]
    points[1][1] += 2.0
    rig.tools.begin_handle_drag(annotation.id, 1, "IAP6m")
    rig.tools.end_handle_drag(*points[1])
    [moved] = annotations(rig)
    assert moved.method is None
    assert moved.profile is None
    assert moved.width_uncertainty_mm is None


def test_auto_width_without_a_credible_band_says_why(rig: Rig) -> None:
    import numpy as np

    from collarreader.measure.rll import measure_rll

    flat = np.full((80, 100), 500.0) + np.random.default_rng(1).normal(0.0, 3.0, (80, 100))
    rig.tools.auto_caliper = lambda _code, line: measure_rll(flat, line, spacing_mm=(0.1, 0.1))
    rig.tools.set_tool(Tool.rll)
    click(rig.tools, "IAP6m", (10, 40))
    click(rig.tools, "IAP6m", (90, 40))
    rig.tools.finish()
    with pytest.raises(SessionError, match=r"No width measured .*by hand"):
        rig.tools.auto_width()
    assert annotations(rig) == []


def test_a_caliper_across_the_phantom_collar_snaps_to_its_known_diameter(
    phantom_study: Path,
) -> None:
    import json

    from collarreader.imaging import load_radiograph
    from collarreader.measure.calibration import snap_caliper

    truth = json.loads((phantom_study / "truth.json").read_text(encoding="utf-8"))
    for name, image in truth["images"].items():
        radiograph = load_radiograph(phantom_study / name)
        centre = np.asarray(image["axis"]["interface_centre_px"])
        toward = np.asarray(image["axis"]["toward_collar"])
        across = np.array([-toward[1], toward[0]])
        px_per_mm = image["px_per_mm"]
        radius_px = 0.5 * image["collar_diameter_mm"] * px_per_mm
        # Across the middle of the collar's height, ends ~0.5 mm outside its edges.
        middle = centre + toward * 0.5 * image["collar_height_mm"] * px_per_mm
        reach = radius_px + 0.5 * px_per_mm
        snapped = snap_caliper(
            radiograph.pixels,
            middle - across * reach,
            middle + across * reach,
            invert=radiograph.photometric == "MONOCHROME1",
        )
        diameter_mm = snapped.length_px / px_per_mm
        assert diameter_mm == pytest.approx(image["collar_diameter_mm"], rel=0.003), name
