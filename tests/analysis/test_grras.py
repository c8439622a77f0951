"""GRRAS facts: counts and primary → repeat intervals of a simulated study with known values."""

from __future__ import annotations

import datetime as dt
import statistics
from pathlib import Path

import pandas as pd
import pytest

from collarreader.analysis.grras import READ_COLUMNS, grras_facts, grras_html, summarise_reads
from collarreader.db.engine import open_database
from collarreader.db.merge import merge_databases
from collarreader.errors import AnalysisError
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.simulate import simulate_reads

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def simulated_reads() -> tuple[pd.DataFrame, list[float]]:
    """3 readers × 6 cases; 2 repeats each at known delays; reader C misses case 5."""
    rows = []
    delays = {("A", "C0"): 14.0, ("A", "C3"): 21.5, ("B", "C1"): 7.0, ("B", "C4"): 30.0,
              ("C", "C2"): 10.25, ("C", "C0"): 45.0}  # fmt: skip
    for reader_index, reader in enumerate("ABC"):
        for case in range(6):
            if reader == "C" and case == 5:
                continue
            opened = START + dt.timedelta(hours=reader_index, minutes=10 * case)
            rows.append((reader, f"C{case}", "primary", "", True, opened.isoformat()))
    for (reader, case), days in delays.items():
        primary = next(r for r in rows if r[0] == reader and r[1] == case)
        opened = dt.datetime.fromisoformat(primary[5]) + dt.timedelta(days=days)
        rows.append((reader, f"R-{reader}-{case}", "repeat", case, True, opened.isoformat()))
    # An unsubmitted repeat still counts towards the interval but not towards submitted reads.
    rows.append(("A", "R-A-C5", "repeat", "C5", False, (START + dt.timedelta(days=3)).isoformat()))
    return pd.DataFrame(rows, columns=list(READ_COLUMNS)), sorted(delays.values())


def test_counts_and_intervals_of_a_simulated_study() -> None:
    reads, delays = simulated_reads()
    summary = summarise_reads(reads, n_cases=6)
    assert summary.readers == ("A", "B", "C")
    assert summary.n_primary_expected == 18
    assert summary.n_primary_submitted == 17
    assert summary.n_missing_primary == 1
    assert summary.n_repeat_submitted == 6
    assert summary.interval_days == pytest.approx(delays)
    assert statistics.median(summary.interval_days) == pytest.approx((14.0 + 21.5) / 2)


def test_bad_timestamps_and_columns_are_named() -> None:
    reads, _ = simulated_reads()
    reads.loc[0, "first_event_at"] = "yesterday"
    with pytest.raises(AnalysisError, match=r"study\.sqlite: audit timestamp 'yesterday'"):
        summarise_reads(reads, n_cases=6, where="study.sqlite")
    with pytest.raises(AnalysisError, match="missing columns first_event_at"):
        summarise_reads(reads.drop(columns=["first_event_at"]), n_cases=6)


@pytest.fixture(scope="module")
def study_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("grras")
    summary = generate_study(root / "phantom", patients=2, seed=4, small=True)
    setdir = root / "set"
    prepare_reading_set(
        summary.manifest,
        setdir,
        root / "key.json",
        "A,B",
        seed=4,
        repeat_fraction=0.5,
        blind_timepoints=True,
    )
    sources = []
    for reader in "AB":
        path = root / f"{reader}.sqlite"
        simulate_reads(setdir, reader_id=reader, db_path=path, seed=2)
        sources.append(path)
    target = root / "study.sqlite"
    merge_databases(target, sources)
    return target


def test_facts_from_a_merged_study_database(study_db: Path) -> None:
    database = open_database(study_db)
    try:
        facts = grras_facts(database)
    finally:
        database.close()
    assert facts.readers == ("A", "B")
    # Every reader reads every case of the set.
    assert facts.n_primary_expected == 2 * facts.n_cases
    assert facts.n_primary_submitted == facts.n_primary_expected
    assert facts.n_missing_primary == 0
    assert facts.n_repeat_submitted == facts.n_repeat_cases > 0
    assert len(facts.interval_days) == facts.n_repeat_submitted
    assert all(days >= 0 for days in facts.interval_days)
    assert facts.timepoints_blinded is True
    assert facts.n_sources == 2
    assert facts.readers_with_one_source
    assert "SHA-256" in facts.protocol
    text = grras_html(facts)
    assert "time-point labels blinded" in text
    assert "to be written by the authors" in text
    assert f"{facts.n_cases} cases" in text


def test_study_report_carries_grras_sem_and_named_icc(study_db: Path, tmp_path: Path) -> None:
    from collarreader.analysis.study import write_study_report

    path = write_study_report(study_db, tmp_path / "report", n_boot=0)
    text = path.read_text(encoding="utf-8")
    assert "Reporting checklist (GRRAS)" in text
    assert "time-point labels blinded" in text
    assert "Measurement error in the unit of the measurement" in text
    assert "MDC95" in text
    assert "McGraw &amp; Wong ICC(A,1) = Shrout &amp; Fleiss ICC(2,1)" in text
    assert "pingouin" in text
    assert "upper LoA (exact 95 % CI)" in text
    assert "ICC 95 % CI width" in text
    errors = pd.read_csv(tmp_path / "report" / "measurement_error.csv")
    assert {"sem", "mdc95", "icc_ci_width"} <= set(errors.columns)
    assert (errors["mdc95"].dropna() >= 0).all()
    assert len(errors.dropna(subset=["sem"])) > 0
