"""Signed and anchored records: what a forger with the file and this source cannot do unseen.

The forgeries rewrite a reader database the way the threat model assumes (the file and this
repository, not the reader's private key): a measured value changed in the live row and in
every audit state that holds it, then the whole chain re-hashed with ``db/audit.py``. These
tests claim only what the README's threat model claims: such a file no longer verifies and
is refused by a merge; a study database that already merged the genuine file also refuses
it; and a study database whose merged history was later changed or cut short is reported by
``verify``. They do not claim to detect an author re-signing their own unmerged work.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.db.conftest import make_old_database

from collarreader.cli import main
from collarreader.db.audit import GENESIS, HASHED_FIELDS, canonical_json, event_hash
from collarreader.db.engine import open_database
from collarreader.db.merge import canonical_dump, merge_databases
from collarreader.db.receipts import database_receipt, read_receipt, verify_against
from collarreader.db.repository import Repository
from collarreader.db.signing import KEY_DIR_ENV, author_key, fingerprint, key_path
from collarreader.db.verify import verify_database
from collarreader.errors import AuthorKeyError, MergeError, ReceiptError
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.simulate import simulate_reads


@dataclass(frozen=True)
class Readers:
    root: Path
    setdir: Path
    a: Path
    b: Path


@pytest.fixture(scope="module")
def readers(tmp_path_factory: pytest.TempPathFactory) -> Readers:
    root = tmp_path_factory.mktemp("signed")
    summary = generate_study(root / "phantom", patients=1, seed=7, small=True)
    setdir = root / "set"
    prepare_reading_set(summary.manifest, setdir, root / "key.json", "A,B", seed=7)
    a, b = root / "A.sqlite", root / "B.sqlite"
    simulate_reads(setdir, reader_id="A", db_path=a, seed=1)
    simulate_reads(setdir, reader_id="B", db_path=b, seed=1)
    return Readers(root, setdir, a, b)


def copy(source: Path, tmp_path: Path, name: str | None = None) -> Path:
    target = tmp_path / (name or source.name)
    shutil.copy(source, target)
    return target


def rehash(connection: sqlite3.Connection, db_id: str) -> None:
    """Re-hash one chain from the start with the project's own functions."""
    prev = GENESIS
    columns = ", ".join(f'"{name}"' for name in HASHED_FIELDS)
    rows = connection.execute(
        f"SELECT {columns} FROM audit_events WHERE db_id = ? ORDER BY seq",  # noqa: S608
        (db_id,),
    ).fetchall()
    for row in rows:
        event = dict(zip(HASHED_FIELDS, row, strict=True))
        new_hash = event_hash(prev, event)
        connection.execute(
            "UPDATE audit_events SET prev_hash = ?, hash = ? WHERE id = ?",
            (prev, new_hash, event["id"]),
        )
        prev = new_hash


def forge(path: Path, *, copy_signature: bool = False) -> int:
    """Change one score's value everywhere it is recorded and re-hash; return its first event.

    With ``copy_signature``, the signature of the chain's last event is also replaced by the
    signature of another (earlier, genuinely signed) event.
    """
    connection = sqlite3.connect(path)
    try:
        score_id, value = connection.execute(
            "SELECT id, value FROM scores ORDER BY id LIMIT 1"
        ).fetchone()
        forged_value = "forged-" + str(value)
        connection.execute("UPDATE scores SET value = ? WHERE id = ?", (forged_value, score_id))
        events = connection.execute(
            "SELECT id, seq, before, after FROM audit_events "
            "WHERE entity = 'scores' AND entity_id = ? ORDER BY seq",
            (score_id,),
        ).fetchall()
        for event_id, _seq, before, after in events:
            states = []
            for text in (before, after):
                if text is None:
                    states.append(None)
                    continue
                state = json.loads(text)
                state["value"] = forged_value
                states.append(canonical_json(state))
            connection.execute(
                "UPDATE audit_events SET before = ?, after = ? WHERE id = ?",
                (states[0], states[1], event_id),
            )
        db_id = connection.execute("SELECT id FROM db_identity").fetchone()[0]
        rehash(connection, db_id)
        if copy_signature:
            donor = connection.execute(
                "SELECT signature FROM audit_events WHERE signature IS NOT NULL ORDER BY seq "
                "LIMIT 1"
            ).fetchone()[0]
            connection.execute(
                "UPDATE audit_events SET signature = ? WHERE seq = "
                "(SELECT max(seq) FROM audit_events)",
                (donor,),
            )
        connection.commit()
        return int(events[0][1])
    finally:
        connection.close()


