"""A synthetic study that looks like the real thing, with the truth to check readers against.

:func:`generate_study` writes, for each patient (hip or knee resection prosthesis with a porous
collar, left or right, at one of three sites), AP and lateral DX radiographs at 6 and 12 months,
``manifest.csv`` (the columns of a site's manifest) and ``truth.json``: per image, per collar
zone, the true radiolucent-line width (object-plane mm), the bridging extent (% of the zone's
interface) and the interface segment in pixels, plus calibration (imager spacing,
magnification, calibration ball). The anatomy is drawn by
:mod:`collarreader.study.phantom_anatomy`, the files by :mod:`collarreader.study.phantom_dicom`.

Pixel coordinates in the truth are (x=column, y=row), origin at the centre of the top-left
pixel. Each zone's ``interface_px`` is ordered so that the collar lies on the positive side of
the profile normal of :mod:`collarreader.measure.profile` (left of ``p0 → p1`` on screen) and
the bone on the negative side; the gap runs from offset 0 to ``−rll_width_px``.

Same seed, same study: every image draws from its own random stream, so the pixels and the
truth are identical whatever the number of worker processes.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
    generate_uid,
)

from collarreader.errors import PhantomError
from collarreader.model import ProgressCallback
from collarreader.study.phantom_anatomy import (
    DETECTOR_GAIN,
    DETECTOR_OFFSET,
    MU_COCR,
    MU_TITANIUM,
    Anatomy,
    Joint,
    Scene,
    View,
    ZoneGeometry,
    label_bbox_px,
    render_pixels,
)
from collarreader.study.phantom_dicom import (
    Identity,
    ImageHeader,
    SiteEquipment,
    build_dataset,
    write_dataset,
)

TRUTH_FORMAT = "collarreader-phantom-truth"
TRUTH_VERSION = 1
MANIFEST_COLUMNS = ("path", "site", "patient", "timepoint", "view", "joint", "side")
TIMEPOINTS = ("6m", "12m")
VIEWS = ("AP", "LAT")
ZONES_BY_VIEW = {"AP": ("medial", "lateral"), "LAT": ("anterior", "posterior")}
BALL_DIAMETER_MM = 25.0
FULL_ROWS, FULL_COLS = 2560, 2048
SMALL_FACTOR = 8
# The window written to the header shows soft tissue to metal (log-domain P 0.9–5.6).
_WINDOW_LOW_P, _WINDOW_HIGH_P = 0.9, 5.6


class Progression(StrEnum):
    """How a zone's radiolucent line changed from 6 to 12 months."""

    NONE = "none"
    NEW = "new"
    STABLE = "stable"
    PROGRESSED = "progressed"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class _Site:
    equipment: SiteEquipment
    imager_spacing_mm: float
    psf_sigma_px: float


_SITES = (
    _Site(
        SiteEquipment(
            site="SITE-A",
            institution_name="Universitätsklinikum Musterstadt",
            institution_address="Klinikstraße 1, 12345 Musterstadt",
            department="Radiologie Orthopädie",
            station_name="ORTHO-DR-2",
            manufacturer="Acme Medical",
            model="DRX Nova 43",
            device_serial="AN43-118522",
            software="4.2.1",
            referring_physician="Schröder^Anna^^Dr. med.",
            operator="Weiß^Tobias",
        ),
        0.139,
        0.75,
    ),
    _Site(
        SiteEquipment(
            site="SITE-B",
            institution_name="St. Elsewhere General Hospital",
            institution_address="1 Hospital Road, Springfield",
            department="Imaging",
            station_name="XR-ROOM-4",
            manufacturer="Borealis Imaging",
            model="FlatView 3543",
            device_serial="FV3543-0079",
            software="11.0.3",
            referring_physician="Okafor^Chidi^^Dr",
            operator="Nguyen^Linh",
        ),
        0.143,
        0.85,
    ),
    _Site(
        SiteEquipment(
            site="SITE-C",
            institution_name="Hôpital Saint-Exemple",
            institution_address="12 rue de l'Exemple, 69000 Lyon",
            department="Imagerie ostéo-articulaire",
            station_name="RADIO-3",
            manufacturer="Lumière Systèmes",
            model="Clarté DR",
            device_serial="CDR-55120",
            software="2.7",
            referring_physician="Lefèvre^Hélène^^Dr",
            operator="Dubois^Rémi",
        ),
        0.148,
        0.80,
    ),
)

