"""Rendering of a phantom radiograph: anatomy → attenuation → detector values.

Geometry lives in the **object plane**, in millimetres, in a frame attached to the implant:

- ``u`` runs along the long axis of the bone and stem, from the bone towards the
  prosthesis body; ``u = 0`` is the collar's bone-facing surface (the collar–bone interface);
- ``v`` runs across the bone in the plane of the projection (medial–lateral on AP,
  anterior–posterior on LAT).

The detector sees that frame magnified: one object-plane mm is ``px_per_mm`` detector pixels
(``px_per_mm`` = magnification ÷ (0018,1164) *Imager Pixel Spacing*), rotated by the small tilt
of the limb, centred at ``centre_px``. Pixel coordinates are (x=column, y=row), origin at the
centre of the top-left pixel.

Every structure is a solid whose projected thickness (chord) is known in closed form:
cylinders along ``u`` (soft tissue, cortex, canal, stem, collar, body), spheres (head,
calibration ball) and blocks. Their attenuation sums to a line integral ``L``; the detector
value in the log (presentation) domain is ``P = −ln(e^−L + scatter)``. Edges that matter for
measurement (the collar's face, the bone end, the radiolucent gap) are anti-aliased with a
one-pixel ramp, so the band's width survives sampling with sub-pixel accuracy.

The detector's point-spread function (a Gaussian, the MTF) is applied in the log domain,
after the noise is added: every step after the blur is affine, so the half-maximum edges of
a band stay where the geometry put them. (A real detector blurs light before the log; the
difference is invisible, and keeping the blur last keeps the truth exactly measurable.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from collarreader.study.phantom_font import render_text

F32 = npt.NDArray[np.float32]

# Effective linear attenuation coefficients, 1/mm, for a ~70 kV spectrum after beam hardening.
# The metal figures are effective values (real CoCr would saturate completely without scatter).
MU_FAT = 0.019
MU_MUSCLE = 0.022
MU_MARROW = 0.020
MU_CORTEX = 0.070
MU_CANCELLOUS = 0.032
MU_TITANIUM = 0.25
MU_COCR = 0.60
MU_STEEL = 0.60

# Detector value = OFFSET + GAIN · P, kept inside 12 bits (0–4095) for every structure.
DETECTOR_OFFSET = 120.0
DETECTOR_GAIN = 640.0
MAX_VALUE = 4095

INGROWTH_DEPTH_MM = 1.2


class Joint(StrEnum):
    """Which joint the resection prosthesis replaces."""

    HIP = "hip"
    KNEE = "knee"


class View(StrEnum):
    """Projection."""

    AP = "AP"
    LAT = "LAT"


@dataclass(frozen=True)
class ZoneGeometry:
    """One collar zone as rendered: the interface on one side of the bone in this view.

    The zone's interface runs across the cortex, ``|v|`` from the canal radius to the
    outer bone radius, on the side ``sign`` (+1: +v). ``bridging_pct`` of it, starting at the
    outer or the inner end, is bridged by bone; along the rest the bone end is set back by
    ``rll_width_mm`` (the radiolucent gap).
    """

    name: str
    sign: int
    rll_width_mm: float
    bridging_pct: float
    bridged_from_outer: bool


@dataclass(frozen=True)
class Anatomy:
    """One patient's limb and implant, object-plane mm (radii unless said otherwise)."""

    joint: Joint
    bone_outer_mm: float
    bone_inner_mm: float
    collar_radius_mm: float
    collar_height_mm: float
    porous_period_mm: float
    solid_fraction: float
    body_radius_mm: float
    body_length_mm: float
    stem_length_mm: float
    stem_tip_radius_mm: float
    stem_mu: float
    body_mu: float
    soft_halfwidth_ap_mm: float
    soft_halfwidth_lat_mm: float
    fat_mm: float
    limb_offset_mm: float
    head_radius_mm: float
    neck_length_mm: float


