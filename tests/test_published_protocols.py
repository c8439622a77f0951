"""The published scoring systems as protocol files: load, validate, hash, summarise, analyse."""

from __future__ import annotations

import hashlib
import importlib.resources
from pathlib import Path

import pytest

from collarreader.analysis.tables import agreement_tables
from collarreader.analysis.tidy import read_tidy
from collarreader.db.export import export_tidy
from collarreader.db.merge import merge_databases
from collarreader.errors import ProtocolError
from collarreader.protocol import (
    Band,
    available_protocols,
    canonical_bytes,
    load_protocol,
    parse_protocol,
)
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.simulate import simulate_reads

PUBLISHED = (
    "stanford-tm-collar",
    "porous-collar-cortex",
    "smiles-collar",
    "knee-society",
    "delee-charnley",
)


def _file(name: str) -> bytes:
    folder = importlib.resources.files("collarreader") / "resources" / "protocols"
    return (folder / f"{name}.toml").read_bytes()


@pytest.mark.parametrize("name", PUBLISHED)
def test_each_file_loads_validates_and_hashes_like_the_default(name: str) -> None:
    protocol = load_protocol(name)
    assert name in available_protocols()
    assert protocol.name == name
    assert protocol.sha256 == hashlib.sha256(canonical_bytes(_file(name))).hexdigest()
    # The same bytes with Windows line endings are the same protocol.
    crlf = _file(name).replace(b"\n", b"\r\n")
    assert parse_protocol(crlf).sha256 == protocol.sha256
    text = _file(name).decode("utf-8")
    assert "Reference" in text
    assert "open" in text  # each says where the paper leaves a definition open
    assert protocol.zones
    assert protocol.counts or protocol.totals


KNEE_ZONES = {
    "femur": [f"femur{i}" for i in range(1, 8)],
    "tibia_ap": [f"tibia_ap{i}" for i in range(1, 8)],
    "tibia_lat": [f"tibia_lat{i}" for i in range(1, 4)],
}


def _knee(widths: dict[str, list[float]]) -> dict[str, dict[str, object]]:
    values: dict[str, dict[str, object]] = {}
    for component, zones in KNEE_ZONES.items():
        for zone, width in zip(zones, widths[component], strict=True):
            values[zone] = {"assessable": "yes", "rll_present": width > 0, "rll_width_mm": width}
    return values


def test_knee_society_sums_per_component_and_bands_match_hand_computed_cases() -> None:
    protocol = load_protocol("knee-society")
    # By hand: femur 0.5 + 1 + 0 + 2 + 0.5 + 0 + 0 = 4.0 (≤ 4: not significant);
    # tibia AP 2 + 2 + 1 + 0 + 0 + 0 + 0.5 = 5.5 (5–9: follow closely);
    # tibia lateral 4 + 3.5 + 3 = 10.5 (≥ 10: possible or impending failure).
    summary = protocol.summarise(
        _knee(
            {
                "femur": [0.5, 1.0, 0.0, 2.0, 0.5, 0.0, 0.0],
                "tibia_ap": [2.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.5],
                "tibia_lat": [4.0, 3.5, 3.0],
            }
        ),
        timepoint="6m",
    )
    assert summary["femur_lat_sum_mm"] == pytest.approx(4.0)
    assert summary["femur_lat_sum_mm_band"] == "not significant"
    assert summary["tibia_ap_sum_mm"] == pytest.approx(5.5)
    assert summary["tibia_ap_sum_mm_band"] == "follow closely"
    assert summary["tibia_lat_sum_mm"] == pytest.approx(10.5)
    assert summary["tibia_lat_sum_mm_band"] == "possible or impending failure"
    assert summary["assessable_zones"] == 17
    # Band edges: 4.9 is still the first band, 5.0 the second, 9.9 the second, 10.0 the third.
    edges = protocol.summarise(
        _knee(
            {
                "femur": [4.9, 0, 0, 0, 0, 0, 0],
                "tibia_ap": [5.0, 4.9, 0, 0, 0, 0, 0],
                "tibia_lat": [5.0, 5.0, 0.0],
            }
        )
    )
    assert edges["femur_lat_sum_mm_band"] == "not significant"
    assert edges["tibia_ap_sum_mm"] == pytest.approx(9.9)
    assert edges["tibia_ap_sum_mm_band"] == "follow closely"
    assert edges["tibia_lat_sum_mm_band"] == "possible or impending failure"
    # A zone not assessable is left out of its component's sum; no values → no sum, no band.
    values = _knee({"femur": [1.0] * 7, "tibia_ap": [0.0] * 7, "tibia_lat": [1.0, 1.0, 1.0]})
    values["femur3"] = {"assessable": "no", "rll_width_mm": 1.0}
    partial = protocol.summarise(
        {k: v for k, v in values.items() if not k.startswith("tibia_lat")}  # type: ignore[misc]
    )
    assert partial["femur_lat_sum_mm"] == pytest.approx(6.0)
    assert partial["tibia_lat_sum_mm"] is None
    assert partial["tibia_lat_sum_mm_band"] is None