# (name, character set): plain ASCII, Latin-1 (ISO_IR 100) and UTF-8 (ISO_IR 192) names.
_NAMES_LATIN1 = (
    "Müller^Jürgen",
    "Sørensen^Åse",
    "Lefèvre^Frédéric",
    "Groß^Björn",
    "Peña^José",
)
_NAMES_UTF8 = (
    "Yamada^Tarou=山田^太郎=やまだ^たろう",
    "Papadopoulos^Georgios=Παπαδόπουλος^Γεώργιος",
    "Ivanova^Olga=Иванова^Ольга",
)
_NAMES_ASCII = (
    "Smith^John",
    "Garcia^Maria",
    "Jansen^Pieter",
    "Rossi^Giulia",
    "Kowalski^Adam",
    "OBrien^Siobhan",
    "Haddad^Omar",
    "Lindqvist^Erik",
)


@dataclass(frozen=True)
class ZoneState:
    """A zone's true state at one time point."""

    rll_width_mm: float
    bridging_pct: float
    progression: Progression | None


@dataclass(frozen=True)
class PatientPlan:
    """One synthetic patient."""

    index: int
    code: str
    site_index: int
    joint: Joint
    side: str
    identity: Identity
    surgery_date: date
    anatomy: Anatomy
    # zone name → (6m state, 12m state); zone name → bridged from the outer end
    zones: dict[str, tuple[ZoneState, ZoneState]]
    bridged_from_outer: dict[str, bool]


@dataclass(frozen=True)
class ImagePlan:
    """One image to render and write; picklable so that worker processes can take it."""

    relpath: str
    patient: PatientPlan
    timepoint: str
    view: str
    scene: Scene
    header: ImageHeader
    seed: tuple[int, ...]
    transfer_syntax: str
    photometric: str


@dataclass(frozen=True)
class StudySummary:
    """What :func:`generate_study` wrote."""

    outdir: Path
    manifest: Path
    truth: Path
    patients: int
    images: int
    small: bool
    seed: int
    wall_seconds: float
    seconds_per_image: float
    workers: int
    zones_with_rll: int
    burned_in: int
    monochrome1: int
    transfer_syntaxes: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        syntaxes = ", ".join(
            f"{name} {count}" for name, count in sorted(self.transfer_syntaxes.items())
        )
        size = "small" if self.small else "full-size"
        lines = [
            (
                f"phantom study: {self.patients} patients, {self.images} {size} images "
                f"in {self.outdir}"
            ),
            f"  manifest: {self.manifest}",
            f"  truth:    {self.truth}",
            (
                f"  zones with a radiolucent line: {self.zones_with_rll}; MONOCHROME1 images: "
                f"{self.monochrome1}; burned-in annotation: {self.burned_in}"
            ),
            f"  transfer syntaxes: {syntaxes}",
            (
                f"  {self.wall_seconds:.1f} s with {self.workers} worker(s), "
                f"{self.seconds_per_image:.2f} s per image"
            ),
        ]
        return "\n".join(lines)


# ---------------------------------------------------------------- sampling


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _draw_width(rng: np.random.Generator) -> float:
    """A radiolucent line's width: mostly 0.5–2 mm, a few wider than 2 mm."""
    if rng.random() < 0.8:
        return round(_uniform(rng, 0.5, 2.0), 2)
    return round(_uniform(rng, 2.0, 3.0), 2)


