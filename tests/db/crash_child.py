"""Child process of the crash-safety test (run as a script, not collected by pytest).

It imports everything once, then for every ``go <round> <seed>`` line on stdin forks a writer
that opens the reader database and issues a stream of session commands, writing one line to
stdout after each command returns: ``A <annotation id>``, ``S <case> <n>`` (comment set to
``n``) or ``K <case>`` (calibration). The parent SIGKILLs the writer at a random moment; this
process reaps it and prints ``reaped <round>``. Forking keeps a round at a few tens of
milliseconds instead of a fresh interpreter's start-up.
"""

from __future__ import annotations

import os
import random
import sys

from collarreader.db.engine import open_database
from collarreader.db.repository import Repository
from collarreader.protocol import load_protocol
from collarreader.session import ReadingSession


def _say(line: str) -> None:
    # One write(2) per line: nothing buffered in the process when it is killed.
    os.write(1, (line + "\n").encode())


def writer(path: str, round_number: int, seed: int) -> None:
    """Issue commands until killed (or 400 commands)."""
    rng = random.Random(seed)
    protocol = load_protocol("collar-default")
    database = open_database(path)
    repository = Repository(database)
    cases = repository.cases()
    session = ReadingSession(repository, cases, protocol, "A")
    primaries = [case for case in cases if case.repeat_of is None]
    case = primaries[round_number % len(primaries)]
    session.open_case(case.case_code)
    ap6 = next(i for i in case.images if i.view == "AP" and i.timepoint == "6m")
    _say("ready")
    for n in range(400):
        choice = rng.random()
        if choice < 0.6:
            y = rng.uniform(0, 100)
            command = session.add_annotation(
                ap6.image_code, "rll", [[10.0, y], [10.0, y + rng.uniform(1, 30)]], zone="medial"
            )
            _say(f"A {command.annotation_id}")
        elif choice < 0.9:
            session.set_score("comment", f"{round_number:04d}-{n:04d}", timepoint="6m")
            _say(f"S {case.case_code} {round_number:04d}-{n:04d}")
        else:
            session.calibrate(ap6.image_code, rng.uniform(5, 40), [[0.0, 0.0], [100.0, 0.0]])
            _say(f"K {case.case_code}")


def main() -> None:
    """Serve ``go`` lines from the parent until stdin closes."""
    path = sys.argv[1]
    _say("zygote")
    for line in sys.stdin:
        _, round_text, seed_text = line.split()
        pid = os.fork()
        if pid == 0:
            try:
                writer(path, int(round_text), int(seed_text))
            finally:
                os._exit(0)
        _say(f"pid {pid}")
        os.waitpid(pid, 0)
        _say(f"reaped {round_text}")


if __name__ == "__main__":
    main()
