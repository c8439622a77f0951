"""``collarreader pull`` against a real Orthanc (DICOMweb plugin) on loopback."""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from collarreader.cli import main
from collarreader.errors import PullError
from collarreader.interop.pull import PULL_COLUMNS, pull_images, read_auth, read_pull_manifest
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.readingset import open_reading_set


@pytest.fixture(scope="module")
def uploaded(orthanc: Any, phantom_study: Path) -> list[dict[str, str]]:
    """The phantom's images stored in Orthanc (REST upload); their pull-manifest rows."""
    rows = []
    with (phantom_study / "manifest.csv").open(encoding="utf-8") as stream:
        for source in csv.DictReader(stream):
            path = phantom_study / source["path"]
            header = pydicom.dcmread(path, stop_before_pixels=True)
            # A PACS left running by an earlier run may hold this UID with other pixels (the
            # phantom changed since): remove it, so the pull is compared with this upload.
            found = json.loads(
                orthanc.request("POST", "/tools/lookup", header.SOPInstanceUID.encode())
            )
            for resource in found:
                if resource.get("Type") == "Instance":
                    orthanc.request("DELETE", f"/instances/{resource['ID']}")
            orthanc.request("POST", "/instances", path.read_bytes())
            rows.append(
                {
                    "study_uid": header.StudyInstanceUID,
                    "series_uid": header.SeriesInstanceUID,
                    "sop_uid": header.SOPInstanceUID,
                    **{name: source[name] for name in PULL_COLUMNS[3:]},
                    "source": str(path),
                }
            )
    return rows


