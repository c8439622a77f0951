"""Rows of the agreement tables: the statistics of one field, zone and time point.

The row builders of :func:`collarreader.analysis.tables.agreement_tables`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from collarreader.analysis import agreement
from collarreader.analysis.bands import Band, alpha_band, icc_band, kappa_band
from collarreader.analysis.table_columns import (
    _POINT_COLUMNS,
    AGREEMENT_COLUMNS,
    INTER,
    INTRA,
)
from collarreader.errors import AnalysisError
from collarreader.protocol import Field, FieldType, Level

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
