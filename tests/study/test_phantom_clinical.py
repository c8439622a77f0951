"""Synthetic clinical CSVs of a phantom study pass the importer's full validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from collarreader.clinical.csv_import import (
    AE_COLUMNS,
    OXFORD_REQUIRED_COLUMNS,
    parse_ae_csv,
    parse_oxford_csv,
)
from collarreader.errors import PhantomError
from collarreader.study.phantom import generate_study
from collarreader.study.phantom_clinical import write_clinical_csvs


def test_files_validate_and_cover_every_patient_and_time_point(tmp_path: Path) -> None:
    generate_study(tmp_path / "study", patients=6, seed=2, small=True)
    files = write_clinical_csvs(tmp_path / "study" / "truth.json", tmp_path / "clinical", seed=1)
    records = parse_oxford_csv(files.oxford_csv)
    events = parse_ae_csv(files.adverse_events_csv)
    assert len(records) == files.n_questionnaires == 12
    assert {(r.patient, r.timepoint) for r in records} == {
        (f"P{i:03d}", tp) for i in range(1, 7) for tp in ("6m", "12m")
    }
    assert len(events) == files.n_events
    # The phantom writes the documented headers itself (study stays below clinical).
    assert files.oxford_csv.read_text().splitlines()[0] == ",".join(
        [*OXFORD_REQUIRED_COLUMNS, "source"]
    )
    assert files.adverse_events_csv.read_text().splitlines()[0] == ",".join(AE_COLUMNS)
    assert all(event.patient.startswith("P") for event in events)
    again = write_clinical_csvs(tmp_path / "study" / "truth.json", tmp_path / "again", seed=1)
    assert again.oxford_csv.read_bytes() == files.oxford_csv.read_bytes()


def test_not_a_truth_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "truth.json").write_text("{}", encoding="utf-8")
    with pytest.raises(PhantomError, match="not a phantom truth file"):
        write_clinical_csvs(tmp_path / "truth.json", tmp_path / "out")
