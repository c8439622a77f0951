"""``collarreader read`` refusals on a machine without a display: a message, never a hang.

Each refusal runs the real command line in a subprocess with ``DISPLAY``,
``WAYLAND_DISPLAY`` and ``QT_QPA_PLATFORM`` removed from its environment, as a new user
would start it over SSH. Before the fix the message was printed and then a modal dialog
waited forever on the offscreen platform; the subprocess timeout turns such a hang into a
failure instead of a stuck test run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.ui.reader import can_show_dialog

HANG_TIMEOUT_S = 60
"""Far above the ~2 s a refusal takes: reaching it means the process waits on a dialog."""


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("headless")
    generate_study(root / "phantom", patients=1, seed=3, small=True, burned_in=0)
    prepare_reading_set(
        root / "phantom" / "manifest.csv",
        root / "set",
        root / "key.json",
        ["A"],
        seed=3,
        repeat_fraction=0.0,
    )
    return root


def run_headless(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}
    }
    return subprocess.run(
        [sys.executable, "-m", "collarreader", "read", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=HANG_TIMEOUT_S,
        check=False,
    )


@pytest.mark.parametrize(
    ("folder", "reader", "expected"),
    [
        ("absent", "A", "no such folder"),
        ("notes", "A", "not a reading set (no readingset.json). Choose the reading set folder"),
        ("phantom", "A", "not a reading set but a source study"),
        ("set", "Z", "reader 'Z' is not one this set was prepared for (A). Check --reader."),
    ],
    ids=["wrong-folder", "not-a-reading-set", "phantom-folder", "unknown-reader"],
)
def test_refusal_without_display_prints_and_exits(
    study: Path, tmp_path: Path, folder: str, reader: str, expected: str
) -> None:
    (study / "notes").mkdir(exist_ok=True)
    (study / "notes" / "todo.txt").write_text("not images")
    result = run_headless(str(study / folder), "--reader", reader, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("collarreader read: "), result.stderr
    assert expected in result.stderr
    assert "Copy the whole set folder again" not in result.stderr
    assert "Traceback" not in result.stderr
    # Refused before any database was created in the current folder.
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, sys.platform.startswith(("win", "darwin"))),
        ({"DISPLAY": ":0"}, True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, False),
        ({"QT_QPA_PLATFORM": "minimal"}, False),
        ({"QT_QPA_PLATFORM": "xcb"}, True),
    ],
)
def test_can_show_dialog(environ: dict[str, str], expected: bool) -> None:
    assert can_show_dialog(environ) is expected
