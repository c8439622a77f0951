"""Decode and window/level figures for a realistic 3000 × 2500 DX radiograph.

Compares, in the same run, ``collarreader.imaging.load_radiograph`` with bare pydicom
(pylibjpeg plugins), python-gdcm, our threaded-OpenJPEG plugin (``imaging/j2k.py``, the
system's libopenjp2), and Debian's ``gdcmconv`` / ``dcm2pnm`` as whole processes,
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
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless

from bench._machine import describe_machine, median_seconds
from collarreader.imaging import j2k, load_radiograph
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


def interleaved_medians(
    functions: dict[str, Callable[[], object]], repeat: int
) -> dict[str, float]:
    """Median wall time of each function, run in turn ``repeat`` times.

    Interleaving makes every candidate see the same background load: the reference machine
    is shared, and a threaded decoder gains only what the other core is not doing.
    """
    for function in functions.values():
        function()  # warm-up: imports, library loading, page cache
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_jpeg2000(path: Path, work: Path, repeat: int) -> None:
    print(f"\nJPEG 2000 lossless {ROWS} × {COLS}, 12-bit ({path.stat().st_size / 2**20:.1f} MiB)")
    version = j2k.library_version()
    print(
        f"  threaded OpenJPEG: {version or 'not found'}"
        + (f", {j2k.default_threads()} threads" if version else "")
        + f"; load average before: {os.getloadavg()[0]:.2f}"
    )

    def bare(plugin: str) -> Callable[[], np.ndarray]:
        def decode() -> np.ndarray:
            ds = pydicom.dcmread(path)
            ds.pixel_array_options(decoding_plugin=plugin)
            return ds.pixel_array

        return decode

    candidates: dict[str, Callable[[], object]] = {
        "pydicom + pylibjpeg (openjpeg)": bare("pylibjpeg"),
        "pydicom + python-gdcm": bare("gdcm"),
    }
    if version:
        candidates["pydicom + threaded OpenJPEG plugin"] = bare(j2k.PLUGIN)
    candidates["load_radiograph (untrusted file)"] = lambda: load_radiograph(path)
    candidates["load_radiograph (verified reading set)"] = lambda: load_radiograph(
        path, trusted=True
    )
    medians = interleaved_medians(candidates, repeat)
    reference_seconds = medians["pydicom + pylibjpeg (openjpeg)"]
    for name, seconds in medians.items():
        row(name, seconds, None if name.startswith("pydicom + pylib") else reference_seconds)
    row(
        "gdcmconv --raw (whole process)",
        process_seconds(["gdcmconv", "--raw", str(path), str(work / "j.dcm")], repeat=3),
        reference_seconds,
    )
    print(f"  load average after: {os.getloadavg()[0]:.2f} (2 cores: above ~1 the peers share)")
    reference = bare("pylibjpeg")()
    untrusted = load_radiograph(path)
    trusted = load_radiograph(path, trusted=True)
    identical = np.array_equal(untrusted.pixels, reference) and np.array_equal(
        trusted.pixels, reference
    )
    ratio = medians["load_radiograph (untrusted file)"] / reference_seconds
    print(
        f"  → load_radiograph ({untrusted.decoder}) / pylibjpeg = {ratio:.2f} (target ≤ 0.8); "
        f"pixels identical to pylibjpeg: {identical} ({untrusted.pixels.dtype})"
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
    parser.add_argument(
        "--repeat", type=int, default=9, help="JPEG 2000 runs per decoder (interleaved)"
    )
    parser.add_argument(
        "--only-jpeg2000", action="store_true", help="skip the uncompressed and W/L figures"
    )
    args = parser.parse_args()
    print(f"bench_imaging on {describe_machine()}")
    print(f"pydicom {pydicom.__version__}, numpy {np.__version__}")
    with tempfile.TemporaryDirectory(prefix="collarreader-bench-") as temp:
        work = args.keep or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        compressed = write_phantom_image(
            work / "j2k.dcm", rows=ROWS, cols=COLS, transfer_syntax=JPEG2000Lossless, seed=3
        )
        if not args.only_jpeg2000:
            plain = write_phantom_image(
                work / "plain.dcm",
                rows=ROWS,
                cols=COLS,
                transfer_syntax=ExplicitVRLittleEndian,
                seed=3,
            )
            bench_uncompressed(plain, work)
        bench_jpeg2000(compressed, work, args.repeat)
        if not args.only_jpeg2000:
            bench_window_level(plain)


if __name__ == "__main__":
    main()
