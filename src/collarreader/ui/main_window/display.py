"""Model → screen: redrawing from the database; the viewports, the current tool and zone.

Part of :mod:`collarreader.ui.main_window` (see its docstring).
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui

from collarreader.imaging import Radiograph
from collarreader.model import AnnotationKind
from collarreader.session import find_submission_problems, timepoint_label
from collarreader.tools import Tool
from collarreader.ui.main_window.base import (
    _TOOL_ACTIONS,
    _TOOL_NAMES,
    _target,
    _WindowBase,
    _with_spacing,
)
from collarreader.ui.measurements import METHOD_LABELS, method_label
from collarreader.ui.shortcuts import ShortcutOverlay
from collarreader.ui.viewport import CursorSample, calibration_badge, calibration_text, cursor_text
from collarreader.ui.windowing import WindowPreset


class _Display(_WindowBase):
    """Redrawing from the database, what the viewports show, the current tool and zone."""

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
        method = METHOD_LABELS.get(str(calibration.method), str(calibration.method))
        return f"{method} {calibration.known_size_mm:g} mm"

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
