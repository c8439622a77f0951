"""Text burned into the pixels is found by OCR (the real Tesseract) although the header says NO.

Without Tesseract the tests are skipped with the reason shown, except under ``CI=true``, where a
missing Tesseract is a failure (``./run.sh test`` installs it).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from collarreader.cli import main
from collarreader.errors import ManifestError
from collarreader.imaging import load_radiograph
from collarreader.study.contactsheet import CONTACT_SHEET_FILE
from collarreader.study.ocr import find_text, ocr_available
from collarreader.study.phantom import generate_study
from collarreader.study.phantom_font import render_text
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.readingset import open_reading_set

LABEL = "QUACKENBUSH 4471902"  # 19 glyphs: 228 px wide at scale 2, within 256


@pytest.fixture(autouse=True)
def tesseract() -> None:
    if not ocr_available():
        reason = "Tesseract (Debian tesseract-ocr, tesseract-ocr-eng) or pytesseract is missing"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must search images for text with the real Tesseract.")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small phantom study (no burned-in labels of its own); returns its manifest."""
    root = tmp_path_factory.mktemp("ocr")
    return generate_study(root / "phantom", patients=2, seed=11, small=True, burned_in=0).manifest


def burn_label(
    path: Path, *, at_px: tuple[int, int] = (12, 10), scale: int = 2
) -> tuple[int, int, int, int]:
    """Burn ``LABEL`` into the pixels (bright, as label printers do); the header stays NO."""
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array.copy()
    mask = render_text(LABEL, scale)
    x, y = at_px
    height, width = mask.shape
    bright = int(pixels.max()) if ds.PhotometricInterpretation == "MONOCHROME2" else 0
    pixels[y : y + height, x : x + width][mask] = bright
    ds.PixelData = pixels.tobytes()
    ds.BurnedInAnnotation = "NO"
    ds.save_as(path, enforce_file_format=True)
    return (x, y, width, height)