def _sample_zone(rng: np.random.Generator) -> tuple[ZoneState, ZoneState]:
    """A zone's 6 m and 12 m states: most without a line, some new, stable, worse or gone."""
    draw = rng.random()
    if draw < 0.55:
        w6, w12, progression = 0.0, 0.0, Progression.NONE
    elif draw < 0.67:
        w6, w12, progression = 0.0, _draw_width(rng), Progression.NEW
    elif draw < 0.85:
        w6 = _draw_width(rng)
        w12 = round(min(3.0, max(0.5, w6 + float(rng.normal(0.0, 0.08)))), 2)
        progression = Progression.STABLE
    elif draw < 0.93:
        w6 = round(_uniform(rng, 0.5, 1.5), 2)
        w12 = round(min(3.0, w6 + _uniform(rng, 0.5, 1.5)), 2)
        progression = Progression.PROGRESSED
    else:
        w6, w12, progression = _draw_width(rng), 0.0, Progression.RESOLVED
    # Bridging grows with time; a zone with a line keeps at least 30 % of its interface open.
    b6 = _uniform(rng, 0.0, 60.0) if w6 > 0 else _uniform(rng, 10.0, 100.0)
    b12 = b6 + _uniform(rng, 0.0, 35.0)
    if w12 > 0:
        b12 = min(b12, 70.0) if w6 > 0 else _uniform(rng, 0.0, 60.0)
    b12 = min(b12, 100.0)
    if w6 > 0:
        b6 = min(b6, 70.0)
    return (
        ZoneState(w6, round(b6, 1), None),
        ZoneState(w12, round(b12, 1), progression),
    )


def _birth_date(rng: np.random.Generator, surgery: date) -> date:
    age_days = int(rng.integers(16 * 365, 76 * 365))
    return surgery - timedelta(days=age_days)


def _sample_identity(rng: np.random.Generator, index: int, site: _Site, surgery: date) -> Identity:
    pool: tuple[str, ...]
    charset: str | None
    if index == 0:
        pool, charset = _NAMES_LATIN1, "ISO_IR 100"
    elif index == 1:
        pool, charset = _NAMES_UTF8, "ISO_IR 192"
    else:
        draw = rng.random()
        if draw < 0.6:
            pool, charset = _NAMES_ASCII, None
        elif draw < 0.85:
            pool, charset = _NAMES_LATIN1, "ISO_IR 100"
        else:
            pool, charset = _NAMES_UTF8, "ISO_IR 192"
    name = pool[int(rng.integers(len(pool)))]
    letter = site.equipment.site[-1]
    return Identity(
        patient_name=name,
        patient_id=f"{letter}{int(rng.integers(1_000_000, 9_999_999))}",
        other_patient_id=f"OP{int(rng.integers(100_000, 999_999))}",
        birth_date=_birth_date(rng, surgery).strftime("%Y%m%d"),
        sex="M" if rng.random() < 0.55 else "F",
        character_set=charset,
        address=f"{int(rng.integers(1, 200))} Example Street, Example Town",
    )


def _sample_anatomy(rng: np.random.Generator, joint: Joint) -> Anatomy:
    outer = _uniform(rng, 11.5, 15.0)
    inner = max(5.5, outer - _uniform(rng, 4.5, 7.0))
    collar = min(17.5, max(12.5, outer + _uniform(rng, 0.5, 2.5)))
    hip = joint is Joint.HIP
    return Anatomy(
        joint=joint,
        bone_outer_mm=outer,
        bone_inner_mm=inner,
        collar_radius_mm=collar,
        collar_height_mm=_uniform(rng, 4.0, 7.0),
        porous_period_mm=_uniform(rng, 0.9, 1.4),
        solid_fraction=_uniform(rng, 0.30, 0.45),
        body_radius_mm=collar - _uniform(rng, 0.5, 2.5),
        body_length_mm=_uniform(rng, 70.0, 115.0) if hip else _uniform(rng, 55.0, 100.0),
        stem_length_mm=_uniform(rng, 110.0, 150.0),
        stem_tip_radius_mm=min(inner - 0.5, _uniform(rng, 4.0, 6.0)),
        stem_mu=MU_TITANIUM if rng.random() < 0.7 else MU_COCR,
        body_mu=MU_COCR if rng.random() < 0.6 else MU_TITANIUM,
        soft_halfwidth_ap_mm=_uniform(rng, 75.0, 95.0) if hip else _uniform(rng, 55.0, 70.0),
        soft_halfwidth_lat_mm=_uniform(rng, 65.0, 85.0) if hip else _uniform(rng, 50.0, 65.0),
        fat_mm=_uniform(rng, 8.0, 22.0),
        limb_offset_mm=_uniform(rng, -12.0, 12.0),
        head_radius_mm=_uniform(rng, 21.0, 25.0),
        neck_length_mm=_uniform(rng, 30.0, 40.0),
    )


