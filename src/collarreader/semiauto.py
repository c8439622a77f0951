"""Semi-automatic measurement for the reader: what the image measures, in the session's terms.

Glue between :mod:`collarreader.measure` (algorithms on pixels) and the session's commands:
a calibration fitted to a ball or snapped to a collar becomes a :class:`FittedCalibration`
(what :class:`~collarreader.session.Calibrate` stores), an RLL width measured from profiles a
:class:`~collarreader.session.MeasureDetail`. The measurement modules are imported on first
use: they need SciPy's optimiser, which the reader should not wait for at launch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from collarreader.session import MeasureDetail

__all__ = ["FittedCalibration", "PixelsOf", "calibration_fitter", "rll_detail"]


@dataclass(frozen=True)
class FittedCalibration:
    """A calibration the image measured: a ball's circle or a caliper snapped to metal edges.

    Attributes
    ----------
    method : ``ball_fit`` or ``snapped_caliper``
    points_px : the known size's two ends, pixel (x, y)
    fit : what was fitted (JSON-able), stored with the calibration
    residual_px : the fit's residual, px
    circle_px : ``(x, y, radius)`` of a fitted ball, drawn while the reader confirms
    """

    method: str
    points_px: list[list[float]]
    fit: dict[str, Any]
    residual_px: float | None
    circle_px: tuple[float, float, float] | None = None


PixelsOf = Callable[[str], "tuple[npt.ArrayLike, bool] | None"]
"""Image code → its pixels and whether they are MONOCHROME1 (None when not loaded)."""


def calibration_fitter(
    pixels_of: PixelsOf,
) -> Callable[[str, Sequence[Sequence[float]]], FittedCalibration | None]:
    """A :data:`collarreader.tools.FitCalibration` on the images ``pixels_of`` gives.

    One point: :func:`collarreader.measure.calibration.fit_ball` around the click (its
    :class:`~collarreader.errors.MeasurementError` says why there is no ball). Two points: the
    drawn line snapped to the metal edges by
    :func:`~collarreader.measure.calibration.snap_caliper`; where no edges are found the
    line stands as drawn (None).
    """

    def fit(image_code: str, points_px: Sequence[Sequence[float]]) -> FittedCalibration | None:
        from collarreader.errors import MeasurementError
        from collarreader.measure.calibration import fit_ball, snap_caliper

        loaded = pixels_of(image_code)
        if loaded is None:
            return None
        pixels, invert = loaded
        if len(points_px) == 1:
            ball = fit_ball(pixels, points_px[0], invert=invert)
            return FittedCalibration(
                method="ball_fit",
                points_px=ball.caliper_px(),
                fit={
                    "centre_px": list(ball.centre_px),
                    "diameter_px": ball.diameter_px,
                    "blur_px": ball.blur_px,
                    "sectors_used": ball.sectors_used,
                    "ellipticity": ball.ellipticity,
                },
                residual_px=ball.residual_px,
                circle_px=(*ball.centre_px, ball.radius_px),
            )
        try:
            snapped = snap_caliper(pixels, points_px[0], points_px[-1], invert=invert)
        except MeasurementError:
            return None
        ends = [list(p) for p in snapped.points_px]
        return FittedCalibration(
            method="snapped_caliper",
            points_px=ends,
            fit={
                "drawn_px": [list(map(float, p)) for p in (points_px[0], points_px[-1])],
                "length_px": snapped.length_px,
                "blur_px": snapped.blur_px,
                "profile_residual": snapped.residual,
            },
            residual_px=None,
        )

    return fit


def rll_detail(result: Any) -> MeasureDetail:
    """What to store with an RLL caliper placed by :func:`collarreader.measure.rll.measure_rll`.

    The profile is kept in mm when the measurement had a spacing (px otherwise), oriented as
    measured: metal at negative offsets, the band from 0 to the width.
    """
    scale = (
        result.width_mm / result.width_px
        if result.width_mm is not None and result.width_px
        else 1.0
    )
    unit = "mm" if result.width_mm is not None else "px"
    profile = {
        "unit": unit,
        "offsets": [round(float(v) * scale, 4) for v in result.offsets_px],
        "values": [round(float(v), 3) for v in result.profile],
        "model": [round(float(v), 3) for v in result.model],
        "width": float(result.width_px) * scale,
    }
    return MeasureDetail(result.method, result.uncertainty_mm, profile)
