"""``collarreader export`` and ``agreement`` on a reader's own database, and export formats.

A reader database exports its tidy table (no clinical tables, no study message); agreement on
it says to merge first. The extension of ``--out`` decides the format; a ``--format`` that
contradicts it is refused before anything is written.
"""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

from collarreader import cli
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.simulate import simulate_reads


@pytest.fixture(scope="module")
def reader_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reader-export")
    generate_study(root / "phantom", patients=2, seed=2, small=True, burned_in=0)
    prepare_reading_set(
        root / "phantom" / "manifest.csv", root / "set", root / "key.json", ["A"], seed=2
    )
    simulate_reads(root / "set", reader_id="A", db_path=root / "A.sqlite", seed=1)
    return root / "A.sqlite"


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_reader_database_exports_its_tidy_table_only(
    reader_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "A.csv"
    code, printed, err = run(capsys, "export", reader_db, "--out", out)
    assert code == 0, err
    assert printed.strip().splitlines() == [str(out)]  # one file: no clinical tables
    with out.open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert rows
    assert {row["reader"] for row in rows} == {"A"}
    assert "patient" not in rows[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A.csv"]


def test_the_extension_decides_the_format(
    reader_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workbook_path = tmp_path / "A.xlsx"
    code, _printed, err = run(capsys, "export", reader_db, "--out", workbook_path)
    assert code == 0, err
    workbook = openpyxl.load_workbook(workbook_path, read_only=True)
    assert workbook.sheetnames == ["values"]


@pytest.mark.parametrize(
    ("name", "fmt", "message"),
    [
        ("y.csv", "xlsx", "--format xlsx does not match the .csv extension. Name the file y.xlsx"),
        ("x.xlsx", "csv", "--format csv does not match the .xlsx extension. Name the file x.csv"),
        ("z.txt", None, "the extension decides the format; name the file .csv or .xlsx"),
    ],
)
def test_a_format_that_contradicts_the_extension_is_refused(
    reader_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *,
    name: str,
    fmt: str | None,
    message: str,
) -> None:
    extra = ["--format", fmt] if fmt else []
    code, _printed, err = run(capsys, "export", reader_db, "--out", tmp_path / name, *extra)
    assert code == 1
    assert err.startswith("collarreader export: ")
    assert message in err
    assert list(tmp_path.iterdir()) == []


def test_agreement_on_a_reader_database_says_to_merge_first(
    reader_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _printed, err = run(capsys, "agreement", reader_db, "--out", tmp_path / "report")
    assert code == 1
    assert err.startswith(f"collarreader agreement: {reader_db}: this is reader A's own database")
    assert "collarreader merge study.sqlite A.sqlite" in err
    assert "Oxford" not in err
    assert not (tmp_path / "report").exists()


def test_export_help_says_what_a_blinded_export_contains() -> None:
    parser = cli.build_parser()
    export = parser._subparsers._group_actions[0].choices["export"]  # type: ignore[union-attr]
    text = " ".join(export.format_help().split())
    assert "Without --key the export is blinded" in text
    assert "with or without --key" in text
    assert "pseudonyms, not identities" in text
    assert "A reader database exports its own readings only" in text
