"""``collarreader doctor``: each check says what it found and, when short, what to do."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from collarreader import __version__
from collarreader.cli import main
from collarreader.doctor import (
    Status,
    check_folder,
    check_ocr,
    check_user_data,
    core_checks,
    format_checks,
)


def test_core_checks_report_decoders_with_versions(tmp_path: Path) -> None:
    checks = {check.name: check for check in core_checks(tmp_path)}
    assert __version__ in checks["collarreader"].found
    assert checks["decoder pylibjpeg-openjpeg"].status is Status.OK
    assert checks["pydicom JPEG 2000"].status is Status.OK
    assert "gdcm" in checks["pydicom JPEG 2000"].found
    assert checks["write access"].status is Status.OK
    assert checks["disk space"].found.endswith(str(tmp_path))
    for check in checks.values():
        assert bool(check.todo) == (check.status is not Status.OK), check


def test_a_folder_that_cannot_be_written_fails_with_what_to_do(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("/proc is Linux's")
    space, write = check_folder(Path("/proc/collarreader-db"))
    assert write.status is Status.FAIL
    assert "--db" in write.todo
    assert space.found.endswith("/proc")


def test_missing_tesseract_is_a_warning_naming_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    check = check_ocr()
    assert check.status is Status.WARN
    assert "tesseract-ocr" in check.todo


def test_cli_doctor_prints_every_check_and_exits_on_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["doctor", "--db-folder", str(tmp_path)])
    out = capsys.readouterr().out
    assert "[  ok] pydicom" in out
    assert "Qt" in out
    assert "write access" in out
    assert code == (1 if "[fail]" in out else 0)
    assert format_checks(core_checks(tmp_path)).count("\n") >= 8


def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"collarreader {__version__}"


def test_the_user_data_folder_is_checked_where_the_profile_points(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("XDG_DATA_HOME is how Linux places the folder")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    check = check_user_data()
    assert check.status is Status.OK
    assert check.found.startswith(str(tmp_path / "data" / "collarreader"))
    monkeypatch.setenv("XDG_DATA_HOME", "/proc/no-such-profile")
    failed = check_user_data()
    assert failed.status is Status.FAIL
    assert failed.todo
