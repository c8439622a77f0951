"""Series reading speed: registration of two full-size films, and its effect on a case switch.

1. ``register`` on a 3000 × 2500 pair (the 12 m film turned 5°, magnified 1.06, shifted,
   cortex and soft tissue changed, exposure changed): median of 5, with the landmark error
   on the implant; peer: scikit-image's translation-only ``phase_cross_correlation`` of the
   same two films, measured in the same run.
2. Case switch on a full-size reading set with the next case's images *and registrations*
   prefetched: from the next-case action to the grid painted (target ≤ 100 ms); peer: the same
   switch with the series view switched off.

Run: ``python -m bench.bench_registration`` (or ``./run.sh bench``).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from skimage.registration import phase_cross_correlation

from bench._machine import describe_machine
from collarreader.measure.registration import register
from collarreader.study.phantom_pairs import render_pair


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def _median(function: Callable[[], object], repeat: int) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def bench_register(repeat: int) -> tuple[float, float, float]:
    """(median s of register, median s of the peer, landmark RMS px) on a 3000 × 2500 pair."""
    pair = render_pair(
        seed=3,
        rotation_deg=5.0,
        magnification=1.06,
        shift_px=(120.0, -90.0),
        exposure_gain=0.8,
        soft_tissue_mm=10.0,
        cortex_mm=0.7,
        rows=3000,
        cols=2500,
    )
    seconds, result = _median(lambda: register(pair.fixed, pair.moving), repeat)
    peer, _ = _median(lambda: phase_cross_correlation(pair.fixed, pair.moving), repeat)
    moving, fixed = pair.landmarks_px()
    errors = result.apply(moving) - fixed  # type: ignore[attr-defined]
    rms = math.sqrt(float(np.mean(np.sum(errors**2, axis=1))))
    print(
        f"  register 3000 x 2500: median {seconds:.2f} s over {repeat}, landmark RMS {rms:.2f} px"
    )
    print(f"  peer phase_cross_correlation (translation only): median {peer:.2f} s")
    return seconds, peer, rms


def bench_case_switch(patients: int) -> tuple[float, float]:
    """Median seconds of a prefetched case switch to a painted grid: (with series, without)."""
    from collarreader.study.phantom import generate_study
    from collarreader.study.prepare import prepare_reading_set
    from collarreader.ui.app import create_application
    from collarreader.ui.reader import open_reader

    app = create_application()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate_study(root / "phantom", patients=patients, seed=11, burned_in=0)
        prepare_reading_set(
            root / "phantom" / "manifest.csv", root / "set", root / "key.json", ["A"], seed=11
        )
        figures = []
        for series_on in (True, False):
            reader = open_reader(root / "set", "A", root / f"A{series_on}.sqlite", verify=False)
            window = reader.window
            if not series_on:
                window.series.show_case = lambda _pairs: None  # type: ignore[method-assign]
            try:
                window.show()
                window.start()
                app.processEvents()
                samples: list[float] = []
                linked = 0
                for _ in range(len(window.cases) - 1):
                    index = window.cases.index(window.case)  # type: ignore[arg-type]
                    following = window.cases[index + 1]
                    paths = [window.reading_set.path / i.file for i in following.images]
                    for future in reader.cache.prefetch(paths):
                        future.result()  # the reader has been reading: the prefetch is done
                    window._prefetch(index)
                    window.series.wait(120.0)
                    start = time.perf_counter()
                    window.step_case(1)
                    app.processEvents()
                    window.grid.grab()
                    samples.append(time.perf_counter() - start)
                    linked += sum(
                        window.grid.registration(v) is not None for v in window.grid.views
                    )
                label = "with series view" if series_on else "series view off (peer)"
                print(
                    f"  case switch, prefetched, {label}: median "
                    f"{statistics.median(samples) * 1e3:.1f} ms, max {max(samples) * 1e3:.1f} ms "
                    f"over {len(samples)}; rows linked by anatomy at once: {linked} of "
                    f"{len(samples) * len(window.grid.views)}"
                )
                figures.append(statistics.median(samples))
            finally:
                reader.close()
    return figures[0], figures[1]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print the figures with the machine's description."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--patients", type=int, default=3)
    args = parser.parse_args(argv)
    print(describe_machine())
    print(f"start: {_load()}")
    seconds, peer, rms = bench_register(args.repeat)
    switch, switch_peer = bench_case_switch(args.patients)
    print(f"end: {_load()}")
    print(
        f"registration 3000x2500 {seconds:.2f} s (×{seconds / peer:.1f} translation-only phase "
        f"correlation; landmark RMS {rms:.2f} px, target ≤ 0.5) · case switch with prefetched "
        f"registration {switch * 1e3:.0f} ms (target ≤ 100; ×{switch / switch_peer:.2f} "
        "without the series view)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
