"""``collarreader demo [--workdir DIR] [--screenshot PNG]``: the reader on a synthetic study.

Steps (each reused when the work folder already has it, so a second run is fast):

1. ``WORKDIR/phantom``: a full-size synthetic study of 3 patients (seed 7);
2. ``WORKDIR/set`` + ``WORKDIR/key.json``: a reading set for readers ``demo`` and ``B``;
3. the reader as ``demo`` on ``WORKDIR/demo.sqlite``.

With ``--screenshot`` — or when there is no display (no ``DISPLAY``/``WAYLAND_DISPLAY``, or
``QT_QPA_PLATFORM=offscreen``) — the window is rendered offscreen on a fresh
``WORKDIR/screenshot.sqlite``: the first case is opened, a few demonstration measurements
are placed through the same session commands a reader's gestures make (a calibration across
the 25 mm ball, an interface line, a bridged segment and an RLL caliper, positioned from the
phantom's truth via the key — only this demo may look at the key), the PNG is written
(default ``WORKDIR/demo.png``) and the function returns 0.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_WORKDIR = Path("build/demo")
READERS = ("demo", "B")
SCREENSHOT_SIZE = (1600, 1000)
_SEED = 7
_PATIENTS = 3


def _log(text: str) -> None:
    print(f"collarreader demo: {text}", file=sys.stderr, flush=True)  # noqa: T201


def ensure_study(workdir: Path, *, small: bool = False, patients: int = _PATIENTS) -> Path:
    """Make (or reuse) the phantom and the reading set in ``workdir``; return the set folder."""
    from collarreader.study.phantom import generate_study
    from collarreader.study.prepare import prepare_reading_set

    phantom = workdir / "phantom"
    setdir = workdir / "set"
    if not (phantom / "manifest.csv").is_file():
        _log(f"making a synthetic study of {patients} patients in {phantom} …")
        if phantom.exists() and not any(phantom.iterdir()):
            phantom.rmdir()
        generate_study(phantom, patients=patients, seed=_SEED, small=small)
    if not (setdir / "readingset.json").is_file():
        _log(f"preparing the reading set {setdir} …")
        prepare_reading_set(
            phantom / "manifest.csv",
            setdir,
            workdir / "key.json",
            list(READERS),
            seed=_SEED,
            force=setdir.exists(),
        )
    return setdir


def _wants_offscreen(screenshot: Path | None) -> bool:
    from collarreader.ui.app import needs_offscreen

    return (
        screenshot is not None
        or needs_offscreen()
        or os.environ.get("QT_QPA_PLATFORM") == "offscreen"
    )


def run_demo(workdir: str | Path | None = None, screenshot: str | Path | None = None) -> int:
    """Run the demo; see the module docstring.

    Parameters
    ----------
    workdir : the work folder (default ``./build/demo``)
    screenshot : write a PNG of the window here and exit (offscreen)

    Returns
    -------
    int
        0 on success, 2 when a step fails (the message is printed).
    """
    from collarreader.errors import CollarReaderError

    folder = Path(workdir) if workdir is not None else DEFAULT_WORKDIR
    shot = Path(screenshot) if screenshot is not None else None
    offscreen = _wants_offscreen(shot)
    if offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        shot = shot or folder / "demo.png"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        setdir = ensure_study(folder)
        if shot is not None:
            write_screenshot(folder, setdir, shot)
            _log(f"screenshot written: {shot}")
            return 0
        from collarreader.ui.reader import run_reader

        return run_reader(setdir, READERS[0], folder / "demo.sqlite")
    except CollarReaderError as error:
        print(f"collarreader demo: {error}", file=sys.stderr)  # noqa: T201
        return 2


def write_screenshot(
    workdir: Path, setdir: Path, png: Path, size: tuple[int, int] = SCREENSHOT_SIZE
) -> Path:
    """Open the reader offscreen, place demonstration measurements, write a PNG of the window."""
    from collarreader.ui.app import create_application
    from collarreader.ui.reader import open_reader

    app = create_application()
    db_path = workdir / "screenshot.sqlite"
    for stale in workdir.glob("screenshot.sqlite*"):
        stale.unlink()
    reader = open_reader(setdir, READERS[0], db_path)
    try:
        window = reader.window
        window.resize(*size)
        window.show()
        window.start()
        app.processEvents()
        place_demo_annotations(window, workdir)
        app.processEvents()
        png.parent.mkdir(parents=True, exist_ok=True)
        image = window.grab().toImage()
        if image.width() != size[0] or image.height() != size[1]:
            from PySide6 import QtCore

            image = image.scaled(
                size[0],
                size[1],
                QtCore.Qt.AspectRatioMode.IgnoreAspectRatio,
                QtCore.Qt.TransformationMode.SmoothTransformation,
            )
        if not image.save(str(png)):
            from collarreader.errors import FileError

            raise FileError(png, "the screenshot could not be written.", "Check the folder.")
    finally:
        reader.close()
    return png


def _truth_for_case(workdir: Path, case_code: str) -> dict[str, dict[str, Any]]:
    """Image code → the phantom's truth for that image (via the key; demo only)."""
    key = json.loads((workdir / "key.json").read_text(encoding="utf-8"))
    truth = json.loads((workdir / "phantom" / "truth.json").read_text(encoding="utf-8"))
    result = {}
    for code, entry in key["images"].items():
        if entry["case_code"] == case_code and entry["source"] in truth["images"]:
            result[code] = truth["images"][entry["source"]]
    return result


