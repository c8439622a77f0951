"""Whole-set reading: a reader reads every case of the worklist with keyboard and mouse.

Each case (repeats included) gets caliper measurements drawn with real mouse events, every
required field filled through the scoring panel's editors (one zone per time point marked not
assessable) and is submitted with its shortcut, after which the next case opens by itself. The
reader's database is then checked: all readings submitted and locked, the audit chain intact,
every mm value and every annotation traceable to the calibration or header spacing it used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PySide6 import QtCore, QtWidgets
from pytestqt.qtbot import QtBot
from sqlalchemy import Table, select

from collarreader.db.export import tidy_frame
from collarreader.db.models import AnnotationRow, CalibrationRow
from collarreader.db.verify import verify_database
from collarreader.protocol import FieldType
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.tools import CalibrationAnswer, Tool
from collarreader.ui.main_window import MainWindow
from collarreader.ui.reader import Reader, open_reader
from collarreader.ui.scoring_panel import FieldEditor

if TYPE_CHECKING:
    from tests.ui.conftest import Mouse

Key = QtCore.Qt.Key
Modifier = QtCore.Qt.KeyboardModifier
NoModifier = Modifier.NoModifier
Ctrl = Modifier.ControlModifier
# The zone each time point marks "not assessable" (exercises the protocol's skip rule).
SKIPPED_ZONE = "posterior"


@pytest.fixture(scope="module")
def setdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("whole")
    generate_study(root / "phantom", patients=2, seed=5, small=True, burned_in=0)
    prepare_reading_set(
        root / "phantom" / "manifest.csv",
        root / "set",
        root / "key.json",
        ["A"],
        seed=5,
        repeat_fraction=0.5,  # two primaries and one repeat
    )
    return root / "set"


@pytest.fixture
def reader(qtbot: QtBot, setdir: Path, tmp_path: Path) -> Iterator[Reader]:
    result = open_reader(
        setdir,
        "A",
        tmp_path / "A.sqlite",
        ask_size=lambda _parent, _length: CalibrationAnswer(25.0, "ball"),
        ask_reason=lambda _parent, _code: None,
    )
    qtbot.addWidget(result.window)
    result.window.resize(1500, 950)
    result.window.show()
    qtbot.waitExposed(result.window)
    result.window.start()
    yield result
    result.close()


def press(qtbot: QtBot, window: MainWindow, key: Key, modifier: Modifier = NoModifier) -> None:
    """A key press with the images focused, as after a click on them."""
    window.grid.setFocus()
    qtbot.keyClick(window.grid, key, modifier)


def drag_px(
    mouse: Mouse,
    window: MainWindow,
    index: int,
    start: tuple[float, float],
    end: tuple[float, float],
) -> None:
    viewport = window.grid.viewports[index]
    mouse.drag(viewport, mouse.point(viewport, *start), mouse.point(viewport, *end))


def tool_of(window: MainWindow) -> Tool:
    """The active tool (a call, so each check reads it afresh)."""
    return window.tools.tool


def pick(editor: FieldEditor, value: object) -> None:
    """Choose ``value`` in a combo box the way a click on an item does (``activated``)."""
    combo = editor.combo
    assert combo is not None, editor.slot
    index = combo.findData(value)
    assert index > 0, (editor.slot, value)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def fill_zone(window: MainWindow, timepoint: str, zone: str) -> None:
    """One zone: not assessable (skipped), or bridged and scored, a line only medially."""

    def editor(key: str) -> FieldEditor:
        return window.panel.editor(key, timepoint=timepoint, zone=zone)

    if zone == SKIPPED_ZONE:
        pick(editor("assessable"), "no")
        assert not editor("bridging").isEnabled()  # the skip rule disables the rest
        return
    pick(editor("assessable"), "yes")
    pick(editor("bridging"), "partial")
    pick(editor("rll_present"), zone == "medial")
    pick(editor("remodeling"), "none")
    pick(editor("osteolysis"), False)


def fill_case(window: MainWindow) -> None:
    """Fill every required field of the open case as a reader would.

    AP medial has a radiolucent line (its width was measured); every other assessable zone
    has none; the LAT posterior zone is not assessable, so its other fields are skipped.
    """
    panel = window.panel
    protocol = window.protocol
    for timepoint in window.grid.timepoints:
        for view in protocol.views:
            for zone in protocol.zones_for(view):
                fill_zone(window, timepoint, zone.key)
            pick(panel.editor("image_quality", timepoint=timepoint, view=view), "good")
    # Whatever the protocol still requires (nothing for collar-default) gets a value too.
    for each in panel.editors.values():
        fld = each.slot.field
        if each.isEnabled() and fld.required and each.value is None:
            assert fld.type in (FieldType.CHOICE, FieldType.BOOL), fld.key
            pick(each, True if fld.type is FieldType.BOOL else fld.choices[0])


def test_whole_worklist_read_with_keyboard_and_mouse_is_traceable(
    reader: Reader, mouse: Mouse, qtbot: QtBot, tmp_path: Path
) -> None:
    window = reader.window
    window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window)
    worklist = [e.case_code for e in window.reading_set.worklist("A")]
    assert any(c.kind == "repeat" for c in window.cases)
    assert [c.case_code for c in window.cases] == worklist
    ap_indices = [window.grid.index_of("AP", t) for t in window.grid.timepoints]
    for number, code in enumerate(worklist):
        assert window.case is not None
        assert window.case.case_code == code
        qtbot.waitUntil(lambda: not window.loading)
        if number == 0:
            # A manual calibration on the first AP image: its measurements use it.
            press(qtbot, window, Key.Key_C)
            assert tool_of(window) is Tool.calibrate
            drag_px(mouse, window, ap_indices[0], (40, 40), (90, 40))
        # The RLL caliper on each AP image (medial zone), ~1 mm/px: a few mm wide.
        press(qtbot, window, Key.Key_R)
        assert tool_of(window) is Tool.rll
        for index in ap_indices:
            drag_px(mouse, window, index, (120, 150), (120, 156))
        # The cortical caliper once per case, on the first AP image.
        press(qtbot, window, Key.Key_T)
        assert tool_of(window) is Tool.thickness
        drag_px(mouse, window, ap_indices[0], (100, 180), (112, 180))
        press(qtbot, window, Key.Key_Escape)
        fill_case(window)
        press(qtbot, window, Key.Key_Return, Ctrl)
        locked = {r.case_code: r.locked for r in window.repository.readings()}
        assert locked[code], window.statusBar().currentMessage()
        # The next open case opens by itself after a submit (the default option).
        following = worklist[number + 1] if number + 1 < len(worklist) else code
        assert window.case is not None
        assert window.case.case_code == following
    assert window.worklist.progress_text.startswith(f"{len(worklist)} of {len(worklist)}")

    database = window.repository.database
    # Every worklist case: a submitted, locked reading (from the database, not the widgets).
    readings = {r.case_code: r for r in window.repository.readings()}
    assert set(readings) >= set(worklist)
    for code in worklist:
        assert readings[code].locked
        assert readings[code].submitted_at is not None
    assert verify_database(tmp_path / "A.sqlite") == []

    frame = tidy_frame(database, protocol=window.protocol)
    assert set(frame["case_code"]) == set(worklist)
    assert frame["submitted"].all()
    assert set(frame.loc[frame["kind"] == "repeat", "repeat_of"]) <= set(worklist)
    mm = frame[frame["unit"] == "mm"]
    # Two RLL widths and one cortical thickness per case, all measured.
    assert len(mm) == 3 * len(worklist)
    assert set(mm["source"]) == {"measured"}
    assert (mm["calibration_source"] != "").all(), mm
    sources = set(mm["calibration_source"])
    assert "manual: ball 25 mm" in sources
    assert "imager_magnified" in sources
    # The skip rule: the not-assessable zone carries its "no" and nothing else.
    skipped = frame[frame["zone"] == SKIPPED_ZONE]
    assert set(skipped["field"]) == {"assessable"}
    assert set(skipped["value"]) == {"no"}

    annotations: Table = AnnotationRow.__table__  # type: ignore[assignment]
    calibrations: Table = CalibrationRow.__table__  # type: ignore[assignment]
    with database.read() as connection:
        rows = connection.execute(select(annotations)).all()
        calibration_ids = set(connection.execute(select(calibrations.c.id)).scalars())
    assert len(rows) == 3 * len(worklist)
    assert len(calibration_ids) == 1
    for row in rows:
        assert row.value_mm is not None
        if row.calibration_id is not None:
            assert row.calibration_id in calibration_ids
        else:
            assert row.spacing_source == "imager_magnified", row
            assert row.spacing_row_mm is not None
            assert row.spacing_col_mm is not None
    assert sum(r.calibration_id is not None for r in rows) == 2  # RLL + cortical on image 1
