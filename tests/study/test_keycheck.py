"""The committed key: every command that takes ``--key`` refuses a key that is not the set's own.

A key with two patients swapped, another set's key and a truncated key, each given to
``simulate-reads``, ``export``, ``agreement`` and ``clinical import-oxford``; the set's own key
is accepted by every one of them (so the refusals are not refusals of everything).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from collarreader.cli import main
from collarreader.db.engine import open_database
from collarreader.db.merge import merge_databases
from collarreader.errors import KeyFileError
from collarreader.study.keycheck import load_key_for_database, load_key_for_set
from collarreader.study.keycrypt import encrypt_key_bytes
from collarreader.study.keyfile import key_commitment, load_key
from collarreader.study.phantom import generate_study
from collarreader.study.phantom_clinical import write_clinical_csvs
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.readingset import open_reading_set
from collarreader.study.simulate import simulate_reads


@dataclass(frozen=True)
class Study:
    root: Path
    truth: Path
    setdir: Path
    key: Path
    reader_db: Path
    study_db: Path
    oxford_csv: Path
    keys: dict[str, Path]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    root = tmp_path_factory.mktemp("keycheck")
    phantom = generate_study(root / "phantom", patients=2, seed=3, small=True)
    setdir, key = root / "set", root / "key.json"
    prepare_reading_set(phantom.manifest, setdir, key, "A", seed=3)
    # Another set from the same sources: a different secret, so another set UUID and nonce.
    prepare_reading_set(phantom.manifest, root / "other-set", root / "other-key.json", "A")
    reader_db = root / "A.sqlite"
    simulate_reads(setdir, reader_id="A", db_path=reader_db, seed=4, truth=phantom.truth, key=key)
    study_db = root / "study.sqlite"
    merge_databases(study_db, [reader_db])
    clinical = write_clinical_csvs(phantom.truth, root / "clinical", seed=4)

    document = json.loads(key.read_text(encoding="utf-8"))
    first, second = sorted(document["cases"])[:2]
    cases = document["cases"]
    for field in ("site", "patient"):
        cases[first][field], cases[second][field] = cases[second][field], cases[first][field]
    swapped = root / "swapped-key.json"
    swapped.write_text(json.dumps(document, indent=2), encoding="utf-8")
    truncated = root / "truncated-key.json"
    truncated.write_bytes(key.read_bytes()[: len(key.read_bytes()) // 2])
    reformatted = root / "reformatted-key.json"
    reformatted.write_text(json.dumps(json.loads(key.read_text()), indent=7), encoding="utf-8")
    keys = {
        "own": key,
        "reformatted": reformatted,
        "swapped": swapped,
        "other set": root / "other-key.json",
        "truncated": truncated,
    }
    return Study(root, phantom.truth, setdir, key, reader_db, study_db, clinical.oxford_csv, keys)


REFUSALS = {
    "swapped": "the key was edited",
    "other set": "belongs to another reading set",
    "truncated": "may be truncated",
}


def command(study: Study, name: str, key: Path, out: Path) -> list[str]:
    if name == "simulate-reads":
        db = out / "fresh-reader.sqlite"
        return ["simulate-reads", str(study.setdir), "--reader", "A", "--db", str(db),
                "--truth", str(study.truth), "--key", str(key)]  # fmt: skip
    if name == "export":
        return ["export", str(study.study_db), "--out", str(out / "export.csv"), "--key", str(key)]
    if name == "agreement":
        return ["agreement", str(study.study_db), "--out", str(out / "report"), "--key", str(key)]
    copy = out / "study-copy.sqlite"  # the import writes: keep the shared database as it is
    copy.write_bytes(study.study_db.read_bytes())
    return ["clinical", "import-oxford", str(copy), str(study.oxford_csv), "--key", str(key)]


COMMANDS = ("simulate-reads", "export", "agreement", "clinical import-oxford")


def test_the_set_and_databases_carry_the_commitment(study: Study) -> None:
    commitment = open_reading_set(study.setdir).key_commitment
    assert commitment == key_commitment(load_key(study.key))
    assert commitment is not None
    assert commitment.startswith("sha256:")
    assert len(load_key(study.key).nonce) == 32
    for path in (study.reader_db, study.study_db):
        database = open_database(path, upgrade=False)
        try:
            assert database.identity.key_commitment == commitment
        finally:
            database.close()
    with sqlite3.connect(study.reader_db) as connection:  # copied at creation, audited
        events = connection.execute(
            "SELECT count(*) FROM audit_events WHERE entity = 'db_identity' AND after LIKE ?",
            (f"%{commitment}%",),
        ).fetchone()[0]
    assert events == 1


@pytest.mark.parametrize("kind", list(REFUSALS))
def test_core_checks_refuse(study: Study, kind: str) -> None:
    with pytest.raises(KeyFileError, match=REFUSALS[kind]):
        load_key_for_set(study.keys[kind], study.setdir)
    with pytest.raises(KeyFileError, match=REFUSALS[kind]):
        load_key_for_database(study.keys[kind], study.study_db)
    with pytest.raises(KeyFileError, match=REFUSALS[kind]):
        load_key_for_database(study.keys[kind], study.reader_db)


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("kind", list(REFUSALS))
def test_every_key_command_refuses(
    study: Study, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, kind: str
) -> None:
    assert main(command(study, name, study.keys[kind], tmp_path)) != 0
    error = capsys.readouterr().err
    assert REFUSALS[kind] in error
    assert "Traceback" not in error
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "study-copy.sqlite") == []


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("kind", ["own", "reformatted"])
def test_every_key_command_accepts_the_sets_own_key(
    study: Study, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, kind: str
) -> None:
    assert main(command(study, name, study.keys[kind], tmp_path)) == 0, capsys.readouterr().err


@pytest.fixture(scope="module")
def encrypted(study: Study) -> tuple[Path, Path]:
    """The set's own key encrypted with a passphrase, and the passphrase file."""
    passphrase = study.root / "passphrase.txt"
    passphrase.write_text("correct horse battery staple\n", encoding="utf-8")
    key = study.root / "encrypted-key.json"
    key.write_bytes(encrypt_key_bytes(study.key.read_bytes(), b"correct horse battery staple"))
    return key, passphrase


