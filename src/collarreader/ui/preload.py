"""Verify and decode the first case's images in worker processes while the window starts.

Free of Qt on purpose: the worker processes import this module (``spawn`` start method) and
must stay light — they load only :mod:`collarreader.imaging` and :mod:`hashlib`.

Why processes and not threads: the JPEG 2000 decoders (gdcm, pylibjpeg-openjpeg) hold the
GIL while they decode (measured: a Python loop in the main thread ran at ~10 % of its speed
during a decode in a thread), and importing Qt, pyqtgraph and SQLAlchemy is GIL-bound
Python work too. Two worker processes decode the first case on the second core while the
main process imports and builds the window.

Trust: a worker hashes the file first and decodes it only when the SHA-256 equals the one
the reading set records (``trusted=True`` then lets gdcm decode bytes that the preparation
step already decoded safely); a mismatch raises :class:`~collarreader.errors.ReadingSetError`
and nothing is decoded.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collarreader.imaging.preview import Preview
    from collarreader.imaging.radiograph import Radiograph

__all__ = ["FirstCaseLoader", "verify_and_load", "verify_and_preview", "warm_up"]

T = TypeVar("T")

WORKERS = 2
"""Worker processes: the reference workstation has two cores."""


WORKER_NICENESS = 5
"""How much lower the workers' scheduling priority is than the main process's (POSIX nice).

At launch the main process's imports (Qt, pyqtgraph, SQLAlchemy: seconds of single-threaded
work) are the longer path to the first paint; the workers' decoding must take the other core,
not time slices from the main process."""


def lower_priority() -> None:
    """Worker initializer: yield the CPU to the main process (no-op where unsupported)."""
    import contextlib
    import os

    with contextlib.suppress(AttributeError, OSError):
        os.nice(WORKER_NICENESS)


def warm_up() -> bool:
    """Import the decoder in a worker (so that the first real job starts decoding at once)."""
    import collarreader.imaging.decode  # noqa: F401

    return True


def _verify(path: str, sha256: str) -> None:
    """Raise ReadingSetError unless the file's SHA-256 is the recorded one."""
    from collarreader.errors import ReadingSetError
    from collarreader.study.readingset import sha256_file

    try:
        digest = sha256_file(path)
    except OSError as error:
        message = f"{path}: missing or unreadable ({error.strerror}); copy the set again."
        raise ReadingSetError(message) from error
    if digest != sha256:
        message = (
            f"{path}: modified (SHA-256 does not match readingset.json); copy the set again "
            "from the study lead's original."
        )
        raise ReadingSetError(message)


def verify_and_preview(path: str, sha256: str) -> Preview | None:
    """Check the file's SHA-256, then decode its reduced-resolution preview.

    None for a file that has no preview (not JPEG 2000, or already small): see
    :func:`collarreader.imaging.preview.load_preview`.

    Raises
    ------
    ReadingSetError
        The file is missing or its bytes differ from the recorded hash (nothing is decoded).
    DicomReadError
        The preview cannot be decoded.
    """
    from collarreader.imaging.preview import load_preview

    _verify(path, sha256)
    return load_preview(path)


def verify_and_load(path: str, sha256: str) -> Radiograph:
    """Check the file's SHA-256, then decode it as trusted bytes.

    Parameters
    ----------
    path : the image file of a reading set
    sha256 : its SHA-256 as the reading set records it (lower-case hex)

    Raises
    ------
    ReadingSetError
        The file is missing or its bytes differ from the recorded hash (nothing is decoded).
    DicomReadError
        The file cannot be decoded.
    """
    from collarreader.imaging.decode import load_radiograph

    _verify(path, sha256)
    return load_radiograph(path, trusted=True)


class FirstCaseLoader:
    """A short-lived pool of worker processes for the first case of a session.

    Call :meth:`warm` as early as possible (the workers start and import the decoder), then
    :meth:`load` once the first case is known, and :meth:`shutdown` when its images arrived.
    Any failure of the pool itself (no ``spawn`` possible, a worker killed) makes the
    futures fail with :class:`BrokenProcessPool`; the caller then decodes in-process.
    """

    def __init__(self, workers: int = WORKERS) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self.workers = workers

    def warm(self) -> None:
        """Start the workers and let each import the decoder."""
        try:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=lower_priority,
            )
            for _ in range(self.workers):
                self._pool.submit(warm_up)
        except (OSError, RuntimeError, BrokenProcessPool):
            self._pool = None

    def load(self, images: Sequence[tuple[str, Path, str]]) -> dict[str, Future[Radiograph]]:
        """Verify and decode images in the workers: ``(key, path, sha256)`` → key → future.

        Returns an empty mapping when the pool could not start (the caller decodes itself).
        """
        return self._submit(verify_and_load, images)

    def previews(
        self, images: Sequence[tuple[str, Path, str]]
    ) -> dict[str, Future[Preview | None]]:
        """Verify and decode reduced-resolution previews in the workers (see :meth:`load`).

        Send these before the same images' :meth:`load`: the workers take jobs in order, so
        every preview of the case is painted before the first full decode ends.
        """
        return self._submit(verify_and_preview, images)

    def _submit(
        self, job: Callable[[str, str], T], images: Sequence[tuple[str, Path, str]]
    ) -> dict[str, Future[T]]:
        if self._pool is None:
            return {}
        futures: dict[str, Future[T]] = {}
        try:
            for key, path, sha256 in images:
                futures[key] = self._pool.submit(job, str(path), sha256)
        except (RuntimeError, BrokenProcessPool):
            for future in futures.values():
                future.cancel()
            return {}
        return futures

    def shutdown(self) -> None:
        """Stop the workers (jobs still queued are cancelled; running ones finish)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
