"""Latent images: what a simulated reader sees, from the phantom's truth or drawn for a real set.

Part of :mod:`collarreader.study.simulate` (see its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from collarreader.imaging import Spacing
from collarreader.model import ImageRef
from collarreader.protocol import Protocol
from collarreader.study.simulate.profile import _rng

# ------------------------------------------------------------------------------ latent images


@dataclass(frozen=True)
class _Zone:
    """What the reader would find in one zone if it were perfect."""

    interface_px: tuple[tuple[float, float], tuple[float, float]]
    bridged_from_start: bool  # bridging grows from interface_px[0]
    rll_width_mm: float
    bridging_pct: float
    progression: str | None
    remodeling: str
    osteolysis: bool


@dataclass(frozen=True)
class _Image:
    """One image as the simulated reader sees it (pixel x=column, y=row)."""

    rows: int
    cols: int
    zones: dict[str, _Zone]
    ball: tuple[tuple[float, float], float] | None  # centre, radius in px
    cortical_mm: float
    quality: int  # index into the image-quality choices (0 = best)
    spacing: Spacing | None


def _choice_latent(
    rng: np.random.Generator, choices: Sequence[str], weights: Sequence[float]
) -> str:
    p = np.asarray(weights, dtype=float)
    return str(choices[int(rng.choice(len(choices), p=p / p.sum()))])


def _latent_zone(
    rng: np.random.Generator, centre: tuple[float, float], offset_px: float, length_px: float
) -> _Zone:
    x0 = centre[0] + offset_px
    width = float(rng.uniform(0.2, 2.5)) if rng.random() < 0.3 else 0.0
    return _Zone(
        interface_px=((x0, centre[1]), (x0 + math.copysign(length_px, offset_px), centre[1])),
        bridged_from_start=bool(rng.random() < 0.5),
        rll_width_mm=width,
        bridging_pct=float(rng.uniform(0.0, 100.0)),
        progression=None,
        remodeling=_choice_latent(rng, ("none", "hypertrophy", "resorption"), (0.7, 0.15, 0.15)),
        osteolysis=bool(rng.random() < 0.05),
    )


def _extra_latents(rng: np.random.Generator) -> tuple[str, bool, int]:
    remodeling = _choice_latent(rng, ("none", "hypertrophy", "resorption"), (0.7, 0.15, 0.15))
    return remodeling, bool(rng.random() < 0.05), int(rng.choice(3, p=[0.7, 0.25, 0.05]))


def _image_from_latent(
    set_uuid: str,
    image: ImageRef,
    *,
    protocol: Protocol,
    rows: int,
    cols: int,
    spacing: Spacing | None,
) -> _Image:
    rng = _rng("latent", set_uuid, image.image_code)
    centre = (cols / 2.0, rows / 2.0)
    zones = protocol.zones_for(image.view)
    length_px = max(4.0, 0.04 * cols)
    result = {}
    for index, zone in enumerate(zones):
        side = -1.0 if index % 2 == 0 else 1.0
        offset = side * (0.06 * cols + (index // 2) * 0.05 * rows)
        result[zone.key] = _latent_zone(rng, centre, offset, length_px)
    _, _, quality = _extra_latents(rng)
    return _Image(
        rows=rows,
        cols=cols,
        zones=result,
        ball=None,
        cortical_mm=float(np.clip(rng.normal(6.5, 1.0), 3.0, 12.0)),
        quality=quality,
        spacing=spacing,
    )


def _image_from_truth(
    set_uuid: str,
    image: ImageRef,
    protocol: Protocol,
    truth: Mapping[str, Any],
    spacing: Spacing | None,
) -> _Image:
    rng = _rng("latent", set_uuid, image.image_code)
    zones: dict[str, _Zone] = {}
    latent = _image_from_latent(
        set_uuid,
        image,
        protocol=protocol,
        rows=int(truth["rows"]),
        cols=int(truth["cols"]),
        spacing=spacing,
    )
    for zone in protocol.zones_for(image.view):
        known = truth["zones"].get(zone.key)
        if known is None:  # a protocol zone the phantom does not model
            zones[zone.key] = latent.zones[zone.key]
            continue
        start, end = (tuple(map(float, point)) for point in known["interface_px"])
        bridged = known.get("bridged_px")
        from_start = True
        if bridged:
            ends = [tuple(map(float, point)) for point in bridged]
            from_start = min(math.dist(start, p) for p in ends) <= min(
                math.dist(end, p) for p in ends
            )
        remodeling, osteolysis, _ = _extra_latents(rng)
        zones[zone.key] = _Zone(
            interface_px=((start[0], start[1]), (end[0], end[1])),
            bridged_from_start=from_start,
            rll_width_mm=float(known["rll_width_mm"]),
            bridging_pct=float(known["bridging_extent_pct"]),
            progression=known.get("rll_progression"),
            remodeling=remodeling,
            osteolysis=osteolysis,
        )
    ball = None
    if truth.get("ball"):
        centre = truth["ball"]["centre_px"]
        ball = ((float(centre[0]), float(centre[1])), float(truth["ball"]["radius_px"]))
    cortical = 0.5 * (float(truth["bone_diameter_mm"]) - float(truth["canal_diameter_mm"]))
    return _Image(
        rows=int(truth["rows"]),
        cols=int(truth["cols"]),
        zones=zones,
        ball=ball,
        cortical_mm=cortical,
        quality=latent.quality,
        spacing=spacing,
    )
