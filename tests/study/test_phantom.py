"""The phantom study: files, headers, truth, determinism, and the truth re-measured from pixels.

Pixels are read with pydicom directly (``ds.pixel_array``), independently of the imaging
loader. The key tests re-measure every radiolucent line with ``measure.profile`` along the
truth's interface and compare with the truth's width in object-plane mm.

Tolerances: full-size images (object-plane pixels of ~0.12–0.14 mm, blur σ ≈ 0.8 px) must
agree within 0.1 mm. Small images (pixels of ~1 mm, 8 × coarser) cannot resolve a line
narrower than about a pixel: there the honest figure is within 0.6 mm for lines of at least
1.5 mm over a stretch of at least 3 px, and within 1.0 mm (one pixel) for any line found.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from collarreader.errors import PhantomError
from collarreader.measure.profile import GapMeasurement, measure_gap_along, scan_gap_along
from collarreader.study.phantom import (
    MANIFEST_COLUMNS,
    TRUTH_FORMAT,
    StudySummary,
    generate_study,
    write_phantom_image,
)

SMALL_SEED = 6
FULL_SEED = 11  # patient 0: a knee with lines of 0.65–2.7 mm in 4 zones


@pytest.fixture(scope="module")
def small_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, StudySummary]:
    outdir = tmp_path_factory.mktemp("phantom") / "study"
    calls: list[tuple[int, int]] = []
    summary = generate_study(
        outdir,
        patients=2,
        seed=SMALL_SEED,
        small=True,
        burned_in=1,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls[0] == (0, 8)
    assert calls[-1] == (8, 8)
    return outdir, summary


def load_truth(outdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((outdir / "truth.json").read_text(encoding="utf-8"))
    return result


def presentation_pixels(path: Path) -> np.ndarray:
    """Pixels in the MONOCHROME2 sense (bone bright), as float."""
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array.astype(np.float64)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        pixels = 4095.0 - pixels
    return pixels


def measure_zone(
    pixels: np.ndarray, image: dict[str, Any], zone: dict[str, Any], segment_key: str
) -> GapMeasurement | None:
    """The band along one of the zone's truth segments; the bone lies on the − side."""
    px_per_mm = image["px_per_mm"]
    (x0, y0), (x1, y1) = zone[segment_key]
    length = float(np.hypot(x1 - x0, y1 - y0))
    width_px = zone["rll_width_px"]
    return measure_gap_along(
        pixels,
        (x0, y0),
        (x1, y1),
        half_length_px=width_px + max(2.5 * px_per_mm, 6.0),
        search_px=(-3.3 * px_per_mm, 0.3 * px_per_mm),
        spacing_px=0.5,
        inset_px=min(0.1 * length, 3.0),
    )


def object_spacing(image: dict[str, Any]) -> tuple[float, float]:
    spacing = image["object_spacing_mm"]
    return (spacing["row_mm"], spacing["col_mm"])


# ---------------------------------------------------------------- files and headers


