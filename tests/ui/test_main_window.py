"""The reader's main window on a real (small) reading set and a real reader database."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6 import QtCore, QtGui, QtWidgets
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from collarreader.db.engine import open_database
from collarreader.db.models import AuditEvent
from collarreader.db.repository import Repository
from collarreader.errors import ReadingSetError
from collarreader.protocol import FieldType, Scope, load_protocol
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.tools import CalibrationAnswer, Tool
from collarreader.ui.main_window import MainWindow
from collarreader.ui.reader import Reader, open_reader
from collarreader.ui.shortcuts import SHORTCUTS
from collarreader.ui.worklist import CaseStatus


def make_set(root: Path, protocol: str = "collar-default") -> Path:
    phantom = root / "phantom"
    generate_study(phantom, patients=2, seed=3, small=True, burned_in=0)
    setdir = root / "set"
    prepare_reading_set(
        phantom / "manifest.csv",
        setdir,
        root / "key.json",
        ["A", "B"],
        seed=3,
        protocol=protocol,
        repeat_fraction=0.0,
    )
    return setdir


@pytest.fixture(scope="module")
def setdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_set(tmp_path_factory.mktemp("set"))


class Dialogs:
    def __init__(self) -> None:
        self.size: CalibrationAnswer | None = CalibrationAnswer(25.0, "ball")
        self.reason: str | None = "second look at the lateral zone"

    def ask_size(self, _parent: object, _length_px: float) -> CalibrationAnswer | None:
        return self.size

    def ask_reason(self, _parent: object, _case_code: str) -> str | None:
        return self.reason


OpenReader = Callable[..., Reader]


@pytest.fixture
def dialogs() -> Dialogs:
    return Dialogs()


@pytest.fixture
def open_window(
    qtbot: QtBot, tmp_path: Path, setdir: Path, dialogs: Dialogs
) -> Iterator[OpenReader]:
    opened: list[Reader] = []

    def make(folder: Path | None = None, reader: str = "A", db: Path | None = None) -> Reader:
        result = open_reader(
            folder or setdir,
            reader,
            db or tmp_path / f"{reader}.sqlite",
            ask_size=dialogs.ask_size,
            ask_reason=dialogs.ask_reason,
        )
        qtbot.addWidget(result.window)
        result.window.show()
        qtbot.waitExposed(result.window)
        result.window.start()
        opened.append(result)
        return result

    yield make
    for reader in opened:
        reader.close()


def fill_required(window: MainWindow) -> None:
    """Enter a valid value in every required field of the case, through the form's editors."""
    for editor in list(window.panel.editors.values()):
        fld = editor.slot.field
        if not fld.required or not editor.isEnabled() or editor.value is not None:
            continue
        if fld.type is FieldType.BOOL:
            editor.choose(False)
        elif fld.type is FieldType.CHOICE:
            editor.choose(fld.choices[0])
        elif fld.type is FieldType.NUMBER:
            editor.set_value_text(str(fld.minimum or 0))
        else:
            editor.set_value_text("x")


def test_start_shows_the_first_case_its_images_and_the_worklist(open_window: OpenReader) -> None:
    reader = open_window()
    window = reader.window
    assert window.case is not None
    assert window.case.case_code == window.cases[0].case_code
    assert window.worklist.progress_text == f"0 of {len(window.cases)} submitted"
    shown = [v for v in window.grid.viewports if v.radiograph is not None]
    assert len(shown) == 4
    assert window.worklist.status(window.cases[0].case_code) is CaseStatus.in_progress
    # The calibration source of each image is known for the status bar.
    assert window.calibration_text_for(window.image_code_at(0) or "") != "no image"


def test_unknown_reader_and_damaged_set_are_refused(setdir: Path, tmp_path: Path) -> None:
    with pytest.raises(ReadingSetError, match="not one this set was prepared for"):
        open_reader(setdir, "Z", tmp_path / "z.sqlite")
    copy = tmp_path / "copy"
    shutil.copytree(setdir, copy)
    next((copy / "images").iterdir()).write_bytes(b"changed")
    with pytest.raises(ReadingSetError, match="integrity"):
        open_reader(copy, "A", tmp_path / "a.sqlite")


