"""The doctor's Qt checks: plugins listed, and a real Qt start in a child process."""

from __future__ import annotations

import pytest

from collarreader.cli import main
from collarreader.doctor import Status
from collarreader.ui.platform_check import qt_checks


def test_qt_starts_offscreen_in_a_child_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    qt, start = qt_checks()
    assert "offscreen" in qt.found
    assert start.status is Status.OK
    assert start.found == "platform offscreen"


def test_a_broken_platform_fails_with_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "no-such-platform")
    _, start = qt_checks()
    assert start.status is Status.FAIL
    assert "QT_QPA_PLATFORM=offscreen" in start.todo


def test_cli_doctor_with_qt_offscreen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert main(["doctor", "--db-folder", str(tmp_path)]) == 0
    assert "[  ok] Qt start" in capsys.readouterr().out