def place_demo_annotations(window: Any, workdir: Path) -> None:
    """A calibration, interface line, bridged segment and RLL caliper on the first case."""
    from collarreader.session import AddAnnotation, Calibrate
    from collarreader.tools import BALL_DIAMETER_MM

    session = window.session
    context = session.context
    case = window.case
    if context is None or case is None:
        return
    truth = _truth_for_case(workdir, case.case_code)
    order = list(window.grid.timepoints)
    ap_images = [i for i in case.images if i.view == "AP" and i.image_code in truth]
    ap_images.sort(key=lambda i: order.index(i.timepoint) if i.timepoint in order else 99)
    if not ap_images:
        return
    # The AP image and zone with the widest radiolucent line (the first image on a tie).
    target, zone = max(
        ((i, z) for i in ap_images for z in truth[i.image_code]["zones"]),
        key=lambda pair: truth[pair[0].image_code]["zones"][pair[1]]["rll_width_px"],
    )
    balls = [i for i in case.images if i.image_code in truth and truth[i.image_code].get("ball")]
    ball_image = next((i for i in balls if i.image_code == target.image_code), None) or (
        balls[0] if balls else None
    )
    if ball_image is not None:
        ball = truth[ball_image.image_code]["ball"]
        cx, cy = ball["centre_px"]
        r = ball["radius_px"]
        window._execute(
            Calibrate(
                context,
                ball_image.image_code,
                BALL_DIAMETER_MM,
                [[cx - r, cy], [cx + r, cy]],
                "ball",
            )
        )
    image_truth = truth[target.image_code]
    state = image_truth["zones"][zone]
    window._execute(
        AddAnnotation(context, target.image_code, "interface_line", state["interface_px"], zone)
    )
    if state["bridged_px"]:
        window._execute(
            AddAnnotation(context, target.image_code, "bridged_segment", state["bridged_px"], zone)
        )
    (x0, y0), (x1, y1) = state["interface_px"][0], state["interface_px"][-1]
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    tx, ty = image_truth["axis"]["toward_collar"]
    half = max(state["rll_width_px"], 1.0) / 2
    window._execute(
        AddAnnotation(
            context,
            target.image_code,
            "rll",
            [[mx - tx * half, my - ty * half], [mx + tx * half, my + ty * half]],
            zone,
        )
    )
    # Zoom the AP row onto the collar so the measurements can be seen (about 45 mm wide).
    index = window.grid.index_of("AP", target.timepoint)
    viewport = window.grid.viewports[index]
    radiograph = viewport.radiograph
    if radiograph is not None and radiograph.spacing is not None:
        px_per_mm = 1.0 / radiograph.spacing.col_mm
        width_px = max(viewport.view_box.width(), 1.0)
        centre = image_truth["axis"]["interface_centre_px"]
        viewport.set_view((centre[0], centre[1]), width_px / (45.0 * px_per_mm))
    window.grid.focus_viewport(index)
    window.refresh()
    window.statusBar().showMessage(
        "Demo: calibration on the 25 mm ball, interface line, bridged segment and RLL "
        "caliper placed through session commands.",
        0,
    )