def _sample_patient(seed: int, index: int) -> PatientPlan:
    rng = np.random.default_rng([seed, 1, index])
    site_index = int(rng.integers(len(_SITES)))
    joint = Joint.HIP if rng.random() < 0.55 else Joint.KNEE
    side = "L" if rng.random() < 0.5 else "R"
    surgery = date(2021, 1, 4) + timedelta(days=int(rng.integers(0, 900)))
    identity = _sample_identity(rng, index, _SITES[site_index], surgery)
    anatomy = _sample_anatomy(rng, joint)
    zones: dict[str, tuple[ZoneState, ZoneState]] = {}
    outer: dict[str, bool] = {}
    for view in VIEWS:
        for name in ZONES_BY_VIEW[view]:
            zones[name] = _sample_zone(rng)
            outer[name] = bool(rng.random() < 0.7)
    return PatientPlan(
        index=index,
        code=f"P{index + 1:03d}",
        site_index=site_index,
        joint=joint,
        side=side,
        identity=identity,
        surgery_date=surgery,
        anatomy=anatomy,
        zones=zones,
        bridged_from_outer=outer,
    )


def _zone_signs(view: str, side: str) -> dict[str, int]:
    """+1 when the zone lies on the image's +v side (roughly image right).

    AP of a right limb is viewed as if facing the patient: the patient's midline, so the
    medial side, is on the image's right. Lateral views are hung with anterior on the
    image's left for the right limb and on its right for the left limb.
    """
    first = 1 if side == "R" else -1
    if view == "AP":
        return {"medial": first, "lateral": -first}
    return {"anterior": -first, "posterior": first}


def _uid(seed: int, *parts: object) -> str:
    return str(generate_uid(entropy_srcs=["collarreader-phantom", str(seed), *map(str, parts)]))


@dataclass(frozen=True)
class _Variant:
    photometric: str
    transfer_syntax: str
    burned_in: bool


def _plan_variants(seed: int, n_images: int, burned_in: int | None) -> list[_Variant]:
    """Photometric, transfer syntax and burned-in flag of every image of the study.

    About a quarter MONOCHROME1; 60 % uncompressed, 20 % JPEG 2000 lossless, 20 % RLE
    lossless; burned-in annotation on one image in 40. The first patient's images always
    include a MONOCHROME1, a JPEG 2000 and an RLE image, so that any study shows them all.
    """
    rng = np.random.default_rng([seed, 2])
    photometric = ["MONOCHROME1" if rng.random() < 0.25 else "MONOCHROME2" for _ in range(n_images)]
    syntaxes: list[str] = []
    for _ in range(n_images):
        draw = rng.random()
        syntaxes.append(
            str(ExplicitVRLittleEndian)
            if draw < 0.6
            else str(JPEG2000Lossless)
            if draw < 0.8
            else str(RLELossless)
        )
    if n_images >= 4:
        photometric[1] = "MONOCHROME1"
        syntaxes[2] = str(JPEG2000Lossless)
        syntaxes[3] = str(RLELossless)
    count = round(n_images / 40) if burned_in is None else burned_in
    if count < 0 or count > n_images:
        message = f"burned_in must be between 0 and the number of images ({n_images}), not {count}."
        raise PhantomError(message)
    burned = set(rng.permutation(n_images)[:count].tolist())
    return [_Variant(photometric[i], syntaxes[i], i in burned) for i in range(n_images)]