@dataclass(frozen=True)
class Scene:
    """Everything needed to render one image.

    Attributes
    ----------
    rows, cols : image size, px
    px_per_mm : detector px per object-plane mm (magnification ÷ imager pixel spacing)
    centre_px : (x, y) of the interface centre (axis ∩ collar face), px
    tilt_rad : rotation of the bone axis from the image's vertical, radians
    prosthesis_up : True when the prosthesis body lies towards row 0 (hip); False (knee)
    view : AP or LAT
    anatomy : the patient's limb and implant
    zones : the two zones of this view
    ball_uv_mm : centre of the 25 mm calibration ball in (u, v) mm, or None
    lattice_phase : phases (radians) of the porous lattice along u and v
    psf_sigma_px : detector blur, Gaussian standard deviation, px
    quanta_per_px : detected quanta per pixel behind no object (sets quantum noise)
    electronic_noise : electronic noise relative to the unattenuated signal
    heel : change of P from the top row to the bottom row (anode heel effect)
    scatter : scatter-to-primary floor, relative to the unattenuated signal
    label : text burned into the pixels (Burned In Annotation YES), or None
    label_scale : font pixel size of the label, px
    """

    rows: int
    cols: int
    px_per_mm: float
    centre_px: tuple[float, float]
    tilt_rad: float
    prosthesis_up: bool
    view: View
    anatomy: Anatomy
    zones: tuple[ZoneGeometry, ZoneGeometry]
    ball_uv_mm: tuple[float, float] | None
    lattice_phase: tuple[float, float]
    psf_sigma_px: float
    quanta_per_px: float
    electronic_noise: float
    heel: float
    scatter: float
    label: str | None = None
    label_scale: int = 1

    @property
    def u_dir(self) -> tuple[float, float]:
        """Unit vector (x, y) in the image along +u (from the bone into the prosthesis)."""
        orient = 1.0 if self.prosthesis_up else -1.0
        return (orient * math.sin(self.tilt_rad), -orient * math.cos(self.tilt_rad))

    @property
    def v_dir(self) -> tuple[float, float]:
        """Unit vector (x, y) in the image along +v."""
        return (math.cos(self.tilt_rad), math.sin(self.tilt_rad))

    def to_px(self, u_mm: float, v_mm: float) -> tuple[float, float]:
        """Image point (x, y), px, of the object-plane point (u, v), mm."""
        ux, uy = self.u_dir
        vx, vy = self.v_dir
        s = self.px_per_mm
        return (
            self.centre_px[0] + s * (u_mm * ux + v_mm * vx),
            self.centre_px[1] + s * (u_mm * uy + v_mm * vy),
        )

    @property
    def label_origin_px(self) -> tuple[int, int]:
        """Top-left pixel (x, y) of the burned-in label."""
        margin = max(2, round(0.02 * self.cols))
        return (margin, margin)


# ---------------------------------------------------------------- closed-form chords


def _chord(r2: F32, radius: float | F32) -> F32:
    """Projected thickness of a cylinder/sphere of ``radius`` at squared distance ``r2``."""
    return np.asarray(2.0 * np.sqrt(np.maximum(np.square(radius) - r2, 0.0)), dtype=np.float32)


