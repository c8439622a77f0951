"""Text burned into the pixels is found by OCR (the real Tesseract) although the header says NO.

Without Tesseract the tests are skipped with the reason shown, except under ``CI=true``, where a
missing Tesseract is a failure (``./run.sh test`` installs it).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest

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
