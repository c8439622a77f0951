"""What every part of the reading window shares: its signals, attributes, constants and helpers.

Part of :mod:`collarreader.ui.main_window` (see its docstring).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from collarreader.db.repository import Repository
from collarreader.errors import SessionError
from collarreader.imaging import Radiograph, RadiographCache, Spacing
from collarreader.model import Annotation, Calibration, Case, ImageRef
from collarreader.protocol import Protocol
from collarreader.session import ReadingSession
from collarreader.study.readingset import ReadingSet
from collarreader.tools import Tool, ToolController
from collarreader.ui.hanging import HangingGrid
from collarreader.ui.main_window.dialogs import AskReason, AskSize
from collarreader.ui.measurements import MeasurementList
from collarreader.ui.migration_overlay import MigrationOverlay
from collarreader.ui.overlays import AnnotationOverlay
from collarreader.ui.profile_plot import ProfilePlot
from collarreader.ui.scoring_panel import ScoringPanel
from collarreader.ui.series import SeriesView
from collarreader.ui.settings import ReaderSettings
from collarreader.ui.shortcuts import Shortcut, ShortcutOverlay, TypingGuard
from collarreader.ui.undo import UndoAdapter
from collarreader.ui.worklist import CaseStatus, WorklistPanel

PREFETCH_DELAY_MS = 200
"""The next cases are decoded this long after a case is painted (decoders hold the GIL)."""


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


class _WindowBase(QtWidgets.QMainWindow):
    """The window's signals, shared attributes and state queries.

    The attributes are set by :class:`MainWindow`; they are declared here so every layer of the
    window is type-checked against them.
    """

    case_shown = QtCore.Signal(str)
    images_ready = QtCore.Signal(str)
    """Every image of the open case is shown (or its error is): the case code."""
    integrity_checked = QtCore.Signal(bool)
    """The whole-set SHA-256 check finished: passed (True) or failed."""

    # Set by MainWindow.__init__ and the menus (annotations only: no class attributes).
    settings: ReaderSettings
    shortcut_table: tuple[Shortcut, ...]
    reading_set: ReadingSet
    session: ReadingSession
    repository: Repository
    protocol: Protocol
    cache: RadiographCache
    ask_size: AskSize
    ask_reason: AskReason
    cases: tuple[Case, ...]
    _case_index: int
    _image_codes: dict[int, str]
    _radiographs: dict[str, Radiograph]
    _annotations: list[Annotation]
    _calibrations: dict[str, Calibration]
    _locked: bool
    _submitted: bool
    _pending: dict[int, Future[Radiograph]]
    _pending_timer: QtCore.QTimer
    _integrity_ok: bool
    _integrity_problems: list[str]
    _integrity_future: Future[list[str]] | None
    _verified_paths: set[Path]
    _mixed_warned: set[str]
    mixed_calibration_warning: str
    _integrity_timer: QtCore.QTimer
    undo_adapter: UndoAdapter
    tools: ToolController
    context_menu: QtWidgets.QMenu | None
    grid: HangingGrid
    profile_plot: ProfilePlot
    overlays: list[AnnotationOverlay]
    series: SeriesView
    migration: MigrationOverlay
    worklist: WorklistPanel
    panel: ScoringPanel
    measurements: MeasurementList
    cursor_label: QtWidgets.QLabel
    calibration_label: QtWidgets.QLabel
    tool_label: QtWidgets.QLabel
    integrity_label: QtWidgets.QLabel
    actions_by_name: dict[str, QtGui.QAction]
    overlay_help: ShortcutOverlay | None
    typing_guard: TypingGuard
    toolbar: QtWidgets.QToolBar
    zone_box: QtWidgets.QComboBox

    @property
    def case(self) -> Case | None:
        """The case shown."""
        return self.cases[self._case_index] if 0 <= self._case_index < len(self.cases) else None

    def _statuses(self) -> dict[str, CaseStatus]:
        result: dict[str, CaseStatus] = {}
        for reading in self.repository.readings():
            if reading.reader_id != self.session.reader_id:
                continue
            result[reading.case_code] = (
                CaseStatus.submitted if reading.locked else CaseStatus.in_progress
            )
        return result

    def _locked_error(self) -> SessionError:
        if not self._integrity_ok:
            return SessionError(
                "Scoring opens once every image of the set passed its integrity check."
            )
        return SessionError("The case is submitted and locked; reopen it first.")

    def _load(self, image: ImageRef) -> Radiograph:
        return self.cache.get(self.reading_set.path / image.file)

    def _stored(self) -> dict[tuple[str, str], Any]:
        context = self.session.context
        if context is None:
            return {}
        stored = self.repository.registrations(context.reading_id)
        return {(r.fixed_image_code, r.moving_image_code): r.matrix for r in stored}
