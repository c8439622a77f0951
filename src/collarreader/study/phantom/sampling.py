"""Sampling a patient and planning each of its images (seeded, so a study is reproducible).

Part of :mod:`collarreader.study.phantom` (see its docstring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless, generate_uid

from collarreader.errors import PhantomError
from collarreader.study.phantom.plan import (
    _NAMES_ASCII,
    _NAMES_LATIN1,
    _NAMES_UTF8,
    _SITES,
    _WINDOW_HIGH_P,
    _WINDOW_LOW_P,
    BALL_DIAMETER_MM,
    FULL_COLS,
    FULL_ROWS,
    SMALL_FACTOR,
    TIMEPOINTS,
    VIEWS,
    ZONES_BY_VIEW,
    ImagePlan,
    PatientPlan,
    Progression,
    ZoneState,
    _Site,
)
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
)
from collarreader.study.phantom_dicom import Identity, ImageHeader

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