def test_score_edits_are_commands_with_undo_and_redo(open_window: OpenReader) -> None:
    window = open_window().window
    context = window.session.context
    assert context is not None
    timepoint = window.grid.timepoints[0]
    editor = window.panel.editor("assessable", timepoint=timepoint, zone="medial")
    editor.choose("no")

    def values() -> dict[tuple[str | None, str], str]:
        return {
            (s.zone, s.field_key): s.value
            for s in window.repository.scores(context.reading_id)
            if s.timepoint == timepoint
        }

    assert values()[("medial", "assessable")] == "no"
    # "not assessable" skips the zone's other fields.
    assert not window.panel.editor("bridging", timepoint=timepoint, zone="medial").isEnabled()
    assert window.panel.editor("bridging", timepoint=timepoint, zone="lateral").isEnabled()
    window.action("undo").trigger()
    assert ("medial", "assessable") not in values()
    assert window.panel.editor("bridging", timepoint=timepoint, zone="medial").isEnabled()
    window.action("redo").trigger()
    assert values()[("medial", "assessable")] == "no"
    # An invalid number is refused in the form and writes nothing.
    problems: list[str] = []
    window.panel.problem.connect(problems.append)
    width = window.panel.editor("rll_width_mm", timepoint=timepoint, zone="lateral")
    width.set_value_text("55")
    assert problems
    assert "maximum" in problems[-1]
    assert ("lateral", "rll_width_mm") not in values()
    width.set_value_text("1.24")
    assert values()[("lateral", "rll_width_mm")] == "1.2"
    assert values()[("lateral", "rll_grade")] == "1to2mm"


def test_submit_locks_and_reopen_asks_a_reason(open_window: OpenReader, dialogs: Dialogs) -> None:
    window = open_window().window
    # This test stays on the submitted case to reopen it (the default moves on).
    window.set_advance_after_submit(False)
    code = window.cases[0].case_code
    window.action("submit").trigger()
    reading = window.session.reading
    assert reading is not None
    assert not reading.locked
    assert "cannot be submitted" in window.statusBar().currentMessage()
    fill_required(window)
    window.action("submit").trigger()
    reading = window.session.reading
    assert reading is not None
    assert reading.locked
    assert window.worklist.status(code) is CaseStatus.submitted
    assert window.worklist.progress_text.startswith("1 of")
    assert window.tools.read_only
    assert not any(e.isEnabled() for e in window.panel.editors.values())
    window.set_tool(Tool.rll)
    assert window.tools.tool is Tool.none  # no tools on a locked case
    dialogs.reason = None  # cancelled dialog: stays locked
    window.action("reopen").trigger()
    assert window.session.reading is not None
    assert window.session.reading.locked
    dialogs.reason = "second look at the lateral zone"
    window.action("reopen").trigger()
    reading = window.session.reading
    assert reading is not None
    assert not reading.locked
    assert reading.reopen_reason == "second look at the lateral zone"
    table = AuditEvent.__table__
    with window.repository.database.read() as connection:
        reasons = (
            connection.execute(select(table.c.reason).where(table.c.action == "reopen"))
            .scalars()
            .all()
        )
    assert reasons == ["second look at the lateral zone"]


def test_resume_reopens_the_last_case_with_its_values(
    open_window: OpenReader, tmp_path: Path
) -> None:
    first = open_window(db=tmp_path / "resume.sqlite")
    window = first.window
    window.action("next_case").trigger()
    second_code = window.cases[1].case_code
    assert window.case is not None
    assert window.case.case_code == second_code
    timepoint = window.grid.timepoints[0]
    window.panel.editor("osteolysis", timepoint=timepoint, zone="lateral").choose(True)
    first.close()
    again = open_window(db=tmp_path / "resume.sqlite").window
    assert again.case is not None
    assert again.case.case_code == second_code
    editor = again.panel.editor("osteolysis", timepoint=timepoint, zone="lateral")
    assert editor.value is True
    assert again.session.reading is not None


def test_unreadable_image_shows_its_error_and_the_case_stays_usable(
    open_window: OpenReader, setdir: Path, tmp_path: Path
) -> None:
    # Honest route: the set passes its integrity check at start-up; one file of the second
    # case is damaged afterwards (e.g. a failing disk), and the viewer must cope.
    copy = tmp_path / "copy"
    shutil.copytree(setdir, copy)
    reader = open_window(folder=copy)
    window = reader.window
    second = window.cases[1]
    broken = second.images[0]
    (copy / broken.file).write_bytes(b"")
    reader.cache.clear()
    window.open_case(second.case_code)
    index = window.grid.index_of(broken.view, broken.timepoint)
    viewport = window.grid.viewports[index]
    assert viewport.radiograph is None
    assert viewport.error_message is not None
    assert broken.file.split("/")[-1] in viewport.error_message
    others = [v for i, v in enumerate(window.grid.viewports) if i != index]
    assert all(v.radiograph is not None for v in others)
    zone = load_protocol().zones_for(broken.view)[0].key
    window.panel.editor("remodeling", timepoint=broken.timepoint, zone=zone).choose("none")
    context = window.session.context
    assert context is not None
    assert any(s.field_key == "remodeling" for s in window.repository.scores(context.reading_id))


