"""Gesture commit latency: one session command = one transaction with its audit events.

A stream of AddAnnotation / SetScore commands on a reader SQLite database (WAL,
``synchronous=FULL``), interleaved one-for-one with the peer — a bare single-row SQLAlchemy
ORM commit on a database with the same pragmas — so both see the same disk and load.
Prints p50/p95/p99 in ms and the ratio to the peer. Target: p95 ≤ 2 ms.

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

from collarreader.db.engine import open_database
from collarreader.db.repository import Repository
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
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        database = open_database(
            Path(folder) / "reader.sqlite",
            create=True,
            role="reader",
            reader_id="A",
            set_uuid=str(uuid.uuid4()),
            protocol=protocol,
        )
        n_cases = max(1, args.commands // args.per_case)
        session = ReadingSession(Repository(database), _cases(n_cases), protocol, "A")
        peer = _peer_session(Path(folder) / "peer.sqlite")
        ours: list[float] = []
        theirs: list[float] = []
        choices = {
            "bridging": ("none", "partial", "complete"),
            "remodeling": ("none", "resorption"),
        }
        for n in range(args.commands):
            if n % args.per_case == 0:
                session.open_case(f"C{n // args.per_case:04d}")
            code = f"I{n // args.per_case}AP6m"
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
            ours.append(time.perf_counter() - start)

            start = time.perf_counter()
            peer.add(_PeerRow(id=str(uuid.uuid4()), value="x"))
            peer.commit()
            theirs.append(time.perf_counter() - start)
        session.close_case()
        peer.close()
        database.close()

    o50, o95, o99 = _percentiles(ours)
    p50, p95, p99 = _percentiles(theirs)
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    print(
        f"commands: {args.commands} (AddAnnotation/SetScore alternating, {args.per_case} per case)"
    )
    print(f"gesture commit (ours) ms: p50 {o50:.3f}  p95 {o95:.3f}  p99 {o99:.3f}")
    print(f"ORM single-row commit  ms: p50 {p50:.3f}  p95 {p95:.3f}  p99 {p99:.3f}")
    print(f"ratio ours/peer: p50 {o50 / p50:.2f}  p95 {o95 / p95:.2f}  p99 {o99 / p99:.2f}")
    print(f"target p95 <= 2 ms: {'met' if o95 <= 2.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
