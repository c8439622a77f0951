"""``collarreader read SETDIR --reader ID [--db FILE]``: start the reading workstation.

Launch, in the order that puts the first case on screen soonest (:func:`run_reader`):

1. the reading set's ``readingset.json`` and protocol are read and the reader is checked
   (no image is read yet);
2. two worker processes start and import the DICOM decoder (:mod:`collarreader.ui.preload`);
   the likely first case is guessed from the reader database with ``sqlite3`` alone
   (:func:`~collarreader.ui.startup.guess_first_case`) and sent to them at once: first its
   reduced-resolution JPEG 2000 previews, then its full images, each hashed before it is
   decoded — they work while this process does steps 3 and 4;
3. Qt starts without pyqtgraph and a light frame is shown where the window will be
   (:class:`~collarreader.ui.app.LightFrame`);
4. SQLAlchemy, pyqtgraph and the window's modules are imported (pydicom is not: this process
   decodes nothing at launch), the reader database is opened (created or upgraded after a
   backup; its set UUID, reader and protocol must match) and the first case is chosen from
   it (another case than the guess is sent to the workers then);
5. the window replaces the frame, its viewports say "loading…"; each preview is painted as
   it arrives (:class:`~collarreader.ui.preview.PreviewPainter`), then each full image;
6. once the first case is painted in full, the SHA-256 of every other image of the set is
   checked in a background thread (earlier, its hashing would compete for the two cores).

Integrity, honestly: no image is decoded before its own bytes matched the recorded hash, and
nothing can be scored (tools, form, submit, undo are read-only, the status bar says why)
until the whole set has passed; a failure keeps scoring closed and names the files. The
reader can look at the first case while the check runs. Later cases are decoded in the
background only after the whole set passed (their decoder may be gdcm, which only verified
bytes may reach); a case opened before that is hashed first.

:func:`open_reader` (tests, the demo's screenshot, the bench) does the same synchronously:
the whole-set check first (with a progress dialog), then the window.

Default database: ``./collarreader-<first 8 characters of the set UUID>-<reader>.sqlite`` in
the current folder — outside the reading set (which stays read-only and identical for every
reader) and named so that two sets or two readers never share a file.

Benchmark hook: with ``COLLARREADER_EXIT_AFTER_PAINT=1`` the reader prints
``window-shown <seconds>`` once its light frame is up, ``first-look-painted <seconds>`` once
every preview of the first case is painted (at once when it has none) and
``first-case-painted <seconds>`` once every image of the first case is painted in full,
then quits (seconds since the time in
``COLLARREADER_LAUNCH_T0``, a ``time.time()`` value, or since :func:`run_reader` began).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from collarreader.errors import CollarReaderError, ReadingSetError
from collarreader.study.readingset import (
    ReadingSet,
    open_reading_set,
    sha256_files,
    verify_files,
)
from collarreader.ui.preload import FirstCaseLoader
from collarreader.ui.startup import guess_first_case

if TYPE_CHECKING:
    from collarreader.db.engine import Database
    from collarreader.imaging import Radiograph, RadiographCache, Spacing
    from collarreader.ui.app import LightFrame
    from collarreader.ui.main_window import AskReason, AskSize, MainWindow
    from collarreader.ui.settings import ReaderSettings

T = TypeVar("T")

CACHE_BYTES = 1 << 30
"""Decoded-image budget: about 20 full-size 2560 × 2048 uint16 radiographs (five cases)."""

WINDOW_SIZE = (1600, 1000)


def default_db_path(reading_set: ReadingSet, reader_id: str, folder: Path | None = None) -> Path:
    """``<folder or cwd>/collarreader-<set uuid[:8]>-<reader>.sqlite``."""
    base = Path.cwd() if folder is None else folder
    return base / f"collarreader-{reading_set.set_uuid[:8]}-{reader_id}.sqlite"


def verify_with_progress(reading_set: ReadingSet) -> None:
    """Check every image's SHA-256, with a Qt progress dialog when it takes a while.

    Raises
    ------
    ReadingSetError
        Listing missing or modified files.
    """
    from PySide6 import QtCore, QtWidgets

    dialog = QtWidgets.QProgressDialog(
        f"Checking the integrity of {len(reading_set.images)} images…", "", 0, 0
    )
    dialog.setWindowTitle("collarreader")
    dialog.setCancelButton(None)
    dialog.setMinimumDuration(500)
    with ThreadPoolExecutor(1, thread_name_prefix="verify") as pool:
        future = pool.submit(verify_files, reading_set)
        while not future.done():
            QtWidgets.QApplication.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
            wait([future], timeout=0.05)
        dialog.close()
        future.result()


@dataclass
class Reader:
    """An open reader: the window and what it owns (closed by :meth:`close`)."""

    window: MainWindow
    database: Database
    cache: RadiographCache
    db_path: Path
    closed: bool = False
    loader: FirstCaseLoader | None = None
    checker: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Write the time of the open case, close the window, the cache and the database."""
        if self.closed:
            return
        self.closed = True
        if self.loader is not None:
            self.loader.shutdown()
        if self.checker is not None:
            self.checker.shutdown(wait=True, cancel_futures=True)
        self.window.session.close_case()
        self.window.close()
        self.cache.close()
        self.database.close()


