"""Measurement tools as press/move/release logic, free of Qt.

The viewer forwards pointer events in image pixel coordinates (x=column, y=row, origin at the
centre of the top-left pixel) together with the code of the image they happened on; a
:class:`ToolController` turns a finished gesture into ONE session command (see
:mod:`collarreader.session`) and hands it to ``execute`` — in the GUI an undo-stack adapter
that applies it, in tests the session itself. Nothing is written while a gesture is under
way: the controller only keeps a :class:`Preview` for the view to draw.

Gestures
    - drag (press, moves, release more than :attr:`ToolController.min_drag_px` away): a
      straight line from press to release; for every tool.
    - clicks: each click adds a point. Two-point tools (calibration, cortical caliper)
      finish at the second click; polyline tools (interface line, bridged segment) finish
      with :meth:`ToolController.finish` (double-click or Return in the GUI).
    - radiolucent line (RLL): clicks trace the line along the collar–bone interface,
      :meth:`ToolController.finish` ends it; then the width caliper is dragged (or clicked,
      two points) across the lucent band — or placed by :meth:`ToolController.auto_width`
      from intensity profiles (:func:`auto_rll_caliper`) — and ONE annotation holding line
      and caliper is added (layout: :func:`collarreader.session.rll_points`). A drag before
      any line point is a caliper alone.
    - a handle of an existing annotation: :meth:`ToolController.begin_handle_drag`, moves,
      :meth:`ToolController.end_handle_drag` → one :class:`~collarreader.session.MoveAnnotation`
      on release only (a drag is one undo step).

The calibration tool asks for the known size through ``ask_size`` (a dialog in the GUI, a
function in tests): dialogs stay out of the tool and out of the commands.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from typing import Protocol as TypingProtocol

import numpy.typing as npt

from collarreader.errors import CollarReaderError, SessionError
from collarreader.model import AnnotationKind
from collarreader.semiauto import FittedCalibration
from collarreader.session import (
    AddAnnotation,
    Calibrate,
    Command,
    DeleteAnnotation,
    MeasureDetail,
    MoveAnnotation,
    ReadingContext,
    RelabelZone,
    rll_line_px,
    rll_points,
)

__all__ = [
    "BALL_DIAMETER_MM",
    "CalibrationAnswer",
    "Pointer",
    "PointerLike",
    "Preview",
    "Tool",
    "ToolController",
    "auto_rll_caliper",
    "tool_kind",
]

BALL_DIAMETER_MM = 25.0
"""Diameter of the usual calibration ball (the phantom's and most hospitals' marker)."""


class Tool(StrEnum):
    """The measurement tools (``none``: the left button pans)."""

    none = "none"
    calibrate = "calibrate"
    interface = "interface"
    bridging = "bridging"
    rll = "rll"
    thickness = "thickness"


_KIND_OF_TOOL: dict[Tool, AnnotationKind] = {
    Tool.interface: AnnotationKind.INTERFACE_LINE,
    Tool.bridging: AnnotationKind.BRIDGED_SEGMENT,
    Tool.rll: AnnotationKind.RLL,
    Tool.thickness: AnnotationKind.CORTICAL_CALIPER,
    Tool.calibrate: AnnotationKind.CALIBRATION_LINE,
}
_POLYLINE_TOOLS = (Tool.interface, Tool.bridging)


def tool_kind(tool: Tool) -> AnnotationKind | None:
    """The annotation kind a tool draws (None for ``none``)."""
    return _KIND_OF_TOOL.get(tool)


class PointerLike(TypingProtocol):
    """A pointer event: :class:`collarreader.ui.viewport.PointerEvent` or :class:`Pointer`."""

    @property
    def x_px(self) -> float: ...  # noqa: D102

    @property
    def y_px(self) -> float: ...  # noqa: D102

    @property
    def button(self) -> str: ...  # noqa: D102


@dataclass(frozen=True)
class Pointer:
    """A Qt-free pointer event (tests and scripted demos).

    Attributes
    ----------
    x_px, y_px : pixel (x=column, y=row), origin at the centre of the top-left pixel
    button : ``left``, ``middle``, ``right`` or ``none`` (hover)
    """

    x_px: float
    y_px: float
    button: str = "left"
    shift: bool = False
    ctrl: bool = False
    alt: bool = False


@dataclass(frozen=True)
class CalibrationAnswer:
    """The known size the reader gave for a drawn calibration line."""

    known_size_mm: float
    method: str = "line"  # "line" (a drawn known length) or "ball" (the ball's diameter)


class RllResultLike(TypingProtocol):
    """What a semi-automatic width gives (:class:`collarreader.measure.rll.RllMeasurement`)."""

    @property
    def caliper_px(self) -> list[list[float]] | None: ...

    @property
    def reason(self) -> str | None: ...


@dataclass
class Preview:
    """What is being drawn now, for the view (pixel points, not yet in the database)."""

    image_code: str
    kind: AnnotationKind
    points_px: list[tuple[float, float]] = field(default_factory=list)
    annotation_id: str | None = None  # set while a handle of this annotation is dragged
    line_px: list[tuple[float, float]] = field(default_factory=list)
    """An RLL's finished line while its caliper is being drawn (``points_px``)."""
    circle_px: tuple[float, float, float] | None = None
    """A fitted calibration ball ``(x, y, radius)`` proposed to the reader."""


