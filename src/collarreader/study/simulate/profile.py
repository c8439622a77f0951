"""A simulated reader's habits (its profile, drawn from its id) and the summary of a run.

Part of :mod:`collarreader.study.simulate` (see its docstring).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
