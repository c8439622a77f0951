"""A synthetic study that looks like the real thing, with the truth to check readers against.

:func:`generate_study` writes, for each patient (hip or knee resection prosthesis with a porous
collar, left or right, at one of three sites), AP and lateral DX radiographs at 6 and 12 months,
``manifest.csv`` (the columns of a site's manifest) and ``truth.json``: per image, per collar
zone, the true radiolucent-line width (object-plane mm), the bridging extent (% of the zone's
interface) and the interface segment in pixels, plus calibration (imager spacing,
magnification, calibration ball). The anatomy is drawn by
:mod:`collarreader.study.phantom_anatomy`, the files by :mod:`collarreader.study.phantom_dicom`.

Pixel coordinates in the truth are (x=column, y=row), origin at the centre of the top-left
pixel. Each zone's ``interface_px`` is ordered so that the collar lies on the positive side of
the profile normal of :mod:`collarreader.measure.profile` (left of ``p0 → p1`` on screen) and
the bone on the negative side; the gap runs from offset 0 to ``−rll_width_px``.

Same seed, same study: every image draws from its own random stream, so the pixels and the
truth are identical whatever the number of worker processes.

Modules
-------
:mod:`~collarreader.study.phantom.plan`
    Constants, sites, the plans of patients and images, the summary.
:mod:`~collarreader.study.phantom.sampling`
    Sampling patients and planning their images from the seed.
:mod:`~collarreader.study.phantom.truth`
    The truth written to ``truth.json``.
:mod:`~collarreader.study.phantom.writing`
    :func:`generate_study`, :func:`plan_study`, :func:`write_phantom_image`.
"""

from __future__ import annotations

from collarreader.study.phantom.plan import (
    BALL_DIAMETER_MM,
    FULL_COLS,
    FULL_ROWS,
    MANIFEST_COLUMNS,
    SMALL_FACTOR,
    TIMEPOINTS,
    TRUTH_FORMAT,
    TRUTH_VERSION,
    VIEWS,
    ZONES_BY_VIEW,
    ImagePlan,
    PatientPlan,
    Progression,
    StudySummary,
    ZoneState,
)
from collarreader.study.phantom.writing import generate_study, plan_study, write_phantom_image

__all__ = [
    "BALL_DIAMETER_MM",
    "FULL_COLS",
    "FULL_ROWS",
    "MANIFEST_COLUMNS",
    "SMALL_FACTOR",
    "TIMEPOINTS",
    "TRUTH_FORMAT",
    "TRUTH_VERSION",
    "VIEWS",
    "ZONES_BY_VIEW",
    "ImagePlan",
    "PatientPlan",
    "Progression",
    "StudySummary",
    "ZoneState",
    "generate_study",
    "plan_study",
    "write_phantom_image",
]
