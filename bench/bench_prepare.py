"""Benchmark ``prepare_reading_set`` against a plain copy of the same files.

Target (DESIGN.md): preparing N uncompressed 3000 × 2500 DX images takes at most 3 × the time
of copying the same files with ``shutil.copyfile``. Both run in the same process on the same
files; the ratio is what counts. Since every image is also decoded with the reader's loader and
searched for burned-in text (Tesseract OCR), prepare is timed twice: with the text search, and
without it (``search_text=False``), so the cost of OCR is shown on its own.

    .venv/bin/python bench/bench_prepare.py --n 200

Needs about 3 × N × 15 MB of free disk in --workdir (default: a temporary folder), removed at
the end unless --keep.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from collarreader.study.prepare import prepare_reading_set
from collarreader.study.readingset import open_reading_set


def write_sources(folder: Path, n: int, rows: int, cols: int) -> Path:
    """N distinct DX files sharing one pixel array (distinct headers), and their manifest."""
    # A smooth radiograph-like field with mild noise (uniform noise is neither realistic nor
    # fair to OCR, which reads "letters" into it).
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    field = 1500 + 900 * np.sin(x / cols * 3.0) * np.cos(y / rows * 2.0) + 600 * (y / rows)
    field += rng.normal(0, 40, (rows, cols)).astype(np.float32)
    pixels = np.clip(field, 0, 4095).astype(np.uint16).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("bench", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.Modality = "DX"
    ds.BurnedInAnnotation = "NO"
    ds.InstitutionName = "Bench Hospital"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.ImagerPixelSpacing = [0.139, 0.139]
    ds.PixelData = pixels
    manifest_rows = []
    slots = [(t, v) for t in ("6m", "12m") for v in ("AP", "LAT")]
    for i in range(n):
        patient, (timepoint, view) = i // 4, slots[i % 4]
        if i % 4 == 0:
            ds.StudyInstanceUID = generate_uid()
            ds.PatientName = f"BENCH^PATIENT{patient:04d}"
            ds.PatientID = f"B{patient:06d}"
        ds.SeriesInstanceUID = generate_uid()
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID = generate_uid()
        name = f"p{patient:04d}_{timepoint}_{view}.dcm"
        ds.save_as(folder / name, enforce_file_format=True)
        manifest_rows.append([name, "SITE", f"B{patient:06d}", timepoint, view, "hip", "L"])
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["path", "site", "patient", "timepoint", "view", "joint", "side"])
        writer.writerows(manifest_rows)
    return manifest


def plain_copy(files: list[Path], target: Path) -> float:
    target.mkdir()
    start = time.perf_counter()
    for file in files:
        shutil.copyfile(file, target / file.name)
    seconds = time.perf_counter() - start
    shutil.rmtree(target)
    return seconds


def run_prepare(
    manifest: Path, workdir: Path, tag: str, *, search_text: bool
) -> tuple[float, float]:
    """Seconds to prepare the set, and to open it with the full integrity check."""
    start = time.perf_counter()
    report = prepare_reading_set(
        manifest,
        workdir / f"set-{tag}",
        workdir / f"key-{tag}.json",
        "A,B",
        seed=1,
        search_text=search_text,
    )
    if report.left_out:
        raise SystemExit(f"prepare held back {len(report.left_out)} image(s): a false positive")
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    open_reading_set(workdir / f"set-{tag}", verify=True)
    verify_seconds = time.perf_counter() - start
    shutil.rmtree(workdir / f"set-{tag}")
    (workdir / f"key-{tag}.json").unlink()
    return seconds, verify_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="number of images (default 200)")
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--cols", type=int, default=2500)
    parser.add_argument("--rounds", type=int, default=1, help="timed rounds of each (default 1)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench_prepare_", dir=args.workdir))
    try:
        sources = workdir / "sources"
        sources.mkdir()
        start = time.perf_counter()
        manifest = write_sources(sources, args.n, args.rows, args.cols)
        files = sorted(sources.glob("*.dcm"))
        size_mb = sum(file.stat().st_size for file in files) / 1e6
        print(
            f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"pydicom {pydicom.__version__}"
        )
        print(
            f"sources: {len(files)} files, {args.rows}×{args.cols} uncompressed, "
            f"{size_mb:.0f} MB, written in {time.perf_counter() - start:.1f} s"
        )

        copies: list[float] = []
        prepares: list[float] = []
        verifies: list[float] = []
        with_ocr: list[float] = []
        for round_ in range(args.rounds):
            # Alternate, and start each run with no dirty pages pending (os.sync, not timed),
            # so disk write-back of one run does not land in the other's time.
            os.sync()
            copies.append(plain_copy(files, workdir / "copy"))
            os.sync()
            prepare_s, verify_s = run_prepare(manifest, workdir, str(round_), search_text=False)
            prepares.append(prepare_s)
            verifies.append(verify_s)
            os.sync()
            ocr_s, _ = run_prepare(manifest, workdir, f"ocr{round_}", search_text=True)
            with_ocr.append(ocr_s)
            print(
                f"round {round_ + 1}: copy {copies[-1]:.2f} s, prepare {prepare_s:.2f} s, "
                f"prepare with OCR {ocr_s:.2f} s, open with integrity check {verify_s:.2f} s"
            )
        copy_s, prepare_s = statistics.median(copies), statistics.median(prepares)
        verify_s = statistics.median(verifies)
        ocr_s = statistics.median(with_ocr)
        print(f"plain copy (shutil.copyfile):  {copy_s:.2f} s  ({size_mb / copy_s:.0f} MB/s)")
        print(
            f"prepare_reading_set:           {prepare_s:.2f} s  ({size_mb / prepare_s:.0f} MB/s, "
            f"{1000 * prepare_s / len(files):.0f} ms/image)"
        )
        print(
            f"open_reading_set(verify=True): {verify_s:.2f} s  ({size_mb / verify_s:.0f} MB/s, "
            "SHA-256 of every image)"
        )
        print(
            f"prepare with OCR:              {ocr_s:.2f} s  "
            f"({1000 * ocr_s / len(files):.0f} ms/image; OCR costs "
            f"{1000 * (ocr_s - prepare_s) / len(files):.0f} ms/image on {os.cpu_count()} CPUs)"
        )
        print(
            f"ratio prepare / copy: {prepare_s / copy_s:.2f} median, "
            f"{min(prepares) / min(copies):.2f} best against best (target ≤ 3)"
        )
        print(f"ratio prepare with OCR / copy: {ocr_s / copy_s:.2f} median")
        print(f"load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
