"""The doctor's Qt checks: the binding, its platform plugins, and a real start in a child process.

Starting Qt on a broken platform (an X server that refuses, a missing ``libxcb-cursor0``)
aborts the process, so the start is tried in a child — ``collarreader doctor --probe-qt`` —
and only its outcome is reported here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6 import QtCore

from collarreader.doctor import Check, Status

__all__ = ["probe_qt", "qt_checks"]

_PROBE_TIMEOUT_S = 60


def probe_qt() -> int:
    """Start a QGuiApplication, print the platform's name; the child side of the check."""
    from PySide6 import QtGui

    application = QtGui.QGuiApplication([sys.argv[0]])
    print(application.platformName())  # noqa: T201 - read by the parent process
    return 0


def _probe_command() -> list[str]:
    if getattr(sys, "frozen", False):  # a bundle: the executable is collarreader itself
        return [sys.executable, "doctor", "--probe-qt"]
    return [sys.executable, "-m", "collarreader", "doctor", "--probe-qt"]


def qt_checks() -> list[Check]:
    """PySide6's version and platform plugins, and whether Qt starts on this machine."""
    plugins = Path(QtCore.QLibraryInfo.path(QtCore.QLibraryInfo.LibraryPath.PluginsPath))
    platforms = sorted(
        path.name.split(".")[0].removeprefix("libq").removeprefix("q")
        for path in (plugins / "platforms").glob("*")
        if path.is_file()
    )
    checks = [
        Check(
            "Qt",
            Status.OK,
            f"PySide6 {QtCore.qVersion()}, platform plugins: {', '.join(platforms) or 'none'}",
        )
    ]
    env = os.environ.copy()
    headless = (
        sys.platform.startswith("linux")
        and "QT_QPA_PLATFORM" not in env
        and not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    )
    if headless:
        # What `read` and `demo` do without a display (collarreader.ui.app).
        env["QT_QPA_PLATFORM"] = "offscreen"
    try:
        result = subprocess.run(  # noqa: S603 - this program itself, fixed arguments
            _probe_command(),
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired:
        checks.append(
            Check(
                "Qt start",
                Status.FAIL,
                f"Qt did not start within {_PROBE_TIMEOUT_S} s",
                "Check the display connection (DISPLAY) or try QT_QPA_PLATFORM=offscreen.",
            )
        )
        return checks
    if result.returncode == 0 and result.stdout.strip():
        name = result.stdout.strip().splitlines()[-1]
        if headless:
            checks.append(
                Check(
                    "Qt start",
                    Status.WARN,
                    f"platform {name} only (no display)",
                    "Reading needs a desktop session; screenshots and exports work as they are.",
                )
            )
        else:
            checks.append(Check("Qt start", Status.OK, f"platform {name}"))
    else:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        checks.append(
            Check(
                "Qt start",
                Status.FAIL,
                lines[0] if lines else f"exit code {result.returncode}",
                "Debian: apt-get install libxcb-cursor0 libxkbcommon-x11-0 libegl1; "
                "without a display, set QT_QPA_PLATFORM=offscreen.",
            )
        )
    return checks
