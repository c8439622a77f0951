"""Benchmark ``merge_databases``: 20 reader databases × 500 cases into SQLite and PostgreSQL.

Target (DESIGN.md §10): merge ≥ 0.9 × the peer, measured in the same run on the same files: a
bare ``ATTACH`` + ``INSERT … SELECT`` copy of the same tables into an empty database of the
same schema (no validation, no audit-chain or signature check, no conflict check) — the ratio
says what validation and bookkeeping cost. The merge checks every Ed25519 signature of every
source (one per reader transaction, as the simulated reader signs them).

How the reader databases are made (documented shortcut): driving the session for 10,000
readings takes too long for a benchmark, so the simulated reader reads a small phantom set
once (``simulate_reads`` with the truth: calibrations, annotations, measured, entered and
derived values). Each synthetic reader database is then created with ``open_database`` and
``Repository.import_cases`` (500 cases, their images, the reader), and the template readings'
audit events are replayed into it case by case with new ids (deterministic reading ids,
fresh annotation/score/calibration ids), time stamps and a correctly computed hash chain; the
rows are the events' final states. Every database verifies (checked for the first) and holds
realistic row and event counts (~100 events per reading).

    .venv/bin/python -m bench.bench_merge [--readers 20] [--cases 500] [--postgres URL]

PostgreSQL: ``--postgres`` or ``COLLARREADER_TEST_POSTGRES_URL`` (``./run.sh postgres``); a
fresh database is created and dropped. Without either the PostgreSQL figure is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._machine import describe_machine
from collarreader.db.audit import canonical_json, event_hash
from collarreader.db.engine import open_database
from collarreader.db.ids import set_uuid5
from collarreader.db.merge import OWNED_TABLES, merge_databases
from collarreader.db.models import AUDITED_TABLES, AuditEvent
from collarreader.db.repository import Repository
from collarreader.db.signing import KEY_DIR_ENV
from collarreader.db.verify import verify_database
from collarreader.model import Case, ImageRef
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.readingset import CODE_ALPHABET, open_reading_set
from collarreader.study.simulate import simulate_reads

_ID_COLUMNS = ("id", "reading_id", "image_id", "case_id", "reader_id", "annotation_id")
_EVENT_COLUMNS = [column.name for column in AuditEvent.__table__.columns]


# ------------------------------------------------------------------------------ template


def make_template(workdir: Path) -> tuple[Any, list[list[dict[str, Any]]]]:
    """Simulated readings of a small phantom set: (protocol, events of each reading)."""
    phantom = generate_study(workdir / "phantom", patients=6, seed=21, small=True)
    setdir, key = workdir / "set", workdir / "key.json"
    prepare_reading_set(phantom.manifest, setdir, key, "T", seed=21, repeat_fraction=0.0)
    template = workdir / "template.sqlite"
    simulate_reads(setdir, reader_id="T", db_path=template, seed=1, truth=phantom.truth, key=key)
    connection = sqlite3.connect(template)
    connection.row_factory = sqlite3.Row
    images = {
        row["id"]: (row["view"], row["timepoint"])
        for row in connection.execute("SELECT id, view, timepoint FROM images")
    }
    readings: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in connection.execute("SELECT * FROM audit_events ORDER BY seq"):
        if row["entity"] not in OWNED_TABLES:
            continue
        state = json.loads(row["after"] or row["before"])
        reading_id = state["id"] if row["entity"] == "readings" else state["reading_id"]
        readings[reading_id].append(
            {
                "entity": row["entity"],
                "action": row["action"],
                "reason": row["reason"],
                "before": None if row["before"] is None else json.loads(row["before"]),
                "after": None if row["after"] is None else json.loads(row["after"]),
                "image": images,
                # The simulated reader's transactions end on a signed event: so do the
                # replicas' (one signature per transaction, as a reader's commits).
                "signed": row["signature"] is not None,
            }
        )
    connection.close()
    protocol = open_reading_set(setdir, verify=False).protocol
    return protocol, list(readings.values())


# ------------------------------------------------------------------------------ replicas


def _codes(n: int, length: int, salt: str) -> list[str]:
    result: list[str] = []
    seen: set[str] = set()
    counter = 0
    while len(result) < n:
        digest = uuid.uuid5(uuid.NAMESPACE_URL, f"{salt}/{counter}").int
        counter += 1
        code = ""
        for _ in range(length):
            digest, index = divmod(digest, len(CODE_ALPHABET))
            code += CODE_ALPHABET[index]
        if code not in seen:
            seen.add(code)
            result.append(code)
    return result


def make_cases(n_cases: int) -> list[Case]:
    codes = _codes(n_cases, 5, "case")
    image_codes = iter(_codes(4 * n_cases, 12, "image"))
    cases = []
    for index, code in enumerate(codes):
        images = tuple(
            ImageRef(
                image_code=(image_code := next(image_codes)),
                view=view,
                timepoint=timepoint,
                sop_instance_uid=f"2.25.{index}{len(view)}{len(timepoint)}",
                file=f"images/{image_code}.dcm",
                sha256="0" * 64,
            )
            for timepoint in ("6m", "12m")
            for view in ("AP", "LAT")
        )
        cases.append(Case(code, "hip" if index % 2 else "knee", "L", images))
    return cases


def _remap(state: dict[str, Any] | None, ids: dict[str, str]) -> dict[str, Any] | None:
    if state is None:
        return None
    result = dict(state)
    for column in (*_ID_COLUMNS, "calibration_id"):
        value = result.get(column)
        if isinstance(value, str) and value in ids:
            result[column] = ids[value]
    return result


def write_reader(
    path: Path,
    reader: str,
    *,
    set_uuid: str,
    protocol: Any,
    cases: list[Case],
    templates: list[list[dict[str, Any]]],
) -> int:
    """A verifiable reader database with one template reading replayed per case."""
    database = open_database(
        path, create=True, role="reader", reader_id=reader, set_uuid=set_uuid, protocol=protocol
    )
    try:
        Repository(database).import_cases(cases, [reader])
        db_id = database.identity.id
        key = database.signer()
    finally:
        database.close()
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA synchronous = OFF")
    seq, prev_hash = connection.execute(
        "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    reader_uuid = set_uuid5(set_uuid, "reader", reader)
    clock = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    events: list[tuple[Any, ...]] = []
    rows: dict[str, dict[str, dict[str, Any] | None]] = defaultdict(dict)
    for index, case in enumerate(cases):
        template = templates[index % len(templates)]
        case_uuid = set_uuid5(set_uuid, "case", case.case_code)
        image_of = {
            (image.view, image.timepoint): set_uuid5(set_uuid, "image", image.image_code)
            for image in case.images
        }
        ids: dict[str, str] = {}
        for event in template:
            for state in (event["before"], event["after"]):
                if state is None:
                    continue
                old = state["id"]
                if old not in ids:
                    ids[old] = (
                        set_uuid5(set_uuid, "reading", case.case_code, reader)
                        if event["entity"] == "readings"
                        else str(uuid.uuid4())
                    )
                if "image_id" in state and state["image_id"] not in ids:
                    ids[state["image_id"]] = image_of[event["image"][state["image_id"]]]
                if event["entity"] == "readings":
                    ids[state["case_id"]] = case_uuid
                    ids[state["reader_id"]] = reader_uuid
        for event in template:
            clock += timedelta(milliseconds=700)
            at = clock.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            before = _remap(event["before"], ids)
            after = _remap(event["after"], ids)
            for state in (before, after):
                if state is not None:
                    for column in ("created_at", "updated_at", "started_at"):
                        if column in state:
                            state[column] = at
                    if state.get("submitted_at"):
                        state["submitted_at"] = at
            entity = event["entity"]
            entity_id = (after or before or {})["id"]
            if before is not None and rows[entity].get(entity_id) is not None:
                before = rows[entity][entity_id]
            seq += 1
            record = {
                "id": str(uuid.uuid4()),
                "db_id": db_id,
                "seq": seq,
                "actor": reader,
                "at": at,
                "entity": entity,
                "entity_id": entity_id,
                "action": event["action"],
                "before": None if before is None else canonical_json(before),
                "after": None if after is None else canonical_json(after),
                "reason": event["reason"],
                "prev_hash": prev_hash,
            }
            record["hash"] = prev_hash = event_hash(prev_hash, record)
            last_of_case = event is template[-1]
            record["signature"] = (
                key.sign_head(db_id, seq, prev_hash) if event["signed"] or last_of_case else None
            )
            events.append(tuple(record[name] for name in _EVENT_COLUMNS))
            rows[entity][entity_id] = after
    connection.execute("BEGIN")
    connection.executemany(
        f"INSERT INTO audit_events ({', '.join(_EVENT_COLUMNS)}) "  # noqa: S608
        f"VALUES ({', '.join('?' for _ in _EVENT_COLUMNS)})",
        events,
    )
    for entity in OWNED_TABLES:
        table = AUDITED_TABLES[entity]
        names = [column.name for column in table.columns]
        values = [
            tuple(json.dumps(state[name]) if name == "points_px" else state[name] for name in names)
            for state in rows[entity].values()
            if state is not None
        ]
        placeholders = ", ".join("?" for _ in names)
        connection.executemany(
            f"INSERT INTO {entity} ({', '.join(names)}) VALUES ({placeholders})",  # noqa: S608
            values,
        )
    connection.execute("COMMIT")
    connection.close()
    return len(events)


# ------------------------------------------------------------------------------ the peer


def bare_copy(target: Path, schema_from: Path, sources: list[Path]) -> tuple[int, float]:
    """ATTACH + INSERT … SELECT of every table of every source (shared rows: OR IGNORE)."""
    shutil.copy(schema_from, target)
    connection = sqlite3.connect(target, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("PRAGMA cache_size = -262144")  # as the merge: 256 MiB page cache
    for table in (*AUDITED_TABLES, "audit_events", "merge_log"):
        connection.execute(f"DELETE FROM {table}")  # noqa: S608
    tables = ("readers", "cases", "images", *OWNED_TABLES, "audit_events")
    started = time.perf_counter()
    rows = 0
    for source in sources:
        connection.execute("ATTACH DATABASE ? AS src", (str(source),))
        connection.execute("BEGIN IMMEDIATE")
        for table in tables:
            cursor = connection.execute(
                f"INSERT OR IGNORE INTO main.{table} SELECT * FROM src.{table}"  # noqa: S608
            )
            rows += cursor.rowcount
        connection.execute("COMMIT")
        connection.execute("DETACH DATABASE src")
    seconds = time.perf_counter() - started
    connection.close()
    return rows, seconds


# ------------------------------------------------------------------------------ PostgreSQL


def postgres_target(url: str) -> tuple[str, str, str]:
    """A fresh database on the server: (its URL, admin URL, name)."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(url).set(drivername="postgresql")
    name = f"collar_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin.render_as_string(False), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    target = admin.set(database=name).render_as_string(False)
    return target, admin.render_as_string(False), name


