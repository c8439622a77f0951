"""Commands on the geometry of an image: calibrate, store a registration.

Part of :mod:`collarreader.session` (see its docstring for the rules).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from collarreader import __version__
from collarreader.db.repository import Repository
from collarreader.db.transaction import Transaction
from collarreader.errors import SessionError
from collarreader.measure.geometry import calibrated_spacing_mm, polyline_length_px
from collarreader.model import AnnotationKind, CalibrationMethod
from collarreader.session.command import Command
from collarreader.session.context import ReadingContext
from collarreader.session.measured_fields import refresh_measured
from collarreader.session.measurement import _check_points, _measurement


class Calibrate(Command):
    """Calibrate an image from a drawn known size; every mm value of the image follows.

    With a header spacing ``(row_mm, col_mm)`` the calibration scales it by
    ``known_size_mm / header length of the line`` (keeping its aspect ratio); without one the
    spacing is isotropic, ``known_size_mm / pixel length``. A recalibration replaces the
    image's calibration in this reading (the audit keeps the old one; revert restores it).

    Parameters
    ----------
    context : the reading
    image_code : the image calibrated
    known_size_mm : the true size of the drawn object
    points_px : the two ends of the known size, pixel (x=column, y=row)
    method : ``line`` (a drawn known length), ``ball`` (a line across the ball by hand),
        ``ball_fit`` (a circle fitted to the ball's edge) or ``snapped_caliper`` (a caliper
        snapped to a collar's or stem's edges)
    fit : the fit behind ``ball_fit`` / ``snapped_caliper`` (JSON-able), stored with it
    residual_px : the fit's RMS residual, px
    """

    text = "calibrate"

    def __init__(
        self,
        context: ReadingContext,
        image_code: str,
        known_size_mm: float,
        points_px: Sequence[Sequence[float]],
        method: str = "line",
        *,
        fit: Mapping[str, Any] | None = None,
        residual_px: float | None = None,
    ) -> None:
        super().__init__(context)
        self.image = context.image(image_code)
        allowed = [str(m) for m in CalibrationMethod if m is not CalibrationMethod.HEADER]
        if method not in allowed:
            message = f"Calibration method {method!r}: choose one of {', '.join(allowed)}."
            raise SessionError(message)
        self.method = method
        self.fit = None if fit is None else dict(fit)
        self.residual_px = None if residual_px is None else float(residual_px)
        if not (known_size_mm > 0 and known_size_mm < 1000):
            message = f"The known size must be a positive length in mm, not {known_size_mm}."
            raise SessionError(message)
        self.known_size_mm = float(known_size_mm)
        self.points_px = _check_points(AnnotationKind.CORTICAL_CALIPER, points_px)  # two points
        self.length_px = polyline_length_px(self.points_px)
        if self.length_px < 1.0:
            message = "The calibration line is shorter than one pixel; draw it across the object."
            raise SessionError(message)

    def _spacing(self) -> tuple[float, float]:
        header = self.context.spacing_for(self.image.image_code)
        return calibrated_spacing_mm(
            self.points_px,
            self.known_size_mm,
            None if header is None else (float(header.row_mm), float(header.col_mm)),
        )

    def _do(self, tx: Transaction, repository: Repository) -> None:
        image_id = repository.image_id(self.image.image_code)
        row_mm, col_mm = self._spacing()
        values = {
            "method": self.method,
            "known_size_mm": self.known_size_mm,
            "length_px": self.length_px,
            "spacing_row_mm": row_mm,
            "spacing_col_mm": col_mm,
            "source": "manual",
            "points_px": self.points_px,
            "created_at": tx.at,
            "fit": self.fit,
            "residual_px": self.residual_px,
        }
        existing = tx.rows("calibrations", reading_id=self.context.reading_id, image_id=image_id)
        if existing:
            tx.update("calibrations", existing[0]["id"], values, before=existing[0])
        else:
            tx.insert(
                "calibrations",
                {
                    "id": str(uuid.uuid4()),
                    "reading_id": self.context.reading_id,
                    "image_id": image_id,
                    **values,
                },
            )
        for annotation in tx.rows(
            "annotations", reading_id=self.context.reading_id, image_id=image_id
        ):
            changes = _measurement(
                tx,
                self.context,
                image_id,
                self.image.image_code,
                annotation["points_px"],
                kind=annotation["kind"],
            )
            tx.update("annotations", annotation["id"], changes, before=annotation)
        refresh_measured(tx, self.context, repository)


class StoreRegistration(Command):
    """Store the registration of a later film onto an earlier film of the case, once.

    Derived data, not a judgement: it is written on a submitted reading too (a later look must
    be the same as the first) and is never replaced — when the pair already has a stored
    transform, applying changes nothing, so every look uses the first stored one.

    Parameters
    ----------
    context : the reading
    fixed_image_code, moving_image_code : the earlier and the later film of one view
    matrix : (2, 3), a moving pixel (x, y, 1) → the fixed pixel (x, y)
    residual, overlap : the registration's quality figures
    method : how the transform was computed
    """

    text = "store registration"
    edits_reading = False

    def __init__(
        self,
        context: ReadingContext,
        fixed_image_code: str,
        moving_image_code: str,
        matrix: Sequence[Sequence[float]],
        *,
        residual: float,
        overlap: float,
        method: str,
    ) -> None:
        super().__init__(context)
        fixed, moving = context.image(fixed_image_code), context.image(moving_image_code)
        if fixed.view != moving.view or fixed.image_code == moving.image_code:
            message = (
                f"Case {context.case.case_code}: a registration pairs two films of one view, "
                f"not {fixed.image_code} ({fixed.view}) and {moving.image_code} ({moving.view})."
            )
            raise SessionError(message)
        rows = [[float(value) for value in row] for row in matrix]
        if len(rows) != 2 or any(len(row) != 3 for row in rows):
            message = "A registration matrix has 2 rows of 3 numbers (x' and y' of (x, y, 1))."
            raise SessionError(message)
        if not all(math.isfinite(value) for row in rows for value in row):
            message = "A registration matrix must hold finite numbers."
            raise SessionError(message)
        self.fixed, self.moving, self.matrix = fixed, moving, rows
        self.residual, self.overlap, self.method = float(residual), float(overlap), method

    def _do(self, tx: Transaction, repository: Repository) -> None:
        fixed_id = repository.image_id(self.fixed.image_code)
        moving_id = repository.image_id(self.moving.image_code)
        if tx.rows(
            "registrations",
            reading_id=self.context.reading_id,
            fixed_image_id=fixed_id,
            moving_image_id=moving_id,
        ):
            return
        tx.insert(
            "registrations",
            {
                "id": str(uuid.uuid4()),
                "reading_id": self.context.reading_id,
                "fixed_image_id": fixed_id,
                "moving_image_id": moving_id,
                "matrix": self.matrix,
                "residual": self.residual,
                "overlap": self.overlap,
                "method": self.method,
                "software_version": __version__,
                "created_at": tx.at,
            },
        )
