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
    assert {"phantom", "inspect"} <= names
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
    assert result.stderr.startswith("error: ")
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
