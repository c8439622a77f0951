"""Series reading in the hanging grid: registration in the background, flicker, difference, blend.

For every view of a case the later film (the grid's second time-point column) is registered
onto the earlier one (:func:`collarreader.measure.registration.register`) on a worker thread
as soon as the case is shown — and for the next case while the reader works — so no gesture
ever waits for it. When a registration arrives the row is linked by anatomy
(:meth:`HangingGrid.set_registration`) and the transform is handed to ``store`` (the session
stores it with the reading); a transform already stored is used as it is, so every later look
is the same.

Three comparisons act on the focused row, all on the earlier film's pixel grid with the later
film's grey values matched to the earlier film's on the bone
(:mod:`collarreader.measure.subtraction`):

- **flicker** (X): the earlier viewport flips to the registered later film and back, at the
  same window, zoom and position;
- **difference** (D): the later viewport shows ``later − earlier`` (bone gained bright);
- **blend** (:meth:`SeriesView.set_blend`, a slider): the later viewport shows a mix.

Column labels come from the grid, so with blinded time points the reader sees the set's
"A"/"B" and never learns which film is the earlier.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from PySide6 import QtCore, QtWidgets

from collarreader.errors import CollarReaderError
from collarreader.imaging import Radiograph, Window
from collarreader.measure.registration import Registration, register
from collarreader.measure.subtraction import Comparison, blend, compare, difference
from collarreader.model import Case, ImageRef
from collarreader.ui.hanging import HangingGrid
from collarreader.ui.viewport import Corner

METHOD = "implant similarity, collarreader.measure.registration"
_KEEP_RESULTS = 16
STORE_DELAY_MS = 300


@dataclass(frozen=True)
class SeriesPair:
    """The two films of one view: ``fixed`` in the first column, ``moving`` in the second."""

    view: str
    fixed_code: str
    moving_code: str
    fixed: Radiograph
    moving: Radiograph
    stored_matrix: Any = None  # (2, 3) transform already stored with the reading, if any


@dataclass(frozen=True)
class SeriesResult:
    """A registration (or why there is none) and the later film matched onto the earlier."""

    registration: Registration | None
    comparison: Comparison | None
    error: str | None = None


class Mode(StrEnum):
    """What the row's viewports show besides the films themselves."""

    films = "films"
    flicker = "flicker"
    difference = "difference"
    blend = "blend"


def _key(pair: SeriesPair) -> tuple[str, str]:
    def name(radiograph: Radiograph) -> str:
        return radiograph.sop_instance_uid or f"{radiograph.path}#{radiograph.frame}"

    return name(pair.fixed), name(pair.moving)


def compute(pair: SeriesPair) -> SeriesResult:
    """Register (unless a transform is stored) and match grey values; no Qt, any thread."""
    try:
        if pair.stored_matrix is not None:
            registration = Registration(np.asarray(pair.stored_matrix, float), 0.0, 1.0)
        else:
            registration = register(
                pair.fixed.pixels,
                pair.moving.pixels,
                invert_fixed=pair.fixed.invert,
                invert_moving=pair.moving.invert,
            )
        comparison = compare(
            pair.fixed.pixels,
            pair.moving.pixels,
            registration.matrix,
            invert_fixed=pair.fixed.invert,
        )
    except CollarReaderError as error:
        return SeriesResult(None, None, str(error))
    return SeriesResult(registration, comparison)


def _derived(source: Radiograph, pixels: np.ndarray, window: Window, *, invert: bool) -> Radiograph:
    """A radiograph of computed pixels on ``source``'s grid (same spacing, never saved)."""
    frozen = np.asarray(pixels, dtype=np.float64)
    frozen.flags.writeable = False
    return dataclasses.replace(source, pixels=frozen, window=window, invert=invert)