AskSize = Callable[[float], CalibrationAnswer | None]
"""Drawn length in pixels → the known size, or None when the reader cancels."""

AutoCaliper = Callable[[str, Sequence[Sequence[float]]], "list[list[float]] | RllResultLike | None"]
"""(image code, traced line px) → the caliper's two points (or a measurement that has them
and the reason when it has none), or None (no band found)."""

AutoDetail = Callable[[str, Any], MeasureDetail | None]
"""(image code, the auto caliper's result) → what to store with the annotation."""

FitCalibration = Callable[[str, Sequence[Sequence[float]]], FittedCalibration | None]
"""(image code, one click or the two ends of a drawn line) → the fitted calibration, or None
when nothing could be fitted (the drawn line then stands as drawn)."""


def auto_rll_caliper(
    pixels: npt.ArrayLike,
    line_px: Sequence[Sequence[float]],
    *,
    invert: bool = False,
    spacing_mm: tuple[float, float] | None = None,
) -> list[list[float]] | None:
    """The RLL caliper from profiles (:func:`collarreader.measure.rll.auto_rll_caliper`).

    Imported on first use: the profile fit needs SciPy's optimiser, which the reader should
    not wait for at launch.
    """
    from collarreader.measure.rll import auto_rll_caliper as measure

    return measure(pixels, line_px, invert=invert, spacing_mm=spacing_mm)


def _no_size(_length_px: float) -> CalibrationAnswer | None:
    return None


_NO_BAND = (
    "No radiolucent band was found along the traced line; place the caliper by hand "
    "(drag it across the band)."
)