def test_every_shortcut_has_an_action_and_the_overlay_lists_them(
    open_window: OpenReader, qtbot: QtBot
) -> None:
    window = open_window().window
    for shortcut in SHORTCUTS:
        action = window.action(shortcut.action)
        assert [s.toString() for s in action.shortcuts()] == [
            QtGui.QKeySequence(k).toString() for k in shortcut.keys
        ]
    window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window)
    window.grid.setFocus()
    qtbot.keyClick(window.grid, QtCore.Qt.Key.Key_R)
    assert window.tools.tool is Tool.rll
    assert all(v.tool_active for v in window.grid.viewports)
    qtbot.keyClick(window.grid, QtCore.Qt.Key.Key_Escape)
    assert window.tools.tool is Tool.none
    qtbot.keyClick(window.grid, QtCore.Qt.Key.Key_I, QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert window.grid.focused_viewport.inverted != window.grid.focused_viewport.radiograph.invert  # type: ignore[union-attr]
    qtbot.keyClick(window.grid, QtCore.Qt.Key.Key_PageDown)
    assert window.case is not None
    assert window.case.case_code == window.cases[1].case_code
    qtbot.keyClick(window.grid, QtCore.Qt.Key.Key_2, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert window.grid.focused_index == 1
    qtbot.keyClick(window.grid, QtCore.Qt.Key.Key_F1)
    overlay = window.overlay_help
    assert overlay is not None
    assert overlay.isVisible()
    text = overlay.browser.toPlainText()
    for shortcut in SHORTCUTS:
        assert shortcut.text in text


def test_panel_is_built_from_another_protocol(
    tmp_path_factory: pytest.TempPathFactory, open_window: OpenReader
) -> None:
    gruen_set = make_set(tmp_path_factory.mktemp("gruen"), protocol="collar-gruen")
    window = open_window(folder=gruen_set).window
    protocol = load_protocol("collar-gruen")
    assert window.protocol.sha256 == protocol.sha256
    keys = {(editor.slot.zone, editor.slot.field.key) for editor in window.panel.editors.values()}
    zone_fields = [f.key for f in protocol.zone_fields if f.scope is Scope.ZONE]
    for zone in protocol.zones:
        for key in zone_fields:
            assert (zone.key, key) in keys
    assert window.zone_box.count() == len(protocol.zones_for(window.grid.views[0]))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_active_reading_time_per_case_pauses_on_switch_and_focus_loss(
    qtbot: QtBot, tmp_path: Path, setdir: Path
) -> None:
    clock = FakeClock()
    reader = open_reader(setdir, "A", tmp_path / "A.sqlite", clock=clock)
    qtbot.addWidget(reader.window)
    window = reader.window
    app = QtWidgets.QApplication.instance()
    assert isinstance(app, QtWidgets.QApplication)
    try:
        window.show()
        window.start()
        first, second = window.cases[0].case_code, window.cases[1].case_code
        assert window.case is not None
        assert window.case.case_code == first
        clock.now = 12.0
        window.step_case(1)  # leaving the case writes its 12 s
        clock.now = 20.0
        app.applicationStateChanged.emit(QtCore.Qt.ApplicationState.ApplicationInactive)
        clock.now = 500.0  # the reader is away: not counted
        app.applicationStateChanged.emit(QtCore.Qt.ApplicationState.ApplicationActive)
        clock.now = 503.0
        window.step_case(-1)
        clock.now = 510.0
    finally:
        reader.close()  # writes the open case's time
    check = open_database(tmp_path / "A.sqlite")
    try:
        times = {r.case_code: r.active_seconds for r in Repository(check).readings()}
    finally:
        check.close()
    assert times[first] == pytest.approx(12.0 + 7.0)
    assert times[second] == pytest.approx(8.0 + 3.0)
