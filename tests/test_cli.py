"""The command line as a user meets it: help, errors, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from collarreader import cli


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collarreader", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_help_lists_every_subcommand() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    parser = cli.build_parser()
    subparsers = next(action for action in parser._actions if action.dest == "command")
    names = set(subparsers.choices)
    assert {"phantom", "inspect", "prepare", "verify", "read", "demo"} <= names
    for name in names:
        assert name in result.stdout


def test_help_does_not_import_qt() -> None:
    code = (
        "import sys\n"
        "from collarreader import cli\n"
        "cli.build_parser().format_help()\n"
        "assert not any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph')))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_file_is_one_error_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.dcm"
    result = run_cli("inspect", str(missing))
    assert result.returncode == 1
    assert result.stderr.startswith("collarreader inspect: ")
    assert "nowhere.dcm" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_error_exits_2() -> None:
    result = run_cli("phantom")
    assert result.returncode == 2
    assert "outdir" in result.stderr


@pytest.mark.parametrize("value", ["0", "-3"])
def test_patients_must_be_positive(value: str, tmp_path: Path) -> None:
    result = run_cli("phantom", str(tmp_path / "p"), "--patients", value)
    assert result.returncode == 2
    assert "at least 1" in result.stderr


def test_cli_defaults_match_the_core() -> None:
    from collarreader.protocol import DEFAULT_PROTOCOL
    from collarreader.study.prepare import DEFAULT_REPEAT_FRACTION

    assert cli.DEFAULT_PROTOCOL == DEFAULT_PROTOCOL
    assert cli.DEFAULT_REPEAT_FRACTION == DEFAULT_REPEAT_FRACTION


def test_phantom_prepare_inspect_verify_from_the_command_line(tmp_path: Path) -> None:
    study = tmp_path / "study"
    assert (
        run_cli("phantom", str(study), "--patients", "2", "--small", "--seed", "4").returncode == 0
    )
    result = run_cli(
        "prepare",
        "--manifest",
        str(study / "manifest.csv"),
        "--out",
        str(tmp_path / "set"),
        "--key",
        str(tmp_path / "key.json"),
        "--readers",
        "A,B",
        "--seed",
        "9",
    )
    assert result.returncode == 0, result.stderr
    assert "readers" in result.stdout.lower()
    image = next((tmp_path / "set" / "images").glob("*.dcm"))
    described = run_cli("inspect", str(image), "--json")
    assert described.returncode == 0, described.stderr
    assert '"photometric"' in described.stdout
    assert "P001" not in described.stdout
    # A file that is not a database is a finding, with a non-zero exit.
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    verified = run_cli("verify", str(tmp_path / "junk.sqlite"))
    assert verified.returncode == 1
    assert "junk.sqlite" in verified.stdout + verified.stderr


def test_verify_of_a_non_database_suggests_no_missing_backup(tmp_path: Path) -> None:
    notes = tmp_path / "notes.sqlite"
    notes.write_text("not a database, only text " * 50)
    result = run_cli("verify", str(notes))
    assert result.returncode == 1
    assert result.stderr.startswith(f"collarreader verify: {notes}: ")
    assert "bak-" not in result.stderr
    assert "Check that you chose a collarreader database" in result.stderr
    # With an upgrade backup next to it, that file is named.
    backup = tmp_path / "notes.sqlite.bak-0002_merge_log-20260101T000000Z"
    backup.write_bytes(b"")
    result = run_cli("verify", str(notes))
    assert f"Restore it from its newest backup, {backup}." in result.stderr


def test_every_error_line_names_its_command(tmp_path: Path) -> None:
    result = run_cli("clinical", "list", str(tmp_path / "absent.sqlite"))
    assert result.returncode == 1
    assert result.stderr.startswith("collarreader clinical list: ")
