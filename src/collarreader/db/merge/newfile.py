"""A new SQLite study database, built beside its final name and renamed into place.

A merge that creates its target writes it as ``.<name>.creating`` in the same folder and
links it to ``<name>`` only when every source is merged, so a kill at any moment leaves no
target or a complete one (never the empty 4 KiB WAL stub an older collarreader could leave).
Before a merge, leftovers of an interrupted creation are removed, and an empty stub at the
final name (an SQLite file without a single table, or an empty file) is recognised and
removed with a note, so the merge creates the database again.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from collarreader.db.merge.common import _SQLITE_MAGIC
from collarreader.errors import MergeError

_SIDE_FILES = ("-wal", "-shm", "-journal")


def building_path(final: Path) -> Path:
    """Where a new study database is built before it takes its final name."""
    return final.with_name(f".{final.name}.creating")


def _remove_with_side_files(path: Path) -> bool:
    removed = False
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in _SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
            removed = True
    return removed


def check_target_path(final: Path) -> list[str]:
    """Check a study-database path before merging; clear leftovers; return notes for the user.

    Raises
    ------
    MergeError
        When the path is a folder, its folder is missing, or the file is not SQLite.
    """
    if final.is_dir():
        message = (
            f"{final}: is a folder; give the study database's file name (e.g. "
            f"{final / 'study.sqlite'})."
        )
        raise MergeError(message)
    if not final.parent.is_dir():
        message = f"{final}: the folder {final.parent} does not exist. Create it first."
        raise MergeError(message)
    notes = []
    if _remove_with_side_files(building_path(final)):
        notes.append(
            f"removed {building_path(final).name}, an unfinished study database left by an "
            "interrupted merge"
        )
    if not final.exists():
        return notes
    with final.open("rb") as handle:
        magic = handle.read(len(_SQLITE_MAGIC))
    if magic and magic != _SQLITE_MAGIC:
        message = (
            f"{final}: the study database is not an SQLite file; choose the study database "
            "or a new file name."
        )
        raise MergeError(message)
    if not magic or _has_no_tables(final):
        _remove_with_side_files(final)
        notes.append(
            f"{final.name} was an empty stub without tables (left by a merge of an older "
            "collarreader that was interrupted while creating it); created it again"
        )
    return notes


def _has_no_tables(path: Path) -> bool:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    except sqlite3.DatabaseError:
        return False  # damaged, not a stub: opening it reports the damage
    finally:
        connection.close()


def publish(building: Path, final: Path) -> None:
    """Give the complete database built at ``building`` its final name (atomically).

    The WAL is folded into the file first (rollback-journal mode; the next open returns it to
    WAL), so the one file holds everything; then it is synced, hard-linked to the final name
    (which fails rather than replaces when a database appeared there meanwhile) and unlinked.
    """
    connection = sqlite3.connect(building)
    try:
        connection.execute("PRAGMA journal_mode = DELETE")
    finally:
        connection.close()
    descriptor = os.open(building, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        os.link(building, final)
    except FileExistsError:
        message = (
            f"{final}: a file appeared there while the merge built the new study database; "
            f"the merged database is kept as {building}. Move one of them away."
        )
        raise MergeError(message) from None
    building.unlink()
    _sync_folder(final.parent)


def discard(building: Path) -> None:
    """Remove an unfinished new database (nothing was merged into it)."""
    _remove_with_side_files(building)


def _sync_folder(folder: Path) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be opened elsewhere
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
