"""The migration tool as press/move/release logic, free of Qt.

A migration (DESIGN §8a, :mod:`collarreader.measure.migration`) needs, on each of the two
films of one view, an implant landmark, a bone landmark and a caliper across an implant
dimension of known size. :class:`MigrationTool` collects them in a fixed order — the earlier
column's film first (6 m, or the set's "A" with blinded time points), then the later one —
and, when the last caliper's size is confirmed, hands ONE
:class:`~collarreader.series.RecordMigration` to ``execute`` (one undo step). Nothing is
written before: the placed marks are only kept for the view to draw (:attr:`marks`).

Steps on each film
    1. click the implant landmark (the collar's face, the stem's tip);
    2. click the bone landmark (a trochanter, a cortical notch);
    3. drag (or click both ends of) a caliper across the implant part whose size is known,
       both ends outside the metal; it is snapped to the metal's edges
       (:func:`collarreader.measure.migration.snap_to_edges`) and the reader confirms the
       known size through ``ask_size`` (the calibration's size dialog in the GUI).

The first click picks the view; a click on a film of another view, or on the later film
before the earlier one is done, is refused with a message saying where to click.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from collarreader.errors import SessionError
from collarreader.measure.migration import FilmLandmarks
from collarreader.series import RecordMigration
from collarreader.session import Command, ReadingContext, timepoint_label
from collarreader.tools import AskSize, PointerLike

__all__ = ["FilmMarks", "MigrationStep", "MigrationTool", "Snap"]

Snap = Callable[[str, tuple[float, float], tuple[float, float]], Sequence[Sequence[float]]]
"""(image code, caliper start px, caliper end px) → the caliper's two ends snapped to the
metal's edges; raises :class:`~collarreader.errors.CollarReaderError` or ``ValueError`` when
the caliper does not cross the implant."""


class MigrationStep(StrEnum):
    """What the reader places next on the current film."""

    implant = "implant landmark"
    bone = "bone landmark"
    reference = "caliper across the implant's known size"


@dataclass
class FilmMarks:
    """The marks placed so far on one film (pixel points of that film)."""

    image_code: str
    implant_px: tuple[float, float] | None = None
    bone_px: tuple[float, float] | None = None
    reference_px: list[tuple[float, float]] = field(default_factory=list)
    """The caliper: its ends while drawn, the snapped edges once confirmed."""
    reference_mm: float | None = None

    def landmarks(self) -> FilmLandmarks:
        """The finished marks as :class:`FilmLandmarks` (every step must be done)."""
        if self.implant_px is None or self.bone_px is None or self.reference_mm is None:
            message = f"Film {self.image_code}: place every migration landmark first."
            raise SessionError(message)
        first, second = self.reference_px[0], self.reference_px[-1]
        return FilmLandmarks(self.implant_px, self.bone_px, (first, second), self.reference_mm)


class MigrationTool:
    """Collects the migration landmarks of one view and records the migration.

    Parameters
    ----------
    context : returns the open reading's context (None when no case is open)
    execute : applies a command (GUI: pushes it on the undo stack); may raise SessionError
    timepoints : the hanging grid's two time-point columns, earlier first (the set's
        "A"/"B" with blinded time points)
    ask_size : drawn caliper length px → the known size, or None when the reader cancels
    snap : snaps a caliper to the metal's edges (None: the caliper stands as drawn)
    """

    min_drag_px = 1.5
    """A press and release closer than this (image pixels) is a click, not a drag."""

    def __init__(
        self,
        context: Callable[[], ReadingContext | None],
        execute: Callable[[Command], None],
        *,
        timepoints: Sequence[str],
        ask_size: AskSize,
        snap: Snap | None = None,
    ) -> None:
        if len(timepoints) < 2:
            message = "Migration needs two time points per view (earlier and later film)."
            raise SessionError(message)
        self._context = context
        self._execute = execute
        self.timepoints = (str(timepoints[0]), str(timepoints[1]))
        self.ask_size = ask_size
        self.snap = snap
        self.films: list[FilmMarks] = []
        self.view: str | None = None
        self.last_recorded: RecordMigration | None = None
        self._pair: tuple[str, str] | None = None
        self._case_code: str | None = None
        self._press: tuple[str, float, float] | None = None
        self._hover: tuple[float, float] | None = None

    # ---------------------------------------------------------------- state

    def cancel(self) -> bool:
        """Drop every mark placed; True when there were some."""
        busy = bool(self.films) or self._press is not None
        self.films = []
        self.view = None
        self._pair = None
        self._case_code = None
        self._press = None
        self._hover = None
        return busy

    @property
    def case_code(self) -> str | None:
        """The case the marks were placed on (None before the first mark)."""
        return self._case_code

    @property
    def film(self) -> FilmMarks | None:
        """The film being marked now (None before the first click)."""
        return self.films[-1] if self.films else None

    @property
    def step(self) -> MigrationStep:
        """What comes next on the current film."""
        film = self.film
        if film is None or film.implant_px is None or film.reference_mm is not None:
            return MigrationStep.implant
        if film.bone_px is None:
            return MigrationStep.bone
        return MigrationStep.reference

    def marks(self) -> dict[str, FilmMarks]:
        """Image code → its marks so far (the caliper being drawn follows the pointer)."""
        shown = {f.image_code: FilmMarks(**vars(f)) for f in self.films}
        film = self.film
        if film is not None and self.step is MigrationStep.reference and film.reference_mm is None:
            ends = list(film.reference_px)
            if self._press is not None and not ends:
                ends = [(self._press[1], self._press[2])]
            if ends and self._hover is not None:
                ends = [ends[0], self._hover]
            shown[film.image_code].reference_px = ends
        return shown

    def prompt(self) -> str:
        """The status-bar line: what to place next, and where."""
        context = self._context()
        if context is None:
            return "Migration: open a case first."
        earlier, later = (timepoint_label(t) for t in self.timepoints)
        if self.film is None:
            return (
                f"Migration: click the {MigrationStep.implant} on the {earlier} film of a view "
                f"(then the bone landmark and a caliper; then the same on the {later} film)."
            )
        first_done = self.films[0].reference_mm is not None
        which = later if len(self.films) == 2 or first_done else earlier
        return f"Migration ({self.view}): place the {self.step} on the {which} film."

    # ---------------------------------------------------------------- gestures

    def press(self, image_code: str, event: PointerLike) -> None:
        """Left press on a film: checks the film is the one to mark now."""
        if str(event.button) != "left":
            return
        context = self._context()
        if context is None:
            return
        if self._case_code is not None and self._case_code != context.case.case_code:
            self.cancel()  # another case opened: the marks belonged to the previous one
        self._expect(context, image_code)
        self._press = (image_code, float(event.x_px), float(event.y_px))
        self._hover = None

    def move(self, image_code: str, event: PointerLike) -> None:
        """Pointer move: the caliper being drawn follows it."""
        film = self.film
        if film is not None and film.image_code == image_code:
            self._hover = (float(event.x_px), float(event.y_px))

    def release(self, image_code: str, event: PointerLike) -> None:
        """Left release: places a landmark, or ends the caliper (drag or second click)."""
        if self._press is None or str(event.button) != "left":
            return
        press_code, x0, y0 = self._press
        self._press = None
        if press_code != image_code:
            return
        point = (float(event.x_px), float(event.y_px))
        dragged = math.hypot(point[0] - x0, point[1] - y0) >= self.min_drag_px
        film = self._film_for(image_code)
        step = self.step
        if step is MigrationStep.implant:
            film.implant_px = (x0, y0)
        elif step is MigrationStep.bone:
            film.bone_px = (x0, y0)
        elif dragged and not film.reference_px:
            self._finish_caliper(film, (x0, y0), point)
        elif not film.reference_px:
            film.reference_px = [(x0, y0)]
        else:
            self._finish_caliper(film, film.reference_px[0], (x0, y0))

    # ---------------------------------------------------------------- internals

    def _expect(self, context: ReadingContext, image_code: str) -> None:
        """Refuse a press on a film that is not the one to mark now."""
        image = context.image(image_code)
        earlier, later = (timepoint_label(t) for t in self.timepoints)
        if image.timepoint not in self.timepoints:
            message = f"Migration is measured on the {earlier} and {later} films, not this one."
            raise SessionError(message)
        if self.view is None:
            if image.timepoint != self.timepoints[0]:
                message = (
                    f"Migration: start on the {earlier} film of {image.view} (the {later} "
                    "film comes second)."
                )
                raise SessionError(message)
            return
        if image.view != self.view:
            message = (
                f"Migration on {self.view} is under way: finish it on the {self.view} films "
                "(or press Esc to start over)."
            )
            raise SessionError(message)
        wanted = self.films[-1].image_code
        if self.films[-1].reference_mm is not None:
            assert self._pair is not None  # noqa: S101 - set with the first film
            wanted = self._pair[1]
        if image_code != wanted:
            which = earlier if wanted == self.films[0].image_code else later
            message = f"Migration ({self.view}): place the {self.step} on the {which} film."
            raise SessionError(message)

    def _film_for(self, image_code: str) -> FilmMarks:
        context = self._context()
        assert context is not None  # noqa: S101 - press checked it
        if self.view is None:
            image = context.image(image_code)
            found = {i.timepoint: i.image_code for i in context.case.images if i.view == image.view}
            if self.timepoints[1] not in found:
                message = (
                    f"Case {context.case.case_code} has no {timepoint_label(self.timepoints[1])} "
                    f"film of {image.view}: migration needs both films."
                )
                raise SessionError(message)
            self.view = image.view
            self._pair = (image_code, found[self.timepoints[1]])
            self._case_code = context.case.case_code
        film = self.film
        if film is None or (film.reference_mm is not None and film.image_code != image_code):
            film = FilmMarks(image_code)
            self.films.append(film)
        return film

    def _finish_caliper(
        self, film: FilmMarks, start: tuple[float, float], end: tuple[float, float]
    ) -> None:
        """Snap the caliper, ask the known size, and record when both films are done."""
        film.reference_px = []
        self._hover = None
        ends = [start, end]
        if self.snap is not None:
            try:
                snapped = self.snap(film.image_code, start, end)
            except ValueError as error:
                message = f"Migration ({self.view}, film {film.image_code}): {error}"
                raise SessionError(message) from error
            ends = [(float(x), float(y)) for x, y in snapped]
        film.reference_px = ends
        length_px = math.hypot(ends[1][0] - ends[0][0], ends[1][1] - ends[0][1])
        answer = self.ask_size(length_px)
        if answer is None:
            film.reference_px = []  # cancelled: draw the caliper again
            return
        film.reference_mm = float(answer.known_size_mm)
        if len(self.films) == 2:
            self._record()

    def _record(self) -> None:
        context = self._context()
        assert context is not None  # noqa: S101 - press checked it
        assert self._pair is not None  # noqa: S101 - set with the first film
        earlier, later = self.films
        try:
            command = RecordMigration(
                context, self._pair[0], self._pair[1], earlier.landmarks(), later.landmarks()
            )
            self._execute(command)
        except SessionError:
            later.reference_px, later.reference_mm = [], None  # let the caliper be redrawn
            raise
        self.last_recorded = command
        self.cancel()
