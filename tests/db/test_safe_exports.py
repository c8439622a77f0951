"""Every CSV and XLSX the program writes keeps names that start like a formula inert.

The site and patient names of the manifest and the patient, source and description of the
clinical CSVs are set to text a spreadsheet would run (``=``, ``+``, ``-``, ``@``); the whole
command line runs on them (prepare → simulated reads → merge → clinical imports → exports
with the key → agreement report), and every file is opened back with the ``csv`` module and
openpyxl: no cell is a formula or starts like one, the names arrive as ``'``-prefixed text,
and numbers are still numbers.
"""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

from collarreader import cli
from collarreader.db.export import FORMULA_STARTS, safe_cell
from collarreader.study.phantom_clinical import write_clinical_csvs

HOSTILE = {
    "SITE-": "=HYPERLINK(evil)",  # every site (prefix match below)
    "P001": "@SUM(1+1)",
    "P002": "+cmd|<b>calc",
}


def _rewrite(path: Path, columns: dict[str, object]) -> None:
    with path.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    for index, row in enumerate(rows):
        for column, change in columns.items():
            row[column] = change(row[column], index) if callable(change) else str(change)
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _patient(name: str, _index: int) -> str:
    return HOSTILE.get(name, name)


def _run(*args: object) -> None:
    assert cli.main([str(arg) for arg in args]) == 0


def _unsafe(value: object) -> bool:
    return isinstance(value, str) and safe_cell(value) != value


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("hostile")
    _run("phantom", root / "phantom", "--patients", "2", "--small", "--seed", "3")
    clinical = write_clinical_csvs(root / "phantom" / "truth.json", root / "clinical", seed=4)
    _rewrite(
        root / "phantom" / "manifest.csv",
        {"site": HOSTILE["SITE-"], "patient": _patient},
    )
    _rewrite(clinical.oxford_csv, {"patient": _patient, "source": lambda v, i: f"-{v}"})
    _rewrite(
        clinical.adverse_events_csv,
        {"patient": _patient, "description": lambda v, i: f"={v}" if i == 0 else f"@{v}"},
    )
    key = root / "key.json"
    _run(
        "prepare", "--manifest", root / "phantom" / "manifest.csv", "--out", root / "set",
        "--key", key, "--readers", "A,B", "--seed", "5",
    )  # fmt: skip
    for reader in ("A", "B"):
        _run("simulate-reads", root / "set", "--reader", reader, "--db", root / f"{reader}.db")
    study = root / "study.sqlite"
    _run("merge", study, root / "A.db", root / "B.db")
    _run("clinical", "import-oxford", study, clinical.oxford_csv, "--key", key)
    _run("clinical", "import-ae", study, clinical.adverse_events_csv, "--key", key)
    _run("export", study, "--out", root / "out" / "study.csv", "--key", key)
    _run("export", study, "--out", root / "out" / "study.xlsx", "--format", "xlsx", "--key", key)
    _run("export", study, "--out", root / "out" / "blinded.csv")
    _run("agreement", study, "--out", root / "report", "--key", key)
    return sorted((root / "out").iterdir()) + sorted((root / "report").glob("*.csv"))


def test_no_csv_cell_starts_like_a_formula(exports: list[Path]) -> None:
    seen: set[str] = set()
    for path in exports:
        if path.suffix != ".csv":
            continue
        with path.open(encoding="utf-8", newline="") as stream:
            for row in csv.reader(stream):
                for cell in row:
                    assert not _unsafe(cell), f"{path.name}: {cell!r}"
                    seen.add(cell)
    for hostile in (*HOSTILE.values(), "=deep periprosthetic infection"):
        assert "'" + hostile in seen, hostile
    assert {"'-phone", "'-clinic"} & seen


def test_no_xlsx_cell_is_a_formula_and_numbers_stay_numbers(exports: list[Path]) -> None:
    (workbook_path,) = [path for path in exports if path.suffix == ".xlsx"]
    workbook = openpyxl.load_workbook(workbook_path)
    texts: set[str] = set()
    numeric = 0
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate}: {cell.value!r}"
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(FORMULA_STARTS), cell.value
                    texts.add(cell.value)
                elif isinstance(cell.value, (int, float)):
                    numeric += 1
    assert {"'" + name for name in HOSTILE.values()} <= texts
    assert numeric > 100


def test_safe_cell_rules() -> None:
    assert safe_cell("=1+1") == "'=1+1"
    assert safe_cell("\tx") == "'\tx"
    assert safe_cell("\rx") == "'\rx"
    assert safe_cell("-1.5") == "-1.5"  # a number written as text stays a number
    assert safe_cell("+2") == "+2"
    assert safe_cell(-3.0) == -3.0
    assert safe_cell("P001") == "P001"
    assert safe_cell(None) is None


def test_path_arguments_of_the_wrong_kind_are_refused_leaving_nothing(
    exports: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from collarreader.analysis.study import write_study_export
    from collarreader.db.export import export_tidy
    from collarreader.errors import CollarReaderError

    root = exports[0].parents[1]
    study, key, folder = root / "study.sqlite", root / "key.json", root / "out"
    before = sorted(path.name for path in root.rglob("*"))
    cases: list[tuple[list[object], str]] = [
        (["export", study, "--out", folder], "is a folder"),
        (["export", study, "--out", folder, "--format", "xlsx", "--key", key], "is a folder"),
        (["export", study, "--out", root / "x.csv", "--key", folder], "is a folder"),
        (["agreement", study, "--out", folder / "study.csv"], "is a file"),
        (["clinical", "import-oxford", study, folder, "--key", key], "is a folder"),
        (["merge", folder, root / "A.db"], "is a folder"),
        (["verify", study, "--against", folder], "is a folder"),
        (
            [
                "prepare",
                "--manifest",
                key,
                "--out",
                key,
                "--key",
                root / "k2.json",
                "--readers",
                "A",
            ],
            "is a file",
        ),
        (["phantom", key], "is a file"),
    ]
    for args, expected in cases:
        assert cli.main([str(arg) for arg in args]) == 1, args
        error = capsys.readouterr().err
        assert expected in error, (args, error)
        assert "Traceback" not in error
    for call in (
        lambda: write_study_export(study, folder, key=key),
        lambda: write_study_export(study, folder, fmt="xlsx"),
        lambda: export_tidy(study, folder),
    ):
        with pytest.raises(CollarReaderError, match="is a folder"):
            call()
    assert sorted(path.name for path in root.rglob("*")) == before  # no .partial left


def test_the_html_report_escapes_the_names(exports: list[Path]) -> None:
    html = (exports[0].parents[1] / "report" / "report.html").read_text(encoding="utf-8")
    assert "cmd|&lt;b&gt;calc" in html
    assert "<b>calc" not in html
