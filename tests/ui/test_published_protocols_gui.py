"""Each published scoring system drives the scoring panel (editors, zones) of the reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from collarreader.protocol import Scope, load_protocol
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.tools import CalibrationAnswer
from collarreader.ui.reader import open_reader

PUBLISHED = (
    "stanford-tm-collar",
    "porous-collar-cortex",
    "smiles-collar",
    "knee-society",
    "delee-charnley",
)


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("phantom")
    generate_study(root, patients=1, seed=3, small=True, burned_in=0)
    return root


@pytest.mark.parametrize("name", PUBLISHED)
def test_scoring_panel_follows_the_protocol_file(
    qtbot: QtBot, phantom: Path, tmp_path: Path, name: str
) -> None:
    setdir = tmp_path / "set"
    prepare_reading_set(
        phantom / "manifest.csv",
        setdir,
        tmp_path / "key.json",
        ["A"],
        seed=3,
        protocol=name,
        repeat_fraction=0.0,
    )
    reader = open_reader(
        setdir, "A", tmp_path / "A.sqlite", ask_size=lambda _p, _l: CalibrationAnswer(25.0)
    )
    try:
        qtbot.addWidget(reader.window)
        window = reader.window
        window.show()
        window.start()
        protocol = load_protocol(name)
        assert window.protocol.sha256 == protocol.sha256
        keys = {(e.slot.zone, e.slot.field.key) for e in window.panel.editors.values()}
        zone_fields = [f.key for f in protocol.zone_fields if f.scope is Scope.ZONE]
        for zone in protocol.zones:
            for key in zone_fields:
                if protocol.field(key).applies_at(protocol.timepoints[0]):
                    assert (zone.key, key) in keys, (zone.key, key)
        assert window.zone_box.count() == len(protocol.zones_for(window.grid.views[0]))
    finally:
        reader.close()