def test_porous_cortex_score_sums_from_minus_4_to_plus_4() -> None:
    protocol = load_protocol("porous-collar-cortex")
    zones = ("medial", "lateral", "anterior", "posterior")
    for scores, total in (([1, 1, 1, 1], 4), ([-1, -1, -1, -1], -4), ([1, 0, -1, 1], 1)):
        values = {
            z: {"assessable": "yes", "cortex_score": s} for z, s in zip(zones, scores, strict=True)
        }
        assert protocol.summarise(values)["cortex_score_sum"] == total  # type: ignore[arg-type]
    assert protocol.field("cortex_score").check_value(2) is not None  # outside -1..+1
    assert protocol.field("cortex_score").check_value(-1) is None


def test_bands_and_zone_subsets_are_validated() -> None:
    base = _file("knee-society").decode("utf-8")
    with pytest.raises(ProtocolError, match="unknown zone 'femur9'"):
        parse_protocol(base.replace('zones = ["femur1",', 'zones = ["femur9",', 1))
    with pytest.raises(ProtocolError, match=r"minimum 5\.0 is above maximum 4\.0"):
        parse_protocol(
            base.replace("minimum = 5.0, maximum = 9.9", "minimum = 5.0, maximum = 4.0", 1)
        )
    with pytest.raises(ProtocolError, match="colour"):
        parse_protocol(
            base.replace(
                '{ label = "not significant", maximum = 4.9 }', '{ label = "x", colour = 1 }', 1
            )
        )
    assert Band("b", None, 4.9).holds(-1.0)
    assert not Band("b", 5.0, None).holds(4.99)


@pytest.mark.parametrize("name", PUBLISHED)
def test_simulated_readers_give_agreement_tables(name: str, tmp_path: Path) -> None:
    protocol = load_protocol(name)
    phantom = generate_study(tmp_path / "phantom", patients=2, seed=3, small=True, burned_in=0)
    setdir, key = tmp_path / "set", tmp_path / "key.json"
    prepare_reading_set(
        phantom.manifest, setdir, key, ["A", "B"], seed=3, protocol=name, repeat_fraction=0.0
    )
    readers = []
    for reader in ("A", "B"):
        path = tmp_path / f"{reader}.sqlite"
        simulate_reads(setdir, reader_id=reader, db_path=path, seed=4, truth=phantom.truth, key=key)
        readers.append(path)
    study = tmp_path / "study.sqlite"
    merge_databases(study, readers)
    out = tmp_path / "tidy.csv"
    export_tidy(study, out)
    result = agreement_tables(read_tidy(out), protocol, n_boot=0)
    fields = set(result.inter["field"])
    zone_fields = {f.key for f in protocol.zone_fields}
    assert fields & zone_fields, fields
    assert result.counts.readers == ("A", "B")