def _image_plan(
    seed: int,
    patient: PatientPlan,
    timepoint: str,
    view: str,
    variant: _Variant,
    *,
    small: bool,
    rows: int | None = None,
    cols: int | None = None,
) -> ImagePlan:
    t_index, v_index = TIMEPOINTS.index(timepoint), VIEWS.index(view)
    rng = np.random.default_rng([seed, 3, patient.index, t_index, v_index])
    site = _SITES[patient.site_index]
    factor = SMALL_FACTOR if small else 1
    n_rows = rows if rows is not None else FULL_ROWS // factor
    n_cols = cols if cols is not None else FULL_COLS // factor
    # A detector of other dimensions keeps the field of view by coarsening its pixels.
    coverage = max(1.0, min(FULL_ROWS / n_rows, FULL_COLS / n_cols))
    imager_mm = site.imager_spacing_mm * coverage
    magnification = round(_uniform(rng, 1.08, 1.18), 4)
    px_per_mm = magnification / imager_mm
    up = patient.joint is Joint.HIP
    centre = (
        n_cols * (0.5 + _uniform(rng, -0.05, 0.05)),
        n_rows * (_uniform(rng, 0.58, 0.64) if up else _uniform(rng, 0.34, 0.40)),
    )
    signs = _zone_signs(view, patient.side)
    index = 0 if timepoint == "6m" else 1
    zones = tuple(
        ZoneGeometry(
            name=name,
            sign=signs[name],
            rll_width_mm=patient.zones[name][index].rll_width_mm,
            bridging_pct=patient.zones[name][index].bridging_pct,
            bridged_from_outer=patient.bridged_from_outer[name],
        )
        for name in ZONES_BY_VIEW[view]
    )
    anatomy = patient.anatomy
    half = anatomy.soft_halfwidth_ap_mm if view == "AP" else anatomy.soft_halfwidth_lat_mm
    # Every image has a calibration ball, so every image can be calibrated by fitting it. Half
    # of them drew theirs from the image's own stream (as before); the other half draw it from
    # a stream of their own, so that no other value of the phantom moves.
    ball_rng = (
        rng
        if rng.random() < 0.5
        else np.random.default_rng([seed, 11, patient.index, t_index, v_index])
    )
    side_sign = -signs[ZONES_BY_VIEW[view][0]]
    ball_v = side_sign * (half + _uniform(ball_rng, 5.0, 20.0)) + anatomy.limb_offset_mm
    # Keep the whole ball on the detector (the tilt is small, a 3 mm margin covers it).
    room_px = min(centre[0], n_cols - 1 - centre[0])
    limit_mm = room_px / px_per_mm - 0.5 * BALL_DIAMETER_MM - 3.0
    ball_v = max(-limit_mm, min(limit_mm, ball_v))
    ball_u = _uniform(ball_rng, -80.0, 20.0)
    ball: tuple[float, float] | None = (ball_u, ball_v)
    # One visit, one study: both views share date, time, study ID and accession number.
    visit = np.random.default_rng([seed, 5, patient.index, t_index])
    day_offset = (182 if timepoint == "6m" else 365) + int(visit.integers(-14, 22))
    study_day = patient.surgery_date + timedelta(days=day_offset)
    hour, minute = int(visit.integers(7, 18)), int(visit.integers(0, 58))
    second = int(visit.integers(0, 60))
    study_time = f"{hour:02d}{minute:02d}{second:02d}"
    acquisition_time = f"{hour:02d}{minute + v_index:02d}{second:02d}"
    study_id = f"{int(visit.integers(10_000, 99_999))}"
    accession = f"ACC{study_day:%y%m%d}{int(visit.integers(1000, 9999))}"
    # The first component group of the name: what a label printer would show.
    shown_name = patient.identity.patient_name.split("=")[0]
    label = None
    if variant.burned_in:
        label = f"{shown_name} {patient.identity.patient_id} {study_day:%Y-%m-%d}"
    scene = Scene(
        rows=n_rows,
        cols=n_cols,
        px_per_mm=px_per_mm,
        centre_px=centre,
        tilt_rad=math.radians(_uniform(rng, -5.0, 5.0)),
        prosthesis_up=up,
        view=View(view),
        anatomy=anatomy,
        zones=(zones[0], zones[1]),
        ball_uv_mm=ball,
        lattice_phase=(_uniform(rng, 0, 2 * math.pi), _uniform(rng, 0, 2 * math.pi)),
        # Coarser pixels bin the detector: its blur shrinks in px, the pixel aperture stays.
        psf_sigma_px=site.psf_sigma_px / coverage,
        quanta_per_px=_uniform(rng, 15000.0, 30000.0) * coverage * coverage,
        electronic_noise=2e-4,
        heel=_uniform(rng, 0.05, 0.2) * (1 if rng.random() < 0.5 else -1),
        scatter=_uniform(rng, 0.003, 0.006),
        label=label,
        label_scale=max(1, round(4 / coverage)),
    )
    study_key = (patient.index, timepoint)
    header = ImageHeader(
        identity=patient.identity,
        equipment=site.equipment,
        study_uid=_uid(seed, "study", *study_key),
        series_uid=_uid(seed, "series", *study_key, view),
        sop_uid=_uid(seed, "sop", *study_key, view),
        study_id=study_id,
        accession_number=accession,
        study_date=f"{study_day:%Y%m%d}",
        study_time=study_time,
        acquisition_time=acquisition_time,
        study_description=f"{patient.joint.value.upper()} {patient.side} {timepoint} follow-up",
        series_description=f"{patient.joint.value.upper()} {'a.p.' if view == 'AP' else 'lateral'}",
        series_number=1 + v_index,
        instance_number=1,
        view=view,
        joint=patient.joint.value,
        side=patient.side,
        photometric=variant.photometric,
        transfer_syntax=variant.transfer_syntax,
        imager_spacing_mm=imager_mm,
        magnification=magnification,
        source_to_detector_mm=1150.0,
        window_center=DETECTOR_OFFSET + DETECTOR_GAIN * 0.5 * (_WINDOW_LOW_P + _WINDOW_HIGH_P),
        window_width=DETECTOR_GAIN * (_WINDOW_HIGH_P - _WINDOW_LOW_P),
        burned_in=variant.burned_in,
        kvp=_uniform(rng, 66.0, 77.0),
        exposure_mas=_uniform(rng, 8.0, 20.0),
        comment=f"Follow-up {timepoint} after resection prosthesis, {shown_name}",
    )
    relpath = f"{site.equipment.site}/{patient.code}/{timepoint}_{view}.dcm"
    return ImagePlan(
        relpath=relpath,
        patient=patient,
        timepoint=timepoint,
        view=view,
        scene=scene,
        header=header,
        seed=(seed, 4, patient.index, t_index, v_index),
        transfer_syntax=variant.transfer_syntax,
        photometric=variant.photometric,
    )