def check_reader(reading_set: ReadingSet, reader_id: str) -> None:
    """Refuse a reader the set was not prepared for (ReadingSetError)."""
    if reader_id not in reading_set.readers:
        raise ReadingSetError(
            f"{reading_set.path}: reader {reader_id!r} is not one this set was prepared for "
            f"({', '.join(reading_set.readers)}). Check --reader."
        )


def open_reader(
    setdir: str | Path,
    reader_id: str,
    db_path: str | Path | None = None,
    *,
    verify: bool = True,
    ask_size: AskSize | None = None,
    ask_reason: AskReason | None = None,
    clock: Callable[[], float] | None = None,
    settings: ReaderSettings | None = None,
) -> Reader:
    """Check the set, open the reader database and build the main window (not yet shown).

    Parameters
    ----------
    setdir : the reading set folder
    reader_id : the reader (must be one the set was prepared for)
    db_path : the reader database (created when absent); default :func:`default_db_path`
    verify : check every image's SHA-256 first (with a progress dialog)
    ask_size, ask_reason : the calibration and reopen dialogs (injectable for tests)
    clock : monotonic seconds for the active reading time (injectable for tests)
    settings : the reader's keys and options; default: this user's settings file
        (``ReaderSettings(path=None)`` for a window that never writes one, e.g. a screenshot)

    Raises
    ------
    CollarReaderError
        ReadingSetError for a damaged set or unknown reader, DatabaseError for a database
        of another set, reader or protocol.
    """
    from collarreader.ui.app import create_application

    create_application()
    reading_set = open_reading_set(setdir, verify=False)
    check_reader(reading_set, reader_id)
    if verify:
        verify_with_progress(reading_set)
    return _build(
        reading_set,
        reader_id,
        db_path,
        trusted=verify,
        ask_size=ask_size,
        ask_reason=ask_reason,
        clock=clock,
        settings=settings,
    )


def _build(
    reading_set: ReadingSet,
    reader_id: str,
    db_path: str | Path | None,
    *,
    trusted: bool,
    ask_size: AskSize | None = None,
    ask_reason: AskReason | None = None,
    trace: Callable[[str], None] = lambda _label: None,
    clock: Callable[[], float] | None = None,
    settings: ReaderSettings | None = None,
) -> Reader:
    """Open the database and session and build the window (Qt must be running)."""
    from collarreader.db.engine import open_database
    from collarreader.db.repository import Repository

    trace("db-imported")
    from collarreader.imaging.cache import RadiographCache
    from collarreader.session import ReadingSession

    trace("imaging-session-imported")
    from collarreader.ui.app import configure_pyqtgraph
    from collarreader.ui.main_window import MainWindow, ask_known_size, ask_reopen_reason

    configure_pyqtgraph()  # the launch started Qt without it (its light frame came first)
    trace("window-imported")

    path = Path(db_path) if db_path is not None else default_db_path(reading_set, reader_id)
    database = open_database(
        path,
        create=True,
        role="reader",
        reader_id=reader_id,
        set_uuid=reading_set.set_uuid,
        protocol=reading_set.protocol,
        key_commitment=reading_set.key_commitment,
    )
    trace("db-open")
    cache = RadiographCache(CACHE_BYTES, workers=2, trusted=trusted)
    try:
        paths = {image.image_code: reading_set.image_path(image) for image in reading_set.images}
        shown: dict[str, Any] = {}

        def spacing_for(image_code: str) -> Spacing | None:
            # The window's radiographs first: the first case arrives from the workers, not
            # through the cache, and an unverified file must not be decoded here.
            window = shown.get("window")
            if window is not None:
                radiograph: Radiograph | None = window.radiograph_of(image_code)
                if radiograph is not None:
                    return radiograph.spacing
            path = paths.get(image_code)
            if path is None:
                return None
            try:
                return cache.get(path).spacing
            except CollarReaderError:
                return None

        session = ReadingSession(
            Repository(database),
            reading_set,
            reading_set.protocol,
            reader_id,
            spacing_for=spacing_for,
            **({"clock": clock} if clock is not None else {}),
        )
        window = MainWindow(
            reading_set,
            session,
            cache,
            ask_size=ask_size or ask_known_size,
            ask_reason=ask_reason or ask_reopen_reason,
            settings=settings,
        )
        shown["window"] = window
        trace("window-built")
    except BaseException:
        cache.close()
        database.close()
        raise
    window.resize(*WINDOW_SIZE)
    return Reader(window, database, cache, path)


