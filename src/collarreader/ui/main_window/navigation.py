"""Case navigation: opening a case, loading its images, prefetching, the integrity check.

Part of :mod:`collarreader.ui.main_window` (see its docstring).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from collarreader.errors import CollarReaderError, ReadingSetError, SessionError
from collarreader.imaging import Radiograph
from collarreader.imaging.radiograph import WINDOW_FALLBACK_NOTE
from collarreader.model import Case
from collarreader.session import timepoint_label
from collarreader.ui.main_window.base import PREFETCH_DELAY_MS
from collarreader.ui.main_window.display import _Display
from collarreader.ui.series import prefetch_pairs, series_pairs
from collarreader.ui.startup import first_case_code
from collarreader.ui.viewport import Corner


class _CaseNavigation(_Display):
    """Opening cases, loading and prefetching their images, checking the set."""

    # ---------------------------------------------------------------- cases

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
        # An absurd default window in the header was replaced by the pixels' percentiles: say
        # so (non-modal), or the reader judges bone density on a window the site did not choose.
        window_notes = [
            f"{image.view} {timepoint_label(image.timepoint)}: {note}"
            for image in case.images
            if (radiograph := self._radiographs.get(image.image_code)) is not None
            for note in radiograph.notes
            if note.endswith(WINDOW_FALLBACK_NOTE)
        ]
        if window_notes:
            self.statusBar().showMessage("; ".join(window_notes), 30000)
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
