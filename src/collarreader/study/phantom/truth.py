"""The truth of each image and patient, as written to ``truth.json``.

Part of :mod:`collarreader.study.phantom` (see its docstring).
"""

from __future__ import annotations

import math
from typing import Any

from collarreader.study.phantom.plan import (
    _SITES,
    BALL_DIAMETER_MM,
    TIMEPOINTS,
    ImagePlan,
    PatientPlan,
)
from collarreader.study.phantom_anatomy import MU_TITANIUM, Scene, ZoneGeometry, label_bbox_px

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
