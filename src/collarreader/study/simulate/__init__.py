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

Modules
-------
:mod:`~collarreader.study.simulate.profile`
    The tuning constants, a reader's profile, the summary of a run.
:mod:`~collarreader.study.simulate.latent`
    Latent images: from the phantom's truth, or drawn for a real set.
:mod:`~collarreader.study.simulate.reader`
    The simulated reader, driving the session's commands.
:mod:`~collarreader.study.simulate.command`
    :func:`simulate_reads`, the command.
"""

from __future__ import annotations

from collarreader.study.simulate.command import simulate_reads
from collarreader.study.simulate.profile import (
    BALL_DIAMETER_MM,
    BRIDGING_BIAS_SD_PCT,
    BRIDGING_NOISE_SD_PCT,
    CALIBRATE_ON_BALL_P,
    CATEGORY_SLIP_P,
    COMMENT_P,
    CORTICAL_BIAS_SD_MM,
    CORTICAL_NOISE_SD_MM,
    ENDPOINT_JITTER_PX,
    FALLBACK_PIXEL_MM,
    NOT_ASSESSABLE_P,
    NOT_ASSESSABLE_POOR_P,
    RLL_BIAS_SD_MM,
    RLL_DETECTION_SD_MM,
    RLL_NOISE_SD_MM,
    TRUTH_FORMAT,
    ReaderProfile,
    SimulationSummary,
    reader_profile,
)

__all__ = [
    "BALL_DIAMETER_MM",
    "BRIDGING_BIAS_SD_PCT",
    "BRIDGING_NOISE_SD_PCT",
    "CALIBRATE_ON_BALL_P",
    "CATEGORY_SLIP_P",
    "COMMENT_P",
    "CORTICAL_BIAS_SD_MM",
    "CORTICAL_NOISE_SD_MM",
    "ENDPOINT_JITTER_PX",
    "FALLBACK_PIXEL_MM",
    "NOT_ASSESSABLE_P",
    "NOT_ASSESSABLE_POOR_P",
    "RLL_BIAS_SD_MM",
    "RLL_DETECTION_SD_MM",
    "RLL_NOISE_SD_MM",
    "TRUTH_FORMAT",
    "ReaderProfile",
    "SimulationSummary",
    "reader_profile",
    "simulate_reads",
]