class SeriesView(QtCore.QObject):
    """Background registration and the flicker/difference/blend views of a hanging grid.

    Parameters
    ----------
    grid : the hanging grid (first column earlier, second later, per row)
    store : called on the GUI thread with ``(pair, registration)`` for every new transform
    report : called with a message when a row cannot be registered (status bar)

    Signals
    -------
    registered(str)
        A view of the current case is linked by anatomy.
    mode_changed(str, str)
        View and :class:`Mode` of the row now shown.
    """

    registered = QtCore.Signal(str)
    mode_changed = QtCore.Signal(str, str)
    _arrived = QtCore.Signal(object)

    def __init__(
        self,
        grid: HangingGrid,
        *,
        store: Callable[[SeriesPair, Registration], None] | None = None,
        report: Callable[[str], None] | None = None,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.grid = grid
        self._store = store
        self._report = report
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registration")
        self._lock = threading.Lock()
        self._results: OrderedDict[tuple[str, str], SeriesResult] = OrderedDict()
        self._futures: dict[tuple[str, str], Future[SeriesResult]] = {}
        self._pairs: dict[str, SeriesPair] = {}
        self._modes: dict[str, Mode] = {}
        self._saved: dict[int, tuple[Radiograph, Any, Any, Window]] = {}
        self._blend_weight = 0.5
        self._closed = False
        self._arrived.connect(self._on_arrived, QtCore.Qt.ConnectionType.QueuedConnection)

    # ---------------------------------------------------------------- background work

    def close(self) -> None:
        """Stop the worker (pending registrations are dropped; later requests are ignored)."""
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _submit(self, key: tuple[str, str], pair: SeriesPair | Callable[[], SeriesPair]) -> None:
        with self._lock:
            # A delayed prefetch may come after the window closed: nothing to do then.
            if self._closed or key in self._results or key in self._futures:
                return

            def work() -> SeriesResult:
                return compute(pair() if callable(pair) else pair)

            future = self._executor.submit(work)
            self._futures[key] = future

        def arrived(done: Future[SeriesResult], k: tuple[str, str] = key) -> None:
            self._arrived.emit((k, done))

        future.add_done_callback(arrived)

    def prefetch(self, key: tuple[str, str], load: Callable[[], SeriesPair]) -> None:
        """Register a pair of a coming case in the background; ``load`` decodes its films."""
        self._submit(key, load)

    def has_result(self, fixed_uid: str, moving_uid: str) -> bool:
        """True when the pair of films with these SOP Instance UIDs has been computed."""
        with self._lock:
            return (fixed_uid, moving_uid) in self._results

    def result(self, view: str) -> SeriesResult | None:
        """The current case's result for a view, once it has arrived."""
        pair = self._pairs.get(view)
        return None if pair is None else self._results.get(_key(pair))

    def wait(self, timeout_s: float = 30.0) -> None:
        """Block until every submitted registration is done (tests and benchmarks)."""
        with self._lock:
            futures = list(self._futures.values())
        for future in futures:
            future.result(timeout=timeout_s)
        QtCore.QCoreApplication.processEvents()

    def _on_arrived(self, payload: tuple[tuple[str, str], Future[SeriesResult]]) -> None:
        key, future = payload
        try:
            result = future.result()
        except Exception as error:  # noqa: BLE001 - a bug in a worker must not kill the GUI
            result = SeriesResult(None, None, f"registration failed: {error}")
        with self._lock:
            self._futures.pop(key, None)
            self._results[key] = result
            while len(self._results) > _KEEP_RESULTS:
                self._results.popitem(last=False)
        for view, pair in list(self._pairs.items()):
            if _key(pair) == key:
                self._apply(view, pair, result)

    def _store_later(self, pair: SeriesPair, registration: Registration) -> None:
        if not self._closed and self._store is not None:
            self._store(pair, registration)

    def _apply(self, view: str, pair: SeriesPair, result: SeriesResult) -> None:
        if result.registration is None:
            if self._report is not None:
                self._report(f"{view}: films not registered, linked by mm — {result.error}")
            return
        self.grid.set_registration(view, result.registration.matrix)
        if pair.stored_matrix is None and self._store is not None:
            # Well after the paint: a case switch shows its images before the database write.
            registration = result.registration
            QtCore.QTimer.singleShot(STORE_DELAY_MS, lambda: self._store_later(pair, registration))
        self.registered.emit(view)

    # ---------------------------------------------------------------- the case shown

    def show_case(self, pairs: Mapping[str, SeriesPair]) -> None:
        """The grid shows a new case: register its rows (at once when already computed)."""
        self._pairs = dict(pairs)
        self._modes = {}
        self._saved = {}
        for view, pair in self._pairs.items():
            key = _key(pair)
            with self._lock:
                done = self._results.get(key)
            if done is not None:
                self._apply(view, pair, done)
            else:
                self._submit(key, pair)

    def mode(self, view: str) -> Mode:
        """What a row shows now."""
        return self._modes.get(view, Mode.films)

    def _row(self, view: str | None) -> tuple[str, int, int] | None:
        if view is None:
            index = self.grid.focused_index
            view = self.grid.views[index // len(self.grid.timepoints)]
        first = self.grid.index_of(view, self.grid.timepoints[0])
        return view, first, first + 1

    def _ready(self, view: str) -> SeriesResult | None:
        result = self.result(view)
        if result is None or result.comparison is None:
            if self._report is not None:
                text = "still registering" if result is None else f"not registered: {result.error}"
                self._report(f"{view}: {text}.")
            return None
        return result

    def _enter(self, view: str | None, mode: Mode) -> tuple[str, int, int, Comparison] | None:
        """Prepare a row for the toggled ``mode``: its name, viewport indices and comparison.

        None when there is nothing more to do: a second toggle of the same mode has gone
        back to the films, or the row is not registered yet (:meth:`_ready` reports why).
        Otherwise the row is back on its films, so one mode never stacks on another.
        """
        row = self._row(view)
        if row is None:
            return None
        name, first, second = row
        if self.mode(name) is mode:
            self.show_films(name)
            return None
        result = self._ready(name)
        if result is None or result.comparison is None:
            return None
        self.show_films(name)
        return name, first, second, result.comparison

    def _replace(self, index: int, radiograph: Radiograph, title: str) -> None:
        viewport = self.grid.viewports[index]
        if index not in self._saved and viewport.radiograph is not None:
            self._saved[index] = (
                viewport.radiograph,
                viewport.corner_text(Corner.top_left),
                viewport.display_matrix,
                viewport.display_window,
            )
        rect = viewport.target_rect()
        viewport.set_radiograph(radiograph, title=title)
        viewport.set_window(*radiograph.window)
        viewport.set_target_rect(rect)

    def _restore(self, index: int) -> None:
        saved = self._saved.pop(index, None)
        if saved is None:
            return
        radiograph, title, matrix, window = saved
        viewport = self.grid.viewports[index]
        rect = viewport.target_rect()
        viewport.set_radiograph(radiograph, title=title)
        viewport.set_display_transform(matrix)
        viewport.set_window(*window)
        viewport.set_target_rect(rect)

    def show_films(self, view: str | None = None) -> None:
        """Back to the two films of a row."""
        row = self._row(view)
        if row is None:
            return
        name, first, second = row
        self._restore(first)
        self._restore(second)
        self._modes[name] = Mode.films
        self.mode_changed.emit(name, Mode.films.value)

    def toggle_flicker(self, view: str | None = None) -> None:
        """Flip the earlier viewport between the earlier and the registered later film."""
        entered = self._enter(view, Mode.flicker)
        if entered is None:
            return
        name, first, _second, comparison = entered
        pair = self._pairs[name]
        viewport = self.grid.viewports[first]
        later = _derived(
            pair.fixed,
            comparison.matched,
            viewport.display_window,
            invert=viewport.inverted,
        )
        label = self.grid.labels[1]
        self._replace(first, later, f"{name} · {label} on {self.grid.labels[0]} (flicker)")
        self._modes[name] = Mode.flicker
        self.mode_changed.emit(name, Mode.flicker.value)

    def toggle_difference(self, view: str | None = None) -> None:
        """Show ``later − earlier`` (matched on bone) in the later viewport, or go back."""
        entered = self._enter(view, Mode.difference)
        if entered is None:
            return
        name, _first, second, comparison = entered
        pair = self._pairs[name]
        change = difference(pair.fixed.pixels, comparison, invert_fixed=pair.fixed.invert)
        inside = change[comparison.valid]
        # A robust spread (median absolute deviation): metal edges must not widen the window.
        median = float(np.median(inside)) if inside.size else 0.0
        spread = 1.4826 * float(np.median(np.abs(inside - median))) if inside.size else 1.0
        window = Window(0.0, max(10.0 * spread, 1e-6))
        labels = self.grid.labels
        self._replace(
            second,
            _derived(pair.fixed, change, window, invert=False),
            f"{name} · {labels[1]} − {labels[0]} (difference)",
        )
        self._modes[name] = Mode.difference
        self.mode_changed.emit(name, Mode.difference.value)

    def set_blend(self, later_weight: float, view: str | None = None) -> None:
        """Show a blend of the two films in the later viewport (0: earlier, 1: later)."""
        row = self._row(view)
        if row is None:
            return
        name, first, second = row
        result = self._ready(name)
        if result is None or result.comparison is None:
            return
        if self.mode(name) is not Mode.blend:
            self.show_films(name)
        self._blend_weight = float(later_weight)
        pair = self._pairs[name]
        mixed = blend(pair.fixed.pixels, result.comparison, self._blend_weight)
        window = self.grid.viewports[first].display_window
        labels = self.grid.labels
        self._replace(
            second,
            _derived(pair.fixed, mixed, window, invert=pair.fixed.invert),
            f"{name} · blend {labels[0]}/{labels[1]} {round(100 * self._blend_weight)} %",
        )
        self._modes[name] = Mode.blend
        self.mode_changed.emit(name, Mode.blend.value)


class BlendSlider(QtWidgets.QWidget):
    """A slider 0–100 % (earlier → later) for :meth:`SeriesView.set_blend` on the focused row."""

    def __init__(self, series: SeriesView, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.series = series
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(QtWidgets.QLabel("Blend", self))
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, 100)
        self.slider.setValue(50)
        self.slider.setToolTip("Blend the registered later film over the earlier one")
        self.slider.valueChanged.connect(lambda value: self.series.set_blend(value / 100.0))
        layout.addWidget(self.slider)


# ---------------------------------------------------------------- pairs of a case


def _pair_images(case: Case, grid: HangingGrid, view: str) -> tuple[ImageRef, ImageRef] | None:
    first, second = grid.timepoints[0], grid.timepoints[1]
    found = {i.timepoint: i for i in case.images if i.view == view}
    if first in found and second in found:
        return found[first], found[second]
    return None


def series_pairs(
    case: Case,
    grid: HangingGrid,
    radiographs: Mapping[str, Radiograph],
    stored: Mapping[tuple[str, str], Any],
) -> dict[str, SeriesPair]:
    """The pairs of a shown case whose two films are decoded, by view.

    ``radiographs`` maps image codes to the films shown; ``stored`` maps (earlier code,
    later code) to a transform already stored with the reading.
    """
    pairs: dict[str, SeriesPair] = {}
    if len(grid.timepoints) < 2:
        return pairs
    for view in grid.views:
        images = _pair_images(case, grid, view)
        if images is None:
            continue
        fixed, moving = images
        if fixed.image_code in radiographs and moving.image_code in radiographs:
            pairs[view] = SeriesPair(
                view,
                fixed.image_code,
                moving.image_code,
                radiographs[fixed.image_code],
                radiographs[moving.image_code],
                stored.get((fixed.image_code, moving.image_code)),
            )
    return pairs


def prefetch_pairs(
    series: SeriesView,
    case: Case,
    grid: HangingGrid,
    load: Callable[[ImageRef], Radiograph],
) -> None:
    """Register the pairs of a coming case on the worker; ``load`` decodes a film (any thread)."""
    if len(grid.timepoints) < 2:
        return
    for view in grid.views:
        images = _pair_images(case, grid, view)
        if images is None:
            continue
        fixed, moving = images

        def make(v: str = view, f: ImageRef = fixed, m: ImageRef = moving) -> SeriesPair:
            return SeriesPair(v, f.image_code, m.image_code, load(f), load(m))

        series.prefetch((fixed.sop_instance_uid, moving.sop_instance_uid), make)
