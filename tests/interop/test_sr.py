"""DICOM SR Measurement Reports: every mm value of the tidy export, readable by three readers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import highdicom as hd
import pydicom
import pytest
from pydicom.dataset import Dataset

from collarreader.cli import main
from collarreader.db.engine import open_database
from collarreader.db.export import tidy_frame
from collarreader.errors import InteropError
from collarreader.interop.codes import LOCAL_SCHEME
from collarreader.interop.sr import PIXEL_ORIGIN_OFFSET, write_srs
from collarreader.study.keyfile import load_key
from collarreader.study.readingset import open_reading_set


def unavailable(reason: str) -> None:
    """Skip, or fail under ``CI=true`` where a skip would hide a missing tool."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: this test must run, not skip)")
    pytest.skip(reason)


def _items(dataset: Dataset) -> Iterator[Dataset]:
    for item in dataset.get("ContentSequence", []):
        yield item
        yield from _items(item)


def _mm_values(sr: Dataset) -> Counter[tuple[float, str]]:
    """(value, calibration) of every NUM item in mm."""
    found: Counter[tuple[float, str]] = Counter()
    for item in _items(sr):
        if item.ValueType != "NUM":
            continue
        measured = item.MeasuredValueSequence[0]
        if measured.MeasurementUnitsCodeSequence[0].CodeValue != "mm":
            continue
        methods = [
            m.ConceptCodeSequence[0].CodeMeaning
            for m in item.get("ContentSequence", [])
            if m.ConceptNameCodeSequence[0].CodeMeaning == "Measurement Method"
        ]
        found[(float(measured.NumericValue), methods[0] if methods else "")] += 1
    return found


def _referenced(sr: Dataset) -> set[str]:
    return {
        item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        for item in _items(sr)
        if item.ValueType == "IMAGE"
    }


def _tidy_mm(db: Path) -> dict[tuple[str, str], Counter[tuple[float, str]]]:
    database = open_database(db, upgrade=False)
    try:
        frame = tidy_frame(database)
    finally:
        database.close()
    expected: dict[tuple[str, str], Counter[tuple[float, str]]] = {}
    for row in frame[frame.unit == "mm"].itertuples():
        counter = expected.setdefault((row.reader, row.case_code), Counter())
        counter[(float(row.value), row.calibration_source)] += 1
    return expected


