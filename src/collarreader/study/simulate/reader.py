"""The simulated reader: it reads a case through the same session commands a person uses.

Part of :mod:`collarreader.study.simulate` (see its docstring).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from collarreader.errors import KeyFileError, ReadingSetError, SessionError
from collarreader.imaging import Spacing, spacing_from_dataset
from collarreader.model import AnnotationKind, Case, ImageRef
from collarreader.protocol import Field, FieldType, Protocol, Scope, ToolKind
from collarreader.session import ReadingSession
from collarreader.study.keycheck import load_key_for_set
from collarreader.study.keyfile import Key, check_key
from collarreader.study.readingset import ReadingSet
from collarreader.study.simulate.latent import _Image, _Zone
from collarreader.study.simulate.profile import (
    BALL_DIAMETER_MM,
    BRIDGING_NOISE_SD_PCT,
    CATEGORY_SLIP_P,
    COMMENT_P,
    CORTICAL_NOISE_SD_MM,
    ENDPOINT_JITTER_PX,
    FALLBACK_PIXEL_MM,
    NOT_ASSESSABLE_P,
    NOT_ASSESSABLE_POOR_P,
    RLL_DETECTION_SD_MM,
    RLL_NOISE_SD_MM,
    TRUTH_FORMAT,
    ReaderProfile,
    _rng,
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