# ---------------------------------------------------------------- truth


def _point(xy: tuple[float, float]) -> list[float]:
    return [round(xy[0], 3), round(xy[1], 3)]


def _oriented_segment(scene: Scene, v_a: float, v_b: float) -> list[list[float]]:
    """Segment on the collar face between v_a and v_b, collar on the profile's + side."""
    p0, p1 = scene.to_px(0.0, v_a), scene.to_px(0.0, v_b)
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    ux, uy = scene.u_dir
    if dy * ux - dx * uy < 0:  # normal (dy, −dx) must point into the collar (+u)
        p0, p1 = p1, p0
    return [_point(p0), _point(p1)]


def _zone_truth(plan: ImagePlan, zone: ZoneGeometry) -> dict[str, Any]:
    scene, anatomy = plan.scene, plan.scene.anatomy
    r_in, r_out = anatomy.bone_inner_mm, anatomy.bone_outer_mm
    thickness = r_out - r_in
    bridged_mm = thickness * zone.bridging_pct / 100.0
    sign = zone.sign
    if zone.bridged_from_outer:
        bridged = (r_out - bridged_mm, r_out)
        unbridged = (r_in, r_out - bridged_mm)
    else:
        bridged = (r_in, r_in + bridged_mm)
        unbridged = (r_in + bridged_mm, r_out)
    state = plan.patient.zones[zone.name][TIMEPOINTS.index(plan.timepoint)]
    return {
        "rll_width_mm": zone.rll_width_mm,
        "rll_width_px": round(zone.rll_width_mm * scene.px_per_mm, 4),
        "bridging_extent_pct": zone.bridging_pct,
        "bridged_from": "outer" if zone.bridged_from_outer else "inner",
        "interface_px": _oriented_segment(scene, sign * r_in, sign * r_out),
        "interface_length_mm": round(thickness, 4),
        "bridged_px": (
            _oriented_segment(scene, sign * bridged[0], sign * bridged[1])
            if bridged_mm > 1e-6
            else None
        ),
        "unbridged_px": (
            _oriented_segment(scene, sign * unbridged[0], sign * unbridged[1])
            if thickness - bridged_mm > 1e-6
            else None
        ),
        "rll_progression": None if state.progression is None else state.progression.value,
    }