def manifest_rows(manifest: Path) -> list[dict[str, str]]:
    with manifest.open(encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def copy_study(manifest: Path, folder: Path) -> Path:
    import shutil

    shutil.copytree(manifest.parent, folder)
    return folder / manifest.name


def uncompressed_row(manifest: Path) -> tuple[int, Path]:
    for number, row in enumerate(manifest_rows(manifest), start=2):
        path = manifest.parent / row["path"]
        if not pydicom.dcmread(
            path, stop_before_pixels=True
        ).file_meta.TransferSyntaxUID.is_compressed:
            return number, path
    raise AssertionError("the phantom has no uncompressed image")


def test_clean_phantom_images_show_no_text(phantom: Path) -> None:
    found = {
        row["path"]: find_text(load_radiograph(phantom.parent / row["path"]))
        for row in manifest_rows(phantom)
    }
    assert all(boxes == () for boxes in found.values()), found


def test_burned_in_text_is_found_where_it_is(phantom: Path, tmp_path: Path) -> None:
    manifest = copy_study(phantom, tmp_path / "source")
    _, path = uncompressed_row(manifest)
    x, y, width, height = burn_label(path)
    boxes = find_text(load_radiograph(path))
    assert boxes
    for box in boxes:  # every box lies on the label (a few pixels of slack)
        assert x - 4 <= box.x_px <= x + width
        assert y - 4 <= box.y_px <= y + height
        assert box.x_px + box.width_px <= x + width + 8


def test_prepare_holds_back_text_the_header_denies(phantom: Path, tmp_path: Path) -> None:
    manifest = copy_study(phantom, tmp_path / "source")
    row, path = uncompressed_row(manifest)
    burn_label(path)
    setdir, key = tmp_path / "set", tmp_path / "lead" / "key.json"
    key.parent.mkdir()
    report = prepare_reading_set(manifest, setdir, key, "A", seed=2)
    assert [item.row for item in report.left_out] == [row]
    reason = report.left_out[0].reason
    assert "OCR found text in the pixels" in reason
    assert "Burned In Annotation is no" in reason
    assert report.n_images == 7
    assert "4471902" not in (setdir / "report.txt").read_text()
    # The contact sheet: beside the key, never in the set; rows, not paths or names.
    sheet = key.parent / CONTACT_SHEET_FILE
    text = sheet.read_text(encoding="utf-8")
    assert f"manifest row {row}" in text
    assert 'class="box"' in text
    assert "data:image/png;base64," in text
    for identity in ("QUACKENBUSH", "4471902", path.parent.name):
        assert identity not in text
    assert not list(setdir.rglob("*.html"))
    # The study lead looked and admits it.
    relative = path.relative_to(manifest.parent).as_posix()
    admitted = prepare_reading_set(
        manifest, tmp_path / "set2", tmp_path / "key2.json", "A", seed=2,
        confirm_burned_in=[relative],
    )  # fmt: skip
    assert admitted.n_images == 8
    assert [item.row for item in admitted.confirmed] == [row]
    assert len(open_reading_set(tmp_path / "set2").images) == 8


def test_text_search_can_be_switched_off_and_says_so(phantom: Path, tmp_path: Path) -> None:
    manifest = copy_study(phantom, tmp_path / "source")
    _, path = uncompressed_row(manifest)
    burn_label(path)
    report = prepare_reading_set(
        manifest, tmp_path / "set", tmp_path / "key.json", "A", seed=2, search_text=False
    )
    assert report.n_images == 8
    assert any("not searched for burned-in text" in warning for warning in report.warnings)
    assert np.any(load_radiograph(path).pixels)  # (the label is still there, unseen)


def write_redactions(path: Path, rows: list[tuple[str, int, int, int, int]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["path", "x", "y", "width", "height"])
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("compressed", [False, True])
def test_redaction_blanks_the_set_copy_and_passes_the_check_again(
    phantom: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], compressed: bool
) -> None:
    manifest = copy_study(phantom, tmp_path / "source")
    row, path = uncompressed_row(manifest)
    x, y, width, height = burn_label(path)
    if compressed:  # RLE Lossless: decoded, blanked and encoded again
        ds = pydicom.dcmread(path)
        ds.compress(RLELossless, encoding_plugin="pydicom")
        ds.save_as(path, enforce_file_format=True)
    before = path.read_bytes()
    relative = path.relative_to(manifest.parent).as_posix()
    missed = write_redactions(tmp_path / "missed.csv", [(relative, 200, 200, 10, 10)])
    args = ["prepare", "--manifest", str(manifest), "--readers", "A", "--seed", "3"]
    # A rectangle beside the text: OCR still finds it, the image stays held back.
    out = tmp_path / "missed-set"
    assert (
        main(
            [*args, "--out", str(out), "--key", str(tmp_path / "k1.json"), "--redact", str(missed)]
        )
        == 0
    )
    assert (
        f"row {row} ({relative}): OCR still finds text after redaction" in capsys.readouterr().out
    )
    # The rectangle over the label: admitted, blanked in the set, the source untouched.
    over = write_redactions(
        tmp_path / "over.csv", [(relative, x - 2, y - 2, width + 4, height + 4)]
    )
    out = tmp_path / "set"
    assert (
        main([*args, "--out", str(out), "--key", str(tmp_path / "k2.json"), "--redact", str(over)])
        == 0
    )
    printed = capsys.readouterr().out
    assert f"redacted by the study lead (1):\n  row {row} ({relative}):" in printed
    assert "encoded again as RLE Lossless" in printed if compressed else "blanked" in printed
    assert path.read_bytes() == before
    reading_set = open_reading_set(out)
    assert len(reading_set.images) == 8
    assert (
        f"images redacted by the study lead (1), by manifest row: {row}"
        in (out / "report.txt").read_text()
    )
    key = json.loads((tmp_path / "k2.json").read_text())
    code = next(c for c, image in key["images"].items() if image["source"] == relative)
    written = reading_set.path / "images" / f"{code}.dcm"
    copy = pydicom.dcmread(written)
    assert copy.file_meta.TransferSyntaxUID == (
        RLELossless if compressed else ExplicitVRLittleEndian
    )
    label = copy.pixel_array[y : y + height, x : x + width]
    assert label.min() == label.max()  # one flat value where the label was
    assert find_text(load_radiograph(written)) == ()
    outside = copy.pixel_array[y + height + 10 :, :]
    assert np.array_equal(outside, pydicom.dcmread(path).pixel_array[y + height + 10 :, :])


def test_redaction_csv_errors_are_listed_by_row(phantom: Path, tmp_path: Path) -> None:
    bad = write_redactions(
        tmp_path / "bad.csv", [("not/in/manifest.dcm", 1, 1, 5, 5), ("x", -1, 0, 0, 3)]
    )
    with pytest.raises(ManifestError) as caught:
        prepare_reading_set(phantom, tmp_path / "set", tmp_path / "k.json", "A", redact=bad)
    message = str(caught.value)
    assert "row 2: 'not/in/manifest.dcm' is not a path of manifest.csv" in message
    assert "row 3:" in message
    assert not (tmp_path / "set").exists()
