"""Gesture commit latency: one session command = one transaction with its audit events.

A stream of AddAnnotation / SetScore commands on a reader SQLite database (WAL,
``synchronous=FULL``), each signed with the reader's Ed25519 key, interleaved one-for-one with
the same command on a second reader database whose transactions are not signed, and with the
peer — a bare single-row SQLAlchemy ORM commit on a database with the same pragmas — so all
three see the same disk and load. Prints p50/p95/p99 in ms, what signing adds, and the ratio
to the peer. Targets: p95 ≤ 2 ms; signing adds ≤ 0.2 ms (DESIGN.md §10).

Run: ``.venv/bin/python bench/bench_gesture.py [--commands 2000]``
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import String, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from collarreader.db.engine import Database, open_database
from collarreader.db.repository import Repository
from collarreader.db.signing import KEY_DIR_ENV, author_key
from collarreader.db.transaction import Transaction
from collarreader.model import Case, ImageRef
from collarreader.protocol import load_protocol
from collarreader.session import ReadingSession


class _PeerBase(DeclarativeBase):
    pass


class _PeerRow(_PeerBase):
    __tablename__ = "peer"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    value: Mapped[str] = mapped_column(String(64))


def _peer_session(path: Path) -> Session:
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    _PeerBase.metadata.create_all(engine)
    return Session(engine)


class _UnsignedDatabase(Database):
    """The same database, its transactions left unsigned: the benchmark's "without signing"."""

    def signer(self) -> Any:
        return None


_SEALS: list[float] = []
_SEAL = Transaction.seal


def _timed_seal(self: Transaction) -> str | None:
    # Times the signing step inside the signed database's transactions: one Ed25519 sign and
    # one UPDATE of the event, without the commit's fsync (which dwarfs it and varies).
    start = time.perf_counter()
    result = _SEAL(self)
    if result is not None:
        _SEALS.append(time.perf_counter() - start)
    return result


def _cases(n: int) -> list[Case]:
    result = []
    for index in range(n):
        images = tuple(
            ImageRef(f"I{index}{v}{t}", v, t, f"2.25.{index}.{k}", f"images/{index}{v}{t}.dcm")
            for k, (v, t) in enumerate([(v, t) for v in ("AP", "LAT") for t in ("6m", "12m")])
        )
        result.append(Case(f"C{index:04d}", "hip", "L", images))
    return result


def _percentiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1e3, cuts[94] * 1e3, cuts[98] * 1e3


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--per-case", type=int, default=40)
    args = parser.parse_args()

    protocol = load_protocol("collar-default")
    zones = ("medial", "lateral")
    fields = ("bridging", "remodeling")
    Transaction.seal = _timed_seal  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        os.environ.setdefault(KEY_DIR_ENV, str(Path(folder) / "keys"))
        n_cases = max(1, -(-args.commands // args.per_case))  # rounded up
        sessions = []
        databases = []
        for name in ("signed", "unsigned"):
            database = open_database(
                Path(folder) / f"reader-{name}.sqlite",
                create=True,
                role="reader",
                reader_id="A",
                set_uuid=str(uuid.uuid4()),
                protocol=protocol,
            )
            if name == "unsigned":
                database = _UnsignedDatabase(**vars(database))
            databases.append(database)
            sessions.append(ReadingSession(Repository(database), _cases(n_cases), protocol, "A"))
        peer = _peer_session(Path(folder) / "peer.sqlite")
        timings: tuple[list[float], list[float]] = ([], [])
        theirs: list[float] = []
        choices = {
            "bridging": ("none", "partial", "complete"),
            "remodeling": ("none", "resorption"),
        }
        for n in range(args.commands):
            code = f"I{n // args.per_case}AP6m"
            # Alternate which database goes first, so neither always meets a warmer cache.
            order = (0, 1) if n % 2 else (1, 0)
            for which in order:
                session = sessions[which]
                if n % args.per_case == 0:
                    session.open_case(f"C{n // args.per_case:04d}")
                start = time.perf_counter()
                if n % 2 == 0:
                    y = float(n % 97)
                    session.add_annotation(
                        code, "rll", [[10.0, y], [10.0, y + 7.0]], zone=zones[n % 4 // 2]
                    )
                else:
                    field = fields[n % 4 // 2]
                    values = choices[field]
                    session.set_score(
                        field, values[n % len(values)], timepoint="6m", zone=zones[n % 3 % 2]
                    )
                timings[which].append(time.perf_counter() - start)

            start = time.perf_counter()
            peer.add(_PeerRow(id=str(uuid.uuid4()), value="x"))
            peer.commit()
            theirs.append(time.perf_counter() - start)
        # The fsync of every commit dominates both figures and varies by milliseconds on a loaded
        # disk; the signature's own cost (one Ed25519 sign + one UPDATE of the event in the open
        # transaction) is measured apart as well, on the key the signed database used.
        key = author_key("A")
        signs: list[float] = []
        for n in range(args.commands):
            start = time.perf_counter()
            key.sign_head("00000000-0000-0000-0000-000000000000", n, "ab" * 32)
            signs.append(time.perf_counter() - start)
        for session in sessions:
            session.close_case()
        peer.close()
        for database in databases:
            database.close()
    ours, unsigned = timings
    o50, o95, o99 = _percentiles(ours)
    u50, u95, u99 = _percentiles(unsigned)
    p50, p95, p99 = _percentiles(theirs)
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    print(
        f"commands: {args.commands} (AddAnnotation/SetScore alternating, {args.per_case} per case)"
    )
    print(f"gesture commit, signed   ms: p50 {o50:.3f}  p95 {o95:.3f}  p99 {o99:.3f}")
    print(f"gesture commit, unsigned ms: p50 {u50:.3f}  p95 {u95:.3f}  p99 {u99:.3f}")
    print(
        f"signed - unsigned commit ms: p50 {o50 - u50:.3f}  p95 {o95 - u95:.3f} "
        "(includes the fsync's variance and the larger WAL frames of signed rows)"
    )
    s50, s95, _s99 = _percentiles(signs)
    print(f"Ed25519 sign of a chain head alone ms: p50 {s50:.3f}  p95 {s95:.3f}")
    e50, e95, _e99 = _percentiles(_SEALS)
    print(
        f"signing step in the transaction (sign + UPDATE, no fsync) ms: p50 {e50:.3f}  "
        f"p95 {e95:.3f} (target <= 0.2 ms: {'met' if e50 <= 0.2 else 'NOT met'} at p50)"
    )
    print(f"load average: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print(f"ORM single-row commit    ms: p50 {p50:.3f}  p95 {p95:.3f}  p99 {p99:.3f}")
    print(f"ratio ours/peer: p50 {o50 / p50:.2f}  p95 {o95 / p95:.2f}  p99 {o99 / p99:.2f}")
    print(f"target p95 <= 2 ms: {'met' if o95 <= 2.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
