"""An absurd default window in a file's header: the reader is told the window is the pixels'."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pytestqt.qtbot import QtBot

from collarreader.imaging.radiograph import WINDOW_FALLBACK_NOTE
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.ui.reader import Reader, open_reader


@pytest.fixture(scope="module")
def setdir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("window-note")
    generate_study(root / "phantom", patients=1, seed=5, small=True, burned_in=0)
    with (root / "phantom" / "manifest.csv").open(encoding="utf-8") as stream:
        first = next(csv.DictReader(stream))
    # A site's export with a nonsensical default window: width zero.
    path = root / "phantom" / first["path"]
    ds = pydicom.dcmread(path)
    ds.WindowCenter = 2000
    ds.WindowWidth = 0
    ds.save_as(path)
    prepare_reading_set(
        root / "phantom" / "manifest.csv",
        root / "set",
        root / "key.json",
        ["A"],
        seed=5,
        repeat_fraction=0.0,
        search_text=False,
    )
    return root / "set", first["view"]


@pytest.fixture
def reader(qtbot: QtBot, setdir: tuple[Path, str], tmp_path: Path) -> Iterator[Reader]:
    result = open_reader(setdir[0], "A", tmp_path / "A.sqlite", verify=False)
    qtbot.addWidget(result.window)
    result.window.show()
    qtbot.waitExposed(result.window)
    yield result
    result.close()


# The loader's DicomWarning says the same on the log; here the reader's screen is the subject.
@pytest.mark.filterwarnings("ignore::collarreader.imaging.radiograph.DicomWarning")
def test_replaced_default_window_is_shown_in_the_status_bar(
    qtbot: QtBot, reader: Reader, setdir: tuple[Path, str]
) -> None:
    window = reader.window
    with qtbot.waitSignal(window.images_ready, timeout=20_000):
        window.start()
    message = window.statusBar().currentMessage()
    assert WINDOW_FALLBACK_NOTE in message
    assert "percentiles" in message
    # Named by what the reader sees: the view and the time point of the image.
    assert message.startswith(f"{setdir[1]} ")
    assert "Window Width 0" in message
