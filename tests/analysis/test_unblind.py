"""Unblinding a tidy table with the key: codes and shown labels back to patients and time points."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from collarreader.analysis.tidy import TIDY_COLUMNS, UNBLINDED_COLUMNS
from collarreader.analysis.unblind import unblind
from collarreader.errors import AnalysisError
from collarreader.study.keyfile import load_key
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.readingset import open_reading_set


@pytest.fixture(scope="module")
def blinded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("unblind")
    generate_study(root / "study", patients=3, seed=5, small=True)
    prepare_reading_set(
        root / "study" / "manifest.csv",
        root / "set",
        root / "key.json",
        "A,B",
        seed=3,
        repeat_fraction=0.5,
        blind_timepoints=True,
    )
    return root / "study" / "manifest.csv", root / "set", root / "key.json"


def tidy_rows(setdir: Path) -> pd.DataFrame:
    """One value per shown image and reader, primaries and repeats, as an export has them."""
    reading_set = open_reading_set(setdir)
    rows = []
    for reader in reading_set.readers:
        for entry in reading_set.worklist(reader):
            case = reading_set.case(entry.case_code)
            for image in case.images:
                row = dict.fromkeys(TIDY_COLUMNS, "")
                row.update(
                    reader=reader,
                    case_code=entry.case_code,
                    kind=str(entry.kind),
                    repeat_of=entry.repeat_of or "",
                    joint=case.joint,
                    view=image.view,
                    timepoint=image.timepoint,
                    zone="",
                    field="image_quality",
                    value="good",
                    source="entered",
                    submitted="true",
                )
                rows.append(row)
    return pd.DataFrame(rows, columns=list(TIDY_COLUMNS))


def test_labels_and_codes_map_back_to_the_manifest(blinded: tuple[Path, Path, Path]) -> None:
    manifest, setdir, key_path = blinded
    key = load_key(key_path)
    tidy = tidy_rows(setdir)
    assert set(tidy["timepoint"]) == {"A", "B"}
    assert (tidy["kind"] == "repeat").any()

    result = unblind(tidy, key)
    assert list(result.columns) == [*TIDY_COLUMNS, *UNBLINDED_COLUMNS]
    assert result[list(TIDY_COLUMNS)].equals(tidy)

    # Independent truth: the manifest row of each shown image's source file.
    with manifest.open(encoding="utf-8") as stream:
        by_path = {row["path"]: row for row in csv.DictReader(stream)}
    reading_set = open_reading_set(setdir, verify=False)
    expected = []
    for _, row in tidy.iterrows():
        image = next(
            image
            for image in reading_set.case(row["case_code"]).images
            if image.view == row["view"] and image.timepoint == row["timepoint"]
        )
        source = by_path[key.images[image.image_code].source]
        expected.append((source["site"], source["patient"], source["timepoint"]))
    got = list(zip(result["site"], result["patient"], result["true_timepoint"], strict=True))
    assert got == expected
    # Blinding really hid the order: some case shows its 12-month images as "A".
    shown = zip(got, tidy["timepoint"], strict=True)
    assert any(tp == "12m" for (_, _, tp), label in shown if label == "A")


def test_table_from_another_set_is_refused(blinded: tuple[Path, Path, Path]) -> None:
    _, setdir, key_path = blinded
    tidy = tidy_rows(setdir)
    tidy.loc[0, "case_code"] = "ZZZZZ"
    with pytest.raises(AnalysisError, match=r"not in the key of set .*: ZZZZZ\."):
        unblind(tidy, load_key(key_path))
