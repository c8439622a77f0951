"""merge_databases on SQLite and PostgreSQL: idempotent, order-independent, validated, atomic,
incremental, conflict-refusing; the merged study database verifies.

The reader databases come from the simulated reader on a small phantom reading set (built
once per module): reader A half-way (``a_half``), the same database after A read the rest
(``a_full``, a newer copy), a second database in which reader A read everything again
(``a_other``), and reader B.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collarreader.db.engine import open_database
from collarreader.db.merge import canonical_dump, merge_databases
from collarreader.db.repository import Repository
from collarreader.db.verify import verify_database
from collarreader.errors import MergeError
from collarreader.protocol import load_protocol
from collarreader.session import ReadingSession
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.readingset import open_reading_set
from collarreader.study.simulate import simulate_reads


@dataclass(frozen=True)
class Readers:
    root: Path
    setdir: Path
    a_half: Path
    a_full: Path
    a_other: Path
    b: Path


@pytest.fixture(scope="module")
def readers(tmp_path_factory: pytest.TempPathFactory) -> Readers:
    root = tmp_path_factory.mktemp("merge")
    summary = generate_study(root / "phantom", patients=2, seed=5, small=True)
    setdir = root / "set"
    prepare_reading_set(
        summary.manifest, setdir, root / "key.json", "A,B", seed=5, repeat_fraction=0.5
    )
    a_half = root / "A-half.sqlite"
    simulate_reads(setdir, reader_id="A", db_path=a_half, seed=1, limit=1)
    a_full = root / "A-full.sqlite"
    shutil.copy(a_half, a_full)
    simulate_reads(setdir, reader_id="A", db_path=a_full, seed=1)
    a_other = root / "A-other.sqlite"
    simulate_reads(setdir, reader_id="A", db_path=a_other, seed=2)
    b = root / "B.sqlite"
    simulate_reads(setdir, reader_id="B", db_path=b, seed=1)
    return Readers(root, setdir, a_half, a_full, a_other, b)


def copies(tmp_path: Path, *sources: Path) -> list[Path]:
    """Fresh copies of reader databases (tests change some of them)."""
    result = []
    for source in sources:
        target = tmp_path / source.name
        shutil.copy(source, target)
        result.append(target)
    return result


def dump(target: str | Path) -> dict[str, list[str]]:
    database = open_database(target)
    try:
        return canonical_dump(database)
    finally:
        database.close()


def last_seq(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute("SELECT max(seq) FROM audit_events").fetchone()[0])
    finally:
        connection.close()


def without_log(content: dict[str, list[str]]) -> dict[str, list[str]]:
    return {table: rows for table, rows in content.items() if table != "merge_log"}


def raw_sql(path: Path, statement: str, *parameters: Any) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.execute(statement, parameters)
        connection.commit()
    finally:
        connection.close()


def test_merge_twice_equals_merge_once_and_verifies(
    backend: Any, readers: Readers, tmp_path: Path
) -> None:
    a, b = copies(tmp_path, readers.a_full, readers.b)
    target = backend.location("study")
    report = merge_databases(target, [a, b])
    assert report.created
    assert [o.status for o in report.sources] == ["merged", "merged"]
    assert verify_database(target) == []
    once = dump(target)
    assert len(once["readings"]) == 6  # 2 readers x (2 cases + 1 repeat)
    again = merge_databases(target, [a, b, a])
    assert [o.status for o in again.sources] == ["already merged"] * 3
    assert again.rows_written == 0
    assert dump(target) == once
    assert len(once["merge_log"]) == 2
    assert "already merged" in str(again)


def test_order_of_sources_does_not_matter(backend: Any, readers: Readers, tmp_path: Path) -> None:
    a, b = copies(tmp_path, readers.a_full, readers.b)
    first, second = backend.location("ab"), backend.location("ba")
    merge_databases(first, [a, b])
    merge_databases(second, [b])
    merge_databases(second, [a])
    ab, ba = dump(first), dump(second)
    assert ab == ba
    # Shared rows came once although both readers hold them.
    assert len(ab["cases"]) == len({*ab["cases"]})
    assert verify_database(second) == []


def test_newer_copy_brings_only_its_changes(backend: Any, readers: Readers, tmp_path: Path) -> None:
    half, full = copies(tmp_path, readers.a_half, readers.a_full)
    target = backend.location("study")
    merge_databases(target, [half])
    before = dump(target)
    report = merge_databases(target, [full])
    outcome = report.sources[0]
    assert outcome.status == "updated"
    assert outcome.events == last_seq(full) - last_seq(half)
    assert outcome.inserted["readings"] == 2  # the case and the repeat read after the copy
    assert "readers" not in outcome.inserted
    assert "cases" not in outcome.inserted
    after = dump(target)
    assert set(before["readings"]) < set(after["readings"])
    assert verify_database(target) == []
    # Incremental equals merging the newer copy at once.
    direct = backend.location("direct")
    merge_databases(direct, [full])
    merged_once = dump(direct)
    assert without_log(after) == without_log(merged_once)


def test_newer_copy_with_edits_updates_and_deletes(
    backend: Any, readers: Readers, tmp_path: Path
) -> None:
    (full,) = copies(tmp_path, readers.a_full)
    target = backend.location("study")
    merge_databases(target, [full])
    # The reader reopens a case, removes a measurement and changes a value.
    reading_set = open_reading_set(readers.setdir)
    database = open_database(full)
    try:
        session = ReadingSession(Repository(database), reading_set, reading_set.protocol, "A")
        code = session.cases[0].case_code
        context = session.open_case(code)
        session.reopen("second look at the medial zone")
        annotation = session.repository.annotations(context.reading_id)[0]
        session.delete_annotation(annotation.id)
        timepoint = context.case.images[0].timepoint
        session.set_score("comment", "re-read", timepoint=timepoint)
        session.submit()
        session.close_case()
    finally:
        database.close()
    outcome = merge_databases(target, [full]).sources[0]
    assert outcome.status == "updated"
    assert outcome.deleted.get("annotations") == 1
    assert outcome.updated.get("readings") == 1
    assert outcome.inserted.get("scores", 0) >= 1
    assert verify_database(target) == []
    direct = backend.location("direct")
    merge_databases(direct, [full])
    assert without_log(dump(target)) == without_log(dump(direct))


def test_fork_of_a_merged_database_is_refused(
    backend: Any, readers: Readers, tmp_path: Path
) -> None:
    half, full = copies(tmp_path, readers.a_half, readers.a_full)
    target = backend.location("study")
    merge_databases(target, [full])
    # Another copy of the half-way database that went a different way.
    reading_set = open_reading_set(readers.setdir)
    database = open_database(half)
    try:
        session = ReadingSession(Repository(database), reading_set, reading_set.protocol, "A")
        session.open_case(session.cases[0].case_code)
        session.reopen("a different afternoon")
        session.close_case()
    finally:
        database.close()
    before = dump(target)
    with pytest.raises(
        MergeError, match=r"A-half\.sqlite: refused: .*both histories are signed by reader A"
    ):
        merge_databases(target, [half])
    assert dump(target) == before


def test_two_databases_of_one_reader_with_the_same_cases_are_refused(
    backend: Any, readers: Readers, tmp_path: Path
) -> None:
    full, other, b = copies(tmp_path, readers.a_full, readers.a_other, readers.b)
    target = backend.location("study")
    merge_databases(target, [full])
    before = dump(target)
    with pytest.raises(MergeError) as caught:
        merge_databases(target, [other, b])
    message = str(caught.value)
    assert "A-other.sqlite: refused" in message
    assert "reader A read the same cases in two databases" in message
    assert "A-full.sqlite" in message
    assert "the others were merged" in message
    assert "B.sqlite" in message
    after = dump(target)
    # B came in; nothing of the conflicting database did.
    alone = backend.location("b-alone")
    merge_databases(alone, [b])
    assert set(after["readings"]) == set(before["readings"]) | set(dump(alone)["readings"])
    other_db = open_database(other)
    try:
        other_id = other_db.identity.id
    finally:
        other_db.close()
    assert not any(other_id in event for event in after["audit_events"])
    assert verify_database(target) == []


def _foreign_sources(tmp_path: Path, readers: Readers) -> dict[str, tuple[Path, str]]:
    """Sources a merge must refuse, with the reason it must give."""
    truncated = tmp_path / "truncated.sqlite"
    data = readers.b.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    corrupt = tmp_path / "random.sqlite"
    corrupt.write_bytes(uuid.uuid4().bytes * 4096)
    damaged = tmp_path / "damaged.sqlite"
    broken = bytearray(data)
    broken[len(broken) // 2 : len(broken) // 2 + 4096] = b"\xa5" * 4096
    damaged.write_bytes(bytes(broken))
    not_ours = tmp_path / "other-app.sqlite"
    with sqlite3.connect(not_ours) as connection:
        connection.execute("CREATE TABLE patients (name TEXT)")
    protocol = load_protocol("collar-default")
    other_set = tmp_path / "other-set.sqlite"
    open_database(
        other_set,
        create=True,
        role="reader",
        reader_id="A",
        set_uuid=str(uuid.uuid4()),
        protocol=protocol,
    ).close()
    set_uuid = open_reading_set(readers.setdir, verify=False).set_uuid
    other_protocol = tmp_path / "other-protocol.sqlite"
    open_database(
        other_protocol,
        create=True,
        role="reader",
        reader_id="C",
        set_uuid=set_uuid,
        protocol=load_protocol("collar-gruen"),
    ).close()
    study = tmp_path / "a-study.sqlite"
    open_database(study, create=True, role="study", set_uuid=set_uuid, protocol=protocol).close()
    return {
        "truncated": (truncated, "refused"),
        "random bytes": (corrupt, "not an SQLite database"),
        "damaged": (damaged, "refused"),
        "not ours": (not_ours, "not a collarreader database"),
        "another set": (other_set, "reading set"),
        "another protocol": (other_protocol, "protocol"),
        "a study database": (study, "not a reader database"),
    }


def test_foreign_and_damaged_sources_are_refused_and_target_is_untouched(
    readers: Readers, tmp_path: Path
) -> None:
    a, b = copies(tmp_path, readers.a_full, readers.b)
    target = tmp_path / "study.sqlite"
    merge_databases(target, [a])
    content = dump(target)
    image = target.read_bytes()
    foreign = _foreign_sources(tmp_path, readers)
    for what, (source, reason) in foreign.items():
        with pytest.raises(MergeError) as caught:
            merge_databases(target, [source])
        message = str(caught.value)
        assert message.startswith(f"{source.name}: refused"), what
        assert reason in message, (what, message)
        assert "was not changed" in message, what
        assert target.read_bytes() == image, what
    assert dump(target) == content
    # Refused sources do not hold back the good ones; each refusal is named.
    with pytest.raises(MergeError) as caught:
        merge_databases(target, [foreign["truncated"][0], b, foreign["another set"][0]])
    message = str(caught.value)
    assert message.startswith("refused 2 of 3 source databases")
    assert "truncated.sqlite: refused" in message
    assert "other-set.sqlite: refused" in message
    assert len(dump(target)["readings"]) == len(content["readings"]) + 3
    assert verify_database(target) == []


def test_refused_sources_leave_a_new_target_uncreated(readers: Readers, tmp_path: Path) -> None:
    corrupt = tmp_path / "random.sqlite"
    corrupt.write_bytes(b"\x00" * 10_000)
    target = tmp_path / "new-study.sqlite"
    with pytest.raises(MergeError, match=r"random\.sqlite"):
        merge_databases(target, [corrupt])
    assert not target.exists()


def test_tampered_source_is_refused_and_tampered_target_fails_verify(
    backend: Any, readers: Readers, tmp_path: Path
) -> None:
    a, b = copies(tmp_path, readers.a_full, readers.b)
    raw_sql(b, "UPDATE scores SET value = '9.9' WHERE field_key = 'rll_width_mm'")
    target = backend.location("study")
    with pytest.raises(MergeError, match=r"B\.sqlite: refused: it does not verify.*scores"):
        merge_databases(target, [a, b])
    assert merge_databases(target, [a]).sources[0].status == "already merged"
    assert verify_database(target) == []
    database = open_database(target)
    try:
        with database.write() as connection:
            connection.exec_driver_sql(
                "UPDATE scores SET value = 'none' WHERE field_key = 'bridging'"
            )
    finally:
        database.close()
    findings = verify_database(target)
    assert findings
    assert any("behind the program's back" in f.message for f in findings)


def test_report_counts_and_merge_log(readers: Readers, tmp_path: Path) -> None:
    a, b = copies(tmp_path, readers.a_full, readers.b)
    target = tmp_path / "study.sqlite"
    progress: list[tuple[int, int]] = []
    report = merge_databases(
        target, [a, b], progress=lambda done, total: progress.append((done, total))
    )
    assert progress[-1] == (2, 2)
    totals = report.totals()
    with sqlite3.connect(target) as connection:
        for table in ("readings", "scores", "annotations", "calibrations"):
            count = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            assert totals[table][0] == count
        logged = connection.execute(
            "SELECT source_label, reader_id, last_seq FROM merge_log ORDER BY source_label"
        ).fetchall()
    assert logged[0][:2] == ("A-full.sqlite", "A")
    assert logged[1][:2] == ("B.sqlite", "B")
    text = str(report)
    assert "audit_events" in text
    assert "A-full.sqlite" in text