def _check_rest(reading_set: ReadingSet, first: dict[str, Future[Radiograph]]) -> list[str]:
    """The whole-set check: the workers' verdicts on the first case, then every other file."""
    problems: list[str] = []
    done: set[str] = set()
    for code, future in first.items():
        try:
            future.result()
        except ReadingSetError as error:
            problems.append(str(error))
            done.add(code)
        except Exception:  # noqa: BLE001,S112 - not an integrity verdict (decode error, pool): hash below
            continue
        else:
            done.add(code)
    images = [image for image in reading_set.images if image.image_code not in done]
    paths = [reading_set.image_path(image) for image in images]
    for image, path, digest in zip(images, paths, sha256_files(paths, workers=1), strict=True):
        if digest is None:
            problems.append(f"{path}: missing or unreadable")
        elif digest != image.sha256:
            problems.append(f"{path}: modified (SHA-256 does not match readingset.json)")
    return problems


def run_reader(setdir: str | Path, reader_id: str, db_path: str | Path | None = None) -> int:
    """Run the reading workstation until its window is closed (see the module docstring).

    Returns
    -------
    int
        0 on a normal close; 2 when the set, reader or database is refused (the message is
        printed to stderr and shown in a dialog when there is a display).
    """
    started = time.time()
    t0 = float(os.environ.get("COLLARREADER_LAUNCH_T0", started))
    bench = bool(os.environ.get("COLLARREADER_EXIT_AFTER_PAINT"))
    loader = FirstCaseLoader()
    frame: LightFrame | None = None

    def trace(label: str) -> None:
        if bench:
            print(f"phase {label} {time.time() - t0:.3f}", flush=True)  # noqa: T201

    try:
        trace("start")
        reading_set = open_reading_set(setdir, verify=False)
        trace("set-read")
        check_reader(reading_set, reader_id)
        loader.warm()
        trace("workers-started")
        # The likely first case goes to the workers now: they decode it while this process
        # imports Qt, pyqtgraph and SQLAlchemy and builds the window (seconds, not idle).
        path = Path(db_path) if db_path is not None else default_db_path(reading_set, reader_id)
        worklist = [entry.case_code for entry in reading_set.worklist(reader_id)]
        guess = guess_first_case(path, worklist, reader_id)
        early_previews = _send_case(loader.previews, reading_set, guess)
        early = _send_case(loader.load, reading_set, guess)
        trace("first-case-sent")
        from collarreader.ui.app import LightFrame, create_application
        from collarreader.ui.settings import ReaderSettings

        app = create_application(plots=False)
        settings = ReaderSettings.load()
        frame = LightFrame(settings.geometry, f"Opening {reading_set.path.name}…")
        frame.show_like_main_window()
        app.processEvents()
        trace("frame-shown")
        if bench:
            print(f"window-shown {time.time() - t0:.3f}", flush=True)  # noqa: T201
        reader = _build(
            reading_set, reader_id, db_path, trusted=True, trace=trace, settings=settings
        )
    except CollarReaderError as error:
        loader.shutdown()
        if frame is not None:
            frame.close()
        return _refuse(error)
    reader.loader = loader
    window = reader.window
    print(f"reader database: {reader.db_path}", file=sys.stderr)  # noqa: T201
    from collarreader.ui.startup import first_case_code

    code = first_case_code(window.session, window.cases)
    if code == guess:
        previews, pending = early_previews, early
    else:
        previews = _send_case(loader.previews, reading_set, code)
        pending = _send_case(loader.load, reading_set, code)
    trace("first-case-chosen")
    reader.checker = ThreadPoolExecutor(1, thread_name_prefix="verify")
    # The whole-set check starts once the first case is painted: its hashing would compete
    # with the main thread and the workers for the two cores meanwhile.
    verdict: Future[list[str]] = Future()
    window.begin_integrity_check(verdict)
    window.show_as_last_time()
    frame.close()
    trace("window-shown")

    def start_check() -> None:
        if reader.checker is None or verdict.done():
            return
        try:
            _chain(reader.checker.submit(_check_rest, reading_set, pending), verdict)
        except RuntimeError:  # the reader closed before the first paint
            verdict.cancel()

    def first_painted(_code: str) -> None:
        window.images_ready.disconnect(first_painted)
        loader.shutdown()
        start_check()
        if bench:
            window.grab()  # forces the paint of every viewport
            print(f"first-case-painted {time.time() - t0:.3f}", flush=True)  # noqa: T201
            from PySide6 import QtCore

            QtCore.QTimer.singleShot(0, window.close)

    def first_look() -> None:
        if bench:
            if painter is not None and painter.painted:
                window.grid.grab()  # forces the previews' paint (no grab when there are none)
            print(f"first-look-painted {time.time() - t0:.3f}", flush=True)  # noqa: T201

    window.images_ready.connect(first_painted)
    painter = None  # kept referenced while the event loop runs
    if code is not None:
        window.open_case(code, pending=pending)
        from collarreader.ui.preview import PreviewPainter

        painter = PreviewPainter(window, code, previews, on_all_painted=first_look)
        painter.start()
    else:
        start_check()
    try:
        app.exec()
    finally:
        reader.close()
    return 0


