"""simulate_reads: a whole worklist through the session commands, no identity, realistic values."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest

from collarreader.db.engine import open_database
from collarreader.db.export import tidy_frame
from collarreader.db.repository import Repository
from collarreader.db.verify import verify_database
from collarreader.errors import KeyFileError, ReadingSetError
from collarreader.study.keyfile import load_key
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.readingset import open_reading_set
from collarreader.study.simulate import SimulationSummary, reader_profile, simulate_reads


@dataclass(frozen=True)
class Study:
    root: Path
    setdir: Path
    key: Path
    truth: Path
    a: Path
    summary_a: SimulationSummary
    b: Path


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    root = tmp_path_factory.mktemp("simulate")
    phantom = generate_study(root / "phantom", patients=3, seed=11, small=True)
    setdir, key = root / "set", root / "key.json"
    prepare_reading_set(phantom.manifest, setdir, key, "A,B", seed=11, repeat_fraction=0.67)
    a, b = root / "A.sqlite", root / "B.sqlite"
    summary_a = simulate_reads(
        setdir, reader_id="A", db_path=a, seed=7, truth=phantom.truth, key=key
    )
    simulate_reads(setdir, reader_id="B", db_path=b, seed=7, truth=phantom.truth, key=key)
    return Study(root, setdir, key, phantom.truth, a, summary_a, b)


def frame(path: Path) -> pd.DataFrame:
    database = open_database(path)
    try:
        return tidy_frame(database)
    finally:
        database.close()


def test_whole_worklist_is_read_submitted_and_verifies(study: Study) -> None:
    worklist = open_reading_set(study.setdir).worklist("A")
    assert any(entry.repeat_of for entry in worklist)
    assert study.summary_a.submitted == len(worklist)
    assert study.summary_a.with_truth
    assert study.summary_a.annotations > 0
    assert study.summary_a.calibrations > 0  # some images calibrated on the ball
    assert verify_database(study.a) == []
    database = open_database(study.a)
    try:
        identity = database.identity
        readings = Repository(database).readings()
    finally:
        database.close()
    assert identity.role == "reader"
    assert identity.reader_id == "A"
    assert identity.set_uuid == open_reading_set(study.setdir).set_uuid
    assert sorted(r.case_code for r in readings) == sorted(e.case_code for e in worklist)
    assert all(r.locked and r.submitted_at and r.active_seconds > 0 for r in readings)
    assert "simulated reader A" in str(study.summary_a)


def test_running_again_reads_nothing_twice(study: Study, tmp_path: Path) -> None:
    copy = tmp_path / "A.sqlite"
    shutil.copy(study.a, copy)
    again = simulate_reads(study.setdir, reader_id="A", db_path=copy, seed=7)
    assert again.submitted == 0
    assert again.already_submitted == study.summary_a.submitted
    assert frame(copy).equals(frame(study.a))


def test_simulated_reads_carry_no_identity(study: Study) -> None:
    key = load_key(study.key)
    truth = json.loads(study.truth.read_text(encoding="utf-8"))
    secrets: set[str] = set()
    for image in key.images.values():
        secrets.update({image.source, Path(image.source).name, image.sop_instance_uid})
        secrets.update({image.study_instance_uid, image.series_instance_uid})
    for case in key.cases.values():
        secrets.add(case.patient)
    for patient in truth["patients"].values():
        secrets.update({patient["patient_name"], patient["patient_id"]})
        secrets.update(patient["patient_name"].split("^"))
    secrets.add(key.manifest)
    assert len(secrets) > 20
    for path in (study.a, study.b):
        data = b"".join(p.read_bytes() for p in path.parent.glob(f"{path.name}*"))
        found = sorted(s for s in secrets if s and s.encode("utf-8") in data)
        assert found == [], f"{path.name} holds identity: {found}"


def test_values_follow_the_truth_with_reader_bias_and_noise(study: Study) -> None:
    reading_set = open_reading_set(study.setdir)
    key = load_key(study.key)
    truth = json.loads(study.truth.read_text(encoding="utf-8"))["images"]

    def true_value(row: pd.Series, name: str) -> float:
        case = reading_set.case(row.case_code)
        image = next(i for i in case.images if i.view == row.view and i.timepoint == row.timepoint)
        return float(truth[key.images[image.image_code].source]["zones"][row.zone][name])

    tables = {reader: frame(path) for reader, path in (("A", study.a), ("B", study.b))}
    for reader, table in tables.items():
        widths = table[table.field == "rll_width_mm"]
        assert len(widths) >= 3, reader
        errors = [float(r.value) - true_value(r, "rll_width_mm") for r in widths.itertuples()]
        assert np.mean(np.abs(errors)) < 0.6, (reader, errors)
        extents = table[table.field == "bridging_extent"]
        errors = [
            float(r.value) - true_value(r, "bridging_extent_pct") for r in extents.itertuples()
        ]
        assert len(errors) >= 10
        assert np.mean(np.abs(errors)) < 15.0, (reader, errors)
        # Categories follow the noisy continuous values (with the odd slip): the measured
        # extent rises from "none" through "partial" to "complete".
        zones = table.pivot_table(
            index=["case_code", "timepoint", "view", "zone"],
            columns="field",
            values="value",
            aggfunc="first",
        ).dropna(subset=["bridging", "bridging_extent"])
        means = zones.bridging_extent.astype(float).groupby(zones.bridging).mean()
        ordered = [means[c] for c in ("none", "partial", "complete") if c in means.index]
        assert len(ordered) >= 2, means
        assert ordered == sorted(ordered), means
    # The two readers differ (their own bias and noise) but agree broadly.
    a = tables["A"].set_index(["case_code", "timepoint", "view", "zone", "field"]).value
    b = tables["B"].set_index(["case_code", "timepoint", "view", "zone", "field"]).value
    assert not a.equals(b)


def test_repeat_reads_are_correlated_with_the_primary(study: Study) -> None:
    table = frame(study.a)
    extents = table[table.field == "bridging_extent"]
    primary = (
        extents[extents.kind == "primary"]
        .set_index(["case_code", "timepoint", "view", "zone"])
        .value
    )
    repeat = extents[extents.kind == "repeat"].copy()
    pairs = [
        (float(primary[(row.repeat_of, row.timepoint, row.view, row.zone)]), float(row.value))
        for row in repeat.itertuples()
        if (row.repeat_of, row.timepoint, row.view, row.zone) in primary.index
    ]
    assert len(pairs) >= 5
    first, second = np.array(pairs).T
    assert np.corrcoef(first, second)[0, 1] > 0.7
    assert not np.array_equal(first, second)  # fresh noise


def test_profiles_are_per_reader_and_seeded() -> None:
    assert reader_profile("A", 1) == reader_profile("A", 1)
    assert reader_profile("A", 1) != reader_profile("B", 1)
    assert reader_profile("A", 1) != reader_profile("A", 2)


def test_without_truth_values_are_plausible_and_reproducible(study: Study, tmp_path: Path) -> None:
    first, second = tmp_path / "x.sqlite", tmp_path / "y.sqlite"
    summary = simulate_reads(study.setdir, reader_id="B", db_path=first, seed=3)
    simulate_reads(study.setdir, reader_id="B", db_path=second, seed=3)
    assert not summary.with_truth
    assert verify_database(first) == []
    one, two = frame(first), frame(second)
    assert one.equals(two)
    protocol = open_reading_set(study.setdir, verify=False).protocol
    for fld in protocol.fields:
        values = one[one.field == fld.key].value
        if fld.unit in ("mm", "%") and len(values):
            numbers = values.astype(float)
            assert numbers.min() >= (fld.minimum or 0), fld.key
            assert numbers.max() <= (fld.maximum or np.inf), fld.key
        if fld.choices and fld.type.value == "choice":
            assert set(values) <= set(fld.choices), fld.key
    assert set(one[one.field == "rll_present"].value) <= {"yes", "no"}
    assert (one[one.field == "assessable"].value == "no").any()  # some zones skipped


def test_tampered_set_is_refused(study: Study, tmp_path: Path) -> None:
    setdir = tmp_path / "set"
    shutil.copytree(study.setdir, setdir)
    image = sorted((setdir / "images").iterdir())[0]
    data = bytearray(image.read_bytes())
    data[-10] ^= 0xFF
    image.write_bytes(bytes(data))
    target = tmp_path / "A.sqlite"
    with pytest.raises(ReadingSetError, match=image.name):
        simulate_reads(setdir, reader_id="A", db_path=target)
    assert not target.exists()


def test_truth_needs_its_key_and_the_set_needs_the_reader(study: Study, tmp_path: Path) -> None:
    target = tmp_path / "A.sqlite"
    with pytest.raises(ReadingSetError, match="together"):
        simulate_reads(study.setdir, reader_id="A", db_path=target, truth=study.truth)
    with pytest.raises(ReadingSetError, match="no worklist for reader 'Z'"):
        simulate_reads(study.setdir, reader_id="Z", db_path=target)
    other = tmp_path / "key.json"
    document = json.loads(study.key.read_text(encoding="utf-8"))
    document["set_uuid"] = "00000000-0000-4000-8000-000000000000"
    other.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(KeyFileError, match="belongs to another reading set"):
        simulate_reads(study.setdir, reader_id="A", db_path=target, truth=study.truth, key=other)
    assert not target.exists()
