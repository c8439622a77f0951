"""The study lead's whole command line, end to end, on a small phantom.

phantom → prepare → simulate-reads (two readers, with truth and key) → merge → verify →
clinical imports → export (blinded, unblinded, xlsx) → agreement report → demo --lead.
Each step runs through ``collarreader.cli.main`` exactly as typed at a terminal.
"""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import openpyxl
import pytest

from collarreader import cli
from collarreader.lead_demo import run_lead_demo
from collarreader.study.phantom_clinical import write_clinical_csvs


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = cli.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    assert (
        cli.main(["phantom", str(root / "phantom"), "--patients", "4", "--small", "--seed", "3"])
        == 0
    )
    assert (
        cli.main(
            [
                "prepare",
                "--manifest", str(root / "phantom" / "manifest.csv"),
                "--out", str(root / "set"),
                "--key", str(root / "key.json"),
                "--readers", "A,B",
                "--seed", "5",
                "--repeat-fraction", "0.5",
            ]
        )
        == 0
    )  # fmt: skip
    for reader, seed in (("A", "1"), ("B", "2")):
        assert (
            cli.main(
                [
                    "simulate-reads", str(root / "set"),
                    "--reader", reader,
                    "--db", str(root / f"{reader}.sqlite"),
                    "--seed", seed,
                    "--truth", str(root / "phantom" / "truth.json"),
                    "--key", str(root / "key.json"),
                ]
            )
            == 0
        )  # fmt: skip
    return root


def test_merge_verify_clinical_export_agreement(
    study: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = study / "study.sqlite"
    merged = run(capsys, "merge", target, study / "A.sqlite", study / "B.sqlite")
    assert "A.sqlite" in merged
    assert "B.sqlite" in merged
    again = run(capsys, "merge", target, study / "A.sqlite")  # idempotent
    with sqlite3.connect(target) as connection:
        n_audit = connection.execute("SELECT count(*) FROM audit_events").fetchone()[0]
    assert "A.sqlite" in again
    assert "OK" in run(capsys, "verify", target)

    clinical = write_clinical_csvs(study / "phantom" / "truth.json", study / "clinical", seed=4)
    assert clinical.n_events > 0
    key = study / "key.json"
    run(capsys, "clinical", "import-oxford", target, clinical.oxford_csv, "--key", key)
    run(capsys, "clinical", "import-ae", target, clinical.adverse_events_csv, "--key", key)
    run(capsys, "clinical", "import-oxford", target, clinical.oxford_csv, "--key", key)
    listing = run(capsys, "clinical", "list", target)
    assert "P001" in listing
    assert "OK" in run(capsys, "verify", target)
    with sqlite3.connect(target) as connection:
        assert connection.execute("SELECT count(*) FROM oxford_questionnaires").fetchone()[0] == 8
        assert connection.execute("SELECT count(*) FROM audit_events").fetchone()[0] > n_audit

    blinded = study / "blinded.csv"
    run(capsys, "export", target, "--out", blinded)
    with blinded.open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert {row["reader"] for row in rows} == {"A", "B"}
    assert {row["kind"] for row in rows} == {"primary", "repeat"}
    assert "patient" not in rows[0]
    assert "P001" not in blinded.read_text(encoding="utf-8")

    unblinded = study / "unblinded.xlsx"
    run(capsys, "export", target, "--out", unblinded, "--format", "xlsx", "--key", key)
    workbook = openpyxl.load_workbook(unblinded, read_only=True)
    assert {"values", "longitudinal", "patients", "oxford_change"} <= set(workbook.sheetnames)
    header = [cell.value for cell in next(workbook["values"].iter_rows(max_row=1))]
    assert header[-3:] == ["site", "patient", "true_timepoint"]

    out = run(capsys, "agreement", target, "--out", study / "report", "--key", key)
    report = study / "report" / "report.html"
    assert str(report) in out
    html = report.read_text(encoding="utf-8")
    assert "Oxford" in html
    assert "rll_width_mm" in html or "RLL width" in html


def test_protocol_mismatch_is_refused_with_advice(
    study: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        [
            "export",
            str(study / "A.sqlite"),
            "--out",
            str(study / "x.csv"),
            "--protocol",
            "collar-gruen",
        ]
    )
    assert code == 1
    assert "protocol.toml" in capsys.readouterr().err
    assert not (study / "x.csv").exists()


def test_lead_demo_produces_a_report(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_lead_demo(tmp_path / "lead", patients=4, small=True, say=lines.append)
    assert result.report.exists()
    assert result.export.exists()
    assert any(str(result.report.resolve()) in line for line in lines)
