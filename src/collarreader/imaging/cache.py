"""A byte-bounded LRU cache of decoded radiographs, with background prefetch.

The viewer asks for the current case with :meth:`RadiographCache.get` and announces the
next ones with :meth:`RadiographCache.prefetch`, so that a case switch usually finds its
images decoded. No Qt here: the UI calls these from its own threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from collarreader.imaging.radiograph import Radiograph

# (resolved path, frame, mtime_ns, size): a file replaced on disk is a different key.
_Key = tuple[str, int, int, int]


@dataclass
class CacheStats:
    """Counters since the cache was made.

    Attributes
    ----------
    hits : gets answered from memory (including waits for a prefetch in flight)
    misses : gets that had to decode in the caller's thread
    decodes : decodes started, in any thread (successful or not)
    evictions : radiographs dropped to stay within the byte budget
    """

    hits: int = 0
    misses: int = 0
    decodes: int = 0
    evictions: int = 0


class RadiographCache:
    """Least-recently-used radiographs, bounded by the bytes of their pixel arrays.

    Thread-safe. The total of cached ``pixels.nbytes`` never exceeds `max_bytes`; a
    radiograph larger than the whole budget is returned but not kept.

    Parameters
    ----------
    max_bytes : byte budget for cached pixel arrays
    workers : background decoding threads for :meth:`prefetch`
    trusted : passed to :func:`load_radiograph`: True only for files whose bytes the
        caller has verified (a reading set opened with ``verify=True``)
    """

    def __init__(self, max_bytes: int, *, workers: int = 1, trusted: bool = False) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be 0 or more, not {max_bytes}.")
        if workers < 1:
            raise ValueError(f"workers must be 1 or more, not {workers}.")
        self.max_bytes = max_bytes
        self.trusted = trusted
        self._lock = threading.Lock()
        self._items: OrderedDict[_Key, Radiograph] = OrderedDict()
        self._nbytes = 0
        self._inflight: dict[_Key, Future[Radiograph]] = {}
        self._errors: dict[_Key, BaseException] = {}
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="collar-prefetch")
        self._closed = False
        self.stats = CacheStats()

    @property
    def nbytes(self) -> int:
        """Bytes of pixel data held now."""
        with self._lock:
            return self._nbytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def contains(self, path: str | Path, frame: int = 0) -> bool:
        """Whether this frame of this file is decoded and held now."""
        key = _key(path, frame)
        with self._lock:
            return key is not None and key in self._items

    def get(self, path: str | Path, frame: int = 0) -> Radiograph:
        """Return the radiograph, decoding it now unless cached or being prefetched.

        Parameters
        ----------
        path : DICOM file
        frame : 0-based frame

        Returns
        -------
        Radiograph

        Raises
        ------
        DicomReadError
            The file cannot be shown (also when a prefetch of it failed earlier).
        """
        key = _key(path, frame)
        if key is None:
            # Missing file: let the loader raise its DicomReadError.
            return _load(path, frame, trusted=self.trusted)
        with self._lock:
            self._check_open()
            cached = self._items.get(key)
            if cached is not None:
                self._items.move_to_end(key)
                self.stats.hits += 1
                return cached
            error = self._errors.pop(key, None)
            if error is not None:
                raise error
            future = self._inflight.get(key)
            if future is not None and future.cancel():
                # Still queued behind other prefetches: decoding here is quicker.
                del self._inflight[key]
                future = None
            if future is None:
                future = Future()
                future.set_running_or_notify_cancel()
                self._inflight[key] = future
                owner = True
                self.stats.misses += 1
            else:
                owner = False
                self.stats.hits += 1
        if not owner:
            try:
                return future.result()
            finally:
                with self._lock:
                    self._errors.pop(key, None)
        try:
            radiograph = self._decode(key)
        except BaseException as exc:
            with self._lock:
                self._inflight.pop(key, None)
            future.set_exception(exc)
            raise
        with self._lock:
            self._inflight.pop(key, None)
            self._store(key, radiograph)
        future.set_result(radiograph)
        return radiograph

    def prefetch(self, paths: Iterable[str | Path], frame: int = 0) -> list[Future[Radiograph]]:
        """Decode these files in the background, in order, unless held or in flight.

        An error is kept and raised by the next :meth:`get` of that file.

        Returns
        -------
        list of Future
            One per decode started or already in flight (for callers that want to wait).
        """
        futures: list[Future[Radiograph]] = []
        with self._lock:
            self._check_open()
            for path in paths:
                key = _key(path, frame)
                if key is None or key in self._items:
                    continue
                if key in self._inflight:
                    futures.append(self._inflight[key])
                    continue
                self._errors.pop(key, None)
                future = self._executor.submit(self._prefetch_one, key)
                self._inflight[key] = future
                futures.append(future)
        return futures

    def clear(self) -> None:
        """Drop every cached radiograph and stored error (prefetches in flight finish)."""
        with self._lock:
            self._items.clear()
            self._errors.clear()
            self._nbytes = 0

    def close(self) -> None:
        """Cancel queued prefetches, wait for running ones, and drop everything."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._inflight.clear()
        self.clear()

    def __enter__(self) -> RadiographCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("This RadiographCache is closed.")

    def _decode(self, key: _Key) -> Radiograph:
        with self._lock:
            self.stats.decodes += 1
        return _load(key[0], key[1], trusted=self.trusted)

    def _prefetch_one(self, key: _Key) -> Radiograph:
        try:
            radiograph = self._decode(key)
        except Exception as exc:
            with self._lock:
                self._inflight.pop(key, None)
                self._errors[key] = exc
            raise
        with self._lock:
            self._inflight.pop(key, None)
            self._store(key, radiograph)
        return radiograph

    def _store(self, key: _Key, radiograph: Radiograph) -> None:
        """Keep `radiograph` if it fits, evicting the least recently used; lock held."""
        size = radiograph.nbytes
        if size > self.max_bytes or self._closed:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._nbytes -= old.nbytes
        while self._items and self._nbytes + size > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self._nbytes -= evicted.nbytes
            self.stats.evictions += 1
        self._items[key] = radiograph
        self._nbytes += size


def _key(path: str | Path, frame: int) -> _Key | None:
    try:
        resolved = Path(path).resolve()
        stat = resolved.stat()
    except OSError:
        return None
    return (str(resolved), frame, stat.st_mtime_ns, stat.st_size)


def _load(path: str | Path, frame: int, *, trusted: bool) -> Radiograph:
    """:func:`~collarreader.imaging.decode.load_radiograph`, imported on the first decode.

    Imported here, not at the top: a cache is made at the reader's launch, before the first
    case arrives from the worker processes, and pydicom need not delay that.
    """
    from collarreader.imaging.decode import load_radiograph

    return load_radiograph(path, frame, trusted=trusted)