def test_manifest_has_the_design_columns_and_one_row_per_image(
    small_study: tuple[Path, StudySummary],
) -> None:
    outdir, summary = small_study
    with (outdir / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == MANIFEST_COLUMNS
        rows = list(reader)
    assert len(rows) == summary.images == 8
    for row in rows:
        assert (outdir / row["path"]).is_file()
        assert row["site"] in {"SITE-A", "SITE-B", "SITE-C"}
        assert row["timepoint"] in {"6m", "12m"}
        assert row["view"] in {"AP", "LAT"}
        assert row["joint"] in {"hip", "knee"}
        assert row["side"] in {"L", "R"}
    per_patient = Counter((row["patient"], row["timepoint"], row["view"]) for row in rows)
    assert len(per_patient) == 8
    assert {row["patient"] for row in rows} == {"P001", "P002"}


def test_truth_describes_every_image_and_zone(small_study: tuple[Path, StudySummary]) -> None:
    outdir, _ = small_study
    truth = load_truth(outdir)
    assert truth["format"] == TRUTH_FORMAT
    assert truth["version"] == 1
    assert set(truth["patients"]) == {"P001", "P002"}
    assert len(truth["images"]) == 8
    for relpath, image in truth["images"].items():
        assert (outdir / relpath).is_file()
        expected_zones = (
            {"medial", "lateral"} if image["view"] == "AP" else {"anterior", "posterior"}
        )
        assert set(image["zones"]) == expected_zones
        spacing = image["object_spacing_mm"]["row_mm"]
        imager = image["imager_spacing_mm"]["row_mm"]
        assert spacing == pytest.approx(imager / image["magnification"])
        assert 1.08 <= image["magnification"] <= 1.18
        assert 25.0 <= image["collar_diameter_mm"] <= 35.0
        for zone in image["zones"].values():
            assert 0.0 <= zone["rll_width_mm"] <= 3.0
            assert 0.0 <= zone["bridging_extent_pct"] <= 100.0
            assert np.asarray(zone["interface_px"]).shape == (2, 2)
            assert zone["rll_width_px"] == pytest.approx(
                zone["rll_width_mm"] / spacing, rel=1e-3, abs=1e-3
            )
            if image["timepoint"] == "12m":
                assert zone["rll_progression"] in {
                    "none",
                    "new",
                    "stable",
                    "progressed",
                    "resolved",
                }
        if image["ball"] is not None:
            assert image["ball"]["diameter_mm"] == 25.0
            assert image["ball"]["radius_px"] == pytest.approx(12.5 / spacing, rel=1e-4)
    for patient in truth["patients"].values():
        assert set(patient["study_dates"]) == {"6m", "12m"}


def test_headers_are_12_bit_dx_with_calibration(small_study: tuple[Path, StudySummary]) -> None:
    outdir, _ = small_study
    truth = load_truth(outdir)
    photometrics, syntaxes, studies = set(), set(), {}
    sop_uids = set()
    for relpath, image in truth["images"].items():
        ds = pydicom.dcmread(outdir / relpath)
        assert ds.Modality == "DX"
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1.1"
        assert ds.PresentationIntentType == "FOR PRESENTATION"
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (
            16,
            12,
            11,
            0,
        )
        assert (ds.Rows, ds.Columns) == (320, 256)
        assert [float(v) for v in ds.ImagerPixelSpacing] == pytest.approx(
            [image["imager_spacing_mm"]["row_mm"]] * 2, rel=1e-3
        )
        assert "PixelSpacing" not in ds
        assert float(ds.EstimatedRadiographicMagnificationFactor) == pytest.approx(
            image["magnification"]
        )
        assert float(ds.WindowWidth) > 0
        assert float(ds.WindowCenter) == pytest.approx(image["window"]["center"], abs=1)
        assert ds.PhotometricInterpretation == image["photometric"]
        assert ds.file_meta.TransferSyntaxUID == image["transfer_syntax"]
        assert ds.SOPInstanceUID == image["sop_instance_uid"]
        assert ds.BurnedInAnnotation == ("YES" if image["burned_in_annotation"] else "NO")
        pixels = ds.pixel_array
        assert pixels.shape == (320, 256)
        assert pixels.max() <= 4095
        photometrics.add(ds.PhotometricInterpretation)
        syntaxes.add(ds.file_meta.TransferSyntaxUID)
        visit = (ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime, ds.AccessionNumber)
        studies.setdefault((image["patient"], image["timepoint"]), set()).add(visit)
        sop_uids.add(ds.SOPInstanceUID)
    assert photometrics == {"MONOCHROME1", "MONOCHROME2"}
    assert syntaxes == {ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless}
    assert all(len(uids) == 1 for uids in studies.values())
    assert len({next(iter(uids))[0] for uids in studies.values()}) == 4
    assert len(sop_uids) == 8


def test_headers_carry_identity_for_blinding_to_remove(
    small_study: tuple[Path, StudySummary],
) -> None:
    outdir, _ = small_study
    truth = load_truth(outdir)
    charsets = {}
    for relpath, image in truth["images"].items():
        ds = pydicom.dcmread(outdir / relpath)
        patient = truth["patients"][image["patient"]]
        assert str(ds.PatientName) == patient["patient_name"]
        assert ds.PatientID == patient["patient_id"]
        assert ds.PatientBirthDate == patient["birth_date"]
        assert ds.StudyDate == patient["study_dates"][image["timepoint"]]
        for keyword in (
            "AccessionNumber",
            "InstitutionName",
            "InstitutionAddress",
            "ReferringPhysicianName",
            "OperatorsName",
            "StationName",
            "DeviceSerialNumber",
            "StudyDescription",
            "SeriesDescription",
        ):
            assert str(ds.data_element(keyword).value), keyword
        block = ds.private_block(0x0009, "COLLARREADER PHANTOM 1")
        assert block[0x02].value == patient["patient_id"]
        charsets[image["patient"]] = ds.get("SpecificCharacterSet")
    assert charsets == {"P001": "ISO_IR 100", "P002": "ISO_IR 192"}
    surgery = {p: truth["patients"][p]["surgery_date"].replace("-", "") for p in truth["patients"]}
    for code, patient in truth["patients"].items():
        assert surgery[code] < patient["study_dates"]["6m"] < patient["study_dates"]["12m"]


def test_burned_in_label_is_really_in_the_pixels(small_study: tuple[Path, StudySummary]) -> None:
    outdir, summary = small_study
    truth = load_truth(outdir)
    burned = [(p, i) for p, i in truth["images"].items() if i["burned_in_annotation"]]
    assert len(burned) == summary.burned_in == 1
    relpath, image = burned[0]
    x0, y0, x1, y1 = image["label_bbox_px"]
    label = presentation_pixels(outdir / relpath)[y0 : y1 + 1, x0 : x1 + 1]
    assert (label == 4095).sum() > 20
    others = [p for p, i in truth["images"].items() if not i["burned_in_annotation"]]
    corner = presentation_pixels(outdir / others[0])[y0 : y1 + 1, x0 : x1 + 1]
    assert (corner == 4095).sum() == 0


def test_radiograph_contrast_air_soft_tissue_bone_metal(
    small_study: tuple[Path, StudySummary],
) -> None:
    outdir, _ = small_study
    truth = load_truth(outdir)
    for relpath, image in truth["images"].items():
        pixels = presentation_pixels(outdir / relpath)
        centre = np.asarray(image["axis"]["interface_centre_px"])
        toward = np.asarray(image["axis"]["toward_collar"])
        mm = image["px_per_mm"]

        def at(point: np.ndarray, pixels: np.ndarray = pixels) -> float:
            x, y = np.rint(point).astype(int)
            return float(pixels[y - 1 : y + 2, x - 1 : x + 2].mean())

        across = np.array([-toward[1], toward[0]])
        bone_r = 0.5 * image["bone_diameter_mm"]
        canal_r = 0.5 * image["canal_diameter_mm"]
        cortex = centre - 12 * mm * toward + across * 0.5 * (bone_r + canal_r) * mm
        soft = centre - 12 * mm * toward + across * (bone_r + 8) * mm
        body = centre + (image["collar_height_mm"] + 15) * mm * toward
        air = (
            pixels[:, :4].mean()
            if pixels[:, :4].mean() < pixels[:, -4:].mean()
            else pixels[:, -4:].mean()
        )
        assert air < at(soft) < at(cortex) < at(body), relpath


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "something.txt").write_text("x")
    with pytest.raises(PhantomError, match="not empty"):
        generate_study(tmp_path, patients=1, small=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["something.txt"]


def test_refuses_no_patients(tmp_path: Path) -> None:
    with pytest.raises(PhantomError, match="at least one patient"):
        generate_study(tmp_path / "new", patients=0, small=True)


def test_same_seed_same_study_other_seed_other_study(
    small_study: tuple[Path, StudySummary], tmp_path: Path
) -> None:
    outdir, _ = small_study
    again = tmp_path / "again"
    generate_study(again, patients=2, seed=SMALL_SEED, small=True, burned_in=1)
    assert load_truth(again) == load_truth(outdir)
    for relpath in load_truth(outdir)["images"]:
        first = pydicom.dcmread(outdir / relpath).pixel_array
        second = pydicom.dcmread(again / relpath).pixel_array
        np.testing.assert_array_equal(first, second)
    other = tmp_path / "other"
    generate_study(other, patients=2, seed=SMALL_SEED + 1, small=True)
    assert load_truth(other)["images"] != load_truth(outdir)["images"]


def test_calibration_ball_has_the_truth_diameter(tmp_path: Path) -> None:
    outdir = tmp_path / "balls"
    generate_study(outdir, patients=3, seed=2, small=True)
    truth = load_truth(outdir)
    balls = [(p, i) for p, i in truth["images"].items() if i["ball"] is not None]
    assert balls
    for relpath, image in balls:
        pixels = presentation_pixels(outdir / relpath)
        x, y = image["ball"]["centre_px"]
        row = pixels[round(y)]
        background = np.median(row[max(0, round(x - 30)) : round(x + 30)])
        peak = row[round(x)]
        above = np.flatnonzero(row > 0.5 * (background + peak))
        near = above[np.abs(above - x) < 2 * image["ball"]["radius_px"]]
        # A sphere's chord falls to zero at its rim and the steel saturates in its middle:
        # the half-height width lies between 0.8 and 1 diameter.
        diameter_px = 2 * image["ball"]["radius_px"]
        assert 0.8 * diameter_px - 1 <= near.size <= diameter_px + 1


# ---------------------------------------------------------------- the truth, re-measured


def test_rll_widths_are_measurable_on_small_images(small_study: tuple[Path, StudySummary]) -> None:
    outdir, _ = small_study
    truth = load_truth(outdir)
    checked = 0
    for relpath, image in truth["images"].items():
        pixels = presentation_pixels(outdir / relpath)
        for zone in image["zones"].values():
            if zone["rll_width_mm"] <= 0:
                continue
            (x0, y0), (x1, y1) = zone["unbridged_px"]
            if np.hypot(x1 - x0, y1 - y0) < 3.0:
                continue
            found = measure_zone(pixels, image, zone, "unbridged_px")
            assert found is not None, relpath
            error = found.width_mm(object_spacing(image)) - zone["rll_width_mm"]
            assert abs(error) <= 1.0, (relpath, zone)
            if zone["rll_width_mm"] >= 1.5:
                assert abs(error) <= 0.6, (relpath, zone)
            checked += 1
    assert checked >= 3


def test_bridged_part_of_a_zone_shows_no_band(small_study: tuple[Path, StudySummary]) -> None:
    outdir, _ = small_study
    truth = load_truth(outdir)
    checked = 0
    for relpath, image in truth["images"].items():
        pixels = presentation_pixels(outdir / relpath)
        for zone in image["zones"].values():
            if zone["rll_width_mm"] < 1.0 or zone["bridged_px"] is None:
                continue
            (x0, y0), (x1, y1) = zone["bridged_px"]
            if np.hypot(x1 - x0, y1 - y0) < 3.0:
                continue
            assert measure_zone(pixels, image, zone, "bridged_px") is None, (relpath, zone)
            assert measure_zone(pixels, image, zone, "unbridged_px") is not None, (relpath, zone)
            checked += 1
    assert checked >= 1


@pytest.fixture(scope="module")
def full_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("phantom_full") / "study"
    generate_study(outdir, patients=1, seed=FULL_SEED, workers=1)
    return outdir


@pytest.mark.slow
def test_full_size_rll_widths_agree_with_truth_within_a_tenth_mm(full_study: Path) -> None:
    truth = load_truth(full_study)
    errors = []
    for relpath, image in truth["images"].items():
        ds = pydicom.dcmread(full_study / relpath)
        assert (ds.Rows, ds.Columns) == (2560, 2048)
        pixels = presentation_pixels(full_study / relpath)
        for zone in image["zones"].values():
            if zone["rll_width_mm"] <= 0:
                continue
            found = measure_zone(pixels, image, zone, "unbridged_px")
            assert found is not None, (relpath, zone)
            errors.append(found.width_mm(object_spacing(image)) - zone["rll_width_mm"])
    assert len(errors) >= 4
    assert max(abs(e) for e in errors) <= 0.1, errors


@pytest.mark.slow
def test_full_size_bridging_extent_is_recoverable(full_study: Path) -> None:
    truth = load_truth(full_study)
    checked = 0
    for relpath, image in truth["images"].items():
        pixels = presentation_pixels(full_study / relpath)
        mm = image["px_per_mm"]
        for zone in image["zones"].values():
            if zone["rll_width_mm"] <= 0:
                continue
            (x0, y0), (x1, y1) = zone["interface_px"]
            scan = scan_gap_along(
                pixels,
                (x0, y0),
                (x1, y1),
                half_length_px=3.5 * mm + 6,
                window_px=0.5 * mm,
                stride_px=0.25 * mm,
                search_px=(-3.3 * mm, 0.3 * mm),
            )
            open_fraction = 1.0 - zone["bridging_extent_pct"] / 100.0
            assert scan.gap_fraction == pytest.approx(open_fraction, abs=0.15), (relpath, zone)
            checked += 1
    assert checked >= 4


@pytest.mark.parametrize(
    ("transfer_syntax", "photometric"),
    [(ExplicitVRLittleEndian, "MONOCHROME2"), (RLELossless, "MONOCHROME1")],
)
def test_write_phantom_image_for_benchmarks(
    tmp_path: Path, transfer_syntax: str, photometric: str
) -> None:
    path = write_phantom_image(
        tmp_path / "one.dcm",
        rows=300,
        cols=250,
        transfer_syntax=transfer_syntax,
        photometric=photometric,
        seed=3,
    )
    ds = pydicom.dcmread(path)
    assert (ds.Rows, ds.Columns) == (300, 250)
    assert ds.file_meta.TransferSyntaxUID == transfer_syntax
    assert ds.PhotometricInterpretation == photometric
    pixels = ds.pixel_array
    assert 0 < pixels.min() < pixels.max() <= 4095
    again = write_phantom_image(
        tmp_path / "two.dcm",
        rows=300,
        cols=250,
        transfer_syntax=transfer_syntax,
        photometric=photometric,
        seed=3,
    )
    np.testing.assert_array_equal(pydicom.dcmread(again).pixel_array, pixels)


def test_write_phantom_image_refuses_tiny_sizes(tmp_path: Path) -> None:
    with pytest.raises(PhantomError, match="64"):
        write_phantom_image(tmp_path / "x.dcm", rows=10, cols=10)
