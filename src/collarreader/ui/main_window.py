"""The reader's main window: worklist, hanging grid, tools, scoring panel, measurement list.

Data flows one way: a gesture (mouse on an image, an edit in the form, a key) becomes a
session command, applied (one transaction + audit event) before anything is redrawn; then
:meth:`MainWindow.refresh` redraws overlays, form and lists from the database. Undo and redo
go through :class:`collarreader.ui.undo.UndoAdapter` (one stack per case).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from collarreader.errors import CollarReaderError, ReadingSetError, SessionError, SettingsError
from collarreader.imaging import Radiograph, RadiographCache, Spacing
from collarreader.measure.registration import Registration
from collarreader.model import Annotation, AnnotationKind, Calibration, Case, ImageRef
from collarreader.protocol import Protocol
from collarreader.semiauto import calibration_fitter, rll_detail
from collarreader.session import (
    ClearScore,
    ReadingSession,
    SetScore,
    find_submission_problems,
    timepoint_label,
)
from collarreader.study.readingset import ReadingSet
from collarreader.tools import (
    BALL_DIAMETER_MM,
    CalibrationAnswer,
    Tool,
    ToolController,
)
from collarreader.ui.hanging import HangingGrid
from collarreader.ui.measurements import MeasurementList, method_label
from collarreader.ui.migration_overlay import MigrationOverlay
from collarreader.ui.overlays import AnnotationOverlay
from collarreader.ui.profile_plot import ProfilePlot
from collarreader.ui.scoring_panel import FieldEdit, ScoringPanel
from collarreader.ui.series import METHOD as SERIES_METHOD
from collarreader.ui.series import (
    BlendSlider,
    SeriesPair,
    SeriesView,
    prefetch_pairs,
    series_pairs,
)
from collarreader.ui.settings import ReaderSettings
from collarreader.ui.shortcuts import (
    KeyDialog,
    Shortcut,
    ShortcutOverlay,
    TypingGuard,
    effective_shortcuts,
    key_sequences,
    key_text,
)
from collarreader.ui.startup import first_case_code, last_open_case
from collarreader.ui.undo import UndoAdapter
from collarreader.ui.viewport import (
    Corner,
    CursorSample,
    PointerEvent,
    calibration_badge,
    calibration_text,
    cursor_text,
)
from collarreader.ui.windowing import WindowPreset
from collarreader.ui.worklist import CaseStatus, WorklistPanel

if TYPE_CHECKING:
    from collarreader.measure.rll import RllMeasurement

__all__ = ["MainWindow", "last_open_case", "timepoint_label", "worklist_codes"]

PREFETCH_DELAY_MS = 200
"""The next cases are decoded this long after a case is painted (decoders hold the GIL)."""

AskSize = Callable[[QtWidgets.QWidget, float], CalibrationAnswer | None]
AskReason = Callable[[QtWidgets.QWidget, str], str | None]

_TOOL_ACTIONS = {
    "tool_calibrate": Tool.calibrate,
    "tool_interface": Tool.interface,
    "tool_bridging": Tool.bridging,
    "tool_rll": Tool.rll,
    "tool_thickness": Tool.thickness,
}
_TOOLBAR_WORDS = {
    "previous_case": "◀ Prev",
    "next_case": "Next ▶",
    "tool_calibrate": "Calibrate",
    "tool_interface": "Interface",
    "tool_bridging": "Bridging",
    "tool_rll": "RLL",
    "tool_thickness": "Thickness",
    "tool_migration": "Migration",
    "undo": "Undo",
    "redo": "Redo",
    "submit": "Submit",
    "reopen": "Reopen",
    "help": "Keys",
}
"""Tool-bar words; each label ends with the action's first key in force (see ``_apply_keys``)."""

_TOOL_NAMES = {
    Tool.none: "no tool (pan)",
    Tool.calibrate: "calibration line",
    Tool.interface: "interface line",
    Tool.bridging: "bridged segment",
    Tool.rll: "radiolucent line (trace, Return, then caliper; W: automatic width)",
    Tool.thickness: "cortical thickness",
}


# ------------------------------------------------------------------ dialogs (injectable)


class KnownSizeDialog(QtWidgets.QDialog):
    """Asks what a drawn calibration line spans: the 25 mm ball, the collar, or another size."""

    def __init__(self, parent: QtWidgets.QWidget | None, length_px: float) -> None:
        super().__init__(parent)
        self.setWindowTitle("Calibration")
        layout = QtWidgets.QFormLayout(self)
        layout.addRow(QtWidgets.QLabel(f"The line drawn is {length_px:.1f} px long. It spans:"))
        self.what = QtWidgets.QComboBox(self)
        self.what.addItem(f"Calibration ball ({BALL_DIAMETER_MM:g} mm)", "ball")
        self.what.addItem("Collar diameter", "line")
        self.what.addItem("Another known length", "line")
        layout.addRow("Object", self.what)
        self.size_box = QtWidgets.QDoubleSpinBox(self)
        self.size_box.setRange(1.0, 500.0)
        self.size_box.setDecimals(1)
        self.size_box.setSuffix(" mm")
        self.size_box.setValue(BALL_DIAMETER_MM)
        layout.addRow("Known size", self.size_box)
        self.what.currentIndexChanged.connect(self._changed)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addRow(buttons)

    def _changed(self, index: int) -> None:
        if index == 0:
            self.size_box.setValue(BALL_DIAMETER_MM)
        self.size_box.setEnabled(index != 0)

    def answer(self) -> CalibrationAnswer:
        """The size and method chosen."""
        return CalibrationAnswer(float(self.size_box.value()), str(self.what.currentData()))


def ask_known_size(parent: QtWidgets.QWidget, length_px: float) -> CalibrationAnswer | None:
    """Show :class:`KnownSizeDialog`; None when cancelled."""
    dialog = KnownSizeDialog(parent, length_px)
    if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted:
        return dialog.answer()
    return None


def ask_reopen_reason(parent: QtWidgets.QWidget, case_code: str) -> str | None:
    """Ask why a submitted case is reopened (kept in the audit trail); None when cancelled."""
    text, ok = QtWidgets.QInputDialog.getText(
        parent,
        "Reopen case",
        f"Case {case_code} is submitted. Why reopen it? (kept in the audit trail)",
    )
    return text.strip() if ok and text.strip() else None


# ------------------------------------------------------------------ the window