def drop_postgres(admin: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ------------------------------------------------------------------------------ main


def _load() -> str:
    """The 1-, 5- and 15-minute load averages: other work on the machine skews the figures."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--postgres", default=os.environ.get("COLLARREADER_TEST_POSTGRES_URL"))
    parser.add_argument("--verify", action="store_true", help="also time verify on the study")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-merge-"))
    workdir.mkdir(parents=True, exist_ok=True)
    # The synthetic readers' and the study lead's signing keys live with the benchmark's files.
    os.environ.setdefault(KEY_DIR_ENV, str(workdir / "keys"))
    print(describe_machine())
    try:
        started = time.perf_counter()
        if (workdir / "template.sqlite").exists():
            shutil.rmtree(workdir / "phantom")
            shutil.rmtree(workdir / "set")
            (workdir / "key.json").unlink()
            (workdir / "template.sqlite").unlink()
        protocol, templates = make_template(workdir)
        seconds = time.perf_counter() - started
        print(f"template: {len(templates)} simulated readings in {seconds:.1f} s")
        started = time.perf_counter()
        set_uuid_file = workdir / "set_uuid.txt"
        if not set_uuid_file.exists():
            set_uuid_file.write_text(str(uuid.uuid4()))
        set_uuid = set_uuid_file.read_text()
        cases = make_cases(args.cases)
        sources = []
        events = 0
        for index in range(args.readers):
            path = workdir / f"reader-{index:02d}.sqlite"
            if path.exists():  # --workdir of an earlier --keep run: reuse its databases
                with sqlite3.connect(path) as connection:
                    events += connection.execute("SELECT count(*) FROM audit_events").fetchone()[0]
                sources.append(path)
                continue
            write_reader(
                path,
                f"R{index:02d}",
                set_uuid=set_uuid,
                protocol=protocol,
                cases=cases,
                templates=templates,
            )
            # Every event (import_cases' too), as for a reused database above.
            with sqlite3.connect(path) as connection:
                events += connection.execute("SELECT count(*) FROM audit_events").fetchone()[0]
            sources.append(path)
        findings = verify_database(sources[0])
        if findings:
            raise SystemExit(f"synthetic reader database does not verify: {findings[:3]}")
        print(
            f"{args.readers} reader databases x {args.cases} cases: {events} audit events, "
            f"{sum(p.stat().st_size for p in sources) / 2**20:.0f} MiB, built in "
            f"{time.perf_counter() - started:.1f} s"
        )

        study = workdir / "study.sqlite"
        for stale in (study, workdir / "peer.sqlite"):
            for path in stale.parent.glob(f"{stale.name}*"):
                path.unlink()
        print(f"load average before the merge: {_load()}")
        started = time.perf_counter()
        report = merge_databases(study, sources)
        merge_seconds = time.perf_counter() - started
        rows = report.rows_written
        print(
            f"merge into SQLite: {rows} rows in {merge_seconds:.2f} s = "
            f"{rows / merge_seconds / 1000:.0f}k rows/s (every source signature verified)"
        )
        again = time.perf_counter()
        merge_databases(study, sources)
        print(
            f"  merging the same {args.readers} sources again: {time.perf_counter() - again:.2f} s"
        )

        peer = workdir / "peer.sqlite"
        peer_rows, peer_seconds = bare_copy(peer, sources[0], sources)
        print(
            f"peer, bare ATTACH + INSERT...SELECT: {peer_rows} rows in {peer_seconds:.2f} s = "
            f"{peer_rows / peer_seconds / 1000:.0f}k rows/s; merge/peer throughput "
            f"{(rows / merge_seconds) / (peer_rows / peer_seconds):.2f} (goal >= 0.9; load average "
            f"{_load()})"
        )
        if args.verify:
            started = time.perf_counter()
            findings = verify_database(study)
            print(
                f"verify of the study database: {len(findings)} findings in "
                f"{time.perf_counter() - started:.1f} s"
            )
        if args.postgres:
            target, admin, name = postgres_target(args.postgres)
            try:
                started = time.perf_counter()
                pg_report = merge_databases(target, sources)
                seconds = time.perf_counter() - started
                print(
                    f"merge into PostgreSQL: {pg_report.rows_written} rows in {seconds:.2f} s = "
                    f"{pg_report.rows_written / seconds / 1000:.0f}k rows/s"
                )
            finally:
                drop_postgres(admin, name)
        else:
            print("merge into PostgreSQL: skipped (no --postgres / COLLARREADER_TEST_POSTGRES_URL)")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
