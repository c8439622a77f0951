"""The calibration on the image: a badge per viewport, and a warning when calibrations mix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pytestqt.qtbot import QtBot
from tests.ui.conftest import phantom_set

from collarreader.imaging import Spacing, SpacingSource
from collarreader.tools import CalibrationAnswer, Tool
from collarreader.ui.reader import Reader, open_reader
from collarreader.ui.viewport import Corner, calibration_badge

if TYPE_CHECKING:
    from tests.ui.conftest import MakeRadiograph, Mouse


@pytest.fixture(scope="module")
def setdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("badge")
    return phantom_set(root, patients=1, seed=8)


@pytest.fixture
def reader(qtbot: QtBot, setdir: Path, tmp_path: Path) -> Iterator[Reader]:
    result = open_reader(
        setdir,
        "A",
        tmp_path / "A.sqlite",
        verify=False,
        ask_size=lambda _parent, _length: CalibrationAnswer(25.0, "ball"),
    )
    qtbot.addWidget(result.window)
    result.window.show()
    qtbot.waitExposed(result.window)
    result.window.start()
    yield result
    result.close()


@pytest.mark.parametrize(
    ("spacing", "manual", "text", "calibrated"),
    [
        (None, "ball 25 mm", "manual: ball 25 mm", True),
        (Spacing(0.143, 0.143, SpacingSource.pixel_spacing), None, "Pixel Spacing 0.143 mm", True),
        (
            Spacing(0.15, 0.15, SpacingSource.imager_detector),
            None,
            "detector plane, not calibrated",
            False,
        ),
        (None, None, "px only, not calibrated", False),
    ],
)
def test_badge_text_and_colour_per_spacing_source(
    make_radiograph: MakeRadiograph,
    spacing: Spacing | None,
    manual: str | None,
    text: str,
    calibrated: bool,
) -> None:
    assert calibration_badge(make_radiograph(spacing=spacing), manual) == (text, calibrated)


def test_magnified_spacing_badge_names_the_factor(make_radiograph: MakeRadiograph) -> None:
    radiograph = make_radiograph(
        spacing=Spacing(0.13, 0.13, SpacingSource.imager_magnified),
        spacing_note="Imager Pixel Spacing ÷ magnification 1.15",
    )
    assert calibration_badge(radiograph) == ("Imager Pixel Spacing ÷ magnification 1.15", True)


def test_each_viewport_shows_its_calibration_and_a_mixed_case_warns_once(
    reader: Reader, mouse: Mouse
) -> None:
    window = reader.window
    viewports = window.grid.viewports
    before = [v.corner_text(Corner.top_right) for v in viewports]
    assert all(before), before  # every image of the case has a badge
    # The reader calibrates AP 6 m (viewport 0) on the ball …
    window.set_tool(Tool.calibrate)
    ap = viewports[0]
    mouse.drag(ap, mouse.point(ap, 40, 100), mouse.point(ap, 120, 100))
    assert ap.corner_text(Corner.top_right) == "manual: ball 25 mm"
    assert ap.badge_calibrated
    assert window.mixed_calibration_warning == ""  # nothing measured elsewhere yet
    # … then measures on LAT 12 m (viewport 3), which keeps the header's spacing.
    window.set_tool(Tool.thickness)
    lat = viewports[3]
    mouse.drag(lat, mouse.point(lat, 100, 120), mouse.point(lat, 100, 140))
    warning = window.mixed_calibration_warning
    assert warning.startswith("Warning: LAT 12 m is measured without your calibration")
    assert "you calibrated AP 6 m" in warning
    assert window.statusBar().currentMessage() == warning
    assert lat.corner_text(Corner.top_right).endswith("\nno manual calibration here")
    assert not lat.badge_calibrated
    # Once per case: a second measurement does not repeat it.
    window.statusBar().clearMessage()
    mouse.drag(lat, mouse.point(lat, 110, 120), mouse.point(lat, 110, 140))
    assert window.statusBar().currentMessage() == ""
    # An image without measurements keeps its plain badge.
    assert viewports[1].corner_text(Corner.top_right) == before[1]