def _write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=PULL_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_pull_brings_back_identical_pixels_and_prepares(
    orthanc: Any, uploaded: list[dict[str, str]], tmp_path: Path
) -> None:
    manifest = _write_manifest(tmp_path / "pull.csv", uploaded)
    out = tmp_path / "pulled"
    seen: list[tuple[int, int]] = []
    report = pull_images(
        orthanc.dicomweb_url,
        manifest,
        out,
        auth=orthanc.auth_file,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert report.retrieved == len(uploaded)
    assert report.resumed == 0
    assert seen[-1] == (len(uploaded), len(uploaded))
    with report.manifest.open(encoding="utf-8") as stream:
        written = list(csv.DictReader(stream))
    assert len(written) == len(uploaded)
    for row, asked in zip(written, uploaded, strict=True):
        pulled = pydicom.dcmread(out / row["path"])
        original = pydicom.dcmread(asked["source"])
        assert pulled.SOPInstanceUID == asked["sop_uid"]
        assert np.array_equal(pulled.pixel_array, original.pixel_array)
        assert (row["patient"], row["timepoint"], row["view"]) == (
            asked["patient"],
            asked["timepoint"],
            asked["view"],
        )
    prepare_reading_set(
        report.manifest, tmp_path / "set", tmp_path / "key.json", "A,B", seed="pull"
    )
    reading_set = open_reading_set(tmp_path / "set")
    assert len(reading_set.images) == len(uploaded)


def test_an_interrupted_pull_resumes_and_writes_no_manifest_before_the_end(
    orthanc: Any, uploaded: list[dict[str, str]], tmp_path: Path
) -> None:
    manifest = _write_manifest(tmp_path / "pull.csv", uploaded)
    out = tmp_path / "pulled"

    def interrupt(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pull_images(orthanc.dicomweb_url, manifest, out, auth=orthanc.auth_file, progress=interrupt)
    assert not (out / "manifest.csv").exists()
    assert len(list((out / "images").glob("*.dcm"))) == 3
    # A half-written file from a kill never has the final name; a damaged one is fetched again.
    damaged = out / "images" / f"{uploaded[0]['sop_uid']}.dcm"
    damaged.write_bytes(damaged.read_bytes()[:1000])
    report = pull_images(orthanc.dicomweb_url, manifest, out, auth=orthanc.auth_file)
    assert (report.retrieved, report.resumed) == (len(uploaded) - 2, 2)
    assert (out / "manifest.csv").is_file()
    assert pydicom.dcmread(damaged).SOPInstanceUID == uploaded[0]["sop_uid"]


def test_a_missing_instance_names_its_row_and_leaves_no_manifest(
    orthanc: Any, uploaded: list[dict[str, str]], tmp_path: Path
) -> None:
    rows = [dict(row) for row in uploaded[:2]]
    rows[1]["sop_uid"] = "1.2.3.4.5.6.7.8.9"
    manifest = _write_manifest(tmp_path / "pull.csv", rows)
    out = tmp_path / "pulled"
    with pytest.raises(PullError, match=r"row 3 \(SOP Instance UID 1\.2\.3\.4\.5\.6\.7\.8\.9\)"):
        pull_images(orthanc.dicomweb_url, manifest, out, auth=orthanc.auth_file)
    assert not (out / "manifest.csv").exists()


def test_wrong_credentials_are_refused_clearly(
    orthanc: Any, uploaded: list[dict[str, str]], tmp_path: Path
) -> None:
    manifest = _write_manifest(tmp_path / "pull.csv", uploaded[:1])
    auth = tmp_path / "auth.txt"
    auth.write_text("user = collar\npassword = wrong\n", encoding="utf-8")
    with pytest.raises(PullError, match="refused the credentials"):
        pull_images(orthanc.dicomweb_url, manifest, tmp_path / "out", auth=auth)


def test_an_unreachable_server_gives_a_clear_error(
    uploaded: list[dict[str, str]], tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    manifest = _write_manifest(tmp_path / "pull.csv", uploaded[:1])
    with pytest.raises(PullError, match="cannot be reached"):
        pull_images(f"http://127.0.0.1:{port}/dicom-web", manifest, tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_a_malformed_uid_is_refused_before_any_request(tmp_path: Path) -> None:
    manifest = tmp_path / "pull.csv"
    manifest.write_text(
        ",".join(PULL_COLUMNS) + "\n1.2.3,1.2.3.4,1.2.03.x,S,P1,6m,AP,hip,L\n", encoding="utf-8"
    )
    with pytest.raises(PullError, match=r"row 2, column 'sop_uid': '1\.2\.03\.x' is not a DICOM"):
        read_pull_manifest(manifest)


def test_credentials_come_from_a_file(tmp_path: Path) -> None:
    token = tmp_path / "token.txt"
    token.write_text("# PACS token\ntoken = abc.def\n", encoding="utf-8")
    assert read_auth(token) is not None
    bad = tmp_path / "bad.txt"
    bad.write_text("username: someone\n", encoding="utf-8")
    with pytest.raises(PullError, match="line 1"):
        read_auth(bad)


def test_cli_pull_prints_the_manifest(
    orthanc: Any, uploaded: list[dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _write_manifest(tmp_path / "pull.csv", uploaded[:2])
    code = main(
        [
            "pull",
            orthanc.dicomweb_url,
            "--manifest",
            str(manifest),
            "--out",
            str(tmp_path / "out"),
            "--auth",
            str(orthanc.auth_file),
        ]
    )
    assert code == 0
    assert "manifest ready for prepare" in capsys.readouterr().out


def test_a_uid_of_the_wrong_series_is_a_missing_instance_on_its_row(
    orthanc: Any, uploaded: list[dict[str, str]], tmp_path: Path
) -> None:
    rows = [dict(row) for row in uploaded[:1]]
    other_series = next(
        r["series_uid"] for r in uploaded if r["series_uid"] != rows[0]["series_uid"]
    )
    rows[0]["series_uid"] = other_series
    manifest = _write_manifest(tmp_path / "pull.csv", rows)
    with pytest.raises(PullError, match=r"row 2 .*has no such instance.*Check the three UIDs"):
        pull_images(orthanc.dicomweb_url, manifest, tmp_path / "out", auth=orthanc.auth_file)
    assert not (tmp_path / "out" / "manifest.csv").exists()
    assert not list((tmp_path / "out" / "images").iterdir())
