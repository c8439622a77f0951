"""``collarreader demo --screenshot``: a PNG of the whole window with demonstration measurements."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6 import QtGui
from pytestqt.qtbot import QtBot

from collarreader.study.phantom import generate_study
from collarreader.ui.demo import SCREENSHOT_SIZE, run_demo


def test_screenshot_is_written_with_sane_statistics(qtbot: QtBot, tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    # A small phantom in place: the demo reuses what it finds (the full-size one is slow).
    generate_study(workdir / "phantom", patients=2, seed=7, small=True, burned_in=0)
    png = tmp_path / "shot.png"
    assert run_demo(workdir, png) == 0
    image = QtGui.QImage(str(png))
    assert (image.width(), image.height()) == SCREENSHOT_SIZE
    gray = image.convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    pixels = np.frombuffer(gray.constBits(), np.uint8).reshape(gray.height(), gray.bytesPerLine())[
        :, : gray.width()
    ]
    assert pixels.std() > 20.0  # not blank
    assert (workdir / "set" / "readingset.json").is_file()
    # The demonstration measurements went through the session into the database.
    import sqlite3

    with sqlite3.connect(workdir / "screenshot.sqlite") as connection:
        kinds = {row[0] for row in connection.execute("SELECT kind FROM annotations")}
        calibrations = connection.execute("SELECT COUNT(*) FROM calibrations").fetchone()[0]
    assert {"interface_line", "rll"} <= kinds
    assert calibrations == 1
    # A second run reuses the phantom and the set.
    before = (workdir / "set" / "readingset.json").stat().st_mtime_ns
    assert run_demo(workdir, png) == 0
    assert (workdir / "set" / "readingset.json").stat().st_mtime_ns == before
