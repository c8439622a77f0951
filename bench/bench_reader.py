"""The reader workstation's speed: window/level, case switch, launch (offscreen Qt).

1. Window/level on a 3000 × 2500 uint16 image in the real main window (``Viewport.set_window``
   then a forced paint of its view), against a bare pyqtgraph ImageItem in a GraphicsView of
   the same size (``setLevels`` + paint). Target ≤ 8 ms.
2. Case switch with prefetch: the next case's images are decoded in the background; time
   from the next-case action to the grid painted (``step_case`` + ``grab``). Target ≤ 100 ms.
3. Launch → first case painted, separately for a set whose images are all uncompressed
   (target ≤ 1.0 s) and one whose images are all JPEG 2000 lossless (target ≤ 1.5 s), each
   3000 × 2500 px: a subprocess running the reader with ``COLLARREADER_EXIT_AFTER_PAINT=1``
   (it prints when its window is shown and when the first case is painted, then quits),
   (and when the first look is painted: JPEG 2000 previews at reduced resolution),
   interleaved with two peers: a subprocess that imports PySide6.QtWidgets and paints an
   empty window of the same size, and the fair peer, a bare PySide6 + pyqtgraph + pydicom
   script that decodes the same four images of the first case (``pydicom.dcmread`` +
   ``pixel_array``, one after the other, no hashing, no database) and paints them in a 2 × 2
   grid of pyqtgraph ImageItems in a window of the same size. The first start of each set
   (database creation) is not counted.

Bytecode: an installed package has compiled ``.pyc`` files (pip compiles on install), but
this environment sets ``PYTHONDONTWRITEBYTECODE=1`` and the sources have none, so every
start would compile ~500 modules (~2.5 s under load). The launch subprocesses therefore run
with a private ``PYTHONPYCACHEPREFIX`` (filled by the uncounted first start), as an
installation would; ``--no-bytecode`` measures the other case.

The load average is printed with the figures: on the shared 2-core machine other work
inflates every time.

Run: ``.venv/bin/python -m bench.bench_reader [--repeat 15] [--launch-repeat 5]``
(phantom sets are made in a temporary folder).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pyqtgraph as pg

from bench._machine import describe_machine
from collarreader.imaging import Radiograph, Spacing, SpacingSource, Window
from collarreader.ui.app import create_application
from collarreader.ui.reader import open_reader


def _make_uniform_set(root: Path, transfer_syntax: str, patients: int = 2) -> Path:
    """A reading set (reader A) whose images all have one transfer syntax, 3000 × 2500 px."""
    from collarreader.study.phantom import write_phantom_image
    from collarreader.study.prepare import prepare_reading_set

    phantom = root / "phantom"
    rows = ["path,site,patient,timepoint,view,joint,side"]
    for patient in range(patients):
        for timepoint in ("6m", "12m"):
            for view in ("AP", "LAT"):
                name = f"P{patient:03d}/{timepoint}_{view}.dcm"
                write_phantom_image(
                    phantom / name,
                    transfer_syntax=transfer_syntax,
                    seed=patient,
                    view=view,
                    timepoint=timepoint,
                )
                rows.append(f"{name},SITE-A,P{patient:03d},{timepoint},{view},hip,L")
    (phantom / "manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    prepare_reading_set(phantom / "manifest.csv", root / "set", root / "key.json", ["A"], seed=3)
    return root / "set"


def _make_set(root: Path, patients: int) -> Path:
    from collarreader.study.phantom import generate_study
    from collarreader.study.prepare import prepare_reading_set

    generate_study(root / "phantom", patients=patients, seed=11, burned_in=0)
    prepare_reading_set(
        root / "phantom" / "manifest.csv", root / "set", root / "key.json", ["A"], seed=11
    )
    return root / "set"


def _big_radiograph() -> Radiograph:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 4096, size=(2500, 3000), dtype=np.uint16)
    pixels.flags.writeable = False
    return Radiograph(
        pixels=pixels,
        invert=False,
        window=Window(2048.0, 4096.0),
        spacing=Spacing(0.14, 0.14, SpacingSource.pixel_spacing),
        spacing_note="",
        sop_instance_uid="2.25.1",
        photometric="MONOCHROME2",
        transfer_syntax="1.2.840.10008.1.2.1",
        bits_stored=12,
        n_frames=1,
        path=Path("synthetic-3000x2500.dcm"),
    )


def _ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1e3:.1f} ms, max {max(samples) * 1e3:.1f} ms"


def bench_window_level(setdir: Path, repeat: int) -> tuple[float, float]:
    """Median seconds of one W/L update + paint: (main window, bare pyqtgraph)."""
    app = create_application()
    with tempfile.TemporaryDirectory() as tmp:
        reader = open_reader(setdir, "A", Path(tmp) / "A.sqlite", verify=False)
        try:
            window = reader.window
            window.show()
            window.start()
            viewport = window.grid.viewports[0]
            window.grid.maximise(0)
            viewport.set_radiograph(_big_radiograph(), title="bench")
            app.processEvents()
            target = viewport.graphics_view
            peer_view = pg.GraphicsView()
            peer_item = pg.ImageItem(axisOrder="row-major")
            peer_box = pg.ViewBox(lockAspect=True, invertY=True)
            peer_view.setCentralItem(peer_box)
            peer_box.addItem(peer_item)
            peer_item.setImage(_big_radiograph().pixels, autoLevels=False, levels=(0, 4095))
            peer_view.resize(target.size())
            peer_view.show()
            app.processEvents()
            ours: list[float] = []
            peer: list[float] = []
            for i in range(repeat + 2):  # interleaved, the first two are warm-up
                width = 1500.0 + 100.0 * (i % 10)
                start = time.perf_counter()
                viewport.set_window(2000.0, width)
                target.grab()
                middle = time.perf_counter()
                peer_item.setLevels((2000.0 - width / 2, 2000.0 + width / 2))
                peer_view.grab()
                end = time.perf_counter()
                if i >= 2:
                    ours.append(middle - start)
                    peer.append(end - middle)
            peer_view.close()
            print(f"  window/level, main window: {_ms(ours)}")
            print(f"  window/level, bare pyqtgraph ImageItem: {_ms(peer)}")
            return statistics.median(ours), statistics.median(peer)
        finally:
            reader.close()


def bench_case_switch(setdir: Path) -> float:
    """Median seconds from the next-case action to the grid painted (next case prefetched)."""
    app = create_application()
    with tempfile.TemporaryDirectory() as tmp:
        reader = open_reader(setdir, "A", Path(tmp) / "A.sqlite", verify=False)
        try:
            window = reader.window
            window.show()
            window.start()
            app.processEvents()
            samples: list[float] = []
            for _ in range(len(window.cases) - 1):
                following = window.cases[window.cases.index(window.case) + 1]  # type: ignore[arg-type]
                paths = [reader.window.reading_set.path / i.file for i in following.images]
                for future in reader.cache.prefetch(paths):
                    future.result()  # the reader has been reading: the prefetch is done
                start = time.perf_counter()
                window.step_case(1)
                app.processEvents()
                window.grid.grab()
                samples.append(time.perf_counter() - start)
            print(f"  case switch (prefetched) to painted grid: {_ms(samples)} over {len(samples)}")
            return statistics.median(samples)
        finally:
            reader.close()


_PEER = """
import os, sys, time
t0 = float(os.environ["COLLARREADER_LAUNCH_T0"])
from PySide6 import QtWidgets
app = QtWidgets.QApplication([])
w = QtWidgets.QWidget(); w.resize(1600, 1000); w.show(); app.processEvents(); w.grab()
print(f"first-case-painted {time.time() - t0:.3f}")
"""

_FAIR_PEER = """
import os, sys, time
t0 = float(os.environ["COLLARREADER_LAUNCH_T0"])
from PySide6 import QtWidgets
import pyqtgraph as pg
import pydicom
pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
app = QtWidgets.QApplication([])
window = QtWidgets.QWidget(); window.resize(1600, 1000)
layout = QtWidgets.QGridLayout(window)
for index, path in enumerate(sys.argv[1:5]):
    data = pydicom.dcmread(path).pixel_array
    view = pg.GraphicsView(); box = pg.ViewBox(lockAspect=True, invertY=True)
    view.setCentralItem(box); item = pg.ImageItem(data); box.addItem(item)
    item.setLevels((float(data.min()), float(data.max())))
    layout.addWidget(view, index // 2, index % 2)
window.show(); app.processEvents(); window.grab()
print(f"first-case-painted {time.time() - t0:.3f}")
"""

_READER = """
import sys
from collarreader.ui.reader import run_reader
sys.exit(run_reader(sys.argv[1], "A", sys.argv[2]))
"""


def _launch(code: str, *args: str, pycache: Path | None) -> dict[str, float]:
    env = dict(os.environ, COLLARREADER_EXIT_AFTER_PAINT="1", QT_QPA_PLATFORM="offscreen")
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env["COLLARREADER_LAUNCH_T0"] = repr(time.time())
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    times = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition(" ")
        if name in ("window-shown", "first-look-painted", "first-case-painted"):
            times[name] = float(value)
    return times


def _first_case_files(setdir: Path) -> list[str]:
    """The four image files of reader A's first case (what the reader paints first)."""
    from collarreader.study.readingset import open_reading_set

    reading_set = open_reading_set(setdir, verify=False)
    first = reading_set.worklist("A")[0].case_code
    return [str(reading_set.image_path(i)) for i in reading_set.case(first).images]


def bench_launch(
    setdir: Path, repeat: int, pycache: Path | None
) -> tuple[float, float, float, float]:
    """Median seconds: (reader first case painted, reader window shown, empty PySide6
    window, bare PySide6 + pyqtgraph + pydicom painting the same four images)."""
    painted: list[float] = []
    shown: list[float] = []
    looked: list[float] = []
    peer: list[float] = []
    fair: list[float] = []
    files = _first_case_files(setdir)
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "A.sqlite")
        _launch(_READER, str(setdir), db, pycache=pycache)  # creates the database; bytecode
        _launch(_PEER, pycache=pycache)
        _launch(_FAIR_PEER, *files, pycache=pycache)
        for _ in range(repeat):
            times = _launch(_READER, str(setdir), db, pycache=pycache)
            painted.append(times["first-case-painted"])
            shown.append(times["window-shown"])
            looked.append(times["first-look-painted"])
            peer.append(_launch(_PEER, pycache=pycache)["first-case-painted"])
            fair.append(_launch(_FAIR_PEER, *files, pycache=pycache)["first-case-painted"])
    print(f"    reader window (light frame) shown: {_ms(shown)}")
    print(f"    reader first look painted (JPEG 2000: reduced-resolution previews): {_ms(looked)}")
    print(f"    reader first case painted: {_ms(painted)}")
    print(f"    empty PySide6 window painted (peer): {_ms(peer)}")
    print(f"    PySide6 + pyqtgraph + pydicom, same four images painted (fair peer): {_ms(fair)}")
    return (
        statistics.median(painted),
        statistics.median(shown),
        statistics.median(peer),
        statistics.median(fair),
    )


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print the figures with the machine's description."""
    from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setdir", type=Path, help="a full-size reading set (reader A)")
    parser.add_argument("--patients", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--launch-repeat", type=int, default=5)
    parser.add_argument("--no-bytecode", action="store_true", help="launch without .pyc")
    parser.add_argument(
        "--launch-only", action="store_true", help="only the launch figures (a shorter run)"
    )
    args = parser.parse_args(argv)
    print(describe_machine())
    print(f"start: {_load()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pycache = None if args.no_bytecode else root / "pycache"
        wl = wl_peer = switch = float("nan")
        if not args.launch_only:
            setdir = args.setdir or _make_set(root / "mixed", args.patients)
            wl, wl_peer = bench_window_level(setdir, args.repeat)
            switch = bench_case_switch(setdir)
        launches = {}
        for label, syntax in (
            ("uncompressed", ExplicitVRLittleEndian),
            ("JPEG 2000", JPEG2000Lossless),
        ):
            uniform = _make_uniform_set(root / label.replace(" ", ""), syntax)
            print(f"  launch, {label} set ({_load()}):")
            launches[label] = bench_launch(uniform, args.launch_repeat, pycache)
    print(f"end: {_load()}")
    plain, plain_shown, plain_peer, plain_fair = launches["uncompressed"]
    j2k, j2k_shown, j2k_peer, j2k_fair = launches["JPEG 2000"]
    print(
        f"window/level {wl * 1e3:.1f} ms (target ≤ 8; ×{wl / wl_peer:.2f} bare pyqtgraph) · "
        f"case switch {switch * 1e3:.0f} ms (target ≤ 100) · "
        f"launch uncompressed {plain:.2f} s (target ≤ 1.0; window {plain_shown:.2f} s; "
        f"×{plain / plain_fair:.2f} PySide6+pyqtgraph+pydicom, "
        f"×{plain / plain_peer:.1f} empty PySide6 window) · "
        f"launch JPEG 2000 {j2k:.2f} s (target ≤ 1.5; window {j2k_shown:.2f} s; "
        f"×{j2k / j2k_fair:.2f} PySide6+pyqtgraph+pydicom, "
        f"×{j2k / j2k_peer:.1f} empty PySide6 window)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