class ToolController:
    """Turns pointer gestures into session commands.

    Parameters
    ----------
    context : returns the open reading's context (None when no case is open)
    execute : applies a command (GUI: pushes it on the undo stack); may raise SessionError
    ask_size : asks the known size of a calibration line (GUI: a dialog)
    points_of : annotation id → its current pixel points (for handle drags)
    """

    min_drag_px = 1.5
    """A press and release closer than this (image pixels) is a click, not a drag."""

    def __init__(
        self,
        context: Callable[[], ReadingContext | None],
        execute: Callable[[Command], None],
        *,
        ask_size: AskSize = _no_size,
        points_of: Callable[[str], Sequence[Sequence[float]] | None] = lambda _id: None,
        auto_caliper: AutoCaliper | None = None,
    ) -> None:
        self._context = context
        self._execute = execute
        self.ask_size = ask_size
        self.points_of = points_of
        self.auto_caliper = auto_caliper
        self.image_of: Callable[[str], str | None] | None = None
        """Annotation id → its image code (for :meth:`auto_width` on a selection)."""
        self.kind_of: Callable[[str], AnnotationKind | None] | None = None
        """Annotation id → its kind (so a handle drag previews an RLL's line and caliper)."""
        self.fit_calibration: FitCalibration | None = None
        """Measures a calibration from the image: one click inside a ball, or a drawn line
        snapped to a collar's or stem's edges (None: calibration lines stand as drawn)."""
        self.auto_detail: AutoDetail | None = None
        """Turns an auto caliper's result into the detail stored with the annotation."""
        self.redraw: Callable[[], None] | None = None
        """Draws the preview now (GUI: before the known-size dialog hides the pointer)."""
        self.last_fit_message: str | None = None
        """Why the last click inside a ball gave no fit (for the status bar)."""
        self.tool = Tool.none
        self.read_only = False
        self.selected: str | None = None
        self.preview: Preview | None = None
        self._press: tuple[str, float, float] | None = None
        self._clicks: list[tuple[float, float]] = []
        self._handle: tuple[str, int, list[list[float]]] | None = None
        self._zones: dict[str, str] = {}
        self._rll_line: tuple[str, list[tuple[float, float]]] | None = None

    # ---------------------------------------------------------------- state

    def set_tool(self, tool: Tool | str) -> None:
        """Choose a tool; a gesture in progress is dropped."""
        self.cancel()
        self.tool = Tool(tool)

    def cancel(self) -> bool:
        """Drop the gesture in progress; True when there was one (Esc then keeps the tool)."""
        busy = self.preview is not None or self._press is not None or bool(self._clicks)
        self.preview = None
        self._press = None
        self._clicks = []
        self._handle = None
        self._rll_line = None
        return busy

    @property
    def rll_line(self) -> list[tuple[float, float]] | None:
        """The finished RLL line waiting for its caliper (None otherwise)."""
        return None if self._rll_line is None else list(self._rll_line[1])

    @property
    def busy(self) -> bool:
        """True while a gesture is in progress."""
        return self.preview is not None

    def zone_for(self, view: str) -> str | None:
        """The current zone for images of ``view`` (the protocol's first zone by default)."""
        context = self._context()
        if context is None:
            return None
        zones = [z.key for z in context.protocol.zones_for(view)]
        chosen = self._zones.get(view)
        if chosen in zones:
            return chosen
        return zones[0] if zones else None

    def set_zone(self, view: str, zone: str) -> None:
        """Make ``zone`` the current zone for ``view`` (it must be one of that view's zones)."""
        context = self._context()
        if context is not None:
            zones = [z.key for z in context.protocol.zones_for(view)]
            if zone not in zones:
                message = f"Zone {zone!r} is not a {view} zone; choose one of {', '.join(zones)}."
                raise SessionError(message)
        self._zones[view] = zone

    # ---------------------------------------------------------------- drawing gestures

    def press(self, image_code: str, event: PointerLike) -> None:
        """Left press on an image while a tool is active."""
        if str(event.button) != "left" or self.tool is Tool.none or self.read_only:
            return
        if self._context() is None:
            return
        kind = _KIND_OF_TOOL[self.tool]
        point = (float(event.x_px), float(event.y_px))
        busy_on = self.preview.image_code if self.preview is not None else None
        if (self._clicks or self._rll_line is not None) and busy_on != image_code:
            self.cancel()  # a click on another image starts over
        self._press = (image_code, *point)
        self.preview = Preview(image_code, kind, [*self._clicks, point], line_px=self._line())

    def move(self, image_code: str, event: PointerLike) -> None:
        """Pointer move (dragging, or hovering while clicking points)."""
        preview = self.preview
        if preview is None or preview.image_code != image_code or self._handle is not None:
            return
        point = (float(event.x_px), float(event.y_px))
        if self._press is not None and not self._clicks:
            preview.points_px = [(self._press[1], self._press[2]), point]
        elif self._clicks:
            preview.points_px = [*self._clicks, point]

    def release(self, image_code: str, event: PointerLike) -> None:
        """Left release: finishes a drag, or records a click."""
        if self._press is None or str(event.button) != "left":
            return
        press_code, x0, y0 = self._press
        self._press = None
        if press_code != image_code:
            self.cancel()
            return
        point = (float(event.x_px), float(event.y_px))
        dragged = math.hypot(point[0] - x0, point[1] - y0) >= self.min_drag_px
        line = self._line()
        if dragged and not self._clicks:
            self._commit(image_code, [(x0, y0), point], line)
            return
        if (
            self.tool is Tool.calibrate
            and not dragged
            and not self._clicks
            and self._calibrate_by_fit(image_code, [[x0, y0]])
        ):
            return
        self._clicks.append(point if dragged else (x0, y0))
        # Two-point tools, and an RLL's caliper once its line is drawn, end at two clicks.
        two_point = self.tool not in (*_POLYLINE_TOOLS, Tool.rll) or self._rll_line is not None
        if two_point and len(self._clicks) >= 2:
            self._commit(image_code, self._clicks, line)
            return
        self.preview = Preview(
            image_code, _KIND_OF_TOOL[self.tool], list(self._clicks), line_px=line
        )

    def _line(self) -> list[tuple[float, float]]:
        return [] if self._rll_line is None else list(self._rll_line[1])

    def finish(self) -> bool:
        """Finish a clicked polyline (double-click or Return); True when one was finished.

        For the RLL tool this ends the traced line; the caliper comes next.
        """
        preview = self.preview
        if preview is None or len(self._clicks) < 2:
            return False
        if self.tool is Tool.rll and self._rll_line is None:
            line = list(self._clicks)
            image_code = preview.image_code
            self._clicks = []
            self._press = None
            self._rll_line = (image_code, line)
            self.preview = Preview(image_code, AnnotationKind.RLL, [], line_px=list(line))
            return True
        self._commit(preview.image_code, self._clicks)
        return True

    def auto_width(self) -> bool:
        """Place the RLL caliper from intensity profiles along the traced line.

        Works on the line waiting for its caliper (adds the annotation) or on the selected
        RLL annotation that has a line (moves its caliper, one undo step). True when a
        caliper was placed; :class:`SessionError` when no band is found.
        """
        if self.auto_caliper is None or self.read_only or self._context() is None:
            return False
        if self._rll_line is not None:
            image_code, line = self._rll_line
            caliper, detail = self._auto(image_code, line)
            tool = self.tool
            self.tool = Tool.rll
            try:
                self._commit(image_code, [(x, y) for x, y in caliper], line, detail)
            finally:
                self.tool = tool
            return True
        points = self.points_of(self.selected) if self.selected is not None else None
        context = self._context()
        if points is None or context is None or self.selected is None:
            return False
        line_px = rll_line_px(points)
        if len(line_px) < 2:
            return False
        code = self._image_of(self.selected)
        if code is None:
            return False
        caliper, detail = self._auto(code, line_px)
        self._execute(MoveAnnotation(context, self.selected, rll_points(caliper, line_px), detail))
        return True

    def _auto(
        self, image_code: str, line_px: Sequence[Sequence[float]]
    ) -> tuple[list[list[float]], MeasureDetail | None]:
        """The auto caliper and its detail; SessionError with the reason when there is none."""
        assert self.auto_caliper is not None  # noqa: S101 - callers check
        result = self.auto_caliper(image_code, line_px)
        if result is None:
            raise SessionError(_NO_BAND)
        if isinstance(result, list):
            return result, None
        if result.caliper_px is None:
            raise SessionError(result.reason or _NO_BAND)
        detail = self.auto_detail(image_code, result) if self.auto_detail is not None else None
        return result.caliper_px, detail

    def _image_of(self, annotation_id: str) -> str | None:
        return self.image_of(annotation_id) if self.image_of is not None else None

    def _commit(
        self,
        image_code: str,
        points: Sequence[tuple[float, float]],
        line: Sequence[tuple[float, float]] = (),
        detail: MeasureDetail | None = None,
    ) -> None:
        tool = self.tool
        points_px = [[x, y] for x, y in points]
        if tool is Tool.rll:
            points_px = rll_points(points_px[:2], [[x, y] for x, y in line])
        self.cancel()
        context = self._context()
        if context is None or tool is Tool.none:
            return
        if tool is Tool.calibrate:
            if self._calibrate_by_fit(image_code, [points_px[0], points_px[-1]]):
                return
            length_px = math.hypot(
                points_px[-1][0] - points_px[0][0], points_px[-1][1] - points_px[0][1]
            )
            answer = self.ask_size(length_px)
            if answer is None:
                return
            self._execute(
                Calibrate(
                    context,
                    image_code,
                    answer.known_size_mm,
                    [points_px[0], points_px[-1]],
                    answer.method,
                )
            )
            return
        kind = _KIND_OF_TOOL[tool]
        view = context.image(image_code).view
        zone = self.zone_for(view)
        command = AddAnnotation(context, image_code, kind, points_px, zone, detail=detail)
        self._execute(command)
        self.selected = command.annotation_id

    def _calibrate_by_fit(self, image_code: str, points_px: Sequence[Sequence[float]]) -> bool:
        """Calibrate from a fit to the image (ball or snapped caliper); False: none found.

        The fitted circle or snapped caliper is shown while the reader confirms the known
        size; a cancelled dialog writes nothing (and still counts as handled).
        """
        self.last_fit_message = None
        context = self._context()
        if self.fit_calibration is None or context is None:
            return False
        try:
            fitted = self.fit_calibration(image_code, points_px)
        except CollarReaderError as error:
            self.last_fit_message = str(error)
            return False
        if fitted is None:
            return False
        self.cancel()
        self.preview = Preview(
            image_code,
            AnnotationKind.CALIBRATION_LINE,
            [(x, y) for x, y in fitted.points_px],
            circle_px=fitted.circle_px,
        )
        if self.redraw is not None:
            self.redraw()
        length_px = math.hypot(
            fitted.points_px[1][0] - fitted.points_px[0][0],
            fitted.points_px[1][1] - fitted.points_px[0][1],
        )
        try:
            answer = self.ask_size(length_px)
        finally:
            self.preview = None
        if answer is None:
            return True
        self._execute(
            Calibrate(
                context,
                image_code,
                answer.known_size_mm,
                fitted.points_px,
                fitted.method,
                fit=fitted.fit,
                residual_px=fitted.residual_px,
            )
        )
        return True

    # ---------------------------------------------------------------- handles

    def begin_handle_drag(self, annotation_id: str, index: int, image_code: str) -> bool:
        """Start dragging point ``index`` of an annotation; False when it cannot be edited."""
        self.selected = annotation_id
        if self.read_only or self._context() is None:
            return False
        points = self.points_of(annotation_id)
        if points is None or not 0 <= index < len(points):
            return False
        self.cancel()
        self.selected = annotation_id
        copy = [[float(x), float(y)] for x, y in points]
        self._handle = (annotation_id, index, copy)
        kind = self.kind_of(annotation_id) if self.kind_of is not None else None
        self.preview = Preview(
            image_code,
            kind or AnnotationKind.CORTICAL_CALIPER,
            [(x, y) for x, y in copy],
            annotation_id=annotation_id,
        )
        return True

    def drag_handle(self, x_px: float, y_px: float) -> None:
        """Move the dragged handle (only the preview changes)."""
        if self._handle is None or self.preview is None:
            return
        _annotation_id, index, points = self._handle
        points[index] = [float(x_px), float(y_px)]
        self.preview.points_px = [(x, y) for x, y in points]

    def end_handle_drag(self, x_px: float, y_px: float) -> None:
        """Release the handle: one MoveAnnotation when the point moved."""
        if self._handle is None:
            return
        annotation_id, index, points = self._handle
        original = self.points_of(annotation_id)
        points[index] = [float(x_px), float(y_px)]
        self.cancel()
        context = self._context()
        if context is None or original is None:
            return
        if [[float(x), float(y)] for x, y in original] == points:
            return
        self._execute(MoveAnnotation(context, annotation_id, points))

    # ---------------------------------------------------------------- selection

    def delete_selected(self) -> bool:
        """Delete the selected annotation (one command); True when there was one."""
        context = self._context()
        if self.selected is None or context is None or self.read_only:
            return False
        annotation_id = self.selected
        self._execute(DeleteAnnotation(context, annotation_id))
        self.selected = None
        return True

    def relabel_selected(self, zone: str | None) -> bool:
        """Move the selected annotation to ``zone`` (one command); True when applied."""
        context = self._context()
        if self.selected is None or context is None or self.read_only:
            return False
        self._execute(RelabelZone(context, self.selected, zone))
        return True
