"""The reading window: its layout, and reading time and geometry across sessions.

Part of :mod:`collarreader.ui.main_window` (see its docstring).
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from collarreader.errors import CollarReaderError, SettingsError
from collarreader.imaging import Radiograph, RadiographCache
from collarreader.measure.registration import Registration
from collarreader.model import Annotation, Calibration, Case
from collarreader.protocol import Protocol
from collarreader.semiauto import calibration_fitter, rll_detail
from collarreader.session import ReadingSession, timepoint_label
from collarreader.study.readingset import ReadingSet
from collarreader.tools import ToolController
from collarreader.ui.hanging import HangingGrid
from collarreader.ui.main_window.actions import _Actions
from collarreader.ui.main_window.dialogs import (
    AskReason,
    AskSize,
    ask_known_size,
    ask_reopen_reason,
)
from collarreader.ui.measurements import MeasurementList
from collarreader.ui.migration_overlay import MigrationOverlay
from collarreader.ui.overlays import AnnotationOverlay
from collarreader.ui.profile_plot import ProfilePlot
from collarreader.ui.scoring_panel import ScoringPanel
from collarreader.ui.series import METHOD as SERIES_METHOD
from collarreader.ui.series import BlendSlider, SeriesPair, SeriesView
from collarreader.ui.settings import ReaderSettings
from collarreader.ui.shortcuts import ShortcutOverlay, TypingGuard, effective_shortcuts
from collarreader.ui.undo import UndoAdapter
from collarreader.ui.worklist import WorklistPanel


class MainWindow(_Actions):
    """The reading workstation on one reading set and one reader database.

    Parameters
    ----------
    reading_set : the opened (verified) set
    session : the reader's session on the reader database
    cache : decoded radiographs (the window prefetches the next case into it)
    ask_size : asks the known size of a calibration line (a dialog by default)
    ask_reason : asks why a submitted case is reopened (a dialog by default)
    """

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

    # ---------------------------------------------------------------- time

    def _application_state(self, state: QtCore.Qt.ApplicationState) -> None:
        if state == QtCore.Qt.ApplicationState.ApplicationActive:
            self.session.resume()
        else:
            self.session.pause()

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