@pytest.mark.parametrize("name", COMMANDS)
def test_an_encrypted_key_works_with_its_passphrase_only(
    study: Study,
    encrypted: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    key, passphrase = encrypted
    args = command(study, name, key, tmp_path)
    assert main(args) != 0
    assert "the key is encrypted; give its passphrase" in capsys.readouterr().err
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("incorrect horse\n", encoding="utf-8")
    assert main([*args, "--key-passphrase-file", str(wrong)]) != 0
    assert "the passphrase is wrong" in capsys.readouterr().err
    assert main([*args, "--key-passphrase-file", str(passphrase)]) == 0, capsys.readouterr().err


def test_prepare_writes_an_encrypted_key(study: Study, tmp_path: Path) -> None:
    passphrase = tmp_path / "passphrase.txt"
    passphrase.write_text("s3cret phrase\n", encoding="utf-8")
    manifest = study.root / "phantom" / "manifest.csv"
    args = ["prepare", "--manifest", str(manifest), "--out", str(tmp_path / "set")]
    args += ["--key", str(tmp_path / "key.json"), "--readers", "A", "--seed", "3"]
    assert main([*args, "--key-passphrase-file", str(passphrase), "--no-text-search"]) == 0
    raw = (tmp_path / "key.json").read_bytes()
    assert json.loads(raw)["format"] == "collarreader-key-encrypted"
    plain = load_key(study.key)
    assert not any(case.patient.encode() in raw for case in plain.cases.values())
    with pytest.raises(KeyFileError, match="encrypted"):
        load_key(tmp_path / "key.json")
    key = load_key_for_set(tmp_path / "key.json", tmp_path / "set", passphrase=b"s3cret phrase")
    assert key.cases == plain.cases  # the same seed and sources: the same identities
