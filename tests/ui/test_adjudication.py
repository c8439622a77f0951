"""Consensus mode: two cases adjudicated over two simulated readers' marks, end to end.

A real (small) phantom study, two simulated readers merged into a study database, the reader
window in consensus mode on two cases of the disagreement list. The consensus reading is
recorded through the window, then checked where the study lead meets it: ``verify`` passes,
the export and the report carry it beside the readers, and ``verify`` fails once a consensus
value is changed in the file behind the program's back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from pytestqt.qtbot import QtBot

from collarreader.analysis.grras import grras_facts
from collarreader.analysis.study import write_study_export, write_study_report
from collarreader.analysis.tables import CONSENSUS_READER
from collarreader.db.engine import open_database
from collarreader.db.merge import merge_databases
from collarreader.db.verify import verify_database
from collarreader.errors import AnalysisError
from collarreader.protocol import FieldType
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.simulate import simulate_reads
from collarreader.ui.adjudication import AdjudicationWindow, open_adjudication
from collarreader.ui.reader import Reader
from collarreader.ui.worklist import CaseStatus


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("adjudicate")
    phantom = generate_study(root / "phantom", patients=2, seed=6, small=True, burned_in=0)
    setdir = root / "set"
    prepare_reading_set(phantom.manifest, setdir, root / "key.json", "A,B", seed=6)
    sources = []
    for reader, seed in (("A", 1), ("B", 2)):
        path = root / f"{reader}.sqlite"
        simulate_reads(setdir, reader_id=reader, db_path=path, seed=seed)
        sources.append(path)
    target = root / "study.sqlite"
    merge_databases(target, sources)
    return target, setdir


@pytest.fixture
def consensus(qtbot: QtBot, study: tuple[Path, Path]) -> Iterator[Reader]:
    study_db, setdir = study
    reader = open_adjudication(study_db, setdir, verify=False)
    qtbot.addWidget(reader.window)
    reader.window.show()
    qtbot.waitExposed(reader.window)
    yield reader
    reader.close()


def fill_required(window: AdjudicationWindow) -> None:
    for editor in list(window.panel.editors.values()):
        fld = editor.slot.field
        if not fld.required or not editor.isEnabled() or editor.value is not None:
            continue
        if fld.type is FieldType.BOOL:
            editor.choose(False)
        elif fld.type is FieldType.CHOICE:
            editor.choose(fld.choices[0])
        elif fld.type is FieldType.NUMBER:
            editor.set_value_text(str(fld.minimum or 0))
        else:
            editor.set_value_text("x")


def test_two_cases_adjudicated_and_carried_to_export_report_and_verify(
    qtbot: QtBot, consensus: Reader, study: tuple[Path, Path], tmp_path: Path
) -> None:
    study_db, _ = study
    window = consensus.window
    assert isinstance(window, AdjudicationWindow)
    assert window.session.reader_id == CONSENSUS_READER
    assert len(window.cases) >= 2
    # One colour per reader, named in the legend.
    assert set(window.reader_colours) == {"A", "B"}
    assert len(set(window.reader_colours.values())) == 2
    assert "reader&nbsp;A" in window.legend.text()
    assert "reader&nbsp;B" in window.legend.text()
    adjudicated = []
    with qtbot.waitSignal(window.images_ready, timeout=20_000):
        window.start()
    for step in range(2):
        assert window.case is not None
        code = window.case.case_code
        # Both readers' marks are drawn over the images, their scores stand beside the panel.
        assert {m.reader for m in window.marks} == {"A", "B"}
        assert window.reader_item_count >= sum(len(m.annotations) for m in window.marks) > 0
        headers = [
            window.scores_table.horizontalHeaderItem(c).text()
            for c in range(window.scores_table.columnCount())
        ]
        assert headers[2:] == ["A", "B"]
        assert window.scores_table.rowCount() > 0
        fill_required(window)
        if step == 0:
            # Submitting opens the next open case (the reader's default), as in reading.
            with qtbot.waitSignal(window.images_ready, timeout=20_000):
                window.action("submit").trigger()
        else:
            window.action("submit").trigger()
        assert window.worklist.status(code) is CaseStatus.submitted
        adjudicated.append(code)

    readings = {
        r.case_code: r for r in window.repository.readings() if r.reader_id == CONSENSUS_READER
    }
    assert set(readings) == set(adjudicated)
    assert all(r.locked and r.submitted_at is not None for r in readings.values())
    consensus.close()

    # The audit chain covers the consensus like any reading.
    assert verify_database(study_db) == []
    exported = write_study_export(study_db, tmp_path / "values.csv")
    values = pd.read_csv(exported[0], dtype=str, keep_default_na=False)
    assert set(values["reader"]) == {"A", "B", CONSENSUS_READER}
    assert set(values.loc[values["reader"] == CONSENSUS_READER, "case_code"]) == set(adjudicated)
    report = write_study_report(study_db, tmp_path / "report", n_boot=0)
    disagreements = pd.read_csv(tmp_path / "report" / "disagreements.csv", dtype=str)
    carried = disagreements[disagreements["case_code"].isin(adjudicated)]
    assert carried["consensus"].notna().any()
    text = report.read_text(encoding="utf-8")
    assert "<th>consensus</th>" in text
    # The consensus is not a rater: the statistics name only A and B.
    inter = pd.read_csv(tmp_path / "report" / "agreement_inter.csv", dtype=str)
    assert not inter["readers"].str.contains(CONSENSUS_READER).any()

    # The GRRAS section counts the adjudicated cases, not a third reader.
    database = open_database(study_db)
    try:
        facts = grras_facts(database)
    finally:
        database.close()
    assert facts.readers == ("A", "B")
    assert facts.n_adjudicated == 2
    assert facts.n_primary_expected == 2 * facts.n_cases

    # A consensus value changed behind the program's back: verify names it.
    with sqlite3.connect(study_db) as connection:
        reading_ids = [
            row[0]
            for row in connection.execute(
                "SELECT readings.id FROM readings JOIN readers ON readers.id = readings.reader_id"
                " WHERE readers.reader_code = ?",
                (CONSENSUS_READER,),
            )
        ]
        changed = connection.execute(
            "UPDATE scores SET value = 'tampered' WHERE reading_id = ?", (reading_ids[0],)
        ).rowcount
    assert changed > 0
    assert verify_database(study_db) != []


def test_unknown_case_codes_are_refused(study: tuple[Path, Path]) -> None:
    study_db, setdir = study
    with pytest.raises(AnalysisError, match="NOPE are not primary cases"):
        open_adjudication(study_db, setdir, codes=["NOPE"], verify=False)