def _chain(source: Future[list[str]], target: Future[list[str]]) -> None:
    """Give ``target`` the outcome of ``source`` once it has one."""

    def copy(done: Future[list[str]]) -> None:
        if target.done():
            return
        error = done.exception() if not done.cancelled() else None
        if done.cancelled():
            target.cancel()
        elif error is not None:
            target.set_exception(error)
        else:
            target.set_result(done.result())

    source.add_done_callback(copy)


def _send_case(
    send: Callable[[Sequence[tuple[str, Path, str]]], dict[str, Future[T]]],
    reading_set: ReadingSet,
    code: str | None,
) -> dict[str, Future[T]]:
    """Hand a case's images to the workers (image code → future); nothing for no case."""
    if code is None:
        return {}
    images = reading_set.case(code).images
    return send([(i.image_code, reading_set.image_path(i), i.sha256) for i in images])


def can_show_dialog(environ: Mapping[str, str] | None = None) -> bool:
    """True when a dialog would reach a person: a display and an on-screen Qt platform.

    Decided from the environment *before* Qt starts: without a display Qt would pick the
    ``offscreen`` platform, where a modal dialog waits forever for a click nobody can make.
    """
    from collarreader.ui.app import needs_offscreen

    env = os.environ if environ is None else environ
    if env.get("QT_QPA_PLATFORM", "").split(":")[0] in HEADLESS_PLATFORMS:
        return False
    return not needs_offscreen(env)


HEADLESS_PLATFORMS = frozenset({"offscreen", "minimal", "minimalegl", "vnc"})
"""Qt platforms on which nobody sees a dialog at this machine."""


def _refuse(error: CollarReaderError) -> int:
    print(f"collarreader read: {error}", file=sys.stderr)  # noqa: T201
    if can_show_dialog():
        from PySide6 import QtWidgets

        from collarreader.ui.app import create_application

        create_application()
        QtWidgets.QMessageBox.critical(None, "collarreader read", str(error))
    return 2