class MainWindow(QtWidgets.QMainWindow):
    """The reading workstation on one reading set and one reader database.

    Parameters
    ----------
    reading_set : the opened (verified) set
    session : the reader's session on the reader database
    cache : decoded radiographs (the window prefetches the next case into it)
    ask_size : asks the known size of a calibration line (a dialog by default)
    ask_reason : asks why a submitted case is reopened (a dialog by default)
    """

    case_shown = QtCore.Signal(str)
    images_ready = QtCore.Signal(str)
    """Every image of the open case is shown (or its error is): the case code."""
    integrity_checked = QtCore.Signal(bool)
    """The whole-set SHA-256 check finished: passed (True) or failed."""

    def __init__(
        self,
        reading_set: ReadingSet,
        session: ReadingSession,
        cache: RadiographCache,
        *,
        ask_size: AskSize = ask_known_size,
        ask_reason: AskReason = ask_reopen_reason,
        settings: ReaderSettings | None = None,
    ) -> None:
        super().__init__()
        self.settings = ReaderSettings.load() if settings is None else settings
        settings_problem = self.settings.problem
        try:
            self.shortcut_table = effective_shortcuts(self.settings.shortcuts)
        except SettingsError as error:
            self.shortcut_table = effective_shortcuts({})
            settings_problem = (
                f"{self.settings.path}: keys not used ({error}); the default keys are in force."
            )
        self.reading_set = reading_set
        self.session = session
        self.repository = session.repository
        self.protocol: Protocol = session.protocol
        self.cache = cache
        self.ask_size = ask_size
        self.ask_reason = ask_reason
        # The session also lists primaries that only a repeat read shows; the reader sees
        # only the worklist.
        listed = {entry.case_code for entry in reading_set.worklist(session.reader_id)}
        self.cases: tuple[Case, ...] = tuple(c for c in session.cases if c.case_code in listed)
        self._case_index = -1
        self._image_codes: dict[int, str] = {}  # viewport index → image code of the case
        self._radiographs: dict[str, Radiograph] = {}
        self._annotations: list[Annotation] = []
        self._calibrations: dict[str, Calibration] = {}
        self._locked = False
        self._submitted = False
        self._pending: dict[int, Future[Radiograph]] = {}
        self._pending_timer = QtCore.QTimer(self)
        self._pending_timer.setInterval(10)
        self._pending_timer.timeout.connect(self._poll_pending)
        self._integrity_ok = True
        self._integrity_problems: list[str] = []
        self._integrity_future: Future[list[str]] | None = None
        self._verified_paths: set[Path] = set()
        self._mixed_warned: set[str] = set()
        self.mixed_calibration_warning = ""
        self._integrity_timer = QtCore.QTimer(self)
        self._integrity_timer.setInterval(50)
        self._integrity_timer.timeout.connect(self._poll_integrity)

        self.setWindowTitle(f"collarreader — reader {session.reader_id}")
        self.undo_adapter = UndoAdapter(self.repository, self.refresh, self.report_error)
        self.tools = ToolController(
            lambda: self.session.context,
            self._execute,
            ask_size=lambda length: self.ask_size(self, length),
            points_of=self._points_of,
            auto_caliper=self._auto_caliper,
        )
        self.tools.image_of = self._image_of_annotation
        self.tools.kind_of = self._kind_of_annotation
        self.tools.fit_calibration = calibration_fitter(self._pixels_of)
        self.tools.auto_detail = lambda _code, result: rll_detail(result)
        self.tools.redraw = self._update_previews
        self.context_menu: QtWidgets.QMenu | None = None

        # ---- centre: the hanging grid
        timepoints = ("A", "B") if reading_set.blind_timepoints else self.protocol.timepoints
        self.grid = HangingGrid(
            self.protocol.views, timepoints, [timepoint_label(t) for t in timepoints], self
        )
        self.setCentralWidget(self.grid)
        self.profile_plot = ProfilePlot(self.grid)
        self.overlays: list[AnnotationOverlay] = []
        callbacks = (self._handle_press, self._handle_move, self._handle_release)
        for index, viewport in enumerate(self.grid.viewports):
            self.overlays.append(AnnotationOverlay(viewport, callbacks, self.show_annotation_menu))
            viewport.mouse_pressed.connect(lambda ev, i=index: self._pointer("press", i, ev))
            viewport.mouse_moved.connect(lambda ev, i=index: self._pointer("move", i, ev))
            viewport.mouse_released.connect(lambda ev, i=index: self._pointer("release", i, ev))
            viewport.cursor_moved.connect(lambda sample, i=index: self._cursor(i, sample))
            viewport.double_clicked.connect(self._double_clicked)
        self.grid.focus_changed.connect(self._focus_changed)
        # Series reading: registration in the background, flicker/difference/blend (ui/series).
        self.series = SeriesView(
            self.grid,
            store=self._store_registration,
            report=lambda text: self.statusBar().showMessage(text, 8000),
            parent=self,
        )

        # ---- left: worklist
        self.worklist = WorklistPanel(self)
        self.worklist.set_cases(self.cases)
        self.worklist.case_chosen.connect(self.open_case)
        left = QtWidgets.QDockWidget("Worklist", self)
        left.setObjectName("worklist")
        left.setWidget(self.worklist)
        left.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, left)

        # ---- right: scoring panel over the measurement list
        self.panel = ScoringPanel(self.protocol, self)
        self.panel.edit_requested.connect(self._field_edited)
        self.panel.problem.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.measurements = MeasurementList(self)
        self.measurements.annotation_selected.connect(self._select_annotation)
        splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical, self)
        splitter.addWidget(self.panel)
        splitter.addWidget(self.measurements)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        right = QtWidgets.QDockWidget("Scoring", self)
        right.setObjectName("scoring")
        right.setWidget(splitter)
        right.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, right)
        self.resizeDocks([left, right], [170, 450], QtCore.Qt.Orientation.Horizontal)

        # ---- status bar
        self.cursor_label = QtWidgets.QLabel("")
        self.calibration_label = QtWidgets.QLabel("")
        self.calibration_label.setStyleSheet("color: #fff176;")
        self.tool_label = QtWidgets.QLabel("")
        self.integrity_label = QtWidgets.QLabel("")
        self.integrity_label.hide()
        self.statusBar().addWidget(self.cursor_label, 1)
        self.statusBar().addPermanentWidget(BlendSlider(self.series, self))
        self.statusBar().addPermanentWidget(self.integrity_label)
        self.statusBar().addPermanentWidget(self.calibration_label)
        self.statusBar().addPermanentWidget(self.tool_label)

        # ---- actions, menus, tool bar
        self.actions_by_name: dict[str, QtGui.QAction] = {}
        self._build_actions()
        self._build_menus_and_toolbar()
        self.migration = MigrationOverlay(self)
        self.overlay_help: ShortcutOverlay | None = None

        app = QtWidgets.QApplication.instance()
        if isinstance(app, QtWidgets.QApplication):
            app.applicationStateChanged.connect(self._application_state)
            # Letters typed into the form go to the form, not to the images' shortcuts.
            self.typing_guard = TypingGuard(self)
            app.installEventFilter(self.typing_guard)
        self._update_tool_label()
        if settings_problem:
            self.statusBar().showMessage(settings_problem, 20000)

    # ---------------------------------------------------------------- actions

    def _handlers(self) -> dict[str, Callable[[], Any]]:
        grid = self.grid
        handlers: dict[str, Callable[[], Any]] = {
            "next_case": lambda: self.step_case(1),
            "previous_case": lambda: self.step_case(-1),
            "submit": self.submit,
            "reopen": self.reopen,
            "undo": self.undo,
            "redo": self.redo,
            "tool_none": self.escape,
            "tool_migration": lambda: self.migration.toggle(),  # noqa: PLW0108 - made later
            "finish_line": self._finish_or_maximise,
            "next_zone": self.next_zone,
            "relabel": self.relabel_selected,
            "auto_width": self.auto_width,
            "delete": self.delete_selected,
            "preset_header": lambda: self._preset(WindowPreset.header),
            "preset_full": lambda: self._preset(WindowPreset.full_range),
            "preset_bone": lambda: self._preset(WindowPreset.bone),
            "preset_soft": lambda: self._preset(WindowPreset.soft_tissue),
            "invert": grid.focused_viewport.toggle_invert,
            "reset": self._reset_view,
            "fit": lambda: grid.zoom_to_fit(grid.focused_index),
            "one_to_one": grid.focused_viewport.one_to_one,
            "maximise": grid.toggle_maximise,
            "link": grid.toggle_linked,
            "magnifier": self._toggle_magnifier,
            "help": self.show_shortcuts,
            "customise_keys": self.customise_keys,
            "quit": self.close,
            "flicker": self.series.toggle_flicker,
            "difference": self.series.toggle_difference,
        }
        for name, tool in _TOOL_ACTIONS.items():
            handlers[name] = functools.partial(self.set_tool, tool)
        for i in range(4):
            handlers[f"focus_{i + 1}"] = functools.partial(self._focus, i)
        return handlers

    def _build_actions(self) -> None:
        handlers = self._handlers()
        tool_group = QtGui.QActionGroup(self)
        for shortcut in self.shortcut_table:
            action = QtGui.QAction(shortcut.text, self)
            action.setObjectName(shortcut.action)
            if shortcut.action == "quit":
                action.setMenuRole(QtGui.QAction.MenuRole.QuitRole)
            if shortcut.images_only:
                action.setShortcutContext(QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut)
                self.grid.addAction(action)
            else:
                action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
                self.addAction(action)
            if shortcut.action in _TOOL_ACTIONS:
                action.setCheckable(True)
                tool_group.addAction(action)
            # triggered(bool) would fill a handler's first parameter: call it bare.
            action.triggered.connect(lambda _checked=False, h=handlers[shortcut.action]: h())
            self.actions_by_name[shortcut.action] = action
            self._apply_keys(shortcut)
        self.actions_by_name["link"].setCheckable(True)
        self.actions_by_name["link"].setChecked(self.grid.linked)
        self.grid.link_changed.connect(self.actions_by_name["link"].setChecked)

    def action(self, name: str) -> QtGui.QAction:
        """The action of a :data:`~collarreader.ui.shortcuts.SHORTCUTS` row."""
        return self.actions_by_name[name]

    def _apply_keys(self, shortcut: Shortcut) -> None:
        """Give an action its keys, and its tool tip and tool-bar label the first of them."""
        action = self.actions_by_name[shortcut.action]
        action.setShortcuts(key_sequences(shortcut))
        shown = key_text(shortcut.keys[0]) if shortcut.keys else ""
        action.setToolTip(f"{shortcut.text} ({shown})" if shown else shortcut.text)
        word = _TOOLBAR_WORDS.get(shortcut.action)
        if word is not None:
            action.setIconText(f"{word} {shown}".strip())

    def set_shortcut_keys(self, overrides: Mapping[str, Sequence[str]]) -> None:
        """Change the keys of some actions, apply them at once and save them for next time.

        Parameters
        ----------
        overrides : action name → its new keys (an empty list leaves the action without key)

        Raises
        ------
        SettingsError
            An unknown action or key, a key given to two actions, or a settings file that
            cannot be written; nothing is changed then.
        """
        merged = {**self.settings.shortcuts, **{k: tuple(v) for k, v in overrides.items()}}
        table = effective_shortcuts(merged)
        previous = self.settings.shortcuts
        self.settings.shortcuts = merged
        try:
            self.settings.save()
        except SettingsError:
            self.settings.shortcuts = previous
            raise
        self.shortcut_table = table
        for shortcut in table:
            self._apply_keys(shortcut)
        if self.overlay_help is not None:
            self.overlay_help.set_table(table)

    def customise_keys(self) -> KeyDialog:
        """Open the dialog where the reader chooses the keys (saved in the settings file)."""
        dialog = KeyDialog(self.shortcut_table, self.set_shortcut_keys, self)
        dialog.open()
        return dialog

    def _build_menus_and_toolbar(self) -> None:
        menus: dict[str, QtWidgets.QMenu] = {}
        titles = {"Cases": "&Case", "Tools": "&Tools", "Viewer": "&View", "Help": "&Help"}
        for shortcut in self.shortcut_table:
            menu = menus.get(shortcut.group)
            if menu is None:
                menu = self.menuBar().addMenu(titles.get(shortcut.group, shortcut.group))
                menus[shortcut.group] = menu
            menu.addAction(self.actions_by_name[shortcut.action])
        advance = QtGui.QAction("Open the next case after submitting", self)
        advance.setObjectName("advance_after_submit")
        advance.setCheckable(True)
        advance.setChecked(self.settings.advance_after_submit)
        advance.toggled.connect(self.set_advance_after_submit)
        self.actions_by_name["advance_after_submit"] = advance
        menus["Cases"].insertAction(self.actions_by_name["quit"], advance)
        menus["Cases"].insertSeparator(self.actions_by_name["quit"])
        bar = QtWidgets.QToolBar("Reading", self)
        bar.setObjectName("toolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        for group in (
            ("previous_case", "next_case"),
            ("tool_calibrate", "tool_interface", "tool_bridging", "tool_rll", "tool_thickness"),
        ):
            for name in group:
                bar.addAction(self.actions_by_name[name])
            bar.addSeparator()
        bar.addWidget(QtWidgets.QLabel(" Zone "))
        self.zone_box = QtWidgets.QComboBox(self)
        self.zone_box.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.zone_box.setMinimumWidth(130)
        self.zone_box.setToolTip("Current zone for new measurements (N: next zone)")
        self.zone_box.activated.connect(self._zone_chosen)
        bar.addWidget(self.zone_box)
        bar.addSeparator()
        for name in ("undo", "redo", "submit", "reopen", "help"):
            bar.addAction(self.actions_by_name[name])
        self.addToolBar(bar)
        self.toolbar = bar

    # ---------------------------------------------------------------- cases

    @property
    def case(self) -> Case | None:
        """The case shown."""
        return self.cases[self._case_index] if 0 <= self._case_index < len(self.cases) else None

    def start(self, pending: Mapping[str, Future[Radiograph]] | None = None) -> None:
        """Open the case the reader was last on (or the first not submitted).

        Parameters
        ----------
        pending : image code → a decode already under way (the launch's worker processes);
            those viewports show "loading…" and are painted as each image arrives
        """
        code = first_case_code(self.session, self.cases)
        if code is not None:
            self.open_case(code, pending=pending)

    def open_case(
        self, case_code: str, *, pending: Mapping[str, Future[Radiograph]] | None = None
    ) -> None:
        """Show a case: its images (errors inside their viewport), form and measurements.

        Images are taken from ``pending`` when given (shown as they arrive), else from the
        cache (decoded now unless prefetched). :attr:`images_ready` is emitted once every
        image of the case is shown.
        """
        index = next((i for i, c in enumerate(self.cases) if c.case_code == case_code), None)
        if index is None:
            self.report_error(SessionError(f"Case {case_code!r} is not in this worklist."))
            return
        self.tools.cancel()
        self.tools.selected = None
        new_case = index != self._case_index
        self.session.open_case(case_code)
        self.undo_adapter.set_case(case_code)
        self._case_index = index
        case = self.cases[index]
        waiting = dict(pending or {})
        images: dict[tuple[str, str], Radiograph | Exception | None] = {}
        unverified = self._ensure_verified(case, skip=set(waiting))
        # Decode the case's images on the cache's workers at once (a no-op when prefetched).
        self.cache.prefetch(
            [
                self.reading_set.path / image.file
                for image in case.images
                if image.image_code not in waiting and image.image_code not in unverified
            ]
        )
        self._image_codes = {}
        self._radiographs = {}
        self._pending = {}
        for image in case.images:
            try:
                grid_index = self.grid.index_of(image.view, image.timepoint)
            except KeyError:
                continue
            self._image_codes[grid_index] = image.image_code
            future = waiting.get(image.image_code)
            if future is not None:
                self._pending[grid_index] = future
                images[(image.view, image.timepoint)] = None
                continue
            if image.image_code in unverified:
                images[(image.view, image.timepoint)] = ReadingSetError(
                    f"{self.reading_set.path / image.file}: missing or modified (SHA-256 does "
                    "not match readingset.json); not decoded. Copy the set again from the "
                    "study lead's original."
                )
                continue
            try:
                radiograph = self.cache.get(self.reading_set.path / image.file)
            except CollarReaderError as error:
                images[(image.view, image.timepoint)] = error
                continue
            images[(image.view, image.timepoint)] = radiograph
            self._radiographs[image.image_code] = radiograph
        self.series.show_case({})  # a registration still running belongs to the old case
        self.grid.set_case(images)
        for grid_index in self._pending:
            self.grid.viewports[grid_index].show_loading()
        timepoints = [t for t in self.grid.timepoints if any(i.timepoint == t for i in case.images)]
        self.panel.set_case(
            [(t, timepoint_label(t)) for t in timepoints],
            {t: {i.view for i in case.images if i.timepoint == t} for t in timepoints},
            {t: (t if t in self.protocol.timepoints else None) for t in timepoints},
        )
        if new_case:
            self._start_at_the_beginning()
        self._fill_zone_box()
        self.worklist.set_current(case_code)
        self.setWindowTitle(
            f"collarreader — reader {self.session.reader_id} — case {case_code} "
            f"({index + 1} of {len(self.cases)})"
        )
        self.refresh()
        self.case_shown.emit(case_code)
        if self._pending:
            self._pending_timer.start()
        else:
            self._case_complete()

    def _start_at_the_beginning(self) -> None:
        """Start a new case on its first time point, view and zone.

        Never where the last case was left: its tab, scroll position, focused image or zone.
        """
        for view in self.protocol.views:
            zones = self.protocol.zones_for(view)
            if zones:
                self.tools.set_zone(view, zones[0].key)
        if self.grid.maximised_index is not None:
            self.grid.restore()
        self.grid.focus_viewport(0)
        self.panel.tabs.setCurrentIndex(0)
        for page_index in range(self.panel.tabs.count()):
            page = self.panel.tabs.widget(page_index)
            if isinstance(page, QtWidgets.QScrollArea):
                page.verticalScrollBar().setValue(0)

    def _poll_pending(self) -> None:
        """Paint every pending image that has arrived (a timer, while any is pending)."""
        arrived = [i for i, future in self._pending.items() if future.done()]
        for grid_index in arrived:
            future = self._pending.pop(grid_index)
            code = self._image_codes.get(grid_index)
            viewport = self.grid.viewports[grid_index]
            image = self.session.context.image(code) if code and self.session.context else None
            title = viewport.corner_text(Corner.top_left)
            try:
                radiograph = future.result()
            except CollarReaderError as error:
                viewport.show_error(str(error))
                continue
            except Exception:  # noqa: BLE001 - the worker pool broke: decode here instead
                if image is None or self.session.context is None:
                    continue
                if image.image_code in self._ensure_verified(self.session.context.case):
                    viewport.show_error(
                        f"{self.reading_set.path / image.file}: modified (SHA-256 does not "
                        "match readingset.json); copy the set again."
                    )
                    continue
                try:
                    radiograph = self.cache.get(self.reading_set.path / image.file)
                except CollarReaderError as error:
                    viewport.show_error(str(error))
                    continue
            else:
                # Arrived pickled from a worker: writable again, and verified by it.
                radiograph.pixels.flags.writeable = False
                if image is not None:
                    self._verified_paths.add(self.reading_set.path / image.file)
            if code is not None:
                self._radiographs[code] = radiograph
            viewport.set_radiograph(radiograph, title=title)
            self.grid.zoom_to_fit(grid_index)
        if arrived:
            self.refresh()
        if not self._pending:
            self._pending_timer.stop()
            self._case_complete()

    def _case_complete(self) -> None:
        case = self.case
        if case is None:
            return
        self.series.show_case(series_pairs(case, self.grid, self._radiographs, self._stored()))
        self.images_ready.emit(case.case_code)
        if self._integrity_ok:
            # Only now: background decodes would slow the first paint (they hold the GIL).
            index = self._case_index
            QtCore.QTimer.singleShot(PREFETCH_DELAY_MS, lambda: self._prefetch(index))

    @property
    def loading(self) -> bool:
        """True while images of the open case are still being decoded."""
        return bool(self._pending)

    # ---------------------------------------------------------------- integrity

    @property
    def integrity_ok(self) -> bool:
        """True once every image of the set matched its SHA-256 (scoring is allowed)."""
        return self._integrity_ok

    def begin_integrity_check(
        self, result: Future[list[str]], verified: Iterable[Path] = ()
    ) -> None:
        """Hold scoring until the whole-set SHA-256 check running in ``result`` passes.

        Parameters
        ----------
        result : resolves to the list of problems (empty: every file matches)
        verified : files already checked (the first case's, by the worker processes)
        """
        self._integrity_ok = False
        self._integrity_problems = []
        self._verified_paths.update(Path(p) for p in verified)
        self._integrity_future = result
        self.integrity_label.setText("Checking the set's integrity… scoring opens when done")
        self.integrity_label.setStyleSheet("color: #fff176;")
        self.integrity_label.show()
        self._integrity_timer.start()
        self.refresh()

    def _poll_integrity(self) -> None:
        future = self._integrity_future
        if future is None or not future.done():
            return
        self._integrity_timer.stop()
        self._integrity_future = None
        try:
            problems = future.result()
        except Exception as error:  # noqa: BLE001 - any failure keeps scoring closed
            problems = [str(error)]
        self._integrity_problems = list(problems)
        if problems:
            shown = "; ".join(problems[:3])
            self.integrity_label.setText(
                f"Integrity check FAILED ({len(problems)} file(s)): {shown}. Copy the set again "
                "from the study lead's original; scoring stays closed."
            )
            self.integrity_label.setStyleSheet("color: #ff6b6b; font-weight: bold;")
            self.integrity_checked.emit(False)
            self.refresh()
            return
        self._integrity_ok = True
        self.integrity_label.hide()
        self.statusBar().showMessage("Every image of the set passed its SHA-256 check.", 4000)
        self.refresh()
        self.integrity_checked.emit(True)
        if self.case is not None:
            self._prefetch(self._case_index)

    def _ensure_verified(self, case: Case, skip: set[str] | None = None) -> set[str]:
        """While the set check runs, hash this case's files before anything decodes them.

        Returns the codes of the images whose bytes do not match (never decoded); images in
        ``skip`` (verified by the launch's workers) are left alone.
        """
        if self._integrity_ok:
            return set()
        from collarreader.study.readingset import sha256_file

        unverified: set[str] = set()
        for image in case.images:
            path = self.reading_set.path / image.file
            if path in self._verified_paths or image.image_code in (skip or ()):
                continue
            try:
                matches = sha256_file(path) == image.sha256
            except OSError:
                matches = False
            if matches:
                self._verified_paths.add(path)
            else:
                unverified.add(image.image_code)
        return unverified

    def _prefetch(self, index: int) -> None:
        if not self._integrity_ok:
            return  # unverified bytes never reach a (trusted) decoder in the background
        paths = [
            self.reading_set.path / image.file
            for case in self.cases[index + 1 : index + 3]
            for image in case.images
        ]
        if paths:
            try:
                self.cache.prefetch(paths)
            except RuntimeError:
                return  # the reader closed meanwhile (a delayed prefetch); nothing to decode
            if index + 1 < len(self.cases):
                prefetch_pairs(self.series, self.cases[index + 1], self.grid, self._load)

    def step_case(self, step: int) -> None:
        """Open the next (1) or previous (-1) case of the worklist."""
        target = self._case_index + step
        if 0 <= target < len(self.cases):
            self.open_case(self.cases[target].case_code)
        else:
            self.statusBar().showMessage("No more cases in this direction.", 4000)

    def _statuses(self) -> dict[str, CaseStatus]:
        result: dict[str, CaseStatus] = {}
        for reading in self.repository.readings():
            if reading.reader_id != self.session.reader_id:
                continue
            result[reading.case_code] = (
                CaseStatus.submitted if reading.locked else CaseStatus.in_progress
            )
        return result

    # ---------------------------------------------------------------- model → screen

    def refresh(self) -> None:
        """Redraw everything that shows the open reading, from the database."""
        context = self.session.context
        if context is None:
            return
        reading = self.repository.reading(context.reading_id)
        submitted = bool(reading is not None and reading.locked)
        # Until the whole set passed its SHA-256 check nothing may be scored (read-only).
        self._submitted = submitted
        self._locked = submitted or not self._integrity_ok
        self.tools.read_only = self._locked
        self._annotations = self.repository.annotations(context.reading_id)
        calibrations = self.repository.calibrations(context.reading_id)
        self._calibrations = {c.image_code: c for c in calibrations}
        if self.tools.selected not in {a.id for a in self._annotations}:
            self.tools.selected = None
        for index, overlay in enumerate(self.overlays):
            code = self._image_codes.get(index)
            overlay.show(
                [a for a in self._annotations if a.image_code == code],
                self._calibrations.get(code) if code else None,
                self.tools.selected,
                editable=not self._locked,
            )
        labels = {
            i.image_code: f"{i.view} {timepoint_label(i.timepoint)}" for i in context.case.images
        }
        self.measurements.set_annotations(
            self._annotations, calibrations, labels, self.tools.selected
        )
        scores = self.repository.scores(context.reading_id)
        self.panel.set_scores(scores, locked=self._locked)
        self.panel.set_problems(
            find_submission_problems(
                context,
                [
                    {
                        "target": _target(s),
                        "field_key": s.field_key,
                        "value": s.value,
                        "source": str(s.source),
                        "timepoint": s.timepoint,
                        "view": s.view,
                    }
                    for s in scores
                ],
                [{"image_code": c.image_code} for c in calibrations],
            )
        )
        self.worklist.set_status(self._statuses())
        for name in ("submit", "undo", "redo", *_TOOL_ACTIONS, "delete", "relabel", "auto_width"):
            self.actions_by_name[name].setEnabled(not self._locked)
        self.actions_by_name["reopen"].setEnabled(submitted and self._integrity_ok)
        if self._locked and self.tools.tool is not Tool.none:
            self.set_tool(Tool.none)
        self._update_badges()
        self._warn_mixed_calibration()

    def _manual_text(self, image_code: str) -> str | None:
        calibration = self._calibrations.get(image_code)
        if calibration is None:
            return None
        return f"{calibration.method} {calibration.known_size_mm:g} mm"

    def _update_badges(self) -> None:
        """Each viewport's badge: the calibration its mm values use (warning colour if none)."""
        for index, viewport in enumerate(self.grid.viewports):
            code = self._image_codes.get(index)
            radiograph = self._radiographs.get(code) if code else None
            if radiograph is None or code is None:
                viewport.set_calibration_badge("", calibrated=False)
                continue
            text, calibrated = calibration_badge(radiograph, self._manual_text(code))
            if self._calibrations and code not in self._calibrations and self._measured_on(code):
                # Another image of this case has the reader's calibration, this one not.
                text, calibrated = f"{text}\nno manual calibration here", False
            viewport.set_calibration_badge(text, calibrated=calibrated)

    def _measured_on(self, image_code: str) -> bool:
        return any(
            a.image_code == image_code and a.kind is not AnnotationKind.CALIBRATION_LINE
            for a in self._annotations
        )

    def _warn_mixed_calibration(self) -> None:
        """Warn once per case: a measurement on an image without the reader's calibration.

        Only while another image of the same case has the reader's calibration. Non-modal
        (status bar and the badge): the reader may have meant it, but the README's own
        screenshot once measured LAT 12 m with the header's spacing after calibrating AP 6 m,
        and nothing said so.
        """
        case = self.case
        context = self.session.context
        if case is None or context is None or case.case_code in self._mixed_warned:
            return
        calibrated = set(self._calibrations)
        if not calibrated:
            return
        labels = {i.image_code: f"{i.view} {timepoint_label(i.timepoint)}" for i in case.images}
        for annotation in self._annotations:
            if (
                annotation.kind is AnnotationKind.CALIBRATION_LINE
                or annotation.image_code in calibrated
            ):
                continue
            self._mixed_warned.add(case.case_code)
            where = ", ".join(sorted(labels.get(c, c) for c in calibrated))
            here = labels.get(annotation.image_code, annotation.image_code)
            self.mixed_calibration_warning = (
                f"Warning: {here} is measured without your calibration, while you "
                f"calibrated {where}. Its mm use the file's spacing "
                f"({self.calibration_text_for(annotation.image_code)}); calibrate {here} "
                "too if its magnification differs."
            )
            self.statusBar().showMessage(self.mixed_calibration_warning, 30000)
            return

    def _update_previews(self) -> None:
        preview = self.tools.preview
        for index, overlay in enumerate(self.overlays):
            code = self._image_codes.get(index)
            overlay.set_preview(
                preview if preview is not None and preview.image_code == code else None
            )

    def report_error(self, error: Exception) -> None:
        """Show a refused gesture in the status bar (never a blocking dialog)."""
        self.statusBar().showMessage(str(error), 10000)

    # ---------------------------------------------------------------- commands

    def _execute(self, command: Any) -> None:
        self.undo_adapter.execute(command)

    def _points_of(self, annotation_id: str) -> tuple[tuple[float, float], ...] | None:
        for annotation in self._annotations:
            if annotation.id == annotation_id:
                return annotation.points_px
        return None

    def _field_edited(self, edit: FieldEdit) -> None:
        context = self.session.context
        if context is None or self._locked:
            self.refresh()
            return
        try:
            if edit.value is None:
                command: Any = ClearScore(
                    context,
                    edit.field_key,
                    timepoint=edit.timepoint,
                    view=edit.view,
                    zone=edit.zone,
                )
            else:
                command = SetScore(
                    context,
                    edit.field_key,
                    edit.value,
                    timepoint=edit.timepoint,
                    view=edit.view,
                    zone=edit.zone,
                )
        except CollarReaderError as error:
            self.report_error(error)
            self.refresh()
            return
        if not self.undo_adapter.execute(command):
            self.refresh()

    def _locked_error(self) -> SessionError:
        if not self._integrity_ok:
            return SessionError(
                "Scoring opens once every image of the set passed its integrity check."
            )
        return SessionError("The case is submitted and locked; reopen it first.")

    def undo(self) -> None:
        """Undo the last command of this case."""
        if self._locked:
            self.report_error(self._locked_error())
            return
        self.undo_adapter.undo()

    def redo(self) -> None:
        """Redo the last undone command of this case."""
        if self._locked:
            self.report_error(self._locked_error())
            return
        self.undo_adapter.redo()

    def submit(self) -> None:
        """Submit the case: checks required fields, then locks it."""
        try:
            self.session.submit()
        except CollarReaderError as error:
            self.panel.outline_problems()
            count = self.panel.missing_list.count()
            if count and self.case is not None:
                # The full list stays in the panel; the status bar only points at it.
                self.statusBar().showMessage(
                    f"Case {self.case.case_code} cannot be submitted: {count} field"
                    f"{'s' if count != 1 else ''} to fill in, listed under the form.",
                    10000,
                )
            else:
                self.report_error(error)
            return
        self.refresh()
        submitted = self.case.case_code if self.case else ""
        following = self._next_open_case() if self.settings.advance_after_submit else None
        if following is not None:
            self.open_case(following)
            self.statusBar().showMessage(
                f"Case {submitted} submitted and locked; case {following} opened.", 6000
            )
            return
        done = " Every case is submitted." if self._next_open_case() is None else ""
        self.statusBar().showMessage(f"Case {submitted} submitted and locked.{done}", 6000)

    def _next_open_case(self) -> str | None:
        """The next case of the worklist not yet submitted, after the open one (wrapping)."""
        statuses = self._statuses()
        count = len(self.cases)
        for step in range(1, count):
            case = self.cases[(self._case_index + step) % count]
            if statuses.get(case.case_code) is not CaseStatus.submitted:
                return case.case_code
        return None

    def set_advance_after_submit(self, enabled: bool) -> None:
        """Move to the next open case after a submit (the default), or stay; saved."""
        self.settings.advance_after_submit = enabled
        self.actions_by_name["advance_after_submit"].setChecked(enabled)
        try:
            self.settings.save()
        except SettingsError as error:
            self.report_error(error)

    def reopen(self) -> None:
        """Reopen a submitted case after asking the reason (audited)."""
        case = self.case
        if case is None or not self._submitted or not self._integrity_ok:
            return
        reason = self.ask_reason(self, case.case_code)
        if not reason:
            return
        try:
            self.session.reopen(reason)
        except CollarReaderError as error:
            self.report_error(error)
            return
        self.refresh()

    # ---------------------------------------------------------------- tools

    def set_tool(self, tool: Tool) -> None:
        """Choose a tool (it stays on for repeated use; Esc leaves it)."""
        if self._locked and tool is not Tool.none:
            self.report_error(self._locked_error())
            tool = Tool.none
        self.tools.set_tool(tool)
        for viewport in self.grid.viewports:
            viewport.set_tool_active(tool is not Tool.none)
        for name, each in _TOOL_ACTIONS.items():
            self.actions_by_name[name].setChecked(each is tool)
        self._update_previews()
        self._update_tool_label()

    def escape(self) -> None:
        """Esc: drop the line in progress, or else leave the tool."""
        if not self.tools.cancel():
            self.set_tool(Tool.none)
        self._update_previews()

    def _finish_or_maximise(self) -> None:
        if self.tools.finish():
            self._update_previews()
        else:
            self.grid.toggle_maximise()

    def _double_clicked(self) -> None:
        if self.tools.finish():
            self._update_previews()

    def _pointer(self, what: str, index: int, event: PointerEvent) -> None:
        code = self._image_codes.get(index)
        if code is None:
            return
        selected = self.tools.selected
        try:
            getattr(self.tools, what)(code, event)
        except CollarReaderError as error:
            self.tools.cancel()
            self.report_error(error)
        if self.tools.selected != selected:
            # The tool selects a new mark after its command redrew: draw it as selected
            # (handles on top) now, not at the next unrelated refresh.
            self.refresh()
        if what == "release" and self.tools.last_fit_message:
            # No ball at the click: the click stands as the first end of a hand line.
            self.statusBar().showMessage(self.tools.last_fit_message, 8000)
            self.tools.last_fit_message = None
        self._update_previews()

    def _handle_press(self, annotation_id: str, index: int, _x: float, _y: float) -> None:
        code = next((a.image_code for a in self._annotations if a.id == annotation_id), None)
        if code is not None and self.tools.begin_handle_drag(annotation_id, index, code):
            self._update_previews()

    def _handle_move(self, _annotation_id: str, _index: int, x: float, y: float) -> None:
        self.tools.drag_handle(x, y)
        self._update_previews()

    def _handle_release(self, _annotation_id: str, _index: int, x: float, y: float) -> None:
        self.tools.end_handle_drag(x, y)
        self._update_previews()
        self.refresh()

    def _image_of_annotation(self, annotation_id: str) -> str | None:
        return next((a.image_code for a in self._annotations if a.id == annotation_id), None)

    def _kind_of_annotation(self, annotation_id: str) -> AnnotationKind | None:
        return next((a.kind for a in self._annotations if a.id == annotation_id), None)

    def _pixels_of(self, image_code: str) -> tuple[Any, bool] | None:
        radiograph = self._radiographs.get(image_code)
        if radiograph is None:
            return None
        return radiograph.pixels, radiograph.photometric == "MONOCHROME1"

    def _auto_caliper(
        self, image_code: str, line_px: Sequence[Sequence[float]]
    ) -> RllMeasurement | None:
        from collarreader.measure.rll import measure_rll

        radiograph = self._radiographs.get(image_code)
        if radiograph is None:
            return None
        calibration = self._calibrations.get(image_code)
        spacing = (
            (calibration.spacing_row_mm, calibration.spacing_col_mm)
            if calibration is not None
            else (radiograph.spacing.row_mm, radiograph.spacing.col_mm)
            if radiograph.spacing is not None
            else None
        )
        return measure_rll(
            radiograph.pixels,
            line_px,
            invert=radiograph.photometric == "MONOCHROME1",
            spacing_mm=spacing,
        )

    def auto_width(self) -> None:
        """W: place the RLL caliper at the widest band along the traced line."""
        try:
            placed = self.tools.auto_width()
        except CollarReaderError as error:
            self.report_error(error)
            self._update_previews()
            return
        self._update_previews()
        if placed:
            selected = next((a for a in self._annotations if a.id == self.tools.selected), None)
            self.profile_plot.show_annotation(selected)
            self.statusBar().showMessage(
                "RLL width measured from intensity profiles; drag its handles to adjust.", 6000
            )
        else:
            self.statusBar().showMessage(
                "Trace the radiolucent line first (RLL tool: clicks, then Return), or select "
                "an RLL that has a traced line.",
                6000,
            )

    # ---- the annotation context menu
    def annotation_menu(self, annotation_id: str) -> QtWidgets.QMenu | None:
        """The context menu of an annotation: its zone, the semi-automatic width, delete."""
        annotation = next((a for a in self._annotations if a.id == annotation_id), None)
        context = self.session.context
        if annotation is None or context is None:
            return None
        menu = QtWidgets.QMenu(self)
        view = context.image(annotation.image_code).view
        zones = self.protocol.zones_for(view)
        group = QtGui.QActionGroup(menu)
        for zone in zones:
            action = menu.addAction(f"Zone: {view} {zone.label}")
            action.setObjectName(f"zone_{zone.key}")
            action.setCheckable(True)
            action.setChecked(annotation.zone == zone.key)
            action.setEnabled(not self._locked)
            group.addAction(action)
            action.triggered.connect(
                lambda _checked=False, z=zone.key: self._relabel(annotation_id, z)
            )
        menu.addSeparator()
        if annotation.kind is AnnotationKind.RLL and len(annotation.points_px) >= 4:
            auto = menu.addAction("Width from intensity profiles (W)")
            auto.setObjectName("auto_width")
            auto.setEnabled(not self._locked)
            auto.triggered.connect(lambda _checked=False: self._auto_for(annotation_id))
        delete = menu.addAction("Delete measurement")
        delete.setObjectName("delete")
        delete.setEnabled(not self._locked)
        delete.triggered.connect(lambda _checked=False: self._delete(annotation_id))
        return menu

    def show_annotation_menu(self, annotation_id: str, screen_pos: QtCore.QPoint) -> None:
        """Right-click on an annotation's handle: select it and pop its menu up."""
        self.tools.selected = annotation_id
        self.refresh()
        menu = self.annotation_menu(annotation_id)
        if menu is None:
            return
        self.context_menu = menu
        menu.popup(QtCore.QPoint(int(screen_pos.x()), int(screen_pos.y())))

    def _relabel(self, annotation_id: str, zone: str) -> None:
        self.tools.selected = annotation_id
        try:
            self.tools.relabel_selected(zone)
        except CollarReaderError as error:
            self.report_error(error)

    def _delete(self, annotation_id: str) -> None:
        self.tools.selected = annotation_id
        self.delete_selected()

    def _auto_for(self, annotation_id: str) -> None:
        self.tools.selected = annotation_id
        self.auto_width()

    def _select_annotation(self, annotation_id: str) -> None:
        self.tools.selected = annotation_id
        self.refresh()

    def delete_selected(self) -> None:
        """Delete the selected measurement."""
        if not self.tools.delete_selected():
            self.statusBar().showMessage("Select a measurement first (click a handle).", 4000)

    def relabel_selected(self) -> None:
        """Move the selected measurement to the next zone of its view."""
        selected = next((a for a in self._annotations if a.id == self.tools.selected), None)
        if selected is None or self.session.context is None:
            self.statusBar().showMessage("Select a measurement first (click a handle).", 4000)
            return
        view = self.session.context.image(selected.image_code).view
        zones = [z.key for z in self.protocol.zones_for(view)]
        if not zones:
            return
        current = zones.index(selected.zone) if selected.zone in zones else -1
        self.tools.relabel_selected(zones[(current + 1) % len(zones)])

    # ---- zones
    def _focused_view(self) -> str:
        return self.grid.views[self.grid.focused_index // len(self.grid.timepoints)]

    def _fill_zone_box(self) -> None:
        view = self._focused_view()
        blocker = QtCore.QSignalBlocker(self.zone_box)
        self.zone_box.clear()
        for zone in self.protocol.zones_for(view):
            self.zone_box.addItem(f"{view}: {zone.label}", zone.key)
        current = self.tools.zone_for(view)
        self.zone_box.setCurrentIndex(max(0, self.zone_box.findData(current)))
        del blocker
        self._update_tool_label()

    def _zone_chosen(self, _index: int) -> None:
        zone = self.zone_box.currentData()
        if zone is not None:
            self.tools.set_zone(self._focused_view(), str(zone))
        self._update_tool_label()

    def next_zone(self) -> None:
        """Make the next zone of the focused view current."""
        count = self.zone_box.count()
        if count:
            self.zone_box.setCurrentIndex((self.zone_box.currentIndex() + 1) % count)
            self._zone_chosen(self.zone_box.currentIndex())

    def _focus_changed(self, index: int) -> None:
        self._fill_zone_box()
        self.panel.show_timepoint(self.grid.timepoints[index % len(self.grid.timepoints)])

    def _focus(self, index: int) -> None:
        if index < len(self.grid.viewports):
            self.grid.focus_viewport(index)

    def _update_tool_label(self) -> None:
        tool = self.tools.tool
        text = f"Tool: {_TOOL_NAMES[tool]}"
        if tool not in (Tool.none, Tool.calibrate) and self.session.context is not None:
            text += f" · zone {self.tools.zone_for(self._focused_view())}"
        self.tool_label.setText(text)

    # ---------------------------------------------------------------- viewer helpers

    def _preset(self, preset: WindowPreset) -> None:
        self.grid.focused_viewport.apply_preset(preset)

    def _reset_view(self) -> None:
        self.grid.focused_viewport.reset_window()
        self.grid.zoom_to_fit(self.grid.focused_index)

    def _toggle_magnifier(self) -> None:
        enabled = not self.grid.focused_viewport.magnifier_enabled
        for viewport in self.grid.viewports:
            viewport.set_magnifier_enabled(enabled)

    def show_shortcuts(self) -> ShortcutOverlay:
        """Show the overlay listing every shortcut (F1 or ?)."""
        if self.overlay_help is None:
            self.overlay_help = ShortcutOverlay(self, self.shortcut_table)
        self.overlay_help.show()
        if QtGui.QGuiApplication.platformName() != "offscreen":  # offscreen warns on raise()
            self.overlay_help.raise_()
        return self.overlay_help

    def _cursor(self, index: int, sample: CursorSample | None) -> None:
        code = self._image_codes.get(index)
        radiograph = self._radiographs.get(code) if code else None
        if sample is None or radiograph is None:
            self.cursor_label.setText("")
            self.calibration_label.setText("")
            return
        calibration = self._calibrations.get(code) if code else None
        manual = (
            f"{method_label(calibration)} {calibration.known_size_mm:g} mm" if calibration else None
        )
        shown = radiograph
        if calibration is not None:
            # mm positions under the cursor follow the reader's calibration too.
            shown = _with_spacing(radiograph, calibration)
        self.cursor_label.setText(cursor_text(shown, sample.x_px, sample.y_px))
        self.calibration_label.setText(calibration_text(radiograph, manual))

    def calibration_text_for(self, image_code: str) -> str:
        """The calibration source text of an image of the case (as the status bar shows)."""
        radiograph = self._radiographs.get(image_code)
        calibration = self._calibrations.get(image_code)
        if radiograph is None:
            return "no image"
        manual = (
            f"{method_label(calibration)} {calibration.known_size_mm:g} mm" if calibration else None
        )
        return calibration_text(radiograph, manual)

    def radiograph_of(self, image_code: str) -> Radiograph | None:
        """The radiograph shown for an image of the open case (None when not shown)."""
        return self._radiographs.get(image_code)

    def image_code_at(self, index: int) -> str | None:
        """The image code shown in viewport ``index``."""
        return self._image_codes.get(index)

    # ---------------------------------------------------------------- time

    def _application_state(self, state: QtCore.Qt.ApplicationState) -> None:
        if state == QtCore.Qt.ApplicationState.ApplicationActive:
            self.session.resume()
        else:
            self.session.pause()

    def _load(self, image: ImageRef) -> Radiograph:
        return self.cache.get(self.reading_set.path / image.file)

    def _stored(self) -> dict[tuple[str, str], Any]:
        context = self.session.context
        if context is None:
            return {}
        stored = self.repository.registrations(context.reading_id)
        return {(r.fixed_image_code, r.moving_image_code): r.matrix for r in stored}

    def _store_registration(self, pair: SeriesPair, registration: Registration) -> None:
        try:
            self.session.store_registration(
                pair.fixed_code,
                pair.moving_code,
                registration.matrix.tolist(),
                residual=registration.residual,
                overlap=registration.overlap,
                method=SERIES_METHOD,
            )
        except CollarReaderError as error:
            self.report_error(error)

    def show_as_last_time(self) -> None:
        """Show the window where the reader left it, or maximised the first time."""
        if self.settings.geometry:
            try:
                restored = self.restoreGeometry(
                    QtCore.QByteArray.fromHex(self.settings.geometry.encode("ascii"))
                )
            except UnicodeEncodeError:
                restored = False
            if restored:
                self.show()
                return
        self.showMaximized()

    def remember_geometry(self) -> None:
        """Save the window's size, position and maximised state for the next start."""
        self.settings.geometry = bytes(self.saveGeometry().toHex().data()).decode("ascii")
        try:
            self.settings.save()
        except SettingsError as error:
            self.report_error(error)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        """Write the reading time of the open case and remember the geometry before closing."""
        self.series.close()
        self.session.close_case()
        # Offscreen windows (tests, screenshots, the bench) have no place on a screen.
        if self.isVisible() and QtGui.QGuiApplication.platformName() not in {
            "offscreen",
            "minimal",
        }:
            self.remember_geometry()
        super().closeEvent(event)


def _target(score: Any) -> str:
    from collarreader.session import score_target

    return score_target(score.timepoint, score.view, score.zone)


def _with_spacing(radiograph: Radiograph, calibration: Calibration) -> Radiograph:
    import dataclasses

    from collarreader.imaging import SpacingSource

    spacing = Spacing(calibration.spacing_row_mm, calibration.spacing_col_mm, SpacingSource.manual)
    return dataclasses.replace(radiograph, spacing=spacing)


def worklist_codes(cases: Sequence[Case]) -> list[str]:
    """Case codes in order (for tests and the bench)."""
    return [case.case_code for case in cases]
