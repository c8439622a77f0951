"""The reading session: one reader working through the worklist of a reading set.

Part of :mod:`collarreader.session` (see its docstring for the rules).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from collarreader.db.repository import Repository
from collarreader.errors import SessionError
from collarreader.model import AnnotationKind, Case, Reading
from collarreader.protocol import FieldValue, Protocol
from collarreader.session.annotation_commands import (
    AddAnnotation,
    DeleteAnnotation,
    MoveAnnotation,
    RelabelZone,
)
from collarreader.session.calibration_commands import Calibrate, StoreRegistration
from collarreader.session.command import Command
from collarreader.session.context import (
    ReadingContext,
    SpacingFor,
    _no_spacing,
    cases_from_reading_set,
)
from collarreader.session.lock_commands import Reopen, Submit
from collarreader.session.score_commands import ClearScore, SetScore

# ------------------------------------------------------------------------------ the session


class ReadingSession:
    """One reader working through the worklist of a reading set.

    Parameters
    ----------
    repository : the reader's database
    cases : a :class:`~collarreader.study.readingset.ReadingSet` (the reader's worklist is
        taken from it) or the cases themselves, in reading order
    protocol : the scoring protocol
    reader_id : the reader
    clock : monotonic seconds, for active reading time (injectable for tests)
    spacing_for : image code → header spacing (:class:`collarreader.imaging.Spacing`) or None
    """

    def __init__(
        self,
        repository: Repository,
        cases: Any,
        protocol: Protocol,
        reader_id: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        spacing_for: SpacingFor = _no_spacing,
    ) -> None:
        self.repository = repository
        self.protocol = protocol
        self.reader_id = reader_id
        self.clock = clock
        self.spacing_for = spacing_for
        identity = repository.identity
        if identity.reader_id not in (None, reader_id):
            message = (
                f"{repository.database.label} belongs to reader {identity.reader_id!r}, "
                f"not {reader_id!r}."
            )
            raise SessionError(message)
        if identity.protocol_sha256 not in (None, protocol.sha256):
            message = (
                f"{repository.database.label} was read with another protocol "
                f"({identity.protocol_name} {identity.protocol_version})."
            )
            raise SessionError(message)
        if hasattr(cases, "worklist"):
            self.cases: tuple[Case, ...] = tuple(cases_from_reading_set(cases, reader_id))
        else:
            self.cases = tuple(cases)
        repository.import_cases(self.cases, [reader_id])
        self._by_code = {case.case_code: case for case in self.cases}
        self.context: ReadingContext | None = None
        self._resumed_at: float | None = None

    # ---- navigation
    @property
    def case(self) -> Case | None:
        """The case open now, or None."""
        return None if self.context is None else self.context.case

    @property
    def reading(self) -> Reading | None:
        """The reading open now (fresh from the database), or None."""
        if self.context is None:
            return None
        return self.repository.reading(self.context.reading_id)

    def open_case(self, case_code: str) -> ReadingContext:
        """Open (or resume) the reader's reading of a case and start its clock.

        The first opening creates the reading row; the current case's time is written first.
        """
        case = self._by_code.get(case_code)
        if case is None:
            message = f"Case {case_code!r} is not in reader {self.reader_id}'s worklist."
            raise SessionError(message)
        self.pause()
        repository = self.repository
        reading_id = repository.reading_uuid(case_code, self.reader_id)
        if repository.reading(reading_id) is None:
            with repository.transaction() as tx:
                tx.insert(
                    "readings",
                    {
                        "id": reading_id,
                        "case_id": repository.case_uuid(case_code),
                        "reader_id": repository.reader_uuid(self.reader_id),
                        "kind": str(case.kind),
                        "started_at": tx.at,
                        "submitted_at": None,
                        "active_seconds": 0.0,
                        "locked": False,
                        "reopen_reason": None,
                    },
                )
        self.context = ReadingContext(reading_id, case, self.protocol, self.spacing_for)
        self.resume()
        return self.context

    def close_case(self) -> None:
        """Write the time of the current case and leave it."""
        self.pause()
        self.context = None

    # ---- time
    def resume(self) -> None:
        """Start counting active reading time (no-op when running or the reading is locked)."""
        if self.context is None or self._resumed_at is not None:
            return
        reading = self.reading
        if reading is not None and not reading.locked:
            self._resumed_at = self.clock()

    def pause(self) -> None:
        """Stop counting and add the elapsed time to the reading (an audited update)."""
        if self.context is None or self._resumed_at is None:
            return
        elapsed = max(0.0, self.clock() - self._resumed_at)
        self._resumed_at = None
        with self.repository.transaction() as tx:
            reading = tx.get("readings", self.context.reading_id)
            if reading is None or reading["locked"] or elapsed == 0.0:
                return
            tx.update(
                "readings",
                self.context.reading_id,
                {"active_seconds": reading["active_seconds"] + elapsed},
                before=reading,
            )

    # ---- commands
    def _context(self) -> ReadingContext:
        if self.context is None:
            message = "No case is open; open one from the worklist first."
            raise SessionError(message)
        return self.context

    def apply(self, command: Command) -> Command:
        """Apply a command to the repository and return it (for an undo stack)."""
        command.apply(self.repository)
        return command

    def add_annotation(
        self,
        image_code: str,
        kind: AnnotationKind | str,
        points_px: Sequence[Sequence[float]],
        zone: str | None = None,
    ) -> AddAnnotation:
        """Apply :class:`AddAnnotation` to the open case."""
        command = AddAnnotation(self._context(), image_code, kind, points_px, zone)
        self.apply(command)
        return command

    def move_annotation(
        self, annotation_id: str, points_px: Sequence[Sequence[float]]
    ) -> MoveAnnotation:
        """Apply :class:`MoveAnnotation`."""
        command = MoveAnnotation(self._context(), annotation_id, points_px)
        self.apply(command)
        return command

    def delete_annotation(self, annotation_id: str) -> DeleteAnnotation:
        """Apply :class:`DeleteAnnotation`."""
        command = DeleteAnnotation(self._context(), annotation_id)
        self.apply(command)
        return command

    def relabel_zone(self, annotation_id: str, zone: str | None) -> RelabelZone:
        """Apply :class:`RelabelZone`."""
        command = RelabelZone(self._context(), annotation_id, zone)
        self.apply(command)
        return command

    def set_score(
        self,
        field_key: str,
        value: FieldValue,
        *,
        timepoint: str,
        view: str | None = None,
        zone: str | None = None,
    ) -> SetScore:
        """Apply :class:`SetScore`."""
        command = SetScore(
            self._context(), field_key, value, timepoint=timepoint, view=view, zone=zone
        )
        self.apply(command)
        return command

    def clear_score(
        self,
        field_key: str,
        *,
        timepoint: str,
        view: str | None = None,
        zone: str | None = None,
    ) -> ClearScore:
        """Apply :class:`ClearScore`."""
        command = ClearScore(self._context(), field_key, timepoint=timepoint, view=view, zone=zone)
        self.apply(command)
        return command

    def calibrate(
        self,
        image_code: str,
        known_size_mm: float,
        points_px: Sequence[Sequence[float]],
        method: str = "line",
    ) -> Calibrate:
        """Apply :class:`Calibrate`."""
        command = Calibrate(self._context(), image_code, known_size_mm, points_px, method)
        self.apply(command)
        return command

    def store_registration(
        self,
        fixed_image_code: str,
        moving_image_code: str,
        matrix: Sequence[Sequence[float]],
        *,
        residual: float,
        overlap: float,
        method: str,
    ) -> StoreRegistration:
        """Apply :class:`StoreRegistration` (not an undo step: it is derived data)."""
        command = StoreRegistration(
            self._context(),
            fixed_image_code,
            moving_image_code,
            matrix,
            residual=residual,
            overlap=overlap,
            method=method,
        )
        self.apply(command)
        return command

    def submit(self) -> Submit:
        """Write the reading time, then apply :class:`Submit` (the clock stops)."""
        context = self._context()
        self.pause()
        command = Submit(context)
        try:
            self.apply(command)
        except SessionError:
            self.resume()
            raise
        return command

    def reopen(self, reason: str) -> Reopen:
        """Apply :class:`Reopen` and restart the clock."""
        command = Reopen(self._context(), reason)
        self.apply(command)
        self.resume()
        return command
