"""Report sections a statistician publishes from: measurement error, precision, names, GRRAS.

Kept apart from :mod:`collarreader.analysis.report` (the layout of the whole report): these
sections turn :attr:`AgreementResult.measurement_error`, the ICC rows and the Bland–Altman
proportional-bias columns into the sentences and tables a methods and results section cite.
"""

from __future__ import annotations

import html
import math

import pandas as pd  # type: ignore[import-untyped]

from collarreader.analysis import agreement
from collarreader.analysis.planning import icc_ci_width
from collarreader.analysis.table_columns import INTER, AgreementResult
from collarreader.protocol import Level, Protocol

__all__ = ["ci_width_text", "measurement_error_html", "proportional_bias_note", "scale_notes"]


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _mm(value: object, decimals: int = 2) -> str:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(number) else f"{number:.{decimals}f}"


def _place(view: object, zone: object) -> str:
    parts = [str(p) for p in (view, zone) if isinstance(p, str) and p]
    return " / ".join(parts) or "case"


def measurement_error_html(result: AgreementResult, protocol: Protocol) -> str:
    """SEM and MDC95 per continuous field, inter- and intra-observer, with the ICC's precision.

    One table; rows in protocol field order, inter-observer first, then each reader's
    intra-observer rows.
    """
    frame = result.measurement_error
    if frame.empty:
        return "<p>No continuous field had values from at least two readers or reads.</p>"
    order = {f.key: i for i, f in enumerate(protocol.fields) if f.level is Level.CONTINUOUS}
    frame = frame.assign(
        _f=frame["field"].map(order), _a=(frame["analysis"] != INTER).astype(int)
    ).sort_values(["_f", "_a", "readers", "view", "zone", "timepoint"], kind="stable")
    head = (
        "<tr><th>field</th><th>analysis</th><th>view / zone</th><th>time point</th>"
        "<th>readers</th><th>n</th><th>SEM</th><th>MDC95</th><th>unit</th>"
        "<th>ICC(A,1)</th><th>ICC 95 % CI width</th><th>note</th></tr>"
    )
    rows = [
        "<tr>"
        f"<td>{_e(row.label)}</td><td>{_e(row.analysis)}</td>"
        f"<td>{_e(_place(row.view, row.zone))}</td><td>{_e(row.timepoint)}</td>"
        f'<td>{_e(row.readers)}</td><td class="num">{_e(row.n)}</td>'
        f'<td class="num">{_mm(row.sem)}</td><td class="num">{_mm(row.mdc95)}</td>'
        f'<td>{_e(row.unit)}</td><td class="num">{_mm(row.icc, 3)}</td>'
        f'<td class="num">{_mm(row.icc_ci_width, 3)}</td><td>{_e(row.note)}</td></tr>'
        for row in frame.itertuples(index=False)
    ]
    return (
        "<p>Standard error of measurement (SEM, agreement: √(σ²<sub>reader</sub> + "
        "σ²<sub>error</sub>) from the two-way ANOVA of the ICC) and the smallest detectable "
        "change MDC95 = 1.96·√2·SEM, in the field's unit: a change between two readings "
        "smaller than the MDC95 cannot be told from measurement error (de Vet et al. 2006; "
        "Weir 2005). Intra-observer rows use one reader's primary and repeat reads.</p>"
        f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def ci_width_text(result: AgreementResult) -> str:
    """One sentence per continuous field: the ICC CI width this study's n achieved.

    Beside the width observed, Bonett's (2002) expected width for the same n, readers and ICC,
    so a study lead sees whether the study was large enough for the precision planned.
    """
    inter = result.inter
    icc_rows = inter[inter["method"].str.startswith("ICC") & inter["value"].notna()]
    if icc_rows.empty:
        return "No ICC could be computed, so no interval width is reported."
    parts = []
    for label, rows in icc_rows.groupby("label", sort=False):
        widths = (rows["ci_high"] - rows["ci_low"]).dropna()
        if widths.empty:
            continue
        n = int(rows["n"].median())
        raters = len(result.counts.readers)
        expected = (
            icc_ci_width(icc=float(rows["value"].median()), n=n, raters=raters)
            if n >= 2 and raters >= 2
            else math.nan
        )
        parts.append(
            f"{_e(label)}: ICC 95 % CI width {widths.median():.2f} (median over "
            f"{len(widths)} view/zone/time-point groups, range {widths.min():.2f}–"
            f"{widths.max():.2f}) with n = {n} cases; Bonett (2002) expects "
            f"{_mm(expected)} for this n, {raters} readers and the observed ICC."
        )
    return " ".join(parts)


def proportional_bias_note(ba: pd.DataFrame) -> str:
    """A sentence naming the reader pairs whose differences grow with the measured value."""
    if "proportional_bias" not in ba.columns:
        return ""
    flagged = ba[ba["proportional_bias"].astype("boolean").fillna(False).astype(bool)]
    if flagged.empty:
        return (
            "<p>No reader pair shows proportional bias (slope of differences on means, "
            "p ≥ 0.05): the constant limits of agreement apply.</p>"
        )
    items = "".join(
        f"<li>{_e(row.reader_a)} – {_e(row.reader_b)}, {_e(_place(row.view, row.zone))}, "
        f"{_e(row.timepoint)}: slope {row.slope:.3f} (95 % CI {row.slope_ci_low:.3f} to "
        f"{row.slope_ci_high:.3f}, p = {row.slope_p:.3g}); regression-based limits "
        f"{row.reg_intercept:.2f} + {row.slope:.3f}·m ∓ 2.46·({row.reg_abs_intercept:.2f} + "
        f"{row.reg_abs_slope:.3f}·m) at mean m</li>"
        for row in flagged.itertuples(index=False)
    )
    return (
        "<p><b>Proportional bias</b> (differences regressed on means, p &lt; 0.05; Bland "
        "&amp; Altman 1999 §3.2): the limits widen or shift with the size of the measurement, "
        f"so use the regression-based limits:</p><ul>{items}</ul>"
    )


def scale_notes(rows: pd.DataFrame) -> str:
    """A note where two scales' bands disagree for one field and group (kappa vs alpha).

    ``rows`` are one field's inter-observer rows; a headline kappa and a secondary alpha of the
    same view/zone/time point whose bands lie far apart (one in the upper half of its scale,
    the other in the lower half) get a sentence saying why that happens.
    """
    headline = rows[(rows["role"] == "headline") & rows["band_score"].notna()]
    secondary = rows[(rows["role"] == "secondary") & rows["band_score"].notna()]
    if headline.empty or secondary.empty:
        return ""
    keys = ["view", "zone", "timepoint"]
    paired = headline.merge(secondary, on=keys, suffixes=("", "_alpha"))
    far = paired[(paired["band_score"] - paired["band_score_alpha"]).abs() >= 0.5]
    if far.empty:
        return ""
    items = "".join(
        f"<li>{_e(_place(row.view, row.zone))}, {_e(row.timepoint)}: {_e(row.method)} "
        f"{row.value:.2f} “{_e(row.band)}” ({_e(row.band_scale)}) but "
        f"{_e(row.method_alpha)} {row.value_alpha:.2f} “{_e(row.band_alpha)}” "
        f"({_e(row.band_scale_alpha)})</li>"
        for row in far.itertuples(index=False)
    )
    return (
        '<div class="note"><p><b>The scales disagree here.</b> Landis &amp; Koch\'s kappa bands '
        "are generous and Krippendorff's thresholds strict, and alpha also counts the "
        "pairable values of cases that not every reader scored; report both figures, not "
        f"one band.</p><ul>{items}</ul></div>"
    )


def icc_definition_html() -> str:
    """The ICC's full name and the software that computed it, for under an ICC table."""
    return (
        f'<p class="note">ICC(A,1): {_e(agreement.icc_name("A,1"))}. Computed by '
        f"{_e(agreement.icc_software())}.</p>"
    )
