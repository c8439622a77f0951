"""SIGKILL at random moments of a merge: afterwards every merge completes and equals a clean one.

A forked merger (see ``merge_kill_child.py``) merges two small reader databases and is killed
at a moment drawn uniformly over the time a merge takes on this machine. Checked after each
kill, before anything repairs: a target that a merge *creates* is absent or complete (it
takes its name only when complete); a target that already existed holds each source merged
completely or not at all. Then a plain merge of the same sources completes and its content
equals a clean merge's (:func:`~collarreader.db.merge.canonical_dump`).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collarreader.db.engine import open_database
from collarreader.db.merge import canonical_dump, merge_databases
from collarreader.db.merge.newfile import building_path
from collarreader.db.verify import verify_database
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.simulate import simulate_reads

CHILD = Path(__file__).with_name("merge_kill_child.py")
ROUNDS = 30


@dataclass(frozen=True)
class Sources:
    a: Path
    b: Path
    reference: dict[str, list[str]]  # a clean merge of A then B
    only_a: Path  # a study database holding A only
    only_a_dump: dict[str, list[str]]


def dump(target: str | Path) -> dict[str, list[str]]:
    database = open_database(target)
    try:
        return canonical_dump(database)
    finally:
        database.close()


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    root = tmp_path_factory.mktemp("kills")
    summary = generate_study(root / "phantom", patients=1, seed=11, small=True)
    prepare_reading_set(summary.manifest, root / "set", root / "key.json", "A,B", seed=11)
    a, b = root / "A.sqlite", root / "B.sqlite"
    simulate_reads(root / "set", reader_id="A", db_path=a, seed=1)
    simulate_reads(root / "set", reader_id="B", db_path=b, seed=1)
    clean = root / "clean.sqlite"
    merge_databases(clean, [a, b])
    assert verify_database(clean) == []
    only_a = root / "only-a.sqlite"
    merge_databases(only_a, [a])
    return Sources(a, b, dump(clean), only_a, dump(only_a))


class Zygote:
    """The child process that forks mergers."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.read() == "zygote"

    def read(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the merge child ended unexpectedly"
        return line.strip()

    def merge(self, round_number: int, target: str | Path, paths: list[Path], delay: float) -> int:
        """Start a merge and SIGKILL it ``delay`` seconds later; return its wait status."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"go {round_number} {target} {' '.join(map(str, paths))}\n")
        self.process.stdin.flush()
        pid = int(self.read().split()[1])
        timer = threading.Timer(delay, _kill, (pid,))
        timer.start()
        reaped = self.read().split()
        timer.cancel()  # the merge may have ended before its kill moment
        timer.join()
        assert reaped[:2] == ["reaped", str(round_number)]
        return int(reaped[2])

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # reaped: the merge finished first
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def zygote() -> Iterator[Zygote]:
    child = Zygote()
    yield child
    child.close()


def merge_seconds(zygote: Zygote, target: str | Path, paths: list[Path]) -> float:
    """How long an unkilled merge takes here (the span the kill moments are drawn from)."""
    started = time.perf_counter()
    assert zygote.merge(-1, target, paths, delay=600.0) == 0
    return time.perf_counter() - started


def test_kill_while_creating_leaves_no_target_or_a_complete_one(
    sources: Sources, zygote: Zygote, tmp_path: Path
) -> None:
    paths = [sources.a, sources.b]
    span = merge_seconds(zygote, tmp_path / "timing.sqlite", paths)
    rng = random.Random(20261206)
    killed = 0
    for round_number in range(ROUNDS):
        target = tmp_path / f"r{round_number}" / "study.sqlite"
        target.parent.mkdir()
        status = zygote.merge(round_number, target, paths, rng.uniform(0.0, span * 1.1))
        killed += status != 0
        if target.exists():
            assert dump(target) == sources.reference, f"round {round_number}: incomplete target"
        merge_databases(target, paths)
        assert dump(target) == sources.reference
        assert not building_path(target).exists()
    assert killed >= ROUNDS // 2, f"only {killed} of {ROUNDS} merges were killed mid-way"


def test_kill_while_merging_into_an_existing_target_keeps_each_source_whole(
    sources: Sources, zygote: Zygote, tmp_path: Path
) -> None:
    base = tmp_path / "timing.sqlite"
    shutil.copy(sources.only_a, base)
    span = merge_seconds(zygote, base, [sources.b])
    rng = random.Random(20261207)
    killed = 0
    for round_number in range(ROUNDS):
        target = tmp_path / f"study-{round_number}.sqlite"
        shutil.copy(sources.only_a, target)
        status = zygote.merge(round_number, target, [sources.b], rng.uniform(0.0, span * 1.1))
        killed += status != 0
        assert dump(target) in (sources.only_a_dump, sources.reference), round_number
        merge_databases(target, [sources.a, sources.b])
        assert dump(target) == sources.reference
    assert killed >= ROUNDS // 2, f"only {killed} of {ROUNDS} merges were killed mid-way"


def test_kill_during_a_postgresql_merge_rolls_back(
    sources: Sources, zygote: Zygote, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from tests.db.conftest import Backend, postgres_admin_url

    backend = Backend("postgresql", tmp_path, postgres_admin_url())
    try:
        paths = [sources.a, sources.b]
        span = merge_seconds(zygote, backend.location("timing"), paths)
        target: Any = backend.location("killed")
        status = zygote.merge(0, target, paths, span * random.Random(5).uniform(0.2, 0.8))
        holds = dump(target) if _has_study(target) else None
        assert holds in (None, sources.only_a_dump, sources.reference), status
        merge_databases(target, paths)
        assert dump(target) == sources.reference
    finally:
        backend.drop_all()


def _has_study(url: str) -> bool:
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return inspect(connection).has_table("db_identity")
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------ the target path


def test_an_empty_stub_of_an_older_version_is_recreated_with_a_note(
    sources: Sources, tmp_path: Path
) -> None:
    import sqlite3

    target = tmp_path / "study.sqlite"
    stub = sqlite3.connect(target)
    stub.execute("PRAGMA journal_mode = WAL")  # what an interrupted older merge left: 4 KiB
    stub.close()
    assert target.stat().st_size > 0
    leftover = building_path(target)
    leftover.write_bytes(b"SQLite format 3\x00 half-built")
    report = merge_databases(target, [sources.a, sources.b])
    assert report.created
    assert any("empty stub" in note for note in report.notes)
    assert any(leftover.name in note for note in report.notes)
    assert "note: " in str(report)
    assert dump(target) == sources.reference
    assert not leftover.exists()


def test_a_folder_or_a_missing_folder_as_target_is_refused_cleanly(
    sources: Sources, tmp_path: Path
) -> None:
    from collarreader.errors import MergeError

    folder = tmp_path / "studies"
    folder.mkdir()
    with pytest.raises(MergeError, match=r"is a folder; give the study database's file name"):
        merge_databases(folder, [sources.a])
    assert list(folder.iterdir()) == []
    with pytest.raises(MergeError, match=r"does not exist\. Create it first"):
        merge_databases(tmp_path / "missing" / "study.sqlite", [sources.a])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["studies"]