@pytest.fixture(scope="module")
def reader_srs(read_study: Any, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_srs(
        read_study.readers["A"], tmp_path_factory.mktemp("sr"), setdir=read_study.setdir
    )


def test_every_mm_value_of_the_tidy_export_is_in_the_srs(
    read_study: Any, reader_srs: list[Path]
) -> None:
    expected = _tidy_mm(read_study.readers["A"])
    found: dict[tuple[str, str], Counter[tuple[float, str]]] = {}
    for path in reader_srs:
        sr = pydicom.dcmread(path)
        reader, case_code = path.name.removesuffix(".sr.dcm").split("_")
        found[(reader, case_code)] = _mm_values(sr)
    assert sum(sum(c.values()) for c in expected.values()) > 10
    assert found == {key: expected.get(key, Counter()) for key in found}
    assert set(expected) <= set(found)


def test_the_reader_set_srs_reference_the_sets_images_by_pixel_regions(
    read_study: Any, reader_srs: list[Path]
) -> None:
    set_uids = {image.sop_instance_uid for image in open_reading_set(read_study.setdir).images}
    for path in reader_srs:
        sr = pydicom.dcmread(path)
        assert _referenced(sr) <= set_uids
        assert _referenced(sr)
        evidence = {
            ref.ReferencedSOPInstanceUID
            for study in (
                *sr.CurrentRequestedProcedureEvidenceSequence,
                *sr.get("PertinentOtherEvidenceSequence", []),
            )
            for series in study.ReferencedSeriesSequence
            for ref in series.ReferencedSOPSequence
        }
        assert _referenced(sr) <= evidence
        observer = [i for i in _items(sr) if i.ValueType == "PNAME"]
        assert [str(i.PersonName) for i in observer] == ["A^"]
        assert sr.PatientID != ""  # the set's pseudonym, not a site's patient
        texts = {i.TextValue for i in _items(sr) if i.ValueType == "TEXT"}
        assert any(text.startswith("sha256=") for text in texts)


def test_marks_are_image_regions_in_dicom_pixel_coordinates(
    read_study: Any, reader_srs: list[Path]
) -> None:
    database = open_database(read_study.readers["A"], upgrade=False)
    try:
        with database.read() as connection:
            stored = [
                tuple(tuple(p) for p in json.loads(row[0]))
                for row in connection.exec_driver_sql(
                    "SELECT a.points_px FROM annotations a JOIN scores s ON s.annotation_id = a.id"
                    " WHERE s.unit = 'mm'"
                )
            ]
    finally:
        database.close()
    regions = []
    for path in reader_srs:
        for item in _items(pydicom.dcmread(path)):
            if item.ValueType == "SCOORD":
                data = [float(v) - PIXEL_ORIGIN_OFFSET for v in item.GraphicData]
                regions.append(tuple(zip(data[::2], data[1::2], strict=True)))
    stored_rounded = Counter(tuple((round(x, 3), round(y, 3)) for x, y in s) for s in stored)
    region_rounded = Counter(tuple((round(x, 3), round(y, 3)) for x, y in r) for r in regions)
    assert stored_rounded
    assert stored_rounded <= region_rounded


def test_highdicom_reads_the_report_back(reader_srs: list[Path]) -> None:
    sr = hd.sr.srread(reader_srs[0])
    report = sr.content
    planar = report.get_planar_roi_measurement_groups()
    assert planar
    group = planar[0]
    assert group.reference_type == hd.sr.CodedConcept("111030", "DCM", "Image Region")
    assert group.get_measurements()[0].unit.value in {"mm", "%"}
    evaluations = [
        e for g in report.get_image_measurement_groups() for e in g.get_qualitative_evaluations()
    ]
    schemes = {e.value.scheme_designator for e in evaluations}
    assert "SCT" in schemes
    assert LOCAL_SCHEME in schemes


def test_dcmtk_dsrdump_reads_every_report_without_error(reader_srs: list[Path]) -> None:
    dsrdump = shutil.which("dsrdump")
    if dsrdump is None:
        unavailable("dcmtk's dsrdump is not installed (Debian: dcmtk)")
    result = subprocess.run(
        [dsrdump, *map(str, reader_srs)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "E:" not in result.stderr
    assert "Imaging Measurement Report" in result.stdout


def test_a_study_database_gives_one_sr_per_reading_referencing_the_originals_with_the_key(
    read_study: Any, tmp_path: Path
) -> None:
    written = write_srs(read_study.study, tmp_path / "sr", key=read_study.key)
    database = open_database(read_study.study, upgrade=False)
    try:
        with database.read() as connection:
            n_readings = connection.exec_driver_sql("SELECT count(*) FROM readings").scalar()
    finally:
        database.close()
    assert len(written) == n_readings
    key = load_key(read_study.key)
    originals = {image.sop_instance_uid for image in key.images.values()}
    set_uids = {image.deidentified_sop_instance_uid for image in key.images.values()}
    referenced = set().union(*(_referenced(pydicom.dcmread(p)) for p in written))
    assert referenced <= originals
    assert not referenced & set_uids
    expected = _tidy_mm(read_study.study)
    for path in written:
        reader, case_code = path.name.removesuffix(".sr.dcm").split("_")
        assert _mm_values(pydicom.dcmread(path)) == expected.get((reader, case_code), Counter())


def test_without_set_or_key_the_error_says_what_to_give(read_study: Any, tmp_path: Path) -> None:
    with pytest.raises(InteropError, match="--set SETDIR"):
        write_srs(read_study.readers["A"], tmp_path / "sr")
    assert not (tmp_path / "sr").exists()


def test_cli_writes_srs_and_refuses_a_wrong_set(
    read_study: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["export", str(read_study.readers["B"]), "--format", "dicom-sr"]
    assert main([*args, "--out", str(tmp_path / "sr"), "--set", str(read_study.setdir)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(list((tmp_path / "sr").iterdir()))
    wrong = tmp_path / "wrong-set"
    shutil.copytree(read_study.setdir, wrong)
    victim = next((wrong / "images").glob("*.dcm"))
    dataset = pydicom.dcmread(victim)
    dataset.SOPInstanceUID = "1.2.3.4"
    dataset.save_as(victim)
    assert main([*args, "--out", str(tmp_path / "sr2"), "--set", str(wrong)]) == 1
    assert "not the image the database records" in capsys.readouterr().err
    assert not (tmp_path / "sr2").exists()


def test_blinded_time_points_are_reported_as_seen_and_unblinded_with_the_key(
    tmp_path: Path,
) -> None:
    from collarreader.study.phantom import generate_study
    from collarreader.study.prepare import prepare_reading_set
    from collarreader.study.simulate import simulate_reads

    phantom = generate_study(tmp_path / "phantom", patients=1, seed=5, small=True)
    setdir, key = tmp_path / "set", tmp_path / "key.json"
    prepare_reading_set(
        phantom.manifest, setdir, key, "A", seed=5, repeat_fraction=0.0, blind_timepoints=True
    )
    db = tmp_path / "A.sqlite"
    simulate_reads(setdir, reader_id="A", db_path=db, seed=5)

    def time_points(paths: list[Path]) -> set[str]:
        return {
            item.TextValue
            for path in paths
            for item in _items(pydicom.dcmread(path))
            if item.ValueType == "TEXT"
            and item.ConceptNameCodeSequence[0].CodeMeaning == "Time Point"
        }

    assert time_points(write_srs(db, tmp_path / "blind", setdir=setdir)) == {"A", "B"}
    assert time_points(write_srs(db, tmp_path / "keyed", key=key)) == {"6m", "12m"}
