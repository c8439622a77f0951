"""``collarreader demo [--workdir DIR] [--screenshot PNG]``: the reader on a synthetic study.

Steps (each reused when the work folder already has it, so a second run is fast):

1. ``WORKDIR/phantom``: a full-size synthetic study of 3 patients (seed 7);
2. ``WORKDIR/set`` + ``WORKDIR/key.json``: a reading set for readers ``demo`` and ``B``;
3. the reader as ``demo`` on ``WORKDIR/demo.sqlite``.

With ``--screenshot`` — or when there is no display (no ``DISPLAY``/``WAYLAND_DISPLAY``, or
``QT_QPA_PLATFORM=offscreen``) — the window is rendered on a fresh
``WORKDIR/screenshot.sqlite`` (offscreen, unless ``QT_QPA_PLATFORM`` names another platform,
e.g. ``xcb`` under Xvfb): the case with the widest radiolucent line is opened, a few
demonstration measurements are placed through the same session commands a reader's gestures
make (a calibration across the 25 mm ball, the zone's interface line and bridged segment,
and the radiolucent line traced along the interface with its width caliper placed by the
semi-automatic profile measurement — the phantom's truth, via the key, only says where;
only this demo may look at the key), the PNG is written (default ``WORKDIR/demo.png``) and
the function returns 0.
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

    platform = os.environ.get("QT_QPA_PLATFORM")
    # A screenshot renders offscreen unless a platform was chosen explicitly (CI runs the
    # demo under Xvfb with QT_QPA_PLATFORM=xcb to check the real window system path).
    return needs_offscreen() or platform == "offscreen" or (screenshot is not None and not platform)


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
    from collarreader.ui.settings import ReaderSettings

    # Default keys and options, and nothing written to the user's settings file.
    reader = open_reader(setdir, READERS[0], db_path, settings=ReaderSettings(path=None))
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


def _truth_by_image(workdir: Path) -> dict[str, dict[str, Any]]:
    """Image code → the phantom's truth for that image (via the key; demo only)."""
    key = json.loads((workdir / "key.json").read_text(encoding="utf-8"))
    truth = json.loads((workdir / "phantom" / "truth.json").read_text(encoding="utf-8"))
    return {
        code: truth["images"][entry["source"]]
        for code, entry in key["images"].items()
        if entry["source"] in truth["images"]
    }


def _widest_rll(window: Any, truth: dict[str, dict[str, Any]]) -> tuple[Any, Any, str] | None:
    """(case, image, zone) with the widest true radiolucent line in the worklist."""
    best: tuple[float, Any, Any, str] | None = None
    for case in window.cases:
        for image in case.images:
            for zone, state in truth.get(image.image_code, {}).get("zones", {}).items():
                width = float(state["rll_width_mm"])
                if best is None or width > best[0]:
                    best = (width, case, image, zone)
    return None if best is None else best[1:]


def place_demo_annotations(window: Any, workdir: Path) -> None:
    """Open the case with the widest radiolucent line and measure it as a reader would.

    A calibration across the 25 mm ball, the zone's interface line, its bridged segment,
    and the radiolucent line traced along the unbridged interface with its width caliper
    placed by the semi-automatic profile measurement (the phantom's truth only says where
    to look; the width is measured from the pixels).
    """
    from collarreader.errors import MeasurementError
    from collarreader.semiauto import calibration_fitter
    from collarreader.session import AddAnnotation, Calibrate, rll_points
    from collarreader.tools import BALL_DIAMETER_MM

    truth = _truth_by_image(workdir)
    found = _widest_rll(window, truth)
    if found is None:
        return
    case, target, zone = found
    if window.case is None or window.case.case_code != case.case_code:
        window.open_case(case.case_code)
    context = window.session.context
    if context is None:
        return
    image_truth = truth[target.image_code]
    state = image_truth["zones"][zone]
    balls = [i for i in case.images if truth.get(i.image_code, {}).get("ball")]
    ball_image = next((i for i in balls if i.image_code == target.image_code), None) or (
        balls[0] if balls else None
    )
    if ball_image is not None:
        # One click inside the ball, as a reader would: the circle is fitted to its edge.
        ball = truth[ball_image.image_code]["ball"]
        cx, cy = ball["centre_px"]
        r = ball["radius_px"]
        try:
            fitted = calibration_fitter(window._pixels_of)(ball_image.image_code, [[cx, cy]])
        except MeasurementError:
            fitted = None
        window._execute(
            Calibrate(
                context,
                ball_image.image_code,
                BALL_DIAMETER_MM,
                fitted.points_px if fitted else [[cx - r, cy], [cx + r, cy]],
                fitted.method if fitted else "ball",
                fit=fitted.fit if fitted else None,
                residual_px=fitted.residual_px if fitted else None,
            )
        )
    window._execute(
        AddAnnotation(context, target.image_code, "interface_line", state["interface_px"], zone)
    )
    if state["bridged_px"]:
        window._execute(
            AddAnnotation(context, target.image_code, "bridged_segment", state["bridged_px"], zone)
        )
    line = state["unbridged_px"] or state["interface_px"]
    window.refresh()  # the calibration is known to the semi-automatic width
    measured = window._auto_caliper(target.image_code, line)
    caliper = None if measured is None else measured.caliper_px
    if caliper is None:  # no band visible: a caliper from the truth, across the gap
        (x0, y0), (x1, y1) = line[0], line[-1]
        length = max(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5, 1e-9)
        nx, ny = (y1 - y0) / length, -(x1 - x0) / length  # into the collar
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        width = max(state["rll_width_px"], 1.0)
        caliper = [[mx, my], [mx - nx * width, my - ny * width]]
    window._execute(
        AddAnnotation(context, target.image_code, "rll", rll_points(caliper, line), zone)
    )
    series = getattr(window, "series", None)
    if series is not None:
        # The rows link by anatomy once their films are registered (a background job): wait,
        # so the zoom below shows the same anatomy on the earlier film, not an empty region.
        series.wait()
    # Zoom onto the zone so the line and its caliper can be seen (about 20 mm wide).
    index = window.grid.index_of(target.view, target.timepoint)
    viewport = window.grid.viewports[index]
    radiograph = viewport.radiograph
    if radiograph is not None and radiograph.spacing is not None:
        px_per_mm = 1.0 / radiograph.spacing.col_mm
        width_px = max(viewport.view_box.width(), 1.0)
        (x0, y0), (x1, y1) = state["interface_px"]
        viewport.set_view(((x0 + x1) / 2, (y0 + y1) / 2), width_px / (20.0 * px_per_mm))
    window.grid.focus_viewport(index)
    window.tools.set_zone(target.view, zone)
    window._fill_zone_box()
    window.refresh()
    window.statusBar().showMessage(
        f"Demo: case {case.case_code}, {target.view} {zone}: calibration on the 25 mm ball, "
        "interface line, bridged segment, radiolucent line traced with its width measured "
        "from intensity profiles (W).",
        0,
    )
