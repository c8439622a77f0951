"""The scoring panel alone: built from the protocol, validation, skip rule, tags, no echo."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from collarreader.model import Score, ScoreSource
from collarreader.protocol import FieldType, load_protocol
from collarreader.ui.scoring_panel import FieldEdit, ScoringPanel


def score(field: str, value: str, source: ScoreSource, zone: str | None = "medial") -> Score:
    view = "AP" if zone else None
    return Score("id-" + field, "r", "6m", view, zone, field, value, None, source, None, "t")


@pytest.fixture
def panel(qtbot: QtBot) -> ScoringPanel:
    widget = ScoringPanel(load_protocol("collar-default"))
    qtbot.addWidget(widget)
    widget.set_case(
        [("6m", "6 m"), ("12m", "12 m")],
        {"6m": {"AP", "LAT"}, "12m": {"AP", "LAT"}},
        {"6m": "6m", "12m": "12m"},
    )
    widget.resize(460, 800)
    widget.show()
    return widget


def test_every_field_of_the_protocol_has_an_editor(panel: ScoringPanel) -> None:
    protocol = panel.protocol
    for timepoint in ("6m", "12m"):
        for zone in protocol.zones:
            for fld in protocol.fields_for("zone", timepoint=timepoint):
                panel.editor(fld.key, timepoint=timepoint, zone=zone.key)
        assert panel.editor("image_quality", timepoint=timepoint, view="LAT")
        assert panel.editor("comment", timepoint=timepoint)
    # rll_progression is a 12 m field only.
    with pytest.raises(KeyError):
        panel.editor("rll_progression", timepoint="6m", zone="medial")
    assert panel.editor("rll_progression", timepoint="12m", zone="medial")
    assert panel.tabs.count() == 2


def test_edits_are_emitted_and_refreshes_do_not_echo(panel: ScoringPanel, qtbot: QtBot) -> None:
    edits: list[FieldEdit] = []
    panel.edit_requested.connect(edits.append)
    panel.set_scores([score("assessable", "yes", ScoreSource.ENTERED)], locked=False)
    assert edits == []
    panel.editor("bridging", timepoint="6m", zone="medial").choose("partial")
    assert edits == [FieldEdit("bridging", "6m", "AP", "medial", "partial")]
    panel.set_scores([score("bridging", "partial", ScoreSource.ENTERED)], locked=False)
    assert len(edits) == 1
    panel.editor("bridging", timepoint="6m", zone="medial").choose(None)
    assert edits[-1] == FieldEdit("bridging", "6m", "AP", "medial", None)  # cleared


def test_invalid_numbers_are_refused(panel: ScoringPanel) -> None:
    edits: list[FieldEdit] = []
    problems: list[str] = []
    panel.edit_requested.connect(edits.append)
    panel.problem.connect(problems.append)
    editor = panel.editor("bridging_extent", timepoint="6m", zone="lateral")
    editor.set_value_text("abc")
    editor.set_value_text("101")
    assert edits == []
    assert len(problems) == 2
    editor.set_value_text("40,4")
    assert edits == [FieldEdit("bridging_extent", "6m", "AP", "lateral", 40.0)]


def test_measured_values_are_tagged_and_skipped_zones_disabled(panel: ScoringPanel) -> None:
    panel.set_scores(
        [
            score("rll_width_mm", "1.2", ScoreSource.MEASURED),
            score("bridging_extent", "30", ScoreSource.ENTERED),
            score("assessable", "no", ScoreSource.ENTERED, zone="lateral"),
        ],
        locked=False,
    )
    width = panel.editor("rll_width_mm", timepoint="6m", zone="medial")
    assert width.tag.text() == "measured"
    assert width.line is not None
    assert width.line.text() == "1.2"
    assert panel.editor("bridging_extent", timepoint="6m", zone="medial").tag.text() == "override"
    assert not panel.editor("bridging", timepoint="6m", zone="lateral").isEnabled()
    assert panel.editor("assessable", timepoint="6m", zone="lateral").isEnabled()
    assert panel.editor("bridging", timepoint="6m", zone="medial").isEnabled()
    derived = [e for e in panel.editors.values() if e.slot.field.type is FieldType.DERIVED]
    assert derived
    assert not any(e.isEnabled() for e in derived)


def test_locked_reading_is_read_only(panel: ScoringPanel) -> None:
    panel.set_scores([], locked=True)
    assert not any(e.isEnabled() for e in panel.editors.values())
    panel.set_problems([])
    assert "locked" in panel.problems.text()