def signed_after(path: Path, seq: int) -> int:
    """The first signed event at or after ``seq`` (it vouches for ``seq``)."""
    connection = sqlite3.connect(path)
    try:
        return int(
            connection.execute(
                "SELECT min(seq) FROM audit_events WHERE signature IS NOT NULL AND seq >= ?",
                (seq,),
            ).fetchone()[0]
        )
    finally:
        connection.close()


# ------------------------------------------------------------------------------ keys


def test_every_transaction_signs_its_head_with_the_authors_key(readers: Readers) -> None:
    key = author_key("A", create=False)
    connection = sqlite3.connect(readers.a)
    try:
        (recorded,) = connection.execute("SELECT public_key FROM db_identity").fetchone()
        tail_signature = connection.execute(
            "SELECT signature FROM audit_events ORDER BY seq DESC LIMIT 1"
        ).fetchone()[0]
        signed, total = connection.execute(
            "SELECT count(signature), count(*) FROM audit_events"
        ).fetchone()
    finally:
        connection.close()
    assert recorded == key.public_key
    assert tail_signature is not None
    assert 1 < signed < total  # one per transaction, not one per event
    assert verify_database(readers.a) == []
    # The private key never enters the database.
    private_hex = key.path.read_text().strip()
    assert private_hex.encode() not in readers.a.read_bytes()


def test_key_file_is_private_and_path_errors_are_clear(tmp_path: Path) -> None:
    key = author_key("reader/x", folder=tmp_path / "keys")
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.path.parent.stat().st_mode) == 0o700
    assert key.path.name == "reader_x.ed25519"
    assert author_key("reader/x", folder=tmp_path / "keys").public_key == key.public_key
    key.path.chmod(0o644)
    with pytest.raises(AuthorKeyError, match="readable by other users"):
        author_key("reader/x", folder=tmp_path / "keys")
    key_path("D", tmp_path / "keys").mkdir()
    with pytest.raises(AuthorKeyError, match="must be a file"):
        author_key("D", folder=tmp_path / "keys")
    damaged = key_path("E", tmp_path / "keys")
    damaged.write_text("not hex\n")
    damaged.chmod(0o600)
    with pytest.raises(AuthorKeyError, match="damaged"):
        author_key("E", folder=tmp_path / "keys")
    with pytest.raises(AuthorKeyError, match="no author key"):
        author_key("F", create=False, folder=tmp_path / "keys")


