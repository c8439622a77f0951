"""RadiographCache: byte bound, LRU order, prefetch, errors, concurrency (real files)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import wait
from pathlib import Path

import numpy as np
import pytest

from collarreader.errors import DicomReadError
from collarreader.imaging import RadiographCache

ITEM_BYTES = 16 * 12 * 2  # one default synthetic image


@pytest.fixture
def files(make_dicom: Callable[..., Path], gradient_image: Callable[..., np.ndarray]) -> list[Path]:
    return [make_dicom(f"img{i}.dcm", gradient_image() + i) for i in range(4)]


@pytest.fixture
def cache() -> Iterator[RadiographCache]:
    with RadiographCache(max_bytes=2 * ITEM_BYTES + 10, workers=2) as made:
        yield made


def test_get_decodes_once_then_hits(cache: RadiographCache, files: list[Path]) -> None:
    first = cache.get(files[0])
    assert cache.get(files[0]) is first
    assert (cache.stats.decodes, cache.stats.misses, cache.stats.hits) == (1, 1, 1)
    assert cache.nbytes == ITEM_BYTES


def test_byte_bound_and_lru_eviction(cache: RadiographCache, files: list[Path]) -> None:
    cache.get(files[0])
    cache.get(files[1])
    cache.get(files[0])  # files[1] is now least recently used
    cache.get(files[2])
    assert cache.nbytes <= cache.max_bytes
    assert len(cache) == 2
    assert cache.contains(files[0])
    assert not cache.contains(files[1])
    assert cache.contains(files[2])
    assert cache.stats.evictions == 1


def test_item_larger_than_budget_is_returned_not_kept(files: list[Path]) -> None:
    with RadiographCache(max_bytes=ITEM_BYTES - 1) as small:
        radiograph = small.get(files[0])
        assert radiograph.nbytes == ITEM_BYTES
        assert small.nbytes == 0
        assert len(small) == 0


def test_prefetch_then_get_does_not_decode_again(cache: RadiographCache, files: list[Path]) -> None:
    futures = cache.prefetch(files[:2])
    wait(futures)
    assert cache.stats.decodes == 2
    for path in files[:2]:
        cache.get(path)
    assert cache.stats.decodes == 2
    assert cache.stats.misses == 0
    assert cache.stats.hits == 2
    assert cache.prefetch(files[:2]) == []  # already held


def test_get_waits_for_a_prefetch_in_flight(cache: RadiographCache, files: list[Path]) -> None:
    cache.prefetch([files[3]])
    radiograph = cache.get(files[3])  # in flight, queued or done: never decoded twice
    np.testing.assert_array_equal(radiograph.pixels[0, :2], [3, 40])
    assert cache.stats.decodes == 1


def test_prefetch_errors_are_raised_by_get(
    cache: RadiographCache, tmp_path: Path, sha256: Callable[[Path], str]
) -> None:
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not a dicom file at all" * 10)
    digest = sha256(bad)
    wait(cache.prefetch([bad]))
    with pytest.raises(DicomReadError, match="not a DICOM file"):
        cache.get(bad)
    with pytest.raises(DicomReadError, match="not a DICOM file"):
        cache.get(bad)  # and again, decoded anew
    assert sha256(bad) == digest
    with pytest.raises(DicomReadError, match="does not exist"):
        cache.get(tmp_path / "missing.dcm")


def test_concurrent_gets_of_one_file_decode_once(cache: RadiographCache, files: list[Path]) -> None:
    start = threading.Barrier(6)
    results: list[object] = []

    def worker() -> None:
        start.wait()
        results.append(cache.get(files[1]))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6
    assert all(result is results[0] for result in results)
    assert cache.stats.decodes == 1


def test_concurrent_gets_of_many_files_respect_the_bound(
    cache: RadiographCache, files: list[Path]
) -> None:
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            for i in range(12):
                cache.get(files[(i + offset) % len(files)])
                assert cache.nbytes <= cache.max_bytes
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert cache.nbytes <= cache.max_bytes


def test_replaced_file_is_decoded_again(
    cache: RadiographCache,
    make_dicom: Callable[..., Path],
    gradient_image: Callable[..., np.ndarray],
) -> None:
    path = make_dicom("same.dcm", gradient_image())
    cache.get(path)
    make_dicom("same.dcm", gradient_image(8, 8))
    assert cache.get(path).shape_px == (8, 8)


def test_clear_and_close(files: list[Path]) -> None:
    made = RadiographCache(max_bytes=10 * ITEM_BYTES)
    made.get(files[0])
    made.clear()
    assert made.nbytes == 0
    assert len(made) == 0
    made.close()
    with pytest.raises(RuntimeError, match="closed"):
        made.get(files[0])
    with pytest.raises(ValueError, match="max_bytes"):
        RadiographCache(max_bytes=-1)
