"""``collarreader simulate-reads``: a synthetic reader working through a reading set.

The simulated reader drives the same :class:`~collarreader.session.ReadingSession` commands
as the GUI — calibrate, draw interface lines, bridged segments, radiolucent-line and cortical
calipers, set every protocol field, submit — so its database is a reader database like any
other: audited, verifiable, mergeable. Measured values flow from the drawn pixel geometry
through the image's spacing (its calibration, else the header spacing) into the fields.

What the reader sees
    With the phantom's ``truth.json`` and the set's key (image code → source path, the truth's
    key), each zone's true radiolucent-line width, bridging extent and interface segment,
    the cortical thickness and the calibration ball come from the truth. Without them, a
    latent "truth" is drawn per image from the set UUID and image code, so every simulated
    reader of the set sees the same latent images and agreement is still meaningful.

How it errs
    Per reader (seeded by ``seed`` and the reader ID) a systematic bias: RLL width ~ N(0,
    0.15 mm), bridging extent ~ N(0, 5 %), cortical thickness ~ N(0, 0.3 mm), its own
    thresholds for seeing a line and for calling bridging none/partial/complete, and a
    tendency in image quality. Per reading fresh noise (SD 0.2 mm, 8 %, 0.4 mm; detection
    0.1 mm); categorical fields follow the noisy continuous values, with occasional
    disagreements. A repeat read has the reader's bias and fresh noise, so intra-observer
    agreement is higher than inter-observer agreement, as in real studies. Some zones are
    marked not assessable (more often on poor images); the protocol's skip rule then leaves
    their other fields empty.

Nothing with identity reaches the database: the truth and the key only steer the numbers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from sqlalchemy import event, func, select

from collarreader.db.engine import Database, open_database
from collarreader.db.models import AnnotationRow, CalibrationRow, ScoreRow
from collarreader.db.repository import Repository
from collarreader.errors import KeyFileError, ReadingSetError, SessionError
from collarreader.imaging import Spacing, spacing_from_dataset
from collarreader.model import AnnotationKind, Case, ImageRef, ProgressCallback
from collarreader.protocol import Field, FieldType, Protocol, Scope, ToolKind
from collarreader.session import ReadingSession
from collarreader.study.keycheck import load_key_for_set
from collarreader.study.keyfile import Key, check_key
from collarreader.study.readingset import ReadingSet, open_reading_set

__all__ = ["ReaderProfile", "SimulationSummary", "reader_profile", "simulate_reads"]


TRUTH_FORMAT = "collarreader-phantom-truth"
BALL_DIAMETER_MM = 25.0

RLL_BIAS_SD_MM = 0.15
RLL_NOISE_SD_MM = 0.2
RLL_DETECTION_SD_MM = 0.1
BRIDGING_BIAS_SD_PCT = 5.0
BRIDGING_NOISE_SD_PCT = 8.0
CORTICAL_BIAS_SD_MM = 0.3
CORTICAL_NOISE_SD_MM = 0.4
ENDPOINT_JITTER_PX = 0.3
NOT_ASSESSABLE_P = 0.04
NOT_ASSESSABLE_POOR_P = 0.35
CATEGORY_SLIP_P = 0.08
CALIBRATE_ON_BALL_P = 0.75
COMMENT_P = 0.1
FALLBACK_PIXEL_MM = 0.15  # an image without spacing: calibrate on a line of assumed size


@dataclass(frozen=True)
class ReaderProfile:
    """A simulated reader's systematic tendencies (the same for primary and repeat reads).

    Attributes
    ----------
    rll_bias_mm, bridging_bias_pct, cortical_bias_mm : added to every measurement
    rll_threshold_mm : the perceived width below which the reader sees no line
    bridging_cuts_pct : extents below the first cut are "none", from the second "complete"
    quality_shift : −1, 0 or +1 category towards better/worse image quality
    calibrate_probability : how often the reader calibrates on a visible ball
    """

    rll_bias_mm: float
    bridging_bias_pct: float
    cortical_bias_mm: float
    rll_threshold_mm: float
    bridging_cuts_pct: tuple[float, float]
    quality_shift: int
    calibrate_probability: float


def _stable_int(*parts: object) -> int:
    digest = hashlib.sha256("/".join(str(part) for part in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(_stable_int(*parts))


def reader_profile(reader_id: str, seed: int = 0) -> ReaderProfile:
    """The tendencies of simulated reader ``reader_id`` (deterministic in ``seed``)."""
    rng = _rng("profile", seed, reader_id)
    return ReaderProfile(
        rll_bias_mm=float(rng.normal(0.0, RLL_BIAS_SD_MM)),
        bridging_bias_pct=float(rng.normal(0.0, BRIDGING_BIAS_SD_PCT)),
        cortical_bias_mm=float(rng.normal(0.0, CORTICAL_BIAS_SD_MM)),
        rll_threshold_mm=float(np.clip(rng.normal(0.3, 0.05), 0.15, 0.45)),
        bridging_cuts_pct=(
            float(np.clip(rng.normal(8.0, 3.0), 2.0, 15.0)),
            float(np.clip(rng.normal(92.0, 3.0), 85.0, 98.0)),
        ),
        quality_shift=int(rng.choice([-1, 0, 0, 0, 1])),
        calibrate_probability=float(np.clip(rng.normal(CALIBRATE_ON_BALL_P, 0.15), 0.2, 1.0)),
    )


@dataclass(frozen=True)
class SimulationSummary:
    """What :func:`simulate_reads` did; ``str()`` is the command's report.

    Attributes
    ----------
    reader_id : the reader simulated
    db_path : the reader database written
    set_uuid : the reading set's UUID
    submitted : readings submitted in this run
    already_submitted : worklist cases already submitted in the database (left alone)
    annotations, calibrations, scores : rows the reader's database holds afterwards
    with_truth : whether the phantom truth steered the values
    seconds : wall time
    """

    reader_id: str
    db_path: Path
    set_uuid: str
    submitted: int
    already_submitted: int
    annotations: int
    calibrations: int
    scores: int
    with_truth: bool
    seconds: float

    def __str__(self) -> str:
        steer = "phantom truth + reader bias + noise" if self.with_truth else "latent values"
        return (
            f"simulated reader {self.reader_id}: {self.submitted} readings submitted "
            f"({self.already_submitted} already submitted) in {self.db_path}\n"
            f"  {self.annotations} annotations, {self.calibrations} calibrations, "
            f"{self.scores} scores; values from {steer}; {self.seconds:.1f} s"
        )


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


# ------------------------------------------------------------------------------ the reader


def _read_header(path: Path) -> tuple[int, int, Spacing | None]:
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    spacing, _note = spacing_from_dataset(dataset)
    return int(dataset.Rows), int(dataset.Columns), spacing


def _load_truth(
    truth: str | Path, key: str | Path | Key, reading_set: ReadingSet
) -> dict[str, Any]:
    """Image code → the image's truth record."""
    if isinstance(key, Key):  # already loaded (and decrypted) by the caller: check it too
        check_key(
            key,
            "the key given",
            set_uuid=reading_set.set_uuid,
            commitment=reading_set.key_commitment,
            where=f"the reading set {reading_set.path}",
        )
    loaded_key = key if isinstance(key, Key) else load_key_for_set(key, reading_set)
    truth_path = Path(truth)
    try:
        document = json.loads(truth_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReadingSetError(f"{truth_path}: no such truth file. Check --truth.") from None
    except (OSError, ValueError) as error:
        raise ReadingSetError(f"{truth_path}: cannot be read as JSON ({error}).") from None
    if not isinstance(document, dict) or document.get("format") != TRUTH_FORMAT:
        raise ReadingSetError(
            f"{truth_path}: not a phantom truth file (format is not {TRUTH_FORMAT!r}); give "
            "the truth.json the phantom wrote."
        )
    images = document.get("images", {})
    result = {}
    for image in reading_set.images:
        entry = loaded_key.images.get(image.image_code)
        if entry is None:
            raise KeyFileError(f"{key}: image {image.image_code} of the set is not in the key.")
        record = images.get(entry.source)
        if record is None:
            raise ReadingSetError(
                f"{truth_path}: no truth for image {image.image_code} (its source is not in "
                "the truth file); give the truth of the phantom this set was prepared from."
            )
        result[image.image_code] = record
    return result


class _Clock:
    """Reading time that advances as the simulated reader works (no waiting)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Reader:
    def __init__(
        self,
        session: ReadingSession,
        *,
        protocol: Protocol,
        profile: ReaderProfile,
        images: Mapping[str, _Image],
        clock: _Clock,
        seed: int,
        reader_id: str,
    ) -> None:
        self.session = session
        self.protocol = protocol
        self.profile = profile
        self.images = images
        self.clock = clock
        self.seed = seed
        self.reader_id = reader_id
        self.keys = {f.key for f in protocol.fields}

    # ---- geometry
    def _spacing(self, image: ImageRef, reading_id: str) -> tuple[float, float] | None:
        for calibration in self.session.repository.calibrations(reading_id):
            if calibration.image_code == image.image_code:
                return calibration.spacing_row_mm, calibration.spacing_col_mm
        header = self.images[image.image_code].spacing
        return None if header is None else (header.row_mm, header.col_mm)

    @staticmethod
    def _length_px(
        value_mm: float, direction: tuple[float, float], spacing: tuple[float, float]
    ) -> float:
        dx, dy = direction
        return value_mm / math.hypot(dx * spacing[1], dy * spacing[0])

    # ---- one case
    def read(self, case: Case) -> None:
        rng = _rng("reading", self.seed, self.reader_id, case.case_code)
        session = self.session
        context = session.open_case(case.case_code)
        for annotation in session.repository.annotations(context.reading_id):
            session.delete_annotation(annotation.id)  # an unfinished earlier run: redo it
        for image in sorted(case.images, key=lambda i: (i.timepoint, i.view)):
            self.clock.now += float(rng.uniform(20.0, 60.0))
            self._read_image(rng, image, context.reading_id)
        self._case_fields(rng, case, context.reading_id)
        if "comment" in self.keys and rng.random() < COMMENT_P:
            timepoint = sorted({i.timepoint for i in case.images})[0]
            session.set_score(
                "comment", "simulated reader: collar well seated", timepoint=timepoint
            )
        self.clock.now += float(rng.uniform(5.0, 20.0))
        session.submit()
        session.close_case()

    def _read_image(self, rng: np.random.Generator, image: ImageRef, reading_id: str) -> None:
        session, profile = self.session, self.profile
        latent = self.images[image.image_code]
        if latent.ball is not None and rng.random() < profile.calibrate_probability:
            (cx, cy), radius = latent.ball
            jitter = rng.normal(0.0, 0.25, size=2)
            session.calibrate(
                image.image_code,
                BALL_DIAMETER_MM,
                [[cx - radius + jitter[0], cy], [cx + radius + jitter[1], cy]],
                method="ball",
            )
        elif latent.spacing is None:
            length = 0.5 * latent.cols
            session.calibrate(
                image.image_code,
                length * FALLBACK_PIXEL_MM,
                [[0.25 * latent.cols, 0.1 * latent.rows], [0.75 * latent.cols, 0.1 * latent.rows]],
            )
        spacing = self._spacing(image, reading_id)
        quality_field = self._field("image_quality")
        quality = latent.quality + profile.quality_shift
        if rng.random() < CATEGORY_SLIP_P:
            quality += int(rng.choice([-1, 1]))
        if quality_field is not None and quality_field.choices:
            quality = int(np.clip(quality, 0, len(quality_field.choices) - 1))
            session.set_score(
                "image_quality",
                quality_field.choices[quality],
                timepoint=image.timepoint,
                view=image.view,
            )
        poor = quality >= 2
        for zone in self.protocol.zones_for(image.view):
            self._read_zone(rng, image, zone.key, latent.zones[zone.key], spacing, poor=poor)
        for fld in self.protocol.fields_for(Scope.VIEW):
            if fld.key != "image_quality":
                self._generic(rng, fld, image.timepoint, view=image.view)

    def _field(self, key: str) -> Field | None:
        return self.protocol.field(key) if key in self.keys else None

    def _read_zone(
        self,
        rng: np.random.Generator,
        image: ImageRef,
        zone_key: str,
        zone: _Zone,
        spacing: tuple[float, float] | None,
        *,
        poor: bool,
    ) -> None:
        session, profile, protocol = self.session, self.profile, self.protocol
        tp, code = image.timepoint, image.image_code
        skip = protocol.skip_zone_when
        p_skip = NOT_ASSESSABLE_POOR_P if poor else NOT_ASSESSABLE_P
        if skip is not None and rng.random() < p_skip:
            session.set_score(skip.field, skip.value, timepoint=tp, zone=zone_key)
            return
        if skip is not None:
            skip_field = protocol.field(skip.field)
            other = [c for c in skip_field.choices if c != skip.value]
            value: Any = other[0] if other else (not skip.value)
            session.set_score(skip.field, value, timepoint=tp, zone=zone_key)
        done = {skip.field} if skip is not None else set()
        start, end = zone.interface_px
        jitter = rng.normal(0.0, ENDPOINT_JITTER_PX, size=4)
        p0 = (start[0] + jitter[0], start[1] + jitter[1])
        p1 = (end[0] + jitter[2], end[1] + jitter[3])
        # Bridging: interface line and the bridged part of it, from the bridged end.
        extent = float(
            np.clip(
                zone.bridging_pct
                + profile.bridging_bias_pct
                + rng.normal(0, BRIDGING_NOISE_SD_PCT),
                0.0,
                100.0,
            )
        )
        if any(f.measured_by is ToolKind.BRIDGING for f in protocol.zone_fields):
            session.add_annotation(code, AnnotationKind.INTERFACE_LINE, [p0, p1], zone=zone_key)
            origin, far = (p0, p1) if zone.bridged_from_start else (p1, p0)
            fraction = extent / 100.0
            if fraction > 0.005:
                tip = (
                    origin[0] + fraction * (far[0] - origin[0]),
                    origin[1] + fraction * (far[1] - origin[1]),
                )
                session.add_annotation(
                    code, AnnotationKind.BRIDGED_SEGMENT, [origin, tip], zone=zone_key
                )
            done.add("bridging_extent")
        bridging = self._field("bridging")
        if bridging is not None and bridging.choices == ("none", "partial", "complete"):
            low, high = profile.bridging_cuts_pct
            category = 0 if extent < low else 2 if extent >= high else 1
            if rng.random() < CATEGORY_SLIP_P / 2:
                category = int(np.clip(category + rng.choice([-1, 1]), 0, 2))
            session.set_score("bridging", bridging.choices[category], timepoint=tp, zone=zone_key)
            done.add("bridging")
        # Radiolucent line: seen when the perceived width reaches the reader's threshold.
        perceived = zone.rll_width_mm + profile.rll_bias_mm + rng.normal(0, RLL_DETECTION_SD_MM)
        present = perceived >= profile.rll_threshold_mm
        width = float(
            np.clip(
                zone.rll_width_mm + profile.rll_bias_mm + rng.normal(0, RLL_NOISE_SD_MM), 0.1, 9.9
            )
        )
        if "rll_present" in self.keys:
            caliper = any(f.measured_by is ToolKind.RLL_CALIPER for f in protocol.zone_fields)
            if present and caliper and spacing is not None:
                dx, dy = end[0] - start[0], end[1] - start[1]
                norm = math.hypot(dx, dy) or 1.0
                normal = (dy / norm, -dx / norm)  # into the collar; the gap lies on the − side
                length = self._length_px(width, normal, spacing)
                mid = (0.5 * (p0[0] + p1[0]), 0.5 * (p0[1] + p1[1]))
                points = [mid, (mid[0] - length * normal[0], mid[1] - length * normal[1])]
                session.add_annotation(code, AnnotationKind.RLL, points, zone=zone_key)
                done.update({"rll_present", "rll_width_mm"})
            else:
                session.set_score("rll_present", bool(present), timepoint=tp, zone=zone_key)
                done.add("rll_present")
                if present and "rll_width_mm" in self.keys:
                    session.set_score("rll_width_mm", width, timepoint=tp, zone=zone_key)
                    done.add("rll_width_mm")
        progression = self._field("rll_progression")
        rule_tp = tp if tp in protocol.timepoints else None
        if progression is not None and rule_tp is not None and progression.applies_at(rule_tp):
            if progression.timepoints is not None:
                truth = zone.progression or ("stable" if present else None)
                if truth is not None and truth in progression.choices:
                    if rng.random() < CATEGORY_SLIP_P:
                        truth = str(rng.choice(progression.choices))
                    session.set_score("rll_progression", truth, timepoint=tp, zone=zone_key)
            done.add("rll_progression")
        remodeling = self._field("remodeling")
        if remodeling is not None and zone.remodeling in remodeling.choices:
            value = zone.remodeling
            if rng.random() < CATEGORY_SLIP_P:
                value = str(rng.choice(remodeling.choices))
            session.set_score("remodeling", value, timepoint=tp, zone=zone_key)
            done.add("remodeling")
        if "osteolysis" in self.keys:
            seen = zone.osteolysis != bool(rng.random() < CATEGORY_SLIP_P / 2)
            session.set_score("osteolysis", seen, timepoint=tp, zone=zone_key)
            done.add("osteolysis")
        for fld in protocol.fields_for(Scope.ZONE, timepoint=rule_tp):
            if fld.key not in done:
                self._generic(rng, fld, tp, zone=zone_key)

    def _case_fields(self, rng: np.random.Generator, case: Case, reading_id: str) -> None:
        protocol, session = self.protocol, self.session
        calipers = [f for f in protocol.case_fields if f.measured_by is ToolKind.CORTICAL_CALIPER]
        for image in case.images:
            latent = self.images[image.image_code]
            spacing = self._spacing(image, reading_id)
            for fld in calipers:
                if fld.view not in (None, image.view) or spacing is None:
                    continue
                zone_key = next(
                    (z.key for z in protocol.zones_for(image.view) if z.key in fld.key.split("_")),
                    None,
                )
                zone = latent.zones.get(zone_key) if zone_key else None
                if zone is None:
                    continue
                value = float(
                    np.clip(
                        latent.cortical_mm
                        + self.profile.cortical_bias_mm
                        + rng.normal(0, CORTICAL_NOISE_SD_MM),
                        0.5,
                        29.0,
                    )
                )
                (sx, sy), (ex, ey) = zone.interface_px
                norm = math.hypot(ex - sx, ey - sy) or 1.0
                direction = ((ex - sx) / norm, (ey - sy) / norm)
                length = self._length_px(value, direction, spacing)
                mid = (0.5 * (sx + ex), 0.5 * (sy + ey))
                half = 0.5 * length
                points = [
                    (mid[0] - half * direction[0], mid[1] - half * direction[1]),
                    (mid[0] + half * direction[0], mid[1] + half * direction[1]),
                ]
                session.add_annotation(
                    image.image_code, AnnotationKind.CORTICAL_CALIPER, points, zone=zone_key
                )

    def _generic(
        self,
        rng: np.random.Generator,
        fld: Field,
        timepoint: str,
        *,
        view: str | None = None,
        zone: str | None = None,
    ) -> None:
        """A field the simulator has no model for: a plausible value if it is required."""
        if fld.type in (FieldType.DERIVED, FieldType.TEXT) or fld.measured_by is not None:
            return
        if not fld.required:
            return
        value: Any
        if fld.type is FieldType.CHOICE:
            value = fld.choices[0] if rng.random() < 0.7 else str(rng.choice(fld.choices))
        elif fld.type is FieldType.BOOL:
            value = bool(rng.random() < 0.2)
        else:
            low = fld.minimum if fld.minimum is not None else 0.0
            high = fld.maximum if fld.maximum is not None else low + 10.0
            value = float(rng.uniform(low, high))
        # A field not recorded here (another view or time point) is not missing either.
        with contextlib.suppress(SessionError):
            self.session.set_score(fld.key, value, timepoint=timepoint, view=view, zone=zone)


# ------------------------------------------------------------------------------ the command


def simulate_reads(
    setdir: str | Path,
    *,
    reader_id: str,
    db_path: str | Path,
    seed: int = 0,
    truth: str | Path | None = None,
    key: str | Path | Key | None = None,
    limit: int | None = None,
    progress: ProgressCallback | None = None,
) -> SimulationSummary:
    """Read a reader's whole worklist (repeats included) as a simulated reader.

    Parameters
    ----------
    setdir : the reading set; its integrity is checked first (every file's SHA-256)
    reader_id : the reader whose worklist is read (a reader of the set)
    db_path : the reader database, created when absent (role reader, this reader, the set's
        UUID and protocol); cases already submitted in it are left alone
    seed : makes the reader's tendencies and noise reproducible
    truth, key : the phantom's ``truth.json`` and the set's key file, together: values are
        truth + the reader's bias + noise. Without them, latent values per image.
    limit : read only the first ``limit`` cases of the worklist (a reader half-way through;
        a later run without it reads the rest)
    progress : called as ``progress(done, total)`` after each case

    Returns
    -------
    SimulationSummary

    Raises
    ------
    ReadingSetError
        The set is missing, tampered with (a file's hash differs) or has no worklist for the
        reader; the truth file is not the phantom's or lacks an image of the set.
    KeyFileError
        The key is missing, malformed, of another set, or lacks an image of the set.
    DatabaseError
        The database belongs to another reader, set or protocol, or cannot be opened.
    """
    started = time.perf_counter()
    if (truth is None) != (key is None):
        raise ReadingSetError(
            "simulate-reads: give --truth and --key together (the key maps the set's image "
            "codes to the truth's source paths), or neither."
        )
    reading_set = open_reading_set(setdir, verify=True)
    worklist = reading_set.worklist(reader_id)
    if limit is not None:
        worklist = worklist[: max(0, limit)]
    protocol = reading_set.protocol
    truths = None if truth is None or key is None else _load_truth(truth, key, reading_set)
    database = open_database(
        db_path,
        create=True,
        role="reader",
        reader_id=reader_id,
        set_uuid=reading_set.set_uuid,
        protocol=protocol,
        key_commitment=reading_set.key_commitment,
    )
    try:
        _relax_sync(database)
        clock = _Clock()
        repository = Repository(database)
        images: dict[str, _Image] = {}
        spacings: dict[str, Spacing | None] = {}
        session = ReadingSession(
            repository,
            reading_set,
            protocol,
            reader_id,
            clock=clock,
            spacing_for=spacings.get,
        )
        by_image = {image.image_code: image for image in reading_set.images}
        for case in session.cases:
            for image in case.images:
                if image.image_code in images:
                    continue
                rows, cols, spacing = _read_header(
                    reading_set.image_path(by_image[image.image_code])
                )
                spacings[image.image_code] = spacing
                if truths is not None:
                    images[image.image_code] = _image_from_truth(
                        reading_set.set_uuid, image, protocol, truths[image.image_code], spacing
                    )
                else:
                    images[image.image_code] = _image_from_latent(
                        reading_set.set_uuid,
                        image,
                        protocol=protocol,
                        rows=rows,
                        cols=cols,
                        spacing=spacing,
                    )
        reader = _Reader(
            session,
            protocol=protocol,
            profile=reader_profile(reader_id, seed),
            images=images,
            clock=clock,
            seed=seed,
            reader_id=reader_id,
        )
        by_code = {case.case_code: case for case in session.cases}
        submitted = already = 0
        if progress is not None:
            progress(0, len(worklist))
        for done, entry in enumerate(worklist, start=1):
            reading = repository.reading(repository.reading_uuid(entry.case_code, reader_id))
            if reading is not None and reading.locked:
                already += 1
            else:
                reader.read(by_code[entry.case_code])
                submitted += 1
            if progress is not None:
                progress(done, len(worklist))
        counts = _counts(repository)
    finally:
        database.close()
    return SimulationSummary(
        reader_id=reader_id,
        db_path=Path(db_path),
        set_uuid=reading_set.set_uuid,
        submitted=submitted,
        already_submitted=already,
        annotations=counts["annotations"],
        calibrations=counts["calibrations"],
        scores=counts["scores"],
        with_truth=truths is not None,
        seconds=time.perf_counter() - started,
    )


def _relax_sync(database: Database) -> None:
    """Commit without an fsync per gesture (``synchronous=NORMAL``, still crash-consistent).

    A human reader's gesture must be on disk when the screen shows it (``FULL``); a simulated
    reader that loses its last gestures to a power cut simply runs again, and an fsync per
    command would make it ten times slower.
    """
    if not database.is_sqlite:
        return
    database.engine.dispose()

    def normal(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous = NORMAL")

    event.listen(database.engine, "connect", normal)


def _counts(repository: Repository) -> dict[str, int]:
    result = {}
    with repository.database.read() as connection:
        for name, model in (
            ("annotations", AnnotationRow),
            ("calibrations", CalibrationRow),
            ("scores", ScoreRow),
        ):
            result[name] = int(
                connection.execute(select(func.count()).select_from(model.__table__)).scalar_one()
            )
    return result