def test_writing_with_another_users_key_is_refused(
    readers: Readers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = copy(readers.a, tmp_path)
    monkeypatch.setenv(KEY_DIR_ENV, str(tmp_path / "other-user"))
    database = open_database(path)
    try:
        with pytest.raises(AuthorKeyError, match=r"signed by key .* but this user's key"):
            Repository(database).transaction().__enter__()
    finally:
        database.close()


def test_an_old_unsigned_database_is_signed_from_its_upgrade_on(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    make_old_database(path, "0003_clinical")
    database = open_database(path)
    try:
        assert database.identity.public_key == author_key("A").public_key
    finally:
        database.close()
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT seq, signature FROM audit_events ORDER BY seq").fetchall()
    finally:
        connection.close()
    assert rows[0] == (1, None)  # written before signatures: vouched for by the next one
    assert rows[1][1] is not None
    assert verify_database(path) == []


# ------------------------------------------------------------------------------ forgeries


@pytest.mark.parametrize("copy_signature", [False, True], ids=["rehashed", "copied-signature"])
def test_a_rehashed_forgery_fails_verify_and_every_merge(
    readers: Readers, tmp_path: Path, copy_signature: bool
) -> None:
    forged = copy(readers.a, tmp_path, "A-forged.sqlite")
    seq = forge(forged, copy_signature=copy_signature)
    findings = verify_database(forged)
    assert findings, "a re-hashed forgery must not verify"
    assert {finding.check for finding in findings} == {"signature"}
    named = signed_after(forged, seq)
    first = findings[0].message
    assert f"audit event {named} " in first
    # The range it names holds the changed event.
    low, high = (int(n) for n in first.split("events ")[1].split(" were")[0].split("–"))
    assert low <= seq <= high == named
    # A fresh study database refuses it (and is not even created).
    fresh = tmp_path / "fresh.sqlite"
    with pytest.raises(MergeError, match=r"A-forged\.sqlite: refused: .*signature"):
        merge_databases(fresh, [forged])
    assert not fresh.exists()
    # A study database that merged the genuine file refuses it and stays as it was.
    study = tmp_path / "study.sqlite"
    merge_databases(study, [copy(readers.a, tmp_path)])
    database = open_database(study)
    before = canonical_dump(database)
    database.close()
    with pytest.raises(MergeError, match="signature"):
        merge_databases(study, [forged])
    database = open_database(study)
    assert canonical_dump(database) == before
    database.close()
    assert verify_database(study) == []


def test_truncating_a_merged_history_is_caught_by_verify_of_the_study(
    readers: Readers, tmp_path: Path
) -> None:
    study = tmp_path / "study.sqlite"
    merge_databases(study, [copy(readers.a, tmp_path), copy(readers.b, tmp_path)])
    assert verify_database(study) == []
    connection = sqlite3.connect(study)
    try:
        db_id = connection.execute(
            "SELECT source_db_id FROM merge_log WHERE reader_id = 'A'"
        ).fetchone()[0]
        # Cut A's history back to its previous signed head and restore the rows that the
        # removed events changed, so the chain and the rows agree with each other.
        (keep,) = connection.execute(
            "SELECT max(seq) FROM audit_events WHERE db_id = ? AND signature IS NOT NULL "
            "AND seq < (SELECT max(seq) FROM audit_events WHERE db_id = ?)",
            (db_id, db_id),
        ).fetchone()
        removed = connection.execute(
            "SELECT entity, entity_id, before FROM audit_events WHERE db_id = ? AND seq > ? "
            "ORDER BY seq DESC",
            (db_id, keep),
        ).fetchall()
        for entity, entity_id, before in removed:
            if before is None:
                connection.execute(f"DELETE FROM {entity} WHERE id = ?", (entity_id,))  # noqa: S608
            else:
                state = json.loads(before)
                assignments = ", ".join(f'"{name}" = ?' for name in state)
                values = [
                    json.dumps(v) if isinstance(v, (list, dict)) else v for v in state.values()
                ]
                connection.execute(
                    f"UPDATE {entity} SET {assignments} WHERE id = ?",  # noqa: S608
                    (*values, entity_id),
                )
        connection.execute("DELETE FROM audit_events WHERE db_id = ? AND seq > ?", (db_id, keep))
        connection.commit()
    finally:
        connection.close()
    findings = verify_database(study)
    assert [f.check for f in findings] == ["anchor"], findings
    assert "no longer matches what it merged" in findings[0].message
    assert f"holds its events only up to {keep}" in findings[0].message


def test_a_tampered_study_database_is_named_not_the_genuine_source(
    readers: Readers, tmp_path: Path
) -> None:
    genuine = copy(readers.a, tmp_path)
    study = tmp_path / "study.sqlite"
    merge_databases(study, [genuine])
    # Forge reader A's chain inside the study database: same change, re-hashed.
    connection = sqlite3.connect(study)
    try:
        db_id = connection.execute("SELECT source_db_id FROM merge_log").fetchone()[0]
        score_id = connection.execute("SELECT id FROM scores ORDER BY id LIMIT 1").fetchone()[0]
        first = connection.execute(
            "SELECT min(seq) FROM audit_events WHERE entity_id = ?", (score_id,)
        ).fetchone()[0]
        connection.execute(
            "UPDATE audit_events SET reason = 'edited' WHERE db_id = ? AND seq = ?", (db_id, first)
        )
        rehash(connection, db_id)
        connection.commit()
    finally:
        connection.close()
    findings = verify_database(study)
    assert any(f.check == "anchor" for f in findings)
    assert any(f.check == "signature" for f in findings)
    with pytest.raises(MergeError) as refused:
        merge_databases(study, [genuine])
    message = str(refused.value)
    assert "the study database no longer matches what it merged" in message
    assert f"from event {first} on" in message
    assert "fork" not in message


def test_a_reader_key_is_pinned_at_the_first_merge(
    readers: Readers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = tmp_path / "study.sqlite"
    merge_databases(study, [copy(readers.b, tmp_path)])
    pinned = fingerprint(author_key("B", create=False).public_key)
    own_keys = os.environ[KEY_DIR_ENV]
    monkeypatch.setenv(KEY_DIR_ENV, str(tmp_path / "impostor-keys"))
    impostor = tmp_path / "B-impostor.sqlite"
    simulate_reads(readers.setdir, reader_id="B", db_path=impostor, seed=3)
    other = fingerprint(author_key("B", create=False).public_key)
    monkeypatch.setenv(KEY_DIR_ENV, own_keys)  # the study lead merges with their own key
    with pytest.raises(MergeError) as refused:
        merge_databases(study, [impostor])
    assert pinned in str(refused.value)
    assert other in str(refused.value)
    assert verify_database(study) == []


# ------------------------------------------------------------------------------ receipts and CLI


def test_receipt_checks_a_later_copy_and_the_study(readers: Readers, tmp_path: Path) -> None:
    receipt_file = tmp_path / "A.receipt"
    receipt_file.write_text(str(database_receipt(readers.a)))
    receipt = read_receipt(receipt_file)
    assert verify_against(readers.a, receipt) == []
    study = tmp_path / "study.sqlite"
    merge_databases(study, [copy(readers.a, tmp_path)])
    assert verify_against(study, receipt) == []
    forged = copy(readers.a, tmp_path, "A-forged.sqlite")
    forge(forged)
    found = verify_against(forged, receipt)
    assert [f.check for f in found] == ["receipt"]
    assert "no longer matches what its author signed" in found[0].message
    edited = tmp_path / "edited.receipt"
    edited.write_text(receipt_file.read_text().replace("sequence: ", "sequence: 1"))
    with pytest.raises(ReceiptError, match="changed after it was made"):
        read_receipt(edited)
    with pytest.raises(ReceiptError, match="a folder"):
        read_receipt(tmp_path)


def test_verify_command_json_receipt_and_against(
    readers: Readers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(readers.a), "--receipt"]) == 0
    printed = capsys.readouterr().out
    receipt_text = printed[printed.index("collarreader receipt") :]
    receipt_file = tmp_path / "r.txt"
    receipt_file.write_text(receipt_text)
    forged = copy(readers.a, tmp_path, "A-forged.sqlite")
    forge(forged)
    assert main(["verify", str(forged), "--json", "--against", str(receipt_file)]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False
    assert {f["check"] for f in result["findings"]} == {"signature", "receipt"}
    assert main(["verify", str(readers.a), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "database": str(readers.a),
        "ok": True,
        "findings": [],
    }
    assert main(["verify", str(tmp_path)]) != 0
    assert "a folder, not a database file" in capsys.readouterr().err


def test_upgrading_an_old_study_database_signs_its_merge_heads(tmp_path: Path) -> None:
    from collarreader.db.signing import signature_valid

    path = tmp_path / "old-study.sqlite"
    make_old_database(path, "0003_clinical", reader_id=None, role="study")
    connection = sqlite3.connect(path)
    try:
        connection.execute(
            "INSERT INTO merge_log (id, source_db_id, source_label, source_schema_revision, "
            "reader_id, counts, last_seq, last_hash, merged_at, merged_by) VALUES "
            "('m1', 'd1', 'A.sqlite', '0003_clinical', 'A', '{}', 7, ?, 'x', 'study-lead')",
            ("ab" * 32,),
        )
        connection.commit()
    finally:
        connection.close()
    open_database(path).close()
    connection = sqlite3.connect(path)
    try:
        (signature,) = connection.execute("SELECT signature FROM merge_log").fetchone()
    finally:
        connection.close()
    lead = author_key("study-lead", create=False)
    assert signature is not None
    assert signature_valid(lead.public_key, "d1", 7, "ab" * 32, signature)


def test_a_merge_head_without_the_leads_signature_is_a_finding(
    readers: Readers, tmp_path: Path
) -> None:
    study = tmp_path / "study.sqlite"
    merge_databases(study, [copy(readers.a, tmp_path)])
    connection = sqlite3.connect(study)
    try:
        connection.execute("UPDATE merge_log SET last_seq = last_seq - 1")
        connection.commit()
    finally:
        connection.close()
    findings = verify_database(study)
    assert {f.check for f in findings} == {"anchor"}
    assert any("not signed by the study lead's key" in f.message for f in findings)


def test_removing_the_key_and_signatures_does_not_pass_as_unsigned(
    readers: Readers, tmp_path: Path
) -> None:
    stripped = copy(readers.a, tmp_path, "A-stripped.sqlite")
    connection = sqlite3.connect(stripped)
    try:
        db_id = connection.execute("SELECT id FROM db_identity").fetchone()[0]
        connection.execute("UPDATE db_identity SET public_key = NULL")
        for event_id, after in connection.execute(
            "SELECT id, after FROM audit_events WHERE entity = 'db_identity' AND after IS NOT NULL"
        ).fetchall():
            state = json.loads(after)
            state["public_key"] = None
            connection.execute(
                "UPDATE audit_events SET after = ? WHERE id = ?", (canonical_json(state), event_id)
            )
        connection.execute("UPDATE audit_events SET signature = NULL")
        rehash(connection, db_id)
        connection.commit()
    finally:
        connection.close()
    findings = verify_database(stripped)
    assert [f.check for f in findings] == ["signature"], findings
    assert "the key (and the signatures) were removed" in findings[0].message
    with pytest.raises(MergeError, match="records no author key"):
        merge_databases(tmp_path / "study.sqlite", [stripped])
