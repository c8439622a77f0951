"""``collarreader read SETDIR --reader ID [--db FILE]``: start the reading workstation.

Start-up checks, in order: the reading set's format and protocol, every image's SHA-256 (a
progress dialog appears when this takes more than half a second), that the reader is one the
set was prepared for; then the reader database is created or resumed (schema upgraded after a
backup; its set UUID, reader and protocol must match).

Default database: ``./collarreader-<first 8 characters of the set UUID>-<reader>.sqlite`` in
the current folder — outside the reading set (which stays read-only and identical for every
reader) and named so that two sets or two readers never share a file.

Benchmark hook: with ``COLLARREADER_EXIT_AFTER_PAINT=1`` the reader quits once the first case
is painted and prints ``first-case-painted <seconds>`` (seconds since the time in
``COLLARREADER_LAUNCH_T0``, a ``time.time()`` value, or since :func:`run_reader` began).
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from collarreader.db.engine import Database, open_database
from collarreader.db.repository import Repository
from collarreader.errors import CollarReaderError, ReadingSetError
from collarreader.imaging import RadiographCache, Spacing
from collarreader.session import ReadingSession
from collarreader.study.readingset import ReadingSet, open_reading_set, verify_files
from collarreader.ui.app import create_application
from collarreader.ui.main_window import (
    AskReason,
    AskSize,
    MainWindow,
    ask_known_size,
    ask_reopen_reason,
)

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

    def close(self) -> None:
        """Write the time of the open case, close the window, the cache and the database."""
        if self.closed:
            return
        self.closed = True
        self.window.session.close_case()
        self.window.close()
        self.cache.close()
        self.database.close()


def open_reader(
    setdir: str | Path,
    reader_id: str,
    db_path: str | Path | None = None,
    *,
    verify: bool = True,
    ask_size: AskSize = ask_known_size,
    ask_reason: AskReason = ask_reopen_reason,
) -> Reader:
    """Check the set, open the reader database and build the main window (not yet shown).

    Parameters
    ----------
    setdir : the reading set folder
    reader_id : the reader (must be one the set was prepared for)
    db_path : the reader database (created when absent); default :func:`default_db_path`
    verify : check every image's SHA-256 (with a progress dialog)
    ask_size, ask_reason : the calibration and reopen dialogs (injectable for tests)

    Raises
    ------
    CollarReaderError
        ReadingSetError for a damaged set or unknown reader, DatabaseError for a database
        of another set, reader or protocol.
    """
    create_application()
    reading_set = open_reading_set(setdir, verify=False)
    if reader_id not in reading_set.readers:
        raise ReadingSetError(
            f"{reading_set.path}: reader {reader_id!r} is not one this set was prepared for "
            f"({', '.join(reading_set.readers)}). Check --reader."
        )
    if verify:
        verify_with_progress(reading_set)
    path = Path(db_path) if db_path is not None else default_db_path(reading_set, reader_id)
    database = open_database(
        path,
        create=True,
        role="reader",
        reader_id=reader_id,
        set_uuid=reading_set.set_uuid,
        protocol=reading_set.protocol,
    )
    cache = RadiographCache(CACHE_BYTES, workers=2, trusted=verify)
    try:
        paths = {image.image_code: reading_set.image_path(image) for image in reading_set.images}

        def spacing_for(image_code: str) -> Spacing | None:
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
        )
        window = MainWindow(reading_set, session, cache, ask_size=ask_size, ask_reason=ask_reason)
    except BaseException:
        cache.close()
        database.close()
        raise
    window.resize(*WINDOW_SIZE)
    return Reader(window, database, cache, path)


def run_reader(setdir: str | Path, reader_id: str, db_path: str | Path | None = None) -> int:
    """Run the reading workstation until its window is closed.

    Returns
    -------
    int
        0 on a normal close; 2 when the set, reader or database is refused (the message is
        printed to stderr and shown in a dialog when there is a display).
    """
    started = time.time()
    t0 = float(os.environ.get("COLLARREADER_LAUNCH_T0", started))
    app = create_application()
    try:
        reader = open_reader(setdir, reader_id, db_path)
    except CollarReaderError as error:
        print(f"collarreader read: {error}", file=sys.stderr)  # noqa: T201
        if os.environ.get("QT_QPA_PLATFORM") != "offscreen":
            QtWidgets.QMessageBox.critical(None, "collarreader", str(error))
        return 2
    window = reader.window
    print(f"reader database: {reader.db_path}", file=sys.stderr)  # noqa: T201
    window.show()
    window.start()
    if os.environ.get("COLLARREADER_EXIT_AFTER_PAINT"):
        app.processEvents()
        window.grab()  # forces the paint of every viewport
        print(f"first-case-painted {time.time() - t0:.3f}", flush=True)  # noqa: T201
        QtCore.QTimer.singleShot(0, window.close)
    try:
        app.exec()
    finally:
        reader.close()
    return 0
