"""W in the reader: milliseconds from the key to the RLL caliper drawn, on a 3000 × 2500 image.

A full-size phantom (0.14 mm pixels) is opened in the real main window (offscreen Qt); the
reader's trace of the zone's radiolucent line is made with the RLL tool, then W
(``auto_width``: profiles, metal-edge alignment, band fits along the line, one command, the
overlay redrawn) is timed up to a forced paint of the grid. The peer, measured in the same
run on the same annotation, is the reader moving that caliper by hand (a handle drag: one
command and the same repaint) — the ratio is what the measurement adds. Target ≤ 150 ms.

Run: ``.venv/bin/python -m bench.bench_rll [--repeat 9]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from bench._machine import describe_machine
from collarreader.tools import Pointer, Tool
from collarreader.ui.app import create_application
from collarreader.ui.reader import open_reader


def _ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1e3:.1f} ms, max {max(samples) * 1e3:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    """Print the W figures, the peer's and their ratio."""
    from collarreader.study.phantom import generate_study
    from collarreader.study.prepare import prepare_reading_set

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args(argv)
    print(describe_machine())
    app = create_application([])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate_study(root / "phantom", patients=1, seed=7, small=False, burned_in=0)
        prepare_reading_set(
            root / "phantom" / "manifest.csv", root / "set", root / "key.json", ["A"], seed=7
        )
        key = json.loads((root / "key.json").read_text(encoding="utf-8"))
        truth = json.loads((root / "phantom" / "truth.json").read_text(encoding="utf-8"))
        by_code = {c: truth["images"][e["source"]] for c, e in key["images"].items()}
        reader = open_reader(root / "set", "A", root / "A.sqlite")
        window = reader.window
        window.resize(1600, 1000)
        window.show()
        window.start()
        app.processEvents()
        if window.case is None:
            print("no case opened")
            return 1
        image, zone = next(
            (i, z)
            for i in window.case.images
            for z, state in by_code[i.image_code]["zones"].items()
            if state["rll_width_mm"] > 0
        )
        state = by_code[image.image_code]["zones"][zone]
        shape = window._radiographs[image.image_code].pixels.shape
        (x0, y0), (x1, y1) = state["unbridged_px"] or state["interface_px"]
        window.set_tool(Tool.rll)
        window.tools.set_zone(image.view, zone)
        for t in (0.1, 0.5, 0.9):
            point = Pointer(x0 + t * (x1 - x0), y0 + t * (y1 - y0))
            window.tools.press(image.image_code, point)
            window.tools.release(image.image_code, point)
        window.tools.finish()
        window.auto_width()  # the first W adds the annotation (not counted)
        app.processEvents()
        ours: list[float] = []
        peer: list[float] = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            window.action("auto_width").trigger()
            window.grid.grab()
            ours.append(time.perf_counter() - start)
            annotation = next(a for a in window._annotations if a.id == window.tools.selected)
            x, y = annotation.points_px[1]
            start = time.perf_counter()
            window.tools.begin_handle_drag(annotation.id, 1, image.image_code)
            window.tools.end_handle_drag(x + 0.5, y)
            window.refresh()
            window.grid.grab()
            peer.append(time.perf_counter() - start)
        window.action("auto_width").trigger()
        measured = next(a for a in window._annotations if a.id == window.tools.selected)
        reader.close()
    load = os.getloadavg()[0]
    print(f"  image {shape[1]} × {shape[0]} px, line {state['rll_width_mm']} mm wide (truth)")
    print(f"  W → caliper drawn: {_ms(ours)}")
    print(f"  peer, the caliper moved by hand (one command, same repaint): {_ms(peer)}")
    ratio = statistics.median(ours) / statistics.median(peer)
    width = f"{measured.value_mm:.2f} mm" if measured.value_mm is not None else "?"
    spread = measured.width_uncertainty_mm
    print(
        f"RLL W {statistics.median(ours) * 1e3:.0f} ms (target ≤ 150; ×{ratio:.2f} a hand move) "
        f"· width {width} ± {spread if spread is None else round(spread, 3)} "
        f"({measured.method}) · load average {load:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
