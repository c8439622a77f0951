"""Writing a phantom study (images, manifest, truth) or a single image.

Part of :mod:`collarreader.study.phantom` (see its docstring).
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from pydicom.uid import UID, ExplicitVRLittleEndian

from collarreader.errors import PhantomError
from collarreader.model import ProgressCallback
from collarreader.study.phantom.plan import (
    MANIFEST_COLUMNS,
    TIMEPOINTS,
    TRUTH_FORMAT,
    TRUTH_VERSION,
    VIEWS,
    ImagePlan,
    StudySummary,
)
from collarreader.study.phantom.sampling import (
    _image_plan,
    _plan_variants,
    _sample_patient,
    _Variant,
)
from collarreader.study.phantom.truth import _image_truth, _patient_truth
from collarreader.study.phantom_anatomy import Joint, render_pixels
from collarreader.study.phantom_dicom import build_dataset, write_dataset

# ---------------------------------------------------------------- writing


def _write_image(plan: ImagePlan, outdir: Path) -> float:
    """Render and write one image; returns the seconds it took (worker-process safe)."""
    started = time.perf_counter()
    pixels = render_pixels(plan.scene, np.random.default_rng(list(plan.seed)))
    dataset = build_dataset(pixels, plan.header)
    path = outdir / plan.relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    write_dataset(dataset, path, plan.transfer_syntax)
    return time.perf_counter() - started


def _prepare_outdir(outdir: Path) -> None:
    if outdir.exists() and not outdir.is_dir():
        message = f"{outdir}: exists and is not a folder. Choose a new or empty folder."
        raise PhantomError(message)
    if outdir.is_dir() and any(outdir.iterdir()):
        message = (
            f"{outdir}: the folder is not empty. The phantom writes only into a new or empty "
            "folder; choose another or empty this one."
        )
        raise PhantomError(message)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        message = f"{outdir}: cannot create the folder ({error.strerror})."
        raise PhantomError(message) from error


def plan_study(
    *, patients: int, seed: int, small: bool, burned_in: int | None = None
) -> list[ImagePlan]:
    """The images of a study, in manifest order (patient, time point, view), not yet drawn."""
    if patients < 1:
        message = f"A phantom study needs at least one patient, not {patients}."
        raise PhantomError(message)
    people = [_sample_patient(seed, index) for index in range(patients)]
    variants = _plan_variants(seed, 4 * patients, burned_in)
    plans: list[ImagePlan] = []
    for patient in people:
        for timepoint in TIMEPOINTS:
            for view in VIEWS:
                variant = variants[len(plans)]
                plans.append(_image_plan(seed, patient, timepoint, view, variant, small=small))
    return plans


def generate_study(
    outdir: str | Path,
    *,
    patients: int = 4,
    seed: int = 0,
    small: bool = False,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    burned_in: int | None = None,
) -> StudySummary:
    """Write a synthetic study: DX images, ``manifest.csv`` and ``truth.json``.

    Parameters
    ----------
    outdir : folder to write into; created when absent, refused when not empty
    patients : number of patients (4 images each: AP and LAT at 6 m and 12 m)
    seed : same seed, same study (pixels, headers and truth)
    small : 320 × 256 px images of the same anatomy (8 × coarser pixels) instead of
        2560 × 2048
    progress : called as ``progress(done, total)`` after each image
    workers : processes drawing images in parallel; default 2 (if the machine has them) for
        full-size studies of at least two patients, else 1
    burned_in : number of images with a burned-in label and (0028,0301) *Burned In
        Annotation* YES; default one image in 40 (rounded)

    Returns
    -------
    StudySummary
        Paths, counts and timing; ``str()`` of it is a short report.

    Raises
    ------
    PhantomError
        For a non-empty or uncreatable ``outdir``, fewer than one patient, an impossible
        ``burned_in`` count or a missing encoder.
    """
    started = time.perf_counter()
    folder = Path(outdir)
    plans = plan_study(patients=patients, seed=seed, small=small, burned_in=burned_in)
    _prepare_outdir(folder)
    total = len(plans)
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if (not small and patients >= 2) else 1
    workers = max(1, min(workers, total))
    if progress is not None:
        progress(0, total)
    image_seconds: list[float] = []
    if workers == 1:
        for done, plan in enumerate(plans, start=1):
            image_seconds.append(_write_image(plan, folder))
            if progress is not None:
                progress(done, total)
    else:
        # "spawn": a forked copy of a process that runs threads (a GUI, a progress bar) can
        # deadlock; a fresh interpreter per worker costs about a second, once.
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_write_image, plan, folder) for plan in plans]
            for done, future in enumerate(futures, start=1):
                image_seconds.append(future.result())
                if progress is not None:
                    progress(done, total)
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(MANIFEST_COLUMNS)
        for plan in plans:
            writer.writerow(
                [
                    plan.relpath,
                    plan.header.equipment.site,
                    plan.patient.code,
                    plan.timepoint,
                    plan.view,
                    plan.patient.joint.value,
                    plan.patient.side,
                ]
            )
    people = {plan.patient.index: plan.patient for plan in plans}
    truth = {
        "format": TRUTH_FORMAT,
        "version": TRUTH_VERSION,
        "generator": {"seed": seed, "patients": patients, "small": small},
        "coordinates": "pixel (x=column, y=row), origin at the centre of the top-left pixel",
        "images": {plan.relpath: _image_truth(plan) for plan in plans},
        "patients": {p.code: _patient_truth(p, plans) for p in people.values()},
    }
    truth_path = folder / "truth.json"
    truth_path.write_text(json.dumps(truth, indent=1, ensure_ascii=False), encoding="utf-8")
    syntax_counts = Counter(UID(plan.transfer_syntax).name for plan in plans)
    return StudySummary(
        outdir=folder,
        manifest=manifest,
        truth=truth_path,
        patients=patients,
        images=total,
        small=small,
        seed=seed,
        wall_seconds=time.perf_counter() - started,
        seconds_per_image=float(np.mean(image_seconds)),
        workers=workers,
        zones_with_rll=sum(
            1 for plan in plans for zone in plan.scene.zones if zone.rll_width_mm > 0
        ),
        burned_in=sum(1 for plan in plans if plan.header.burned_in),
        monochrome1=sum(1 for plan in plans if plan.photometric == "MONOCHROME1"),
        transfer_syntaxes=dict(syntax_counts),
    )


def write_phantom_image(
    path: str | Path,
    *,
    rows: int = 3000,
    cols: int = 2500,
    transfer_syntax: str = ExplicitVRLittleEndian,
    seed: int = 0,
    photometric: str = "MONOCHROME2",
    joint: str | None = None,
    view: str = "AP",
    timepoint: str = "12m",
) -> Path:
    """Write one realistic phantom radiograph of the given size and transfer syntax.

    For benchmarks: the anatomy of patient 0 of study ``seed`` (its joint overridden by
    ``joint`` if given), drawn on a ``rows × cols`` detector. The field of view of a
    2560 × 2048 detector at ~0.14 mm is kept for smaller sizes (coarser pixels); larger
    detectors keep the pixel size and see more.

    Raises
    ------
    PhantomError
        For sizes below 64 px, an unknown view, time point, photometric interpretation or
        transfer syntax.
    """
    if rows < 64 or cols < 64:
        message = f"A phantom image needs at least 64 × 64 px, not {rows} × {cols}."
        raise PhantomError(message)
    if view not in VIEWS or timepoint not in TIMEPOINTS:
        message = f"view must be one of {VIEWS} and timepoint one of {TIMEPOINTS}."
        raise PhantomError(message)
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        message = f"photometric must be MONOCHROME1 or MONOCHROME2, not {photometric!r}."
        raise PhantomError(message)
    patient = _sample_patient(seed, 0)
    if joint is not None:
        chosen = Joint(joint)
        patient = replace(patient, joint=chosen, anatomy=replace(patient.anatomy, joint=chosen))
    variant = _Variant(photometric, str(UID(transfer_syntax)), burned_in=False)
    plan = _image_plan(seed, patient, timepoint, view, variant, small=False, rows=rows, cols=cols)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    pixels = render_pixels(plan.scene, np.random.default_rng(list(plan.seed)))
    write_dataset(build_dataset(pixels, plan.header), target, plan.transfer_syntax)
    return target
