"""``collarreader demo --screenshot`` on a real X server (Xvfb), as CI takes it.

The offscreen tests never load the xcb platform plugin; this one starts ``Xvfb`` on a free
display (it picks the number itself: ``-displayfd``), runs the demo in a subprocess with
``QT_QPA_PLATFORM=xcb`` and checks the PNG's statistics. Without Xvfb the test is skipped
with the reason shown — except in CI (``CI=true``), where a missing Xvfb is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtGui

from collarreader.study.phantom import generate_study
from collarreader.ui.demo import SCREENSHOT_SIZE

XVFB_TIMEOUT_S = 30
DEMO_TIMEOUT_S = 300


@pytest.fixture
def xvfb_display() -> Iterator[str]:
    """Start Xvfb on a free display and yield ``":N"``; stop it afterwards."""
    binary = shutil.which("Xvfb")
    if binary is None:
        reason = "Xvfb is not installed (Debian: apt-get install xvfb xauth)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must take the screenshot under Xvfb.")
        pytest.skip(reason)
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        [binary, "-displayfd", str(write_fd), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_fd)
    try:
        # Xvfb writes the display number once it accepts clients (no polling, no sleep).
        with os.fdopen(read_fd, "rb") as ready:
            number = ready.readline().strip().decode()
        if not number.isdigit():
            server.kill()
            _, errors = server.communicate(timeout=XVFB_TIMEOUT_S)
            pytest.fail(f"Xvfb did not start: {errors.decode(errors='replace')[-2000:]}")
        yield f":{number}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=XVFB_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_demo_screenshot_under_xvfb(xvfb_display: str, tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    # A small phantom in place keeps the test fast (the demo reuses what it finds).
    generate_study(workdir / "phantom", patients=2, seed=7, small=True, burned_in=0)
    png = tmp_path / "xvfb.png"
    env = dict(os.environ, DISPLAY=xvfb_display, QT_QPA_PLATFORM="xcb")
    env.pop("WAYLAND_DISPLAY", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "collarreader",
            "demo",
            "--workdir",
            str(workdir),
            "--screenshot",
            str(png),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "could not load the Qt platform plugin" not in result.stderr
    image = QtGui.QImage(str(png))
    assert (image.width(), image.height()) == SCREENSHOT_SIZE
    gray = image.convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    pixels = np.frombuffer(gray.constBits(), np.uint8).reshape(gray.height(), gray.bytesPerLine())[
        :, : gray.width()
    ]
    assert pixels.std() > 20.0  # not blank
    assert np.unique(pixels).size > 64  # radiographs, not just a flat frame
    # The viewports (left of the scoring dock) hold most of the picture's detail.
    centre = pixels[60:-40, 180:1150]
    assert centre.std() > 20.0
