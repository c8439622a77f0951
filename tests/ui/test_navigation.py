"""Moving through the worklist: each case starts at its beginning; submit moves on; Quit;
the window's geometry; the measurement table's columns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from tests.ui.conftest import OpenWindow, phantom_set

from collarreader.protocol import FieldType
from collarreader.ui.main_window import MainWindow
from collarreader.ui.worklist import CaseStatus


@pytest.fixture(scope="module")
def setdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("navigation")
    return phantom_set(root, patients=3, seed=9)


def fill_in(window: MainWindow) -> None:
    """A valid value in every required field, through the panel's editors."""
    for editor in list(window.panel.editors.values()):
        fld = editor.slot.field
        if not fld.required or not editor.isEnabled() or editor.value is not None:
            continue
        if fld.type is FieldType.BOOL:
            editor.choose(False)
        elif fld.type is FieldType.CHOICE:
            editor.choose(fld.choices[0])


def test_the_next_case_opens_on_its_first_timepoint_view_and_zone(
    open_window: OpenWindow,
) -> None:
    window = open_window().window
    first_zone = window.zone_box.currentIndex()
    # Leave the case somewhere else: second tab scrolled down, LAT 12 m focused and
    # maximised, another zone current.
    window.panel.tabs.setCurrentIndex(1)
    window.grid.focus_viewport(3)
    window.next_zone()
    window.grid.toggle_maximise()
    assert window.grid.maximised_index == 3
    window.step_case(1)
    assert window.case is not None
    assert window.case.case_code == window.cases[1].case_code
    assert window.panel.tabs.currentIndex() == 0
    assert window.grid.focused_index == 0
    assert window.grid.maximised_index is None
    assert window.zone_box.currentIndex() == first_zone
    for view in window.protocol.views:
        assert window.tools.zone_for(view) == window.protocol.zones_for(view)[0].key


def test_submit_opens_the_next_open_case_unless_switched_off(
    open_window: OpenWindow, reader_settings_dir: Path
) -> None:
    window = open_window().window
    codes = [c.case_code for c in window.cases]
    fill_in(window)
    window.submit()
    assert window.worklist.status(codes[0]) is CaseStatus.submitted
    assert window.case is not None
    assert window.case.case_code == codes[1]
    assert f"case {codes[1]} opened" in window.statusBar().currentMessage()
    # Switched off in the Case menu (saved): the submitted case stays on screen.
    window.action("advance_after_submit").trigger()
    assert not window.settings.advance_after_submit
    saved = json.loads((reader_settings_dir / "settings.json").read_text())
    assert saved["advance_after_submit"] is False
    fill_in(window)
    window.submit()
    assert window.case.case_code == codes[1]
    assert window.session.reading is not None
    assert window.session.reading.locked


def test_quit_is_in_the_case_menu_with_ctrl_q(open_window: OpenWindow, qtbot: QtBot) -> None:
    reader = open_window()
    window = reader.window
    quit_action = window.action("quit")
    case_menu = next(
        a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "Case"
    )
    assert quit_action in case_menu.actions()
    assert quit_action.shortcut().toString() == "Ctrl+Q"
    window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window)
    QTest.keyClick(window, QtCore.Qt.Key.Key_Q, QtCore.Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible())
    # The reading time of the open case was written on the way out.
    readings = {r.case_code: r for r in window.repository.readings()}
    assert window.cases[0].case_code in readings


def test_geometry_is_remembered_and_the_first_start_is_maximised(
    open_window: OpenWindow, qtbot: QtBot
) -> None:
    window = open_window().window
    window.hide()
    window.show_as_last_time()
    qtbot.waitUntil(window.isMaximized)
    window.showNormal()
    window.setGeometry(20, 30, 640, 480)  # inside the offscreen screen (800 × 600)
    qtbot.waitUntil(lambda: window.width() == 640)
    window.remember_geometry()
    again = open_window().window
    again.hide()
    again.show_as_last_time()
    assert not again.isMaximized()
    assert (again.width(), again.height()) == (640, 480)


def test_measurement_columns_fit_their_text(open_window: OpenWindow) -> None:
    window = open_window().window
    window.session.calibrate(window.image_code_at(0) or "", 25.0, [[10, 10], [110, 10]])
    window.refresh()
    table = window.measurements
    assert table.rowCount() == 1
    table.setFixedWidth(220)  # a narrow dock: the columns keep their width, a scroll bar shows
    QtWidgets.QApplication.processEvents()
    header = table.horizontalHeader()
    for column in range(table.columnCount()):
        text_width = table.fontMetrics().horizontalAdvance(table.item(0, column).text())
        assert header.sectionSize(column) >= text_width
    # Wider than the dock: the reader can scroll to the calibration column.
    last = table.columnCount() - 1
    assert header.sectionPosition(last) + header.sectionSize(last) > table.viewport().width()
    assert table.horizontalScrollBar().isVisible()
