"""A writer SIGKILLed at random moments loses nothing it reported and breaks nothing.

The child (``crash_child.py``) issues session commands on a real SQLite file (WAL,
``synchronous=FULL``) and prints a line after each command returns; the parent kills it at a
random moment, 50 times, then checks the file's integrity, the audit chain and replay
(:func:`verify_database`), and that every reported command is in the database.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from collarreader.db.engine import Database
from collarreader.db.repository import Repository
from collarreader.db.verify import verify_database

CHILD = Path(__file__).with_name("crash_child.py")
ROUNDS = 50


def _read(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, "the child process ended unexpectedly"
    return line.strip()


def test_sigkill_at_random_moments_loses_no_reported_command(
    repository: Repository, database: Database, db_path: Path
) -> None:
    database.close()
    rng = random.Random(20240601)
    annotations: set[str] = set()
    comments: dict[str, str] = {}  # case code → last reported comment
    calibrations = 0
    process = subprocess.Popen(
        [sys.executable, str(CHILD), str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    try:
        assert _read(process) == "zygote"
        for round_number in range(ROUNDS):
            process.stdin.write(f"go {round_number} {rng.randrange(1 << 30)}\n")
            process.stdin.flush()
            pid = int(_read(process).split()[1])
            assert _read(process) == "ready"
            # Kill from a timer while this thread keeps reading what the writer reports.
            timer = threading.Timer(
                rng.uniform(0.0, 0.06), lambda pid=pid: os.kill(pid, signal.SIGKILL)
            )
            timer.start()
            while (line := _read(process)) != f"reaped {round_number}":
                kind, *rest = line.split()
                if kind == "A":
                    annotations.add(rest[0])
                elif kind == "S":
                    comments[rest[0]] = rest[1]
                elif kind == "K":
                    calibrations += 1
            timer.join()
    finally:
        process.stdin.close()
        process.wait(timeout=30)

    with sqlite3.connect(db_path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert verify_database(db_path) == []
    with sqlite3.connect(db_path) as connection:
        stored = {row[0] for row in connection.execute("SELECT id FROM annotations")}
        stored_comments = dict(
            connection.execute(
                "SELECT c.case_code, s.value FROM scores s JOIN readings r ON s.reading_id = r.id "
                "JOIN cases c ON r.case_id = c.id WHERE s.field_key = 'comment'"
            ).fetchall()
        )
        stored_calibrations = connection.execute("SELECT count(*) FROM calibrations").fetchone()
    assert annotations, "the writer never got to report a command"
    assert annotations <= stored
    # A command may commit and be killed before reporting: the stored comment is the last
    # reported one or a later one, never an earlier one.
    for case_code, reported in comments.items():
        assert stored_comments[case_code] >= reported
    if calibrations:
        assert stored_calibrations[0] > 0
