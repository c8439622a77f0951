"""Columns and result types of the agreement tables (see :mod:`collarreader.analysis.tables`)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field

import pandas as pd  # type: ignore[import-untyped]

AGREEMENT_COLUMNS: tuple[str, ...] = (
    "analysis",
    "field",
    "label",
    "level",
    "view",
    "zone",
    "timepoint",
    "readers",
    "method",
    "definition",
    "role",
    "n",
    "value",
    "ci_low",
    "ci_high",
    "band",
    "band_scale",
    "band_score",
    "note",
)
"""Columns of :attr:`AgreementResult.inter` and :attr:`AgreementResult.intra`.

``definition`` names the statistic in full (for the ICC: model, type, definition, McGraw &
Wong's and Shrout & Fleiss's names and the software that computed it). ``role`` is
``headline`` (the statistic the report bands the field by: ICC, Cohen's/Fleiss'
kappa, weighted kappa or the mean pairwise weighted kappa), ``secondary`` (Krippendorff's
alpha) or ``pairwise`` (one reader pair's weighted kappa when there are more than two).
``band_score`` is the band's rank scaled to 0 (worst band) … 1 (best), so scales with different
numbers of bands sort together; NaN without a value.
"""

BLAND_ALTMAN_COLUMNS: tuple[str, ...] = (
    "analysis",
    "field",
    "label",
    "unit",
    "view",
    "zone",
    "timepoint",
    "reader_a",
    "reader_b",
    "n",
    "bias",
    "bias_ci_low",
    "bias_ci_high",
    "sd",
    "loa_low",
    "loa_low_ci_low",
    "loa_low_ci_high",
    "loa_high",
    "loa_high_ci_low",
    "loa_high_ci_high",
    "sdd",
    "loa_low_approx_ci_low",
    "loa_low_approx_ci_high",
    "loa_high_approx_ci_low",
    "loa_high_approx_ci_high",
    "slope",
    "slope_ci_low",
    "slope_ci_high",
    "slope_p",
    "proportional_bias",
    "reg_intercept",
    "reg_abs_intercept",
    "reg_abs_slope",
    "note",
)
"""Columns of :attr:`AgreementResult.bland_altman`; differences are ``reader_a − reader_b``
(inter) or primary − repeat of one reader (intra, ``reader_a == reader_b``).

``loa_*_ci_*`` are the exact intervals of the limits (Carkeet 2015), ``loa_*_approx_ci_*``
Bland & Altman's approximate ones; ``slope`` … ``reg_abs_slope`` the proportional-bias test
(differences regressed on means: ``difference = reg_intercept + slope · mean``) and the
regression-based limits (Bland & Altman 1999 §3.2), see
:class:`~collarreader.analysis.agreement.ProportionalBias`."""

MEASUREMENT_ERROR_COLUMNS: tuple[str, ...] = (
    "analysis",
    "field",
    "label",
    "unit",
    "view",
    "zone",
    "timepoint",
    "readers",
    "n",
    "k",
    "sem",
    "sem_consistency",
    "mdc95",
    "icc",
    "icc_ci_width",
    "note",
)
"""Columns of :attr:`AgreementResult.measurement_error`: per continuous field, zone and time
point, SEM (agreement), SEM (consistency) and MDC95 in ``unit``, inter-observer (``readers``
all) or intra-observer (one reader, primary vs repeat), beside the ICC and the width its 95 %
interval achieved with this study's ``n`` (see
:mod:`collarreader.analysis.agreement.measurement_error`)."""

DISAGREEMENT_COLUMNS: tuple[str, ...] = (
    "case_code",
    "field",
    "label",
    "level",
    "view",
    "zone",
    "timepoint",
    "n_readers",
    "spread",
    "unit",
    "n_distinct",
    "fraction_disagreeing",
    "score",
    "values",
    "consensus",
)
"""Columns of :attr:`AgreementResult.disagreements` (see :func:`agreement_tables`);
``consensus`` is the adjudicated value (reader :data:`CONSENSUS_READER`) when one exists."""

#: Reader identity of an adjudicated consensus reading: carried in exports, never a rater.
CONSENSUS_READER = "consensus"

_POINT_COLUMNS = (
    "analysis",
    "field",
    "view",
    "zone",
    "timepoint",
    "reader_a",
    "reader_b",
    "mean",
    "difference",
)

INTER = "inter"
INTRA = "intra"
#: Resamples for the intra-observer alpha interval (see ``agreement_tables``): none by default.
DEFAULT_N_BOOT_INTRA = 0


@dataclass(frozen=True)
class StudyCounts:
    """What was analysed.

    Attributes
    ----------
    readers : reader IDs with at least one submitted reading, sorted
    n_cases : distinct primary case codes with a submitted reading
    n_primary_readings : submitted (reader, primary case) readings
    n_repeat_readings : submitted (reader, repeat case) readings
    n_repeat_pairs : repeat readings whose primary reading by the same reader is submitted too
    n_unsubmitted : readings left out because they were not submitted
    timepoints : time point labels found, in the protocol's order (others after, sorted)
    """

    readers: tuple[str, ...]
    n_cases: int
    n_primary_readings: int
    n_repeat_readings: int
    n_repeat_pairs: int
    n_unsubmitted: int
    timepoints: tuple[str, ...]


@dataclass(frozen=True)
class AgreementResult:
    """Every agreement table of a study, ready for the report (``write_report``).

    Attributes
    ----------
    protocol_name, protocol_version, protocol_sha256 : the protocol analysed against
    counts : what was analysed (:class:`StudyCounts`)
    inter : inter-observer rows (:data:`AGREEMENT_COLUMNS`), worst first
    intra : intra-observer rows, one set per reader, worst first
    bland_altman : Bland–Altman rows (:data:`BLAND_ALTMAN_COLUMNS`) for continuous fields
    disagreements : the adjudication candidates (:data:`DISAGREEMENT_COLUMNS`), largest
        spread first
    measurement_error : SEM and MDC95 rows (:data:`MEASUREMENT_ERROR_COLUMNS`)
    points : the Bland–Altman points (analysis, field, view, zone, timepoint, reader_a,
        reader_b, mean, difference) for plotting
    n_boot : bootstrap resamples of the inter-observer Fleiss' kappa and alpha intervals
    n_boot_intra : bootstrap resamples of the intra-observer alpha intervals
    """

    protocol_name: str
    protocol_version: str
    protocol_sha256: str
    counts: StudyCounts
    inter: pd.DataFrame
    intra: pd.DataFrame
    bland_altman: pd.DataFrame
    disagreements: pd.DataFrame
    points: pd.DataFrame
    n_boot: int
    n_boot_intra: int
    measurement_error: pd.DataFrame = dataclass_field(
        default_factory=lambda: pd.DataFrame(columns=list(MEASUREMENT_ERROR_COLUMNS))
    )