class _Canvas:
    """The line-integral image and the (u, v) frame of any rectangular block of it."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.s = float(scene.px_per_mm)
        self.line_integral = np.zeros((scene.rows, scene.cols), dtype=np.float32)
        ux, uy = scene.u_dir
        vx, vy = scene.v_dir
        self._basis = (ux, uy, vx, vy)
        self.basis = self._basis
        """(ux, uy, vx, vy): the object-plane directions in pixel steps (u = (dx·ux + dy·uy)/s)."""

    def box(
        self, u_range: tuple[float, float], v_range: tuple[float, float]
    ) -> tuple[slice, slice] | None:
        """Pixel block covering the object-plane rectangle, or None if it misses the image."""
        corners = [
            self.scene.to_px(u, v)
            for u in (u_range[0], u_range[1])
            for v in (v_range[0], v_range[1])
        ]
        xs = [c[0] for c in corners]
        ys = [c[1] for c in corners]
        c0 = max(0, math.floor(min(xs)) - 3)
        c1 = min(self.scene.cols, math.ceil(max(xs)) + 4)
        r0 = max(0, math.floor(min(ys)) - 3)
        r1 = min(self.scene.rows, math.ceil(max(ys)) + 4)
        if c0 >= c1 or r0 >= r1:
            return None
        return slice(r0, r1), slice(c0, c1)

    def uv(self, block: tuple[slice, slice]) -> tuple[F32, F32]:
        """Object-plane (u, v) mm of every pixel centre of a block."""
        rows, cols = block
        ux, uy, vx, vy = self._basis
        cx, cy = self.scene.centre_px
        dy = (np.arange(rows.start, rows.stop, dtype=np.float32) - np.float32(cy))[:, None]
        dx = (np.arange(cols.start, cols.stop, dtype=np.float32) - np.float32(cx))[None, :]
        inv = np.float32(1.0 / self.s)
        u = (dx * np.float32(ux) + dy * np.float32(uy)) * inv
        v = (dx * np.float32(vx) + dy * np.float32(vy)) * inv
        return u, v

    def step(self, distance_mm: F32 | float) -> F32:
        """Anti-aliased inside-indicator of a half-space, given the signed distance in mm.

        A ramp one pixel wide centred on the boundary: its integral across the edge equals
        that of the exact step, so edges keep their sub-pixel positions.
        """
        return np.asarray(
            np.clip(np.asarray(distance_mm, dtype=np.float32) * np.float32(self.s) + 0.5, 0, 1),
            dtype=np.float32,
        )

    def interval(self, x: F32, low: float, high: float) -> F32:
        """Anti-aliased indicator of ``low ≤ x ≤ high`` (mm)."""
        return self.step(x - low) * self.step(high - x)


def _zone_masks(canvas: _Canvas, v: F32) -> tuple[F32, F32, F32]:
    """Gap mask, gap width (mm) and bridged mask of the two zones, as functions of v."""
    anatomy = canvas.scene.anatomy
    r_in, r_out = anatomy.bone_inner_mm, anatomy.bone_outer_mm
    thickness = r_out - r_in
    gap = np.zeros_like(v)
    width = np.zeros_like(v)
    bridged = np.zeros_like(v)
    for zone in canvas.scene.zones:
        side_v = v * np.float32(zone.sign)
        bridged_mm = thickness * zone.bridging_pct / 100.0
        if zone.bridged_from_outer:
            bridge_range = (r_out - bridged_mm, r_out)
            open_range = (r_in, r_out - bridged_mm)
        else:
            bridge_range = (r_in, r_in + bridged_mm)
            open_range = (r_in + bridged_mm, r_out)
        if bridged_mm > 0:
            bridged += canvas.interval(side_v, *bridge_range)
        if zone.rll_width_mm > 0 and open_range[1] > open_range[0]:
            mask = canvas.interval(side_v, *open_range)
            gap += mask
            width += mask * np.float32(zone.rll_width_mm)
    # Where the masks overlap only inside a ramp, the width is that zone's width.
    width = np.where(gap > 0, width / np.maximum(gap, 1e-6), 0).astype(np.float32)
    return gap, width, bridged


def _render_soft_tissue(canvas: _Canvas) -> None:
    scene, anatomy = canvas.scene, canvas.scene.anatomy
    block = (slice(0, scene.rows), slice(0, scene.cols))
    u, v = canvas.uv(block)
    half = anatomy.soft_halfwidth_ap_mm if scene.view is View.AP else anatomy.soft_halfwidth_lat_mm
    depth = anatomy.soft_halfwidth_lat_mm if scene.view is View.AP else anatomy.soft_halfwidth_ap_mm
    # The thigh widens towards the hip and narrows towards the knee.
    taper = 0.15 if anatomy.joint is Joint.HIP else -0.12
    grow = np.float32(1.0) + np.float32(taper) * np.clip(u / np.float32(150.0), -1, 1)
    a = np.float32(half) * grow
    b = np.float32(depth) * grow
    x = v - np.float32(anatomy.limb_offset_mm)
    outer = 1.0 - np.square(x / a)
    inner_a = a - np.float32(anatomy.fat_mm)
    inner_b = b - np.float32(anatomy.fat_mm)
    inner = 1.0 - np.square(x / inner_a)
    chord_outer = 2.0 * b * np.sqrt(np.maximum(outer, 0))
    chord_inner = 2.0 * inner_b * np.sqrt(np.maximum(inner, 0))
    canvas.line_integral += MU_FAT * chord_outer + (MU_MUSCLE - MU_FAT) * chord_inner


def _render_bone_and_collar(canvas: _Canvas) -> None:
    """Shaft, gap, bridging, stem, collar and body: the strip along the axis."""
    scene, anatomy = canvas.scene, canvas.scene.anatomy
    reach = 2.0 * (scene.rows + scene.cols) / canvas.s
    width = max(anatomy.collar_radius_mm, anatomy.body_radius_mm, anatomy.bone_outer_mm) + 2.0
    top = anatomy.collar_height_mm + anatomy.body_length_mm
    block = canvas.box((-reach, top + 1.0), (-width, width))
    if block is None:
        return
    u, v = canvas.uv(block)
    r2 = np.square(v)
    r_in, r_out = anatomy.bone_inner_mm, anatomy.bone_outer_mm
    chord_in = _chord(r2, r_in)
    cortex = _chord(r2, r_out) - chord_in
    gap, gap_width, bridged = _zone_masks(canvas, v)
    below_face = canvas.step(-u)
    bone_presence = (1 - gap) * below_face + gap * canvas.step(-u - gap_width)
    total = (MU_CORTEX - MU_MUSCLE) * cortex * bone_presence
    total += (MU_MARROW - MU_MUSCLE) * chord_in * below_face
    # Stem: fills the reamed canal, tapering over its last 30 mm to a rounded tip.
    tip = -anatomy.stem_length_mm
    taper_t = np.clip((u - np.float32(tip)) / np.float32(30.0), 0, 1)
    stem_radius = anatomy.stem_tip_radius_mm + (r_in - anatomy.stem_tip_radius_mm) * taper_t
    stem_extent = canvas.step(u - np.float32(tip)) * canvas.step(
        np.float32(anatomy.collar_height_mm) - u
    )
    total += (anatomy.stem_mu - MU_MARROW) * _chord(r2, stem_radius) * stem_extent
    # Porous collar: a regular lattice; projected, it shows as a grid of pores.
    period = anatomy.porous_period_mm
    phase_u, phase_v = scene.lattice_phase
    # The pixel aperture averages the lattice: a period near one pixel leaves no pattern
    # (rather than a moiré that no detector would show).
    period_px = period * canvas.s
    aperture = float(np.sinc(1.0 / period_px)) ** 2 if period_px > 1.0 else 0.0
    lattice = anatomy.solid_fraction * (
        1.0
        + 0.6
        * aperture
        * np.cos(np.float32(2 * math.pi / period) * v + np.float32(phase_v))
        * np.cos(np.float32(2 * math.pi / period) * u + np.float32(phase_u))
    )
    collar_slab = canvas.interval(u, 0.0, anatomy.collar_height_mm)
    ring = _chord(r2, anatomy.collar_radius_mm) - chord_in
    total += (MU_TITANIUM - MU_MUSCLE) * lattice * ring * collar_slab
    # Bridging: new bone grows into the pores next to the face, over the bridged stretch.
    ingrowth = canvas.interval(u, 0.0, INGROWTH_DEPTH_MM)
    total += (MU_CORTEX - MU_MUSCLE) * (1.0 - lattice) * cortex * bridged * ingrowth
    body = canvas.interval(u, anatomy.collar_height_mm, top)
    total += (anatomy.body_mu - MU_MUSCLE) * _chord(r2, anatomy.body_radius_mm) * body
    canvas.line_integral[block] += total


def _render_hip_end(canvas: _Canvas, medial_sign: int) -> None:
    """Neck and bipolar head at the proximal end of a proximal femoral replacement."""
    scene, anatomy = canvas.scene, canvas.scene.anatomy
    base_u = anatomy.collar_height_mm + anatomy.body_length_mm - 8.0
    angle = math.radians(45.0) if scene.view is View.AP else math.radians(12.0)
    du, dv = math.cos(angle), medial_sign * math.sin(angle)
    end_u = base_u + anatomy.neck_length_mm * du
    end_v = anatomy.neck_length_mm * dv
    shell = anatomy.head_radius_mm
    reach = shell + 4.0
    block = canvas.box(
        (base_u - 12.0, end_u + reach), (min(0.0, end_v) - reach, max(0.0, end_v) + reach)
    )
    if block is None:
        return
    u, v = canvas.uv(block)
    # Neck: a cylinder of radius 8 mm along (du, dv).
    along = (u - np.float32(base_u)) * np.float32(du) + v * np.float32(dv)
    across = -(u - np.float32(base_u)) * np.float32(dv) + v * np.float32(du)
    neck = _chord(np.square(across), 8.0) * canvas.interval(along, 0.0, anatomy.neck_length_mm)
    rho2 = np.square(u - np.float32(end_u)) + np.square(v - np.float32(end_v))
    # Bipolar head: a 3 mm metal shell around a 14 mm inner head.
    head = _chord(rho2, shell) - _chord(rho2, shell - 3.0) + _chord(rho2, 14.0)
    total = (anatomy.body_mu - MU_MUSCLE) * (neck + head)
    canvas.line_integral[block] += total


def _render_knee_end(canvas: _Canvas) -> None:
    """Femoral condyles, joint space, tibial tray and stem, and the tibia beyond."""
    scene, anatomy = canvas.scene, canvas.scene.anatomy
    start = anatomy.collar_height_mm + anatomy.body_length_mm
    half = 38.0 if scene.view is View.AP else 32.0
    height = 40.0
    reach = 2.0 * (scene.rows + scene.cols) / canvas.s
    block = canvas.box((start - 2.0, start + reach), (-half - 20.0, half + 20.0))
    if block is None:
        return
    u, v = canvas.uv(block)
    centre = start + 0.5 * height
    shape = np.power(np.abs(v) / np.float32(half), 4) + np.power(
        np.abs(u - np.float32(centre)) / np.float32(0.5 * height), 4
    )
    condyles = np.clip((1.0 - shape) * np.float32(0.25 * half * canvas.s) + 0.5, 0, 1)
    total = (anatomy.body_mu - MU_MUSCLE) * 24.0 * condyles
    tray_u = start + height + 8.0
    tray = canvas.interval(u, tray_u, tray_u + 4.0) * canvas.interval(v, -half + 2.0, half - 2.0)
    total += (MU_TITANIUM - MU_MUSCLE) * 50.0 * tray
    r2 = np.square(v)
    keel = _chord(r2, 6.0) * canvas.interval(u, tray_u + 4.0, tray_u + 64.0)
    # Tibia: broad metaphysis under the tray, narrowing to the diaphysis.
    distance = np.maximum(u - np.float32(tray_u + 4.0), 0)
    flare = np.exp(-distance / np.float32(45.0))
    outer = np.float32(17.0) + np.float32(half - 19.0) * flare
    shell = np.float32(4.5) - np.float32(3.0) * flare
    below_tray = canvas.step(u - np.float32(tray_u + 4.0))
    tibia = (MU_CANCELLOUS - MU_MUSCLE) * _chord(r2, outer) + (MU_CORTEX - MU_CANCELLOUS) * (
        _chord(r2, outer) - _chord(r2, outer - shell)
    )
    total += tibia * below_tray + (MU_TITANIUM - MU_CANCELLOUS) * keel
    canvas.line_integral[block] += total


def _render_ball(canvas: _Canvas) -> None:
    scene = canvas.scene
    if scene.ball_uv_mm is None:
        return
    bu, bv = scene.ball_uv_mm
    block = canvas.box((bu - 14.0, bu + 14.0), (bv - 14.0, bv + 14.0))
    if block is None:
        return
    u, v = canvas.uv(block)
    ux, uy, vx, vy = canvas.basis
    # The chord's edge is sharper than a pixel: average it over 4 × 4 points of each pixel, as
    # a detector integrates its pixel, so the ball's edge is where a fit to real films finds it.
    chord = np.zeros_like(u)
    offsets = (np.arange(4, dtype=np.float32) + np.float32(0.5)) / np.float32(4.0) - np.float32(0.5)
    for ox in offsets:
        for oy in offsets:
            du = (ox * np.float32(ux) + oy * np.float32(uy)) / np.float32(canvas.s)
            dv = (ox * np.float32(vx) + oy * np.float32(vy)) / np.float32(canvas.s)
            rho2 = np.square(u + du - np.float32(bu)) + np.square(v + dv - np.float32(bv))
            chord += _chord(rho2, 12.5)
    canvas.line_integral[block] += MU_STEEL * chord / np.float32(16.0)


def medial_or_anterior_sign(scene: Scene) -> int:
    """The ``sign`` of the zone named medial (AP) or anterior (LAT) in this scene."""
    for zone in scene.zones:
        if zone.name in ("medial", "anterior"):
            return zone.sign
    return 1


def render_presentation(scene: Scene) -> F32:
    """Noise-free log-domain image ``P`` (0 = unattenuated, larger = more attenuation)."""
    canvas = _Canvas(scene)
    _render_soft_tissue(canvas)
    _render_bone_and_collar(canvas)
    if scene.anatomy.joint is Joint.HIP:
        _render_hip_end(canvas, medial_or_anterior_sign(scene))
    else:
        _render_knee_end(canvas)
    _render_ball(canvas)
    intensity = np.exp(-canvas.line_integral)
    intensity += np.float32(scene.scatter)
    return np.asarray(-np.log(intensity), dtype=np.float32)


def expose(scene: Scene, presentation: F32, rng: np.random.Generator) -> npt.NDArray[np.uint16]:
    """Detector values (12 bit, MONOCHROME2 sense) from the noise-free log image.

    Quantum noise (variance ∝ 1 / detected quanta) and electronic noise are added in the log
    domain with the local signal's standard deviation, then the detector blur, the heel
    effect, the affine mapping to 12 bits and, if asked for, the burned-in label.
    """
    relative = np.exp(-presentation)
    sigma = np.sqrt(
        1.0 / (np.float32(scene.quanta_per_px) * relative)
        + np.square(np.float32(scene.electronic_noise) / relative)
    )
    noisy = presentation + sigma * rng.standard_normal(presentation.shape, dtype=np.float32)
    blurred = ndimage.gaussian_filter(noisy, sigma=scene.psf_sigma_px, mode="nearest", truncate=3.5)
    heel = np.linspace(-0.5, 0.5, scene.rows, dtype=np.float32)[:, None] * np.float32(scene.heel)
    values = np.float32(DETECTOR_OFFSET) + np.float32(DETECTOR_GAIN) * (blurred + heel)
    pixels = np.clip(np.rint(values), 0, MAX_VALUE).astype(np.uint16)
    if scene.label:
        mask = render_text(scene.label, scene.label_scale)
        x0, y0 = scene.label_origin_px
        h = min(mask.shape[0], scene.rows - y0)
        w = min(mask.shape[1], scene.cols - x0)
        region = pixels[y0 : y0 + h, x0 : x0 + w]
        region[mask[:h, :w]] = MAX_VALUE
    return pixels


def label_bbox_px(scene: Scene) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) pixel bounds (inclusive) of the burned-in label, or None."""
    if not scene.label:
        return None
    mask = render_text(scene.label, scene.label_scale)
    x0, y0 = scene.label_origin_px
    return (
        x0,
        y0,
        min(scene.cols, x0 + mask.shape[1]) - 1,
        min(scene.rows, y0 + mask.shape[0]) - 1,
    )


def render_pixels(scene: Scene, rng: np.random.Generator) -> npt.NDArray[np.uint16]:
    """The image a detector would deliver for the scene (MONOCHROME2 sense)."""
    return expose(scene, render_presentation(scene), rng)
