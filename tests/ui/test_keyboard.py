"""Keys as a reader types them: letters go to the focused form field, shortcuts to the images.

Every kind of scoring widget (choice dropdown, yes/no dropdown, number field, text field) is
typed into with real key events (``QTest.keyClicks``, which runs Qt's shortcut override
exactly as a keyboard does) using letters that are also shortcuts; the value must change and
the current zone, the tool and the case must not. Shortcuts are the reader's to change: a
changed key is saved in the settings file and in force after a restart.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from tests.ui.conftest import OpenWindow, phantom_set

from collarreader.errors import SettingsError
from collarreader.tools import Tool
from collarreader.ui.main_window import MainWindow
from collarreader.ui.scoring_panel import FieldEditor
from collarreader.ui.settings import ReaderSettings
from collarreader.ui.shortcuts import SHORTCUTS, KeyDialog


@pytest.fixture(scope="module")
def setdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("keys")
    return phantom_set(root, patients=2, seed=4)


def editor_of(window: MainWindow, field_key: str, zone: str | None = "medial") -> FieldEditor:
    timepoint = window.panel._timepoints[0][0]
    view = None if zone is not None else "AP"
    return window.panel.editor(field_key, timepoint=timepoint, view=view, zone=zone)


def state(window: MainWindow) -> tuple[object, ...]:
    """What a stolen key would change: zone, tool, magnifier, linking, case, focused image."""
    return (
        window.zone_box.currentIndex(),
        window.tools.tool,
        window.grid.focused_viewport.magnifier_enabled,
        window.grid.linked,
        window.case.case_code if window.case else None,
        window.grid.focused_index,
    )


def focus(qtbot: QtBot, widget: QtWidgets.QWidget) -> None:
    widget.window().activateWindow()
    widget.setFocus(QtCore.Qt.FocusReason.MouseFocusReason)
    qtbot.waitUntil(widget.hasFocus)


@pytest.mark.parametrize(
    ("field_key", "zone", "typed", "expected"),
    [
        ("bridging", "medial", "n", "none"),  # choice dropdown: N is Next zone
        ("bridging", "medial", "c", "complete"),  # C is the calibration tool
        ("bridging", "medial", "p", "partial"),
        ("rll_present", "medial", "n", False),  # yes/no dropdown
        ("assessable", "medial", "y", "yes"),
        ("image_quality", None, "g", "good"),  # a view field's dropdown
    ],
)
def test_typing_into_a_dropdown_chooses_and_runs_no_shortcut(
    open_window: OpenWindow,
    qtbot: QtBot,
    *,
    field_key: str,
    zone: str | None,
    typed: str,
    expected: object,
) -> None:
    window = open_window().window
    editor = editor_of(window, field_key, zone)
    assert editor.combo is not None
    assert editor.value is None
    focus(qtbot, editor.combo)
    before = state(window)
    QTest.keyClicks(editor.combo, typed)
    qtbot.waitUntil(lambda: editor.value == expected)
    assert state(window) == before


@pytest.mark.parametrize(
    ("field_key", "zone", "typed", "expected"),
    [
        ("bridging_extent", "medial", "1", 1.0),  # 1 is one-to-one zoom
        ("rll_width_mm", "medial", "1", 1.0),
        ("comment", None, "ncbirtwzlmf1", "ncbirtwzlmf1"),  # every letter shortcut
    ],
)
def test_typing_into_a_text_field_writes_and_runs_no_shortcut(
    open_window: OpenWindow,
    qtbot: QtBot,
    *,
    field_key: str,
    zone: str | None,
    typed: str,
    expected: object,
) -> None:
    window = open_window().window
    if field_key == "rll_width_mm":
        editor_of(window, "rll_present", "medial").choose(True)
    editor = (
        editor_of(window, field_key, zone)
        if zone
        else window.panel.editor(field_key, timepoint=window.panel._timepoints[0][0])
    )
    assert editor.line is not None
    focus(qtbot, editor.line)
    before = state(window)
    QTest.keyClicks(editor.line, typed)
    assert editor.line.text() == typed
    QTest.keyClick(editor.line, QtCore.Qt.Key.Key_Tab)
    qtbot.waitUntil(lambda: editor.value == expected)
    assert state(window) == before


def test_the_same_letters_on_the_images_run_their_shortcuts(
    open_window: OpenWindow, qtbot: QtBot
) -> None:
    window = open_window().window
    viewport = window.grid.focused_viewport
    focus(qtbot, viewport.graphics_view)
    zone = window.zone_box.currentIndex()
    QTest.keyClick(viewport.graphics_view, QtCore.Qt.Key.Key_N)
    assert window.zone_box.currentIndex() == (zone + 1) % window.zone_box.count()
    QTest.keyClick(viewport.graphics_view, QtCore.Qt.Key.Key_C)
    assert window.tools.tool is Tool.calibrate
    # Ctrl shortcuts still work from inside a form field (Ctrl+Z, Ctrl+Enter).
    editor = editor_of(window, "bridging")
    assert editor.combo is not None
    focus(qtbot, editor.combo)
    QTest.keyClick(editor.combo, QtCore.Qt.Key.Key_Escape)
    QTest.keyClick(editor.combo, QtCore.Qt.Key.Key_3, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert window.grid.focused_index == 2


def test_a_changed_shortcut_is_saved_and_used_after_a_restart(
    open_window: OpenWindow, qtbot: QtBot, reader_settings_dir: Path
) -> None:
    reader = open_window()
    window = reader.window
    dialog = window.customise_keys()
    qtbot.addWidget(dialog)
    # The reader presses G in the Next zone row, then Save.
    row = dialog.editors["next_zone"]
    focus(qtbot, row)
    QTest.keyClick(row, QtCore.Qt.Key.Key_G)
    qtbot.waitUntil(lambda: dialog.changes() == {"next_zone": ("G",)})
    dialog.save()
    assert dialog.result() == QtWidgets.QDialog.DialogCode.Accepted
    saved = json.loads((reader_settings_dir / "settings.json").read_text())
    assert saved["shortcuts"] == {"next_zone": ["G"]}
    reader.close()

    window = open_window().window
    assert "<b>G</b></td><td>Next current zone" in window.show_shortcuts().html
    viewport = window.grid.focused_viewport
    focus(qtbot, viewport.graphics_view)
    zone = window.zone_box.currentIndex()
    QTest.keyClick(viewport.graphics_view, QtCore.Qt.Key.Key_N)  # the old key does nothing now
    assert window.zone_box.currentIndex() == zone
    QTest.keyClick(viewport.graphics_view, QtCore.Qt.Key.Key_G)
    assert window.zone_box.currentIndex() == (zone + 1) % window.zone_box.count()


def test_a_key_taken_twice_is_refused_in_the_dialog(
    open_window: OpenWindow, qtbot: QtBot, reader_settings_dir: Path
) -> None:
    window = open_window().window
    dialog = KeyDialog(window.shortcut_table, window.set_shortcut_keys, window)
    qtbot.addWidget(dialog)
    dialog.editors["next_zone"].setKeySequence("C")
    dialog.save()
    assert "C is given to both 'Calibration line over a known size' and" in dialog.problem.text()
    assert not (reader_settings_dir / "settings.json").exists()
    assert window.action("next_zone").shortcut().toString() == "N"
    with pytest.raises(SettingsError, match="unknown action"):
        window.set_shortcut_keys({"no_such_action": ["X"]})


def test_a_damaged_settings_file_leaves_the_defaults_and_says_so(
    open_window: OpenWindow, reader_settings_dir: Path
) -> None:
    reader_settings_dir.mkdir()
    (reader_settings_dir / "settings.json").write_text('{"shortcuts": {"next_zone": "N"}}')
    window = open_window().window
    assert "settings.json: not used" in window.statusBar().currentMessage()
    assert window.action("next_zone").shortcut().toString() == "N"
    assert ReaderSettings.load().shortcuts == {}


def test_button_labels_and_overlay_show_the_real_keys(open_window: OpenWindow) -> None:
    window = open_window().window
    assert window.action("submit").iconText() == "Submit Ctrl+Enter"
    assert window.action("tool_rll").iconText() == "RLL R"
    assert window.action("help").iconText() == "Keys F1"
    html = window.show_shortcuts().html
    for row in SHORTCUTS:
        assert f"<td>{row.text}</td>" in html
    assert "<b>Ctrl+Enter</b> / <b>Ctrl+Return</b></td><td>Submit" in html
