"""Agreement tables for every protocol field, zone and time point, from a tidy long table.

:func:`agreement_tables` is the study lead's whole agreement analysis (DESIGN §8):

- **inter-observer** agreement on primary reads of submitted readings (an unsubmitted reading
  may be half done, so it is left out and counted in :attr:`StudyCounts.n_unsubmitted`);
- **intra-observer** agreement per reader between the primary read and the repeat read of the
  same case (a repeat row names its primary case in ``repeat_of``; views, zones and time point
  labels match because a repeat shows the same images).

The method follows the field's level:

=========== ================================================================================
continuous  ICC(A,1) with its 95 % CI (headline) + Bland–Altman for every reader pair (inter)
            or primary − repeat (intra): bias, limits of agreement, their CIs, smallest
            detectable difference
ordinal     quadratic-weighted Cohen's kappa (2 readers; for more, every pair plus their mean
            as the headline) + Krippendorff's ordinal alpha
nominal     Cohen's kappa (2 readers) or Fleiss' kappa (more; cases read by every reader) +
            Krippendorff's nominal alpha
text        not analysed
=========== ================================================================================

Values come from :mod:`collarreader.analysis.tidy`: the protocol's rules are applied first (a
zone that is not assessable has no other values; no radiolucent line means 0 mm; ``rll_grade``
is recomputed from the width and analysed as ordinal). Missing reads are NaN: Krippendorff's
alpha uses every pairable value, ICC and kappa use the cases every reader involved scored and
report that ``n``. A statistic that cannot be computed (one reader, too few cases, every value
identical) gives a row with an empty value and a note saying why, never an exception.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from collarreader.analysis import agreement
from collarreader.analysis.bands import Band, alpha_band, icc_band, kappa_band
from collarreader.analysis.tidy import (
    analysed_fields,
    apply_protocol_rules,
    entry_codes,
    format_code,
    validate_tidy,
)
from collarreader.errors import AnalysisError
from collarreader.protocol import Field, FieldType, Level, Protocol, Scope

__all__ = [
    "AGREEMENT_COLUMNS",
    "BLAND_ALTMAN_COLUMNS",
    "CONSENSUS_READER",
    "DISAGREEMENT_COLUMNS",
    "MEASUREMENT_ERROR_COLUMNS",
    "AgreementResult",
    "StudyCounts",
    "agreement_tables",
]

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


# ---------------------------------------------------------------- rows


def _band(value: float | None, band: Callable[[float], Band] | None) -> tuple[str, str, float]:
    if value is None or band is None or not math.isfinite(value):
        return "", "", math.nan
    result = band(value)
    return result.label, str(result.scale), result.rank / max(result.n_bands - 1, 1)


@dataclass(frozen=True)
class _Where:
    """The field and group a row is about."""

    fld: Field
    view: str
    zone: str
    timepoint: str


class _Rows:
    """Collects rows of one table."""

    def __init__(self, analysis: str) -> None:
        self.analysis = analysis
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        where: _Where,
        *,
        readers: str,
        method: str,
        role: str,
        n: int,
        value: float | None,
        ci: tuple[float, float] | None,
        band: Callable[[float], Band] | None,
        note: str,
    ) -> None:
        label, scale, score = _band(value, band)
        self.rows.append(
            {
                "analysis": self.analysis,
                "field": where.fld.key,
                "label": where.fld.label,
                "level": str(where.fld.level),
                "view": where.view,
                "zone": where.zone,
                "timepoint": where.timepoint,
                "readers": readers,
                "method": method,
                "definition": _definition(method),
                "role": role,
                "n": int(n),
                "value": math.nan if value is None else float(value),
                "ci_low": math.nan if ci is None else float(ci[0]),
                "ci_high": math.nan if ci is None else float(ci[1]),
                "band": label,
                "band_scale": scale,
                "band_score": score,
                "note": note,
            }
        )

    def failed(
        self, where: _Where, *, readers: str, method: str, role: str, n: int, note: str
    ) -> None:
        self.add(
            where,
            readers=readers,
            method=method,
            role=role,
            n=n,
            value=None,
            ci=None,
            band=None,
            note=note,
        )

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(AGREEMENT_COLUMNS))


def _join(*notes: str) -> str:
    return " ".join(note for note in notes if note)


def _dropped_note(n_dropped: int, what: str) -> str:
    if n_dropped <= 0:
        return ""
    noun = what if n_dropped != 1 else what.removesuffix("s")
    return f"{n_dropped} {noun} without a value from every reader left out."


def _categories(fld: Field) -> list[float]:
    n_categories = 2 if fld.type is FieldType.BOOL else len(fld.choices)
    return [float(code) for code in range(n_categories)]


def _kappa_method(fld: Field, *, weighted: bool) -> str:
    return "weighted kappa (quadratic)" if weighted else "Cohen's kappa"


def _definition(method: str) -> str:
    """What a methods section says about ``method`` (the table's short name)."""
    if method.startswith("ICC("):
        form = method.removeprefix("ICC(").removesuffix(")")
        return f"{agreement.icc_name(form)}; {agreement.icc_software()}"
    return _DEFINITIONS.get(method, "")


_DEFINITIONS = {
    "Cohen's kappa": "Cohen (1960), unweighted; statsmodels' formulas and variance",
    "weighted kappa (quadratic)": (
        "Cohen (1968) weighted kappa, quadratic (Fleiss–Cohen) weights; statsmodels' formulas"
    ),
    "mean pairwise weighted kappa (quadratic)": (
        "mean of Cohen's (1968) quadratic-weighted kappas over reader pairs (Light 1971)"
    ),
    "Fleiss' kappa": "Fleiss (1971); seeded percentile bootstrap interval over cases",
    "Krippendorff's alpha (ordinal)": (
        "Krippendorff (2011), ordinal metric; krippendorff package, bootstrap interval"
    ),
    "Krippendorff's alpha (nominal)": (
        "Krippendorff (2011), nominal metric; krippendorff package, bootstrap interval"
    ),
}


def _reader_text(readers: Sequence[str]) -> str:
    return " – ".join(readers) if len(readers) == 2 else f"all ({len(readers)})"


# ---------------------------------------------------------------- statistics per group


class _Analyser:
    """Computes rows for one table; keeps the per-group code short."""

    def __init__(self, n_boot: int, n_boot_intra: int) -> None:
        self.n_boot = n_boot
        self.n_boot_intra = n_boot_intra
        self.inter = _Rows(INTER)
        self.intra = _Rows(INTRA)
        self.bland_altman: list[dict[str, Any]] = []
        self.measurement_error: list[dict[str, Any]] = []
        # Bland–Altman points per call: the labels and the two arrays, framed once at the end.
        self.points: list[tuple[tuple[str, ...], np.ndarray, np.ndarray]] = []

    # ---- continuous
    def icc(self, rows: _Rows, where: _Where, matrix: np.ndarray, readers: str) -> None:
        method = "ICC(A,1)"
        try:
            result = agreement.icc(matrix, form="A,1")
        except AnalysisError as error:
            n_complete = int((~np.isnan(matrix).any(axis=1)).sum())
            rows.failed(
                where,
                readers=readers,
                method=method,
                role="headline",
                n=n_complete,
                note=str(error),
            )
            return
        rows.add(
            where,
            readers=readers,
            method=method,
            role="headline",
            n=result.n,
            value=result.value,
            ci=result.ci,
            band=icc_band,
            note=_join(result.note, _dropped_note(result.n_dropped, "cases")),
        )
        self.sem(rows.analysis, where, matrix, readers, result)

    def sem(
        self,
        analysis: str,
        where: _Where,
        matrix: np.ndarray,
        readers: str,
        icc_result: agreement.IccResult,
    ) -> None:
        row: dict[str, Any] = {
            "analysis": analysis,
            "field": where.fld.key,
            "label": where.fld.label,
            "unit": where.fld.unit or "",
            "view": where.view,
            "zone": where.zone,
            "timepoint": where.timepoint,
            "readers": readers,
            "icc": math.nan if icc_result.value is None else icc_result.value,
            "icc_ci_width": (
                math.nan if icc_result.ci is None else icc_result.ci[1] - icc_result.ci[0]
            ),
        }
        try:
            error = agreement.measurement_error(matrix)
        except AnalysisError as failure:
            row.update(n=icc_result.n, k=icc_result.k, note=str(failure))
        else:
            row.update(
                n=error.n,
                k=error.k,
                sem=error.sem,
                sem_consistency=error.sem_consistency,
                mdc95=error.mdc95,
                note=_dropped_note(error.n_dropped, "cases"),
            )
        self.measurement_error.append(row)

    def ba(
        self,
        analysis: str,
        *,
        where: _Where,
        first: np.ndarray,
        second: np.ndarray,
        reader_a: str,
        reader_b: str,
    ) -> None:
        row: dict[str, Any] = {
            "analysis": analysis,
            "field": where.fld.key,
            "label": where.fld.label,
            "unit": where.fld.unit or "",
            "view": where.view,
            "zone": where.zone,
            "timepoint": where.timepoint,
            "reader_a": reader_a,
            "reader_b": reader_b,
        }
        try:
            result = agreement.bland_altman(first, second)
        except AnalysisError as error:
            row.update(n=int((~(np.isnan(first) | np.isnan(second))).sum()), note=str(error))
            self.bland_altman.append(row)
            return
        row.update(
            n=result.n,
            bias=result.bias,
            bias_ci_low=result.bias_ci[0],
            bias_ci_high=result.bias_ci[1],
            sd=result.sd,
            loa_low=result.lower,
            loa_low_ci_low=result.lower_ci[0],
            loa_low_ci_high=result.lower_ci[1],
            loa_high=result.upper,
            loa_high_ci_low=result.upper_ci[0],
            loa_high_ci_high=result.upper_ci[1],
            sdd=result.sdd,
            loa_low_approx_ci_low=result.lower_ci_approx[0],
            loa_low_approx_ci_high=result.lower_ci_approx[1],
            loa_high_approx_ci_low=result.upper_ci_approx[0],
            loa_high_approx_ci_high=result.upper_ci_approx[1],
            note=_dropped_note(result.n_dropped, "pairs").replace(
                "without a value from every reader", "with a missing value"
            ),
        )
        bias = result.proportional
        if bias is not None:
            row.update(
                slope=bias.slope,
                slope_ci_low=bias.slope_ci[0],
                slope_ci_high=bias.slope_ci[1],
                slope_p=bias.p_value,
                proportional_bias=bias.detected,
                reg_intercept=bias.intercept,
                reg_abs_intercept=bias.abs_intercept,
                reg_abs_slope=bias.abs_slope,
            )
        self.bland_altman.append(row)
        labels = (analysis, where.fld.key, where.view, where.zone, where.timepoint)
        self.points.append(
            ((*labels, reader_a, reader_b), np.asarray(result.means), result.differences)
        )

    def points_frame(self) -> pd.DataFrame:
        """Every Bland–Altman point, one row each (:data:`_POINT_COLUMNS`)."""
        if not self.points:
            return pd.DataFrame(columns=list(_POINT_COLUMNS))
        sizes = [len(means) for _, means, _ in self.points]
        columns: dict[str, np.ndarray] = {}
        for position, name in enumerate(_POINT_COLUMNS[:7]):
            labels = np.array([labels[position] for labels, _, _ in self.points], dtype=object)
            columns[name] = np.repeat(labels, sizes)
        columns["mean"] = np.concatenate([means for _, means, _ in self.points])
        columns["difference"] = np.concatenate([diffs for _, _, diffs in self.points])
        return pd.DataFrame(columns)

    # ---- categorical
    def kappa(
        self,
        rows: _Rows,
        where: _Where,
        first: np.ndarray,
        second: np.ndarray,
        readers: str,
        *,
        weighted: bool,
        role: str,
    ) -> agreement.KappaResult | None:
        method = _kappa_method(where.fld, weighted=weighted)
        try:
            result = agreement.cohen_kappa(
                first,
                second,
                weights="quadratic" if weighted else None,
                categories=_categories(where.fld),
            )
        except AnalysisError as error:
            rows.failed(where, readers=readers, method=method, role=role, n=0, note=str(error))
            return None
        rows.add(
            where,
            readers=readers,
            method=method,
            role=role,
            n=result.n,
            value=result.value,
            ci=result.ci,
            band=kappa_band,
            note=_join(result.note, _dropped_note(result.n_dropped, "cases")),
        )
        return result

    def fleiss(self, rows: _Rows, where: _Where, matrix: np.ndarray, readers: str) -> None:
        method = "Fleiss' kappa"
        complete = ~np.isnan(matrix).any(axis=1)
        used = matrix[complete]
        n_dropped = int((~complete).sum())
        categories = np.asarray(_categories(where.fld))
        counts = (used[:, :, None] == categories[None, None, :]).sum(axis=1)
        try:
            result = agreement.fleiss_kappa(counts, n_boot=self.n_boot)
        except AnalysisError as error:
            rows.failed(
                where,
                readers=readers,
                method=method,
                role="headline",
                n=int(complete.sum()),
                note=_join(str(error), _dropped_note(n_dropped, "cases")),
            )
            return
        rows.add(
            where,
            readers=readers,
            method=method,
            role="headline",
            n=result.n,
            value=result.value,
            ci=result.ci,
            band=kappa_band,
            note=_join(result.note, _dropped_note(n_dropped, "cases")),
        )

    def alpha(self, rows: _Rows, where: _Where, matrix: np.ndarray, readers: str) -> None:
        level = "ordinal" if where.fld.level is Level.ORDINAL else "nominal"
        method = f"Krippendorff's alpha ({level})"
        try:
            result = agreement.krippendorff_alpha(
                matrix.T,
                level=level,
                categories=_categories(where.fld),
                n_boot=self.n_boot if rows is self.inter else self.n_boot_intra,
            )
        except AnalysisError as error:
            rows.failed(
                where, readers=readers, method=method, role="secondary", n=0, note=str(error)
            )
            return
        rows.add(
            where,
            readers=readers,
            method=method,
            role="secondary",
            n=result.n_units,
            value=result.value,
            ci=result.ci,
            band=alpha_band,
            note=result.note,
        )

    # ---- one group
    def inter_group(self, where: _Where, matrix: np.ndarray, readers: list[str]) -> None:
        """Inter-observer rows for one field/zone/time point (matrix: cases × readers)."""
        rows = self.inter
        level = where.fld.level
        headline_method = {
            Level.CONTINUOUS: "ICC(A,1)",
            Level.ORDINAL: "weighted kappa (quadratic)",
            Level.NOMINAL: "Cohen's kappa" if len(readers) <= 2 else "Fleiss' kappa",
        }[level]
        if len(readers) < 2:
            rows.failed(
                where,
                readers=", ".join(readers) or "none",
                method=headline_method,
                role="headline",
                n=int((~np.isnan(matrix)).any(axis=1).sum()) if matrix.size else 0,
                note=(
                    "Inter-observer agreement needs ≥ 2 readers; "
                    f"{len(readers)} scored this field here."
                ),
            )
            return
        label = _reader_text(readers)
        if level is Level.CONTINUOUS:
            self.icc(rows, where, matrix, label)
            for (i, a), (j, b) in itertools.combinations(enumerate(readers), 2):
                self.ba(
                    INTER,
                    where=where,
                    first=matrix[:, i],
                    second=matrix[:, j],
                    reader_a=a,
                    reader_b=b,
                )
            return
        if level is Level.ORDINAL:
            if len(readers) == 2:
                self.kappa(
                    rows, where, matrix[:, 0], matrix[:, 1], label, weighted=True, role="headline"
                )
            else:
                self.mean_pairwise(where, matrix, readers)
        elif len(readers) == 2:
            self.kappa(
                rows, where, matrix[:, 0], matrix[:, 1], label, weighted=False, role="headline"
            )
        else:
            self.fleiss(rows, where, matrix, label)
        self.alpha(rows, where, matrix, label)

    def mean_pairwise(self, where: _Where, matrix: np.ndarray, readers: list[str]) -> None:
        values: list[float] = []
        sizes: list[int] = []
        for (i, a), (j, b) in itertools.combinations(enumerate(readers), 2):
            result = self.kappa(
                self.inter,
                where,
                matrix[:, i],
                matrix[:, j],
                f"{a} – {b}",
                weighted=True,
                role="pairwise",
            )
            if result is not None and result.value is not None:
                values.append(result.value)
                sizes.append(result.n)
        n_pairs = len(readers) * (len(readers) - 1) // 2
        method = "mean pairwise weighted kappa (quadratic)"
        n_units = int(((~np.isnan(matrix)).sum(axis=1) >= 2).sum())
        if not values:
            self.inter.failed(
                where,
                readers=_reader_text(readers),
                method=method,
                role="headline",
                n=n_units,
                note=f"No reader pair gave a defined kappa (of {n_pairs} pairs); see the pairs.",
            )
            return
        note = (
            f"Mean of {len(values)} of {n_pairs} pairwise kappas (range {min(values):.2f} to "
            f"{max(values):.2f}; {min(sizes)}–{max(sizes)} cases per pair); no interval."
        )
        self.inter.add(
            where,
            readers=_reader_text(readers),
            method=method,
            role="headline",
            n=n_units,
            value=float(np.mean(values)),
            ci=None,
            band=kappa_band,
            note=note,
        )

    def intra_group(
        self, where: _Where, primary: np.ndarray, repeat: np.ndarray, reader: str
    ) -> None:
        """Intra-observer rows for one reader, field, zone and time point."""
        rows = self.intra
        level = where.fld.level
        if level is Level.CONTINUOUS:
            self.icc(rows, where, np.column_stack([primary, repeat]), reader)
            self.ba(
                INTRA, where=where, first=primary, second=repeat, reader_a=reader, reader_b=reader
            )
            return
        self.kappa(
            rows,
            where,
            primary,
            repeat,
            reader,
            weighted=level is Level.ORDINAL,
            role="headline",
        )
        self.alpha(rows, where, np.column_stack([primary, repeat]), reader)


# ---------------------------------------------------------------- grouping


def _timepoint_order(labels: Sequence[str], protocol: Protocol) -> list[str]:
    known = [t for t in protocol.timepoints if t in set(labels)]
    return known + sorted(set(labels) - set(known))


def _factorise(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes and the sorted distinct labels of a text column (code order = sort order)."""
    codes, uniques = pd.factorize(column.astype(str), sort=True)
    return np.asarray(codes, dtype=np.int64), [str(label) for label in uniques]


class _Entries:
    """An entries table as arrays, its key columns factorised once for all fields.

    Grouping by field, place and time point then costs a stable ``argsort`` of integer codes
    per field instead of a pandas ``groupby`` and a ``get_group`` per group; the groups, their
    order and the row order within each group are those of the pandas version.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.reader_codes, self.readers = _factorise(frame["reader"])
        self.case_codes, self.cases = _factorise(frame["case_code"])
        self.view_codes, self.views = _factorise(frame["view"])
        self.zone_codes, self.zones = _factorise(frame["zone"])
        self.time_codes, self.timepoints = _factorise(frame["timepoint"])
        self.has_zone = (frame["zone"] != "").to_numpy(dtype=bool)
        self._values: dict[str, np.ndarray] = {}

    def values(self, column: str) -> np.ndarray:
        if column not in self._values:
            self._values[column] = self.frame[column].to_numpy(dtype=np.float64)
        return self._values[column]

    def groups(
        self, fld: Field, present_column: str, protocol: Protocol
    ) -> list[tuple[_Where, np.ndarray]]:
        """Rows (indices, in table order) of each group holding a value of ``present_column``.

        Zone fields: one group per view, zone and time point (zone entries); view fields: per
        view and time point; case fields: per time point (entries without a zone). Ordered by
        the protocol's zones/views, then time point label, then the protocol's time points.
        """
        present = ~np.isnan(self.values(present_column))
        n_times = len(self.timepoints)
        if fld.scope is Scope.ZONE:
            mask = present & self.has_zone
            combined = (self.view_codes * len(self.zones) + self.zone_codes) * n_times
        elif fld.scope is Scope.VIEW:
            mask = present & ~self.has_zone
            combined = self.view_codes * n_times
        else:
            mask = present & ~self.has_zone
            combined = np.zeros(len(self.frame), dtype=np.int64)
        combined = combined + self.time_codes
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return []
        ids = combined[rows]
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        members = np.split(rows[order], starts[1:])
        result: list[tuple[_Where, np.ndarray]] = []
        for group_rows in members:
            row = group_rows[0]
            timepoint = self.timepoints[self.time_codes[row]]
            if fld.scope is Scope.ZONE:
                where = _Where(
                    fld,
                    self.views[self.view_codes[row]],
                    self.zones[self.zone_codes[row]],
                    timepoint,
                )
            elif fld.scope is Scope.VIEW:
                where = _Where(fld, self.views[self.view_codes[row]], "", timepoint)
            else:
                where = _Where(fld, fld.view or "", "", timepoint)
            result.append((where, group_rows))
        if fld.scope is Scope.ZONE:
            zone_order = {z.key: i for i, z in enumerate(protocol.zones)}
            result.sort(key=lambda item: (zone_order.get(item[0].zone, 99), item[0].timepoint))
        elif fld.scope is Scope.VIEW:
            view_order = {v: i for i, v in enumerate(protocol.views)}
            result.sort(key=lambda item: (view_order.get(item[0].view, 99), item[0].timepoint))
        order_of_times = _timepoint_order([w.timepoint for w, _ in result], protocol)
        result.sort(key=lambda item: order_of_times.index(item[0].timepoint))
        return result

    def matrix(self, rows: np.ndarray, column: str) -> tuple[np.ndarray, list[str], list[str]]:
        """Cases × readers values of one group (sorted case codes and reader IDs)."""
        cases, case_index = np.unique(self.case_codes[rows], return_inverse=True)
        readers, reader_index = np.unique(self.reader_codes[rows], return_inverse=True)
        matrix = np.full((len(cases), len(readers)), np.nan)
        matrix[case_index, reader_index] = self.values(column)[rows]
        return (
            matrix,
            [self.readers[code] for code in readers],
            [self.cases[code] for code in cases],
        )

    def by_reader(self, rows: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """The rows of each reader (sorted by reader ID), in table order."""
        codes = self.reader_codes[rows]
        order = np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        members = np.split(rows[order], starts[1:])
        return [
            (self.readers[sorted_codes[start]], member)
            for start, member in zip(starts, members, strict=True)
        ]


# ---------------------------------------------------------------- disagreement list


def _disagreement_candidates(
    where: _Where, matrix: np.ndarray, readers: list[str], cases: list[str], scale: float
) -> pd.DataFrame:
    fld = where.fld
    counted = (~np.isnan(matrix)).sum(axis=1)
    keep = counted >= 2
    if not keep.any():
        return pd.DataFrame(columns=list(DISAGREEMENT_COLUMNS))
    values = matrix[keep]
    n = counted[keep]
    with np.errstate(all="ignore"):
        spread = np.nanmax(values, axis=1) - np.nanmin(values, axis=1)
    if fld.level is Level.CONTINUOUS:
        n_distinct = np.array([len(np.unique(row[~np.isnan(row)])) for row in values])
        modal = np.ones(len(values))
        score = spread / scale if scale > 0 else spread
        unit = fld.unit or ""
    else:
        categories = np.asarray(_categories(fld))
        counts = (values[:, :, None] == categories[None, None, :]).sum(axis=1)
        n_distinct = (counts > 0).sum(axis=1)
        modal = counts.max(axis=1)
        fraction = 1.0 - modal / n
        if fld.level is Level.ORDINAL:
            score = spread / max(len(categories) - 1, 1)
            unit = "categories"
        else:
            score = fraction / (1.0 - 1.0 / n)
            spread = n_distinct.astype(np.float64)
            unit = "answers"
    fraction = 1.0 - modal / n if fld.level is not Level.CONTINUOUS else np.full(len(n), np.nan)
    frame = pd.DataFrame(
        {
            "case_code": np.asarray(cases)[keep],
            "field": fld.key,
            "label": fld.label,
            "level": str(fld.level),
            "view": where.view,
            "zone": where.zone,
            "timepoint": where.timepoint,
            "n_readers": n,
            "spread": spread,
            "unit": unit,
            "n_distinct": n_distinct,
            "fraction_disagreeing": fraction,
            "score": score,
            "values": "",
        }
    )
    frame["_row"] = np.flatnonzero(keep)
    return frame[frame["score"] > 0]


def _values_text(fld: Field, row: np.ndarray, readers: list[str]) -> str:
    return "; ".join(
        f"{reader}: {format_code(fld, float(value))}"
        for reader, value in zip(readers, row, strict=True)
        if not math.isnan(value)
    )


# ---------------------------------------------------------------- the analysis


def _sort_worst_first(frame: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """Poor bands first; rows without a band (undefined, failed) last; then protocol order."""
    if frame.empty:
        return frame
    field_order = {f.key: i for i, f in enumerate(protocol.fields)}
    zone_order = {z.key: i for i, z in enumerate(protocol.zones)}
    role_order = {"headline": 0, "secondary": 1, "pairwise": 2}
    keyed = frame.assign(
        _undefined=frame["band_score"].isna(),
        _role=frame["role"].map(role_order),
        _field=frame["field"].map(field_order),
        _zone=frame["zone"].map(zone_order).fillna(-1),
    )
    keyed = keyed.sort_values(
        ["_undefined", "band_score", "value", "_role", "_field", "_zone", "timepoint", "readers"],
        kind="stable",
        na_position="last",
    )
    return keyed.drop(columns=["_undefined", "_role", "_field", "_zone"]).reset_index(drop=True)


def _counts(tidy: pd.DataFrame, protocol: Protocol, repeat_pairs: int) -> StudyCounts:
    readings = tidy.drop_duplicates(["reader", "case_code"])
    submitted = readings[readings["submitted"]]
    primary = submitted[submitted["kind"] == "primary"]
    repeat = submitted[submitted["kind"] == "repeat"]
    return StudyCounts(
        readers=tuple(sorted(submitted["reader"].unique())),
        n_cases=int(primary["case_code"].nunique()),
        n_primary_readings=len(primary),
        n_repeat_readings=len(repeat),
        n_repeat_pairs=repeat_pairs,
        n_unsubmitted=int((~readings["submitted"]).sum()),
        timepoints=tuple(_timepoint_order(list(tidy["timepoint"].unique()), protocol)),
    )


def agreement_tables(
    tidy: pd.DataFrame,
    protocol: Protocol,
    *,
    top_n: int = 50,
    n_boot: int = agreement.DEFAULT_N_BOOT,
    n_boot_intra: int = DEFAULT_N_BOOT_INTRA,
    progress: Callable[[int, int], None] | None = None,
) -> AgreementResult:
    """Inter- and intra-observer agreement for every field, zone and time point.

    Parameters
    ----------
    tidy : the tidy long table (:func:`~collarreader.analysis.tidy.read_tidy`, or a DataFrame
        with the same columns; it is validated)
    protocol : the protocol the study was read with
    top_n : length of the disagreement list
    n_boot : bootstrap resamples for the inter-observer intervals of Fleiss' kappa and
        Krippendorff's alpha (0: no interval)
    n_boot_intra : bootstrap resamples for the intra-observer Krippendorff's alpha, a
        secondary figure beside the kappa (with its asymptotic interval) computed once per
        reader, field, zone and time point — hundreds of times in a large study, where the
        bootstrap was the analysis's main cost; default 0 (the value without an interval)
    progress : called as ``progress(done, total)`` after each field

    Returns
    -------
    AgreementResult
        ``inter`` and ``intra`` sorted worst first (see :data:`AGREEMENT_COLUMNS`).
        ``disagreements`` ranks (case, field, view, zone, time point) groups of primary reads
        by ``score``: continuous fields — the range across readers divided by the field's
        protocol range (``maximum − minimum``; observed range when the protocol gives none);
        ordinal — categories apart divided by (number of categories − 1); nominal — the
        fraction of readers not giving the most common answer, divided by its largest
        possible value (1 − 1/readers). ``spread`` gives the raw range (in ``unit``; number of
        distinct answers for nominal fields).

    Raises
    ------
    AnalysisError
        If the table is malformed or does not match the protocol (naming the file and line).
    """
    table = validate_tidy(tidy)
    # The consensus is an adjudicated answer, not another rater: it is left out of every
    # statistic and shown beside the readers' values in the disagreement list.
    is_consensus = (table["reader"] == CONSENSUS_READER).to_numpy()
    consensus = table[is_consensus]
    table = table[~is_consensus]
    raw = entry_codes(table, protocol)
    values = apply_protocol_rules(raw, protocol)
    primary = values[values["kind"] == "primary"]
    repeats = values[values["kind"] == "repeat"]
    # Intra pairs: a repeat entry meets the same reader's primary entry of the case it repeats.
    keys = ["reader", "case_code", "view", "timepoint", "zone"]
    fields = analysed_fields(protocol)
    field_keys = [f.key for f in fields]
    paired = repeats.drop(columns=["case_code", "kind"]).rename(columns={"repeat_of": "case_code"})
    paired = paired.merge(
        primary[[*keys, *field_keys]], on=keys, how="inner", suffixes=("_repeat", "")
    )
    repeat_pairs = int(paired[["reader", "case_code"]].drop_duplicates().shape[0])

    analyser = _Analyser(n_boot, n_boot_intra)
    candidates: list[pd.DataFrame] = []
    matrices: list[tuple[_Where, np.ndarray, list[str], list[str]]] = []
    primary_entries = _Entries(primary)
    paired_entries = _Entries(paired)
    for index, fld in enumerate(fields):
        scale = _field_scale(fld, primary)
        for where, rows in primary_entries.groups(fld, fld.key, protocol):
            matrix, readers, cases = primary_entries.matrix(rows, fld.key)
            analyser.inter_group(where, matrix, readers)
            found = _disagreement_candidates(where, matrix, readers, cases, scale)
            if not found.empty:
                found["_group"] = len(matrices)
                candidates.append(found)
            matrices.append((where, matrix, readers, cases))
        # Paired entries: ``key`` holds the primary read, ``key_repeat`` the repeat read.
        repeat_key = f"{fld.key}_repeat"
        first_reads = paired_entries.values(fld.key)
        second_reads = paired_entries.values(repeat_key)
        for where, rows in paired_entries.groups(fld, repeat_key, protocol):
            for reader, mine in paired_entries.by_reader(rows):
                analyser.intra_group(where, first_reads[mine], second_reads[mine], reader)
        if progress is not None:
            progress(index + 1, len(fields))

    disagreements = _with_consensus(_top_disagreements(candidates, matrices, top_n), consensus)
    ba = pd.DataFrame(analyser.bland_altman, columns=list(BLAND_ALTMAN_COLUMNS))
    points = analyser.points_frame()
    return AgreementResult(
        protocol_name=protocol.name,
        protocol_version=protocol.version,
        protocol_sha256=protocol.sha256,
        counts=_counts(table, protocol, repeat_pairs),
        inter=_sort_worst_first(analyser.inter.frame(), protocol),
        intra=_sort_worst_first(analyser.intra.frame(), protocol),
        bland_altman=ba,
        disagreements=disagreements,
        points=points,
        n_boot=n_boot,
        n_boot_intra=n_boot_intra,
        measurement_error=pd.DataFrame(
            analyser.measurement_error, columns=list(MEASUREMENT_ERROR_COLUMNS)
        ),
    )


def _field_scale(fld: Field, primary: pd.DataFrame) -> float:
    """The range a continuous field's spread is divided by for ranking."""
    if fld.level is not Level.CONTINUOUS:
        return 1.0
    if fld.minimum is not None and fld.maximum is not None and fld.maximum > fld.minimum:
        return float(fld.maximum - fld.minimum)
    column = primary[fld.key].dropna()
    observed = float(column.max() - column.min()) if len(column) else 0.0
    return observed if observed > 0 else 1.0


def _with_consensus(disagreements: pd.DataFrame, consensus: pd.DataFrame) -> pd.DataFrame:
    """Fill ``consensus`` from the consensus reader's primary values (text as entered)."""
    keys = ["case_code", "field", "view", "zone", "timepoint"]
    if consensus.empty or disagreements.empty:
        return disagreements.assign(consensus="")
    primary = consensus[consensus["kind"] == "primary"]
    lookup = {
        tuple(str(part) for part in key): str(value)
        for key, value in zip(
            primary[keys].itertuples(index=False, name=None), primary["value"], strict=True
        )
    }
    values = [
        lookup.get(tuple(str(part) for part in key), "")
        for key in disagreements[keys].itertuples(index=False, name=None)
    ]
    return disagreements.assign(consensus=values)


def _top_disagreements(
    candidates: list[pd.DataFrame],
    matrices: list[tuple[_Where, np.ndarray, list[str], list[str]]],
    top_n: int,
) -> pd.DataFrame:
    if not candidates or top_n <= 0:
        return pd.DataFrame(columns=list(DISAGREEMENT_COLUMNS))
    frame = pd.concat(candidates, ignore_index=True)
    frame = frame.sort_values(
        ["score", "spread", "n_readers", "case_code", "_group"],
        ascending=[False, False, False, True, True],
        kind="stable",
    ).head(top_n)
    texts = []
    for group, row in zip(frame["_group"], frame["_row"], strict=True):
        where, matrix, readers, _ = matrices[int(group)]
        texts.append(_values_text(where.fld, matrix[int(row)], readers))
    frame["values"] = texts
    frame["consensus"] = ""
    return frame[list(DISAGREEMENT_COLUMNS)].reset_index(drop=True)
