"""export_tidy / tidy_frame: the contract's columns, one row per value, sorted, readable."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collarreader.analysis.tidy import read_tidy
from collarreader.db.engine import open_database
from collarreader.db.export import TIDY_COLUMNS, TYPED_NOT_MEASURED, export_tidy, tidy_frame
from collarreader.db.merge import merge_databases
from collarreader.db.repository import Repository
from collarreader.errors import DatabaseError
from collarreader.protocol import FieldType
from collarreader.session import ReadingSession
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.readingset import open_reading_set
from collarreader.study.simulate import simulate_reads


@dataclass(frozen=True)
class Merged:
    setdir: Path
    readers: tuple[Path, ...]
    study: Path


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> Merged:
    root = tmp_path_factory.mktemp("export")
    phantom = generate_study(root / "phantom", patients=2, seed=3, small=True)
    setdir, key = root / "set", root / "key.json"
    prepare_reading_set(phantom.manifest, setdir, key, "A,B", seed=3, repeat_fraction=0.5)
    readers = []
    for reader in ("A", "B"):
        path = root / f"{reader}.sqlite"
        simulate_reads(setdir, reader_id=reader, db_path=path, seed=4, truth=phantom.truth, key=key)
        readers.append(path)
    study = root / "study.sqlite"
    merge_databases(study, readers)
    return Merged(setdir, tuple(readers), study)


def test_export_has_the_contract_columns_and_reads_back(merged: Merged, tmp_path: Path) -> None:
    out = export_tidy(merged.study, tmp_path / "tidy.csv")
    assert out.read_text(encoding="utf-8").splitlines()[0] == ",".join(TIDY_COLUMNS)
    table = read_tidy(out)
    assert list(table.columns) == list(TIDY_COLUMNS)
    with sqlite3.connect(merged.study) as connection:
        n_scores = connection.execute("SELECT count(*) FROM scores").fetchone()[0]
    assert len(table) == n_scores
    assert set(table.reader) == {"A", "B"}
    assert set(table.source) == {"measured", "entered", "derived"}
    assert table.submitted.all()
    keys = ["reader", "case_code", "timepoint", "view", "zone", "field"]
    assert table[keys].apply(tuple, axis=1).is_monotonic_increasing


def test_values_units_and_calibration_sources(merged: Merged) -> None:
    database = open_database(merged.study)
    try:
        table = tidy_frame(database)
    finally:
        database.close()
    protocol = open_reading_set(merged.setdir, verify=False).protocol
    bools = {f.key for f in protocol.fields if f.type is FieldType.BOOL}
    assert set(table[table.field.isin(bools)].value) <= {"yes", "no"}
    assert not table.value.isin(["true", "false"]).any()
    derived = table[table.source == "derived"]
    assert set(derived.field) == {"rll_grade"}
    widths = table[table.field == "rll_width_mm"]
    assert (widths.unit == "mm").all()
    assert widths.value.str.fullmatch(r"\d+\.\d").all()
    measured_mm = table[(table.unit == "mm") & (table.source == "measured")]
    assert (measured_mm.calibration_source != "").all()
    assert "manual: ball 25 mm" in set(measured_mm.calibration_source)
    assert set(measured_mm.calibration_source) - {"manual: ball 25 mm"} <= {
        "imager_magnified",
        "pixel_spacing",
        "imager_detector",
    }
    assert (table[table.unit != "mm"].calibration_source == "").all()
    extents = table[table.field == "bridging_extent"]
    assert (extents.unit == "%").all()
    case_rows = table[table.field.str.startswith("cortical_thickness")]
    assert (case_rows.view == "").all()
    assert (case_rows.zone == "").all()
    repeats = table[table.kind == "repeat"]
    assert len(repeats) > 0
    primaries = set(table[table.kind == "primary"].case_code)
    assert set(repeats.repeat_of) <= primaries
    assert (table[table.kind == "primary"].repeat_of == "").all()


def test_export_is_deterministic(merged: Merged, tmp_path: Path) -> None:
    first = export_tidy(merged.study, tmp_path / "one.csv")
    second = export_tidy(merged.study, tmp_path / "two.csv")
    assert first.read_bytes() == second.read_bytes()
    # A reader database exports its own values the same way.
    reader = export_tidy(merged.readers[0], tmp_path / "reader.csv")
    study = read_tidy(first)
    own = read_tidy(reader)
    assert own.equals(study[study.reader == "A"].reset_index(drop=True))


def test_unsubmitted_reading_is_exported_as_not_submitted(merged: Merged, tmp_path: Path) -> None:
    reading_set = open_reading_set(merged.setdir)
    path = tmp_path / "C.sqlite"
    database = open_database(
        path,
        create=True,
        role="reader",
        reader_id="A",
        set_uuid=reading_set.set_uuid,
        protocol=reading_set.protocol,
    )
    try:
        session = ReadingSession(Repository(database), reading_set, reading_set.protocol, "A")
        context = session.open_case(session.cases[0].case_code)
        image = context.case.images[0]
        session.set_score("image_quality", "poor", timepoint=image.timepoint, view=image.view)
        session.close_case()
        table = tidy_frame(database)
    finally:
        database.close()
    assert len(table) == 1
    row = table.iloc[0]
    assert (row.field, row.value, bool(row.submitted)) == ("image_quality", "poor", False)


def test_typed_mm_value_says_it_was_not_measured(merged: Merged, tmp_path: Path) -> None:
    # A width typed in the panel has no geometry behind it: the export must not borrow the
    # calibration of an image it was not measured on, nor leave the source blank.
    reading_set = open_reading_set(merged.setdir)
    database = open_database(
        tmp_path / "T.sqlite",
        create=True,
        role="reader",
        reader_id="A",
        set_uuid=reading_set.set_uuid,
        protocol=reading_set.protocol,
    )
    try:
        session = ReadingSession(Repository(database), reading_set, reading_set.protocol, "A")
        context = session.open_case(session.cases[0].case_code)
        image = context.case.images[0]
        zone = reading_set.protocol.zones_for(image.view)[0].key
        where = {"timepoint": image.timepoint, "view": image.view, "zone": zone}
        session.set_score("rll_present", True, **where)
        session.set_score("rll_width_mm", 1.5, **where)
        session.close_case()
        table = tidy_frame(database)
    finally:
        database.close()
    width = table[table.field == "rll_width_mm"].iloc[0]
    assert (width.value, width.unit, width.source) == ("1.5", "mm", "entered")
    assert width.calibration_source == TYPED_NOT_MEASURED


def test_export_refuses_bad_targets_and_formats(merged: Merged, tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="does not exist"):
        export_tidy(merged.study, tmp_path / "missing" / "tidy.csv")
    with pytest.raises(DatabaseError, match="xlsx"):
        export_tidy(merged.study, tmp_path / "tidy.xlsx", fmt="xlsx")
    with pytest.raises(DatabaseError, match="no such database"):
        export_tidy(tmp_path / "nope.sqlite", tmp_path / "tidy.csv")


def test_postgres_study_exports_the_same_table(
    backend: Any, merged: Merged, tmp_path: Path
) -> None:
    target = backend.location("study")
    merge_databases(target, merged.readers)
    here = tmp_path / "here.csv"
    export_tidy(target, here)
    reference = tmp_path / "reference.csv"
    export_tidy(merged.study, reference)
    assert here.read_bytes() == reference.read_bytes()
