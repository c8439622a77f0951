"""Decode and window/level figures for a realistic 3000 × 2500 DX radiograph.

Compares, in the same run, ``collarreader.imaging.load_radiograph`` with bare pydicom
(pylibjpeg plugins), python-gdcm, and Debian's ``gdcmconv`` / ``dcm2pnm`` as whole processes,
and pyqtgraph's window/level at full resolution with plain numpy windowing. Prints figures and
ratios; asserts nothing (the machines are shared and noisy).

Targets (DESIGN §10, issue "Foundation"):
  load_radiograph, uncompressed      ≤ 1.5 × bare pydicom ``dcmread(...).pixel_array``
  load_radiograph, JPEG 2000 lossless ≤ 0.8 × pydicom with pylibjpeg, identical pixels
  window/level update                ≤ 8 ms
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless

from bench._machine import describe_machine, median_seconds
from collarreader.imaging import load_radiograph
from collarreader.study.phantom import write_phantom_image

ROWS, COLS = 3000, 2500


def process_seconds(command: list[str], repeat: int = 5) -> float | None:
    """Median wall time of a whole external process, or None when it is not installed."""
    if shutil.which(command[0]) is None:
        return None

    def run() -> None:
        subprocess.run(command, check=True, capture_output=True)

    try:
        return median_seconds(run, repeat=repeat)
    except subprocess.CalledProcessError as error:
        print(f"  ({command[0]} failed: {error.stderr.decode(errors='replace').strip()[:200]})")
        return None


def row(name: str, seconds: float | None, reference: float | None = None) -> None:
    if seconds is None:
        print(f"  {name:<48} {'not available':>12}")
        return
    ratio = f"  ×{seconds / reference:5.2f}" if reference else ""
    print(f"  {name:<48} {seconds * 1000:9.1f} ms{ratio}")


def bench_uncompressed(path: Path, work: Path) -> None:
    print(f"\nUncompressed {ROWS} × {COLS}, 16-bit ({path.stat().st_size / 2**20:.1f} MiB)")
    bare = median_seconds(lambda: pydicom.dcmread(path).pixel_array, repeat=15)
    ours = median_seconds(lambda: load_radiograph(path), repeat=15)
    row("bare pydicom dcmread(...).pixel_array", bare)
    row("collarreader load_radiograph", ours, bare)
    row(
        "dcmtk dcm2pnm (whole process)",
        process_seconds(["dcm2pnm", str(path), str(work / "u.pgm")]),
        bare,
    )
    row(
        "gdcmconv --raw (whole process)",
        process_seconds(["gdcmconv", "--raw", str(path), str(work / "u.dcm")]),
        bare,
    )
    print(f"  → load_radiograph / bare pydicom = {ours / bare:.2f} (target ≤ 1.5)")


def bench_jpeg2000(path: Path, work: Path) -> None:
    print(f"\nJPEG 2000 lossless {ROWS} × {COLS}, 12-bit ({path.stat().st_size / 2**20:.1f} MiB)")

    def pylibjpeg() -> np.ndarray:
        ds = pydicom.dcmread(path)
        ds.pixel_array_options(decoding_plugin="pylibjpeg")
        return ds.pixel_array

    def gdcm() -> np.ndarray:
        ds = pydicom.dcmread(path)
        ds.pixel_array_options(decoding_plugin="gdcm")
        return ds.pixel_array

    reference = pylibjpeg()
    t_pylibjpeg = median_seconds(pylibjpeg, repeat=5)
    t_gdcm = median_seconds(gdcm, repeat=5)
    t_untrusted = median_seconds(lambda: load_radiograph(path), repeat=5)
    t_ours = median_seconds(lambda: load_radiograph(path, trusted=True), repeat=5)
    row("pydicom + pylibjpeg (openjpeg)", t_pylibjpeg)
    row("pydicom + python-gdcm", t_gdcm, t_pylibjpeg)
    # Untrusted files never reach gdcm: it aborts the process on some corrupt streams.
    row("load_radiograph (untrusted file: pylibjpeg)", t_untrusted, t_pylibjpeg)
    row("load_radiograph (verified reading set: gdcm)", t_ours, t_pylibjpeg)
    row(
        "gdcmconv --raw (whole process)",
        process_seconds(["gdcmconv", "--raw", str(path), str(work / "j.dcm")], repeat=3),
        t_pylibjpeg,
    )
    row(
        "dcmtk dcm2pnm (whole process)",
        process_seconds(["dcm2pnm", str(path), str(work / "j.pgm")], repeat=3),
        t_pylibjpeg,
    )
    identical = np.array_equal(load_radiograph(path, trusted=True).pixels, reference)
    print(
        f"  → load_radiograph / pylibjpeg = {t_ours / t_pylibjpeg:.2f} (target ≤ 0.8); "
        f"pixels identical to pylibjpeg: {identical}"
    )


def bench_window_level(path: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    pg.setConfigOptions(imageAxisOrder="row-major")
    radiograph = load_radiograph(path)
    pixels = radiograph.pixels
    center, width = radiograph.window
    item = pg.ImageItem()
    item.setImage(pixels, levels=(center - width / 2, center + width / 2), autoLevels=False)
    item.render()
    levels = [
        (center - width / 2 + shift, center + width / 2 + shift) for shift in range(-50, 50, 5)
    ]
    state = {"i": 0}

    def pyqtgraph_update() -> None:
        state["i"] = (state["i"] + 1) % len(levels)
        item.setLevels(levels[state["i"]])
        item.render()  # the QImage the view paints: the real cost of a W/L drag step

    def numpy_update() -> np.ndarray:
        state["i"] = (state["i"] + 1) % len(levels)
        low, high = levels[state["i"]]
        scaled = (pixels.astype(np.float32) - low) * (255.0 / (high - low))
        return np.clip(scaled, 0, 255).astype(np.uint8)

    t_numpy = median_seconds(numpy_update, repeat=21)
    t_pg = median_seconds(pyqtgraph_update, repeat=21)
    size = f"{pixels.shape[0]} × {pixels.shape[1]}, {pixels.dtype}"
    print(f"\nWindow/level update at full resolution ({size})")
    row("numpy window to uint8 (peer)", t_numpy)
    row("pyqtgraph ImageItem setLevels + render", t_pg, t_numpy)
    print(f"  → pyqtgraph W/L update = {t_pg * 1000:.1f} ms (target ≤ 8 ms)")
    del app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep the generated files in this folder")
    args = parser.parse_args()
    print(f"bench_imaging on {describe_machine()}")
    print(f"pydicom {pydicom.__version__}, numpy {np.__version__}")
    with tempfile.TemporaryDirectory(prefix="collarreader-bench-") as temp:
        work = args.keep or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        plain = write_phantom_image(
            work / "plain.dcm", rows=ROWS, cols=COLS, transfer_syntax=ExplicitVRLittleEndian, seed=3
        )
        j2k = write_phantom_image(
            work / "j2k.dcm", rows=ROWS, cols=COLS, transfer_syntax=JPEG2000Lossless, seed=3
        )
        bench_uncompressed(plain, work)
        bench_jpeg2000(j2k, work)
        bench_window_level(plain)


if __name__ == "__main__":
    main()