def _image_truth(plan: ImagePlan) -> dict[str, Any]:
    scene, header, anatomy = plan.scene, plan.header, plan.scene.anatomy
    object_mm = header.imager_spacing_mm / header.magnification
    ball = None
    if scene.ball_uv_mm is not None:
        ball = {
            "centre_px": _point(scene.to_px(*scene.ball_uv_mm)),
            "radius_px": round(0.5 * BALL_DIAMETER_MM * scene.px_per_mm, 4),
            "diameter_mm": BALL_DIAMETER_MM,
        }
    bbox = label_bbox_px(scene)
    inverted = plan.photometric == "MONOCHROME1"
    return {
        "site": header.equipment.site,
        "patient": plan.patient.code,
        "timepoint": plan.timepoint,
        "view": plan.view,
        "joint": plan.patient.joint.value,
        "side": plan.patient.side,
        "sop_instance_uid": header.sop_uid,
        "study_instance_uid": header.study_uid,
        "series_instance_uid": header.series_uid,
        "rows": scene.rows,
        "cols": scene.cols,
        "photometric": plan.photometric,
        "transfer_syntax": plan.transfer_syntax,
        "burned_in_annotation": header.burned_in,
        "label_bbox_px": None if bbox is None else list(bbox),
        "imager_spacing_mm": {
            "row_mm": header.imager_spacing_mm,
            "col_mm": header.imager_spacing_mm,
        },
        "magnification": header.magnification,
        "object_spacing_mm": {"row_mm": object_mm, "col_mm": object_mm},
        "px_per_mm": scene.px_per_mm,
        "psf_sigma_px": scene.psf_sigma_px,
        "window": {
            "center": 4095.0 - header.window_center if inverted else header.window_center,
            "width": header.window_width,
        },
        "collar_diameter_mm": round(2 * anatomy.collar_radius_mm, 4),
        "collar_height_mm": round(anatomy.collar_height_mm, 4),
        "bone_diameter_mm": round(2 * anatomy.bone_outer_mm, 4),
        "canal_diameter_mm": round(2 * anatomy.bone_inner_mm, 4),
        "axis": {
            "interface_centre_px": _point(scene.centre_px),
            "toward_collar": [round(c, 6) for c in scene.u_dir],
            "tilt_deg": round(math.degrees(scene.tilt_rad), 4),
        },
        "zones": {zone.name: _zone_truth(plan, zone) for zone in scene.zones},
        "ball": ball,
    }


def _patient_truth(patient: PatientPlan, plans: list[ImagePlan]) -> dict[str, Any]:
    mine = [p for p in plans if p.patient.index == patient.index]
    return {
        "site": _SITES[patient.site_index].equipment.site,
        "joint": patient.joint.value,
        "side": patient.side,
        "sex": patient.identity.sex,
        "patient_name": patient.identity.patient_name,
        "patient_id": patient.identity.patient_id,
        "birth_date": patient.identity.birth_date,
        "specific_character_set": patient.identity.character_set,
        "surgery_date": patient.surgery_date.isoformat(),
        "study_dates": {p.timepoint: p.header.study_date for p in mine if p.view == "AP"},
        "study_instance_uids": {p.timepoint: p.header.study_uid for p in mine if p.view == "AP"},
        "accession_numbers": {p.relpath: p.header.accession_number for p in mine},
        "stem_material": "titanium"
        if patient.anatomy.stem_mu == MU_TITANIUM
        else "cobalt-chromium",
        "collar_diameter_mm": round(2 * patient.anatomy.collar_radius_mm, 4),
        "rll_progression": {
            name: states[1].progression.value if states[1].progression else None
            for name, states in patient.zones.items()
        },
    }


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
