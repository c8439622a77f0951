"""Follow-up film pairs: one phantom scene rendered twice, as a 6 m and a 12 m film.

Each pair is drawn by the phantom's renderer from the same implant, with the limb turned,
magnified and shifted on the detector, the soft tissue moved, the cortex remodelled and the
exposure changed — never one image warped into the other, so the registration sees the
same kind of differences real follow-up films show. The truth is the scene geometry: a point
of the implant frame (u, v) mm lands at ``scene.to_px(u, v)`` on each film.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from collarreader.study.phantom import plan_study
from collarreader.study.phantom_anatomy import MAX_VALUE, Scene, render_pixels


@dataclass(frozen=True)
class FilmPair:
    """A 6 m (fixed) and a 12 m (moving) film of one implant, with their scenes."""

    fixed_scene: Scene
    moving_scene: Scene
    fixed: npt.NDArray[np.uint16]
    moving: npt.NDArray[np.uint16]
    moving_inverted: bool

    def implant_points_uv_mm(self) -> list[tuple[float, float]]:
        """Implant landmarks in the implant frame (u, v) mm: collar, body, stem."""
        a = self.fixed_scene.anatomy
        return [
            (0.0, 0.0),
            (0.0, a.collar_radius_mm),
            (0.0, -a.collar_radius_mm),
            (a.collar_height_mm, a.body_radius_mm),
            (a.collar_height_mm + 0.5 * a.body_length_mm, 0.0),
            (-40.0, 0.0),
            (-80.0, 0.0),
        ]

    def landmarks_px(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(moving, fixed) pixel positions of the implant landmarks visible on both films."""
        moving, fixed = [], []
        for u, v in self.implant_points_uv_mm():
            pm = self.moving_scene.to_px(u, v)
            pf = self.fixed_scene.to_px(u, v)
            if _on_film(self.moving_scene, pm) and _on_film(self.fixed_scene, pf):
                moving.append(pm)
                fixed.append(pf)
        return np.array(moving), np.array(fixed)


def _on_film(scene: Scene, point: tuple[float, float]) -> bool:
    return 0 <= point[0] <= scene.cols - 1 and 0 <= point[1] <= scene.rows - 1


def render_pair(
    *,
    seed: int,
    image: int = 0,
    rotation_deg: float = 0.0,
    magnification: float = 1.0,
    shift_px: tuple[float, float] = (0.0, 0.0),
    exposure_gain: float = 1.0,
    soft_tissue_mm: float = 0.0,
    cortex_mm: float = 0.0,
    monochrome1: bool = False,
    rows: int | None = None,
    cols: int | None = None,
    bone_marker_uv_mm: tuple[float, float] | None = None,
    subsidence_mm: float = 0.0,
) -> FilmPair:
    """Render a 6 m film and a 12 m film of one phantom implant (see the module docstring).

    ``image`` picks the phantom's first patient's 6 m AP (0) or LAT (1) scene; ``rows`` and
    ``cols`` render it on a finer detector of that size (same field of view).
    ``bone_marker_uv_mm`` puts a 25 mm steel sphere fixed to the bone at that point of the
    6 m implant frame; ``subsidence_mm`` sinks the implant into the bone by that much before
    the 12 m film (the sphere moves by it along +u in the implant frame).
    """
    plans = plan_study(patients=1, seed=seed, small=True)
    fixed = plans[image].scene
    if rows is not None and cols is not None:
        grow = rows / fixed.rows
        fixed = replace(
            fixed,
            rows=rows,
            cols=cols,
            px_per_mm=fixed.px_per_mm * grow,
            centre_px=(fixed.centre_px[0] * grow, fixed.centre_px[1] * grow),
            quanta_per_px=fixed.quanta_per_px / grow**2,
            psf_sigma_px=fixed.psf_sigma_px * grow,
        )
    anatomy = fixed.anatomy
    moving = replace(
        fixed,
        tilt_rad=fixed.tilt_rad + math.radians(rotation_deg),
        px_per_mm=fixed.px_per_mm * magnification,
        centre_px=(fixed.centre_px[0] + shift_px[0], fixed.centre_px[1] + shift_px[1]),
        anatomy=replace(
            anatomy,
            limb_offset_mm=anatomy.limb_offset_mm + soft_tissue_mm,
            fat_mm=anatomy.fat_mm + 0.3 * abs(soft_tissue_mm),
            bone_outer_mm=anatomy.bone_outer_mm + cortex_mm,
        ),
        quanta_per_px=fixed.quanta_per_px * (0.6 if exposure_gain != 1.0 else 1.0),
        scatter=fixed.scatter * (1.5 if exposure_gain != 1.0 else 1.0),
        heel=-fixed.heel if exposure_gain != 1.0 else fixed.heel,
        # The calibration ball is put down anew for every film: it must not pull.
        ball_uv_mm=None
        if fixed.ball_uv_mm is None
        else (fixed.ball_uv_mm[0] + 30.0, fixed.ball_uv_mm[1]),
    )
    if bone_marker_uv_mm is not None:
        fixed = replace(fixed, ball_uv_mm=bone_marker_uv_mm)
        moving = replace(
            moving, ball_uv_mm=(bone_marker_uv_mm[0] + subsidence_mm, bone_marker_uv_mm[1])
        )
    fixed_px = render_pixels(fixed, np.random.default_rng([seed, 6]))
    moving_px = render_pixels(moving, np.random.default_rng([seed, 12])).astype(np.float64)
    # Another detector calibration: a different gain and offset of the stored values.
    moving_px = np.clip(moving_px * exposure_gain + 150.0 * (exposure_gain != 1.0), 0, MAX_VALUE)
    stored = moving_px.astype(np.uint16)
    if monochrome1:
        stored = (MAX_VALUE - stored).astype(np.uint16)
    return FilmPair(fixed, moving, fixed_px, stored, monochrome1)
