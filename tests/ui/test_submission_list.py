"""A refused submit as the reader sees it: a persistent list in the panel, in the panel's
order and words; clicking an entry opens its tab and focuses its field; missing fields outlined.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from tests.ui.conftest import phantom_set

from collarreader.ui.reader import Reader, open_reader


@pytest.fixture(scope="module")
def setdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("submit")
    return phantom_set(root, patients=1, seed=6)


@pytest.fixture
def reader(qtbot: QtBot, setdir: Path, tmp_path: Path) -> Iterator[Reader]:
    result = open_reader(setdir, "A", tmp_path / "A.sqlite", verify=False)
    qtbot.addWidget(result.window)
    result.window.show()
    qtbot.waitExposed(result.window)
    result.window.start()
    yield result
    result.close()


def test_incomplete_submit_lists_labels_in_panel_order_and_clicks_go_to_the_field(
    reader: Reader, qtbot: QtBot
) -> None:
    window = reader.window
    panel = window.panel
    # Fill one field so the list is not simply "everything".
    panel.editor("assessable", timepoint="6m", zone="medial").choose("yes")
    window.submit()
    assert "cannot be submitted" in window.statusBar().currentMessage()
    assert window.session.reading is not None
    assert not window.session.reading.locked
    texts = panel.problem_texts()
    assert texts[:2] == [
        "6 m · AP · Medial: Bone bridging missing",
        "6 m · AP · Medial: Radiolucent line missing",
    ]
    assert "6 m · AP · Medial: Assessable missing" not in texts
    # Protocol labels, never internal names; 6 m before 12 m; zones, then view, then case.
    assert not any("image_quality" in t or "rll_present" in t or "remodeling" in t for t in texts)
    assert texts.index("6 m · AP: Image quality missing") < texts.index(
        "12 m · AP · Medial: Assessable missing"
    )
    assert texts.index("6 m · AP · Lateral: Assessable missing") < texts.index(
        "6 m · AP: Image quality missing"
    )
    assert max(i for i, t in enumerate(texts) if t.startswith("6 m")) < min(
        i for i, t in enumerate(texts) if t.startswith("12 m")
    )
    # Missing fields are outlined, filled ones not.
    assert panel.editor("bridging", timepoint="12m", zone="medial").outlined
    assert not panel.editor("assessable", timepoint="6m", zone="medial").outlined

    # Clicking an entry of the 12 m tab opens that tab and focuses the field.
    panel.tabs.setCurrentIndex(0)
    entry = next(
        panel.missing_list.item(i)
        for i in range(panel.missing_list.count())
        if panel.missing_list.item(i).text() == "12 m · LAT: Image quality missing"
    )
    panel.missing_list.scrollToItem(entry)
    rect = panel.missing_list.visualItemRect(entry)
    QTest.mouseClick(
        panel.missing_list.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center()
    )
    editor = panel.editor("image_quality", timepoint="12m", view="LAT")
    assert panel.tabs.tabText(panel.tabs.currentIndex()) == "12 m"
    assert editor.combo is not None
    qtbot.waitUntil(editor.combo.hasFocus)
    # Typing there fills it; the entry leaves the list and the outline goes.
    QTest.keyClicks(editor.combo, "g")
    qtbot.waitUntil(lambda: editor.value == "good")
    assert "12 m · LAT: Image quality missing" not in panel.problem_texts()
    assert not editor.outlined


def test_the_list_is_persistent_and_says_when_the_case_is_complete(reader: Reader) -> None:
    panel = reader.window.panel
    assert panel.missing_list.isVisible()
    assert panel.problems.text().startswith("To submit, ")
    # Not outlined before the reader tried to submit.
    assert not any(editor.outlined for editor in panel.editors.values())
