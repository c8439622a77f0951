"""The report's sections and the shaping of their tables.

Summary, disagreements, per field, repeat reads, longitudinal, methods.

Part of :mod:`collarreader.analysis.report` (see its docstring for the rules).
"""

from __future__ import annotations

import math

import pandas as pd  # type: ignore[import-untyped]

from collarreader.analysis import plots
from collarreader.analysis.longitudinal import consensus_summary
from collarreader.analysis.report.figures import _bland_altman_uri, _Figures
from collarreader.analysis.report.html import _chip, _e, _figure_cell, _number, html_table
from collarreader.analysis.report_reliability import (
    icc_definition_html,
    proportional_bias_note,
    scale_notes,
)
from collarreader.analysis.tables import AgreementResult
from collarreader.analysis.tidy import analysed_fields
from collarreader.protocol import Field, Level, Protocol

# ---------------------------------------------------------------- table shaping


def _with_figure(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds the HTML columns ``figure`` (value with CI) and ``chip`` (band)."""
    return frame.assign(
        figure=[
            _figure_cell(v, lo, hi)
            for v, lo, hi in zip(frame["value"], frame["ci_low"], frame["ci_high"], strict=True)
        ],
        chip=[_chip(b, s) for b, s in zip(frame["band"], frame["band_score"], strict=True)],
        place=[_place(v, z) for v, z in zip(frame["view"], frame["zone"], strict=True)],
    )


def _place(view: object, zone: object) -> str:
    view_text, zone_text = str(view or ""), str(zone or "")
    if zone_text:
        return f"{view_text} {zone_text}".strip()
    return view_text or "case"


def _protocol_order(frame: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    zone_order = {z.key: i for i, z in enumerate(protocol.zones)}
    view_order = {v: i for i, v in enumerate(protocol.views)}
    time_order = {t: i for i, t in enumerate(protocol.timepoints)}
    role_order = {"headline": 0, "secondary": 1, "pairwise": 2}
    return (
        frame.assign(
            _v=frame["view"].map(view_order).fillna(-1),
            _z=frame["zone"].map(zone_order).fillna(-1),
            _t=frame["timepoint"].map(time_order).fillna(99),
            _r=frame["role"].map(role_order).fillna(3),
        )
        .sort_values(["_v", "_z", "_t", "_r", "readers"], kind="stable")
        .drop(columns=["_v", "_z", "_t", "_r"])
    )


_AGREEMENT_COLUMNS = [
    ("place", "view / zone"),
    ("timepoint", "time point"),
    ("readers", "readers"),
    ("method", "method"),
    ("n", "n"),
    ("figure", "value (95 % CI)"),
    ("chip", "band"),
    ("note", "note"),
]

_BA_COLUMNS = [
    ("place", "view / zone"),
    ("timepoint", "time point"),
    ("reader_a", "A"),
    ("reader_b", "B"),
    ("n", "n"),
    ("bias_text", "bias A − B (95 % CI)"),
    ("loa_low_text", "lower LoA (exact 95 % CI)"),
    ("loa_high_text", "upper LoA (exact 95 % CI)"),
    ("sdd", "SDD"),
    ("slope_text", "slope on mean (p)"),
    ("note", "note"),
]


def _ba_view(frame: pd.DataFrame) -> pd.DataFrame:
    def text(value: pd.Series, low: pd.Series, high: pd.Series) -> list[str]:
        return [_e(_figure_cell(v, lo, hi)) for v, lo, hi in zip(value, low, high, strict=True)]

    return frame.assign(
        place=[_place(v, z) for v, z in zip(frame["view"], frame["zone"], strict=True)],
        bias_text=text(frame["bias"], frame["bias_ci_low"], frame["bias_ci_high"]),
        loa_low_text=text(frame["loa_low"], frame["loa_low_ci_low"], frame["loa_low_ci_high"]),
        loa_high_text=text(frame["loa_high"], frame["loa_high_ci_low"], frame["loa_high_ci_high"]),
        slope_text=[
            "" if math.isnan(float(s)) else f"{float(s):.3f} ({float(p):.2g})"
            for s, p in zip(frame["slope"], frame["slope_p"], strict=True)
        ],
    )


# ---------------------------------------------------------------- sections


def _summary(result: AgreementResult, longitudinal: pd.DataFrame | None) -> str:
    counts = result.counts
    lines = [
        ("Readers", f"{len(counts.readers)} ({', '.join(counts.readers)})"),
        ("Cases (primary reads)", str(counts.n_cases)),
        ("Primary readings, submitted", str(counts.n_primary_readings)),
        ("Repeat readings, submitted", str(counts.n_repeat_readings)),
        ("Repeat readings matched to their primary reading", str(counts.n_repeat_pairs)),
        ("Unsubmitted readings (left out)", str(counts.n_unsubmitted)),
        ("Time points", ", ".join(counts.timepoints)),
        (
            "Bootstrap resamples (Fleiss' kappa, Krippendorff's alpha: inter / intra)",
            f"{result.n_boot} / {result.n_boot_intra}",
        ),
    ]
    if longitudinal is not None:
        lines.append(("Patients in the 6 m → 12 m table", str(longitudinal["patient"].nunique())))
    rows = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in lines)
    parts = [f'<table class="counts"><tbody>{rows}</tbody></table>']
    for name, frame in (("Inter-observer", result.inter), ("Intra-observer", result.intra)):
        headline = frame[frame["role"] == "headline"]
        if headline.empty:
            parts.append(f"<p>{name}: no rows.</p>")
            continue
        cells = []
        for scale, rows_of_scale in headline.groupby("band_scale", sort=True):
            if not scale:
                continue
            ordered = rows_of_scale.sort_values("band_score")
            tally = ordered.groupby(["band_score", "band"], sort=True).size()
            chips = " ".join(
                f"{_chip(band, score)}&nbsp;{count}" for (score, band), count in tally.items()
            )
            cells.append(f"<tr><td>{_e(scale)}</td><td>{chips}</td></tr>")
        undefined = int(headline["band"].eq("").sum())
        if undefined:
            cells.append(
                f"<tr><td>no value</td><td>{undefined} (see the notes: too few cases, one "
                "reader, or every value identical)</td></tr>"
            )
        parts.append(
            f"<p><b>{name}</b>: headline statistic per field × view/zone × time point"
            + (" × reader" if name.startswith("Intra") else "")
            + ", by interpretation band</p>"
            f'<table class="counts"><tbody>{"".join(cells)}</tbody></table>'
        )
    return "".join(parts)


def _disagree_section(result: AgreementResult, protocol: Protocol) -> str:
    headline = result.inter[result.inter["role"] == "headline"]
    banded = headline[headline["band_score"].notna()]
    worst = banded[banded["band_score"] < 0.5]
    parts = []
    if worst.empty:
        parts.append(
            "<p>No field falls in the lower half of its interpretation scale (poor/slight/"
            "fair kappa, poor ICC).</p>"
        )
    else:
        shown = _with_figure(worst.head(40)).assign(
            field_text=lambda f: [
                f"{label} ({key})" for label, key in zip(f["label"], f["field"], strict=True)
            ]
        )
        parts.append(
            "<p>Fields whose inter-observer agreement falls in the lower half of its scale, "
            f"worst first ({len(worst)} of {len(banded)} with a value"
            + (", first 40 shown" if len(worst) > 40 else "")
            + "):</p>"
        )
        parts.append(
            html_table(
                shown,
                [("field_text", "field"), *_AGREEMENT_COLUMNS],
                raw_html=("chip",),
            )
        )
    parts.append("<h3>Disagreement list: candidates for an adjudication read</h3>")
    disagreements = result.disagreements
    if disagreements.empty:
        parts.append("<p>Readers gave the same answer on every case and field.</p>")
    else:
        parts.append(
            '<p class="note">Primary reads; largest spread first. Score: continuous — range '
            "across readers ÷ the field's range; ordinal — categories apart ÷ (categories − 1); "
            "nominal — share of readers not giving the most common answer, scaled to 0–1.</p>"
        )
        view = disagreements.assign(
            place=[
                _place(v, z)
                for v, z in zip(disagreements["view"], disagreements["zone"], strict=True)
            ],
            spread_text=[
                f"{_number(s, 2)} {u}".strip()
                for s, u in zip(disagreements["spread"], disagreements["unit"], strict=True)
            ],
        )
        parts.append(
            html_table(
                view,
                [
                    ("case_code", "case"),
                    ("label", "field"),
                    ("place", "view / zone"),
                    ("timepoint", "time point"),
                    ("n_readers", "readers"),
                    ("spread_text", "spread"),
                    ("score", "score"),
                    ("values", "values"),
                    ("consensus", "consensus"),
                ],
                decimals={"score": 2},
            )
        )
    return "".join(parts)


def _field_section(
    result: AgreementResult,
    fld: Field,
    protocol: Protocol,
    figures: _Figures,
    points: dict[tuple[str, str], pd.DataFrame],
) -> str:
    inter = result.inter[result.inter["field"] == fld.key]
    unit = f", unit {fld.unit}" if fld.unit else ""
    scope = f"{fld.scope} field" + (f" ({fld.view} only)" if fld.view else "")
    parts = [
        f'<h3 id="field-{_e(fld.key)}">{_e(fld.label)} <code>{_e(fld.key)}</code></h3>',
        f'<p class="sub">{_e(fld.level)} · {_e(scope)}{_e(unit)}</p>',
    ]
    if inter.empty:
        parts.append("<p>No submitted primary values for this field.</p>")
        return "".join(parts)
    main = _protocol_order(inter[inter["role"] != "pairwise"], protocol)
    parts.append(html_table(_with_figure(main), _AGREEMENT_COLUMNS, raw_html=("chip",)))
    if fld.level is Level.CONTINUOUS:
        parts.append(icc_definition_html())
    parts.append(scale_notes(inter))
    pairwise = inter[inter["role"] == "pairwise"]
    if not pairwise.empty:
        parts.append(
            f"<details><summary>Pairwise weighted kappa ({len(pairwise)} rows)</summary>"
            + html_table(
                _with_figure(_protocol_order(pairwise, protocol)),
                _AGREEMENT_COLUMNS,
                raw_html=("chip",),
            )
            + "</details>"
        )
    headline = main[main["role"] == "headline"]
    parts.append(
        figures.request(plots.agreement_by_zone_plot, headline, fld, alt=f"{fld.label} by zone")
    )
    if fld.level is Level.CONTINUOUS:
        ba = result.bland_altman[
            (result.bland_altman["field"] == fld.key) & (result.bland_altman["analysis"] == "inter")
        ]
        if not ba.empty:
            table = html_table(_ba_view(ba), _BA_COLUMNS, decimals={"n": 0, "sdd": 2})
            if len(ba) > 16:
                table = (
                    f"<details><summary>Bland–Altman per reader pair, view/zone and time point "
                    f"({len(ba)} rows)</summary>{table}</details>"
                )
            else:
                table = f"<p><b>Bland–Altman</b> ({_e(fld.unit or '')})</p>{table}"
            parts.append(table)
            parts.append(proportional_bias_note(ba))
        parts.append(
            figures.request(
                _bland_altman_uri,
                points.get(("inter", fld.key), result.points.iloc[:0]),
                fld,
                "inter",
                alt=f"{fld.label} Bland–Altman",
            )
        )
    return "".join(parts)


def _intra_section(
    result: AgreementResult,
    protocol: Protocol,
    figures: _Figures,
    points: dict[tuple[str, str], pd.DataFrame],
) -> str:
    intra = result.intra
    if intra.empty:
        return (
            "<p>No repeat reads were matched to a primary reading of the same reader, so "
            "intra-observer agreement cannot be computed.</p>"
        )
    headline = intra[intra["role"] == "headline"]
    fields = [f for f in analysed_fields(protocol) if (headline["field"] == f.key).any()]
    readers = sorted(headline["readers"].unique())
    # Overview: the lowest headline value per reader and field (the weakest zone/time point).
    cells = []
    for reader in readers:
        row = [f"<td>{_e(reader)}</td>"]
        for fld in fields:
            mine = headline[(headline["readers"] == reader) & (headline["field"] == fld.key)]
            valued = mine[mine["value"].notna()]
            if valued.empty:
                row.append("<td>—</td>")
                continue
            lowest = valued.loc[valued["value"].idxmin()]
            row.append(
                f'<td class="num">{_number(lowest["value"], 2)} '
                f"{_chip(lowest['band'], lowest['band_score'])}</td>"
            )
        cells.append("<tr>" + "".join(row) + "</tr>")
    head = "<th>reader</th>" + "".join(f"<th>{_e(f.label)}</th>" for f in fields)
    parts = [
        (
            "<p>Lowest headline agreement per reader and field over views/zones and time "
            "points (primary vs repeat read of the same case; ICC(A,1), weighted kappa for "
            "ordinal, Cohen's kappa for nominal fields):</p>"
        ),
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(cells)}</tbody></table>",
        figures.request(
            plots.intra_by_reader_plot, headline, fields, alt="intra-observer agreement"
        ),
    ]
    for fld in fields:
        if fld.level is not Level.CONTINUOUS:
            continue
        parts.append(
            figures.request(
                _bland_altman_uri,
                points.get(("intra", fld.key), result.points.iloc[:0]),
                fld,
                "intra",
                alt=f"{fld.label} intra-observer Bland–Altman",
            )
        )
    ordered = _protocol_order(intra, protocol)
    parts.append(
        f"<details><summary>All intra-observer rows ({len(ordered)})</summary>"
        + html_table(
            _with_figure(ordered).assign(field_text=lambda f: list(f["label"])),
            [("field_text", "field"), *_AGREEMENT_COLUMNS],
            raw_html=("chip",),
        )
        + "</details>"
    )
    ba = result.bland_altman[result.bland_altman["analysis"] == "intra"]
    if not ba.empty:
        parts.append(
            f"<details><summary>Intra-observer Bland–Altman, primary − repeat ({len(ba)} rows)"
            "</summary>"
            + html_table(
                _ba_view(ba).assign(field_text=lambda f: list(f["label"])),
                [("field_text", "field"), *_BA_COLUMNS],
                decimals={"n": 0, "sdd": 2},
            )
            + "</details>"
        )
    parts.append(icc_definition_html())
    return "".join(parts)


def _longitudinal_section(longitudinal: pd.DataFrame) -> str:
    if longitudinal.empty:
        return "<p>No primary readings with true time points.</p>"
    summary = consensus_summary(longitudinal)
    start = str(longitudinal["baseline"].iloc[0])
    end = str(longitudinal["follow_up"].iloc[0])
    columns = [(c, c) for c in summary.columns]
    return (
        f"<p>Consensus of the readers (median per time point; change = median at {_e(end)} − "
        f"median at {_e(start)}). Per-reader and per-zone values, with notes on missing time "
        "points, are in <code>longitudinal.csv</code>.</p>"
        + html_table(summary, columns, decimals=2)
    )


_METHODS = """
<p>Agreement was computed per protocol field, view/zone and time point on submitted readings
only (unsubmitted readings may be incomplete). Inter-observer agreement uses each reader's
primary read; intra-observer agreement pairs a reader's repeat read with the same reader's
primary read of the same case (matched through the repeat's <code>repeat_of</code> code).
Before any statistic, the protocol's rules were applied: a zone marked not assessable has no
other values; a radiolucent line marked absent counts as 0 mm; the RLL grade is recomputed
from the width with the protocol's thresholds and analysed as an ordinal field.</p>
<ul>
<li><b>Continuous fields</b>: intraclass correlation, two-way random effects, absolute
agreement, single rater — ICC(A,1) in McGraw &amp; Wong's notation, ICC(2,1) in Shrout &amp;
Fleiss's — with its F-based 95 % confidence interval, on cases scored by every reader
involved (McGraw &amp; Wong 1996; Shrout &amp; Fleiss 1979), computed by collarreader's closed
forms, proven equal to pingouin's <code>intraclass_corr</code>. Standard error of measurement
(agreement) from the same ANOVA and the smallest detectable change MDC95 = 1.96·√2·SEM in mm
(de Vet et al. 2006). Bland–Altman analysis for every reader pair and for primary vs repeat:
bias with its t interval, 95 % limits of agreement (bias ± 1.96 SD) with exact confidence
intervals from the non-central t (Carkeet 2015; the approximate ±t·SD·√(3/n) intervals of
Bland &amp; Altman 1999 are in <code>bland_altman.csv</code>), the smallest detectable difference
1.96 SD, and a test of proportional bias — differences regressed on means — with
regression-based limits where the slope differs from 0 at p &lt; 0.05 (Bland &amp; Altman 1999
§3.2). The plots pool all zones and time points of a pair, in a fixed reader order. The
precision of each ICC is compared with Bonett's (2002) planning formula.</li>
<li><b>Ordinal fields</b>: Cohen's kappa with quadratic weights for two readers; for more
readers, the weighted kappa of every reader pair and their mean. Krippendorff's alpha at the
ordinal level uses every pairable value, missing reads included (Krippendorff 2004, 2011).</li>
<li><b>Nominal fields</b>: Cohen's kappa (two readers) or Fleiss' kappa (more readers; cases
read by all), and Krippendorff's nominal alpha. Kappa intervals are asymptotic (Fleiss, Cohen
&amp; Everitt 1969); Fleiss' kappa and alpha intervals are percentile bootstraps over cases.</li>
<li><b>Interpretation bands</b>: ICC after Koo &amp; Li (2016): poor &lt; 0.5, moderate
0.5–0.75, good 0.75–0.9, excellent &gt; 0.9. Kappa after Landis &amp; Koch (1977): poor &lt; 0,
slight ≤ 0.20, fair ≤ 0.40, moderate ≤ 0.60, substantial ≤ 0.80, almost perfect above.
Krippendorff's alpha: unacceptable &lt; 0.667, tentative 0.667–0.8, acceptable ≥ 0.8
(Krippendorff 2004).</li>
<li>A statistic that is undefined (one reader, too few cases, every value identical) is shown
without a value, with the reason in the note.</li>
</ul>
<p><b>References</b></p>
<ol>
<li>McGraw KO, Wong SP. Forming inferences about some intraclass correlation coefficients.
Psychol Methods 1996;1(1):30–46.</li>
<li>Shrout PE, Fleiss JL. Intraclass correlations: uses in assessing rater reliability.
Psychol Bull 1979;86(2):420–428.</li>
<li>Koo TK, Li MY. A guideline of selecting and reporting intraclass correlation coefficients
for reliability research. J Chiropr Med 2016;15(2):155–163.</li>
<li>Landis JR, Koch GG. The measurement of observer agreement for categorical data.
Biometrics 1977;33(1):159–174.</li>
<li>Krippendorff K. Content Analysis: An Introduction to Its Methodology. 2nd ed. Thousand
Oaks, CA: Sage; 2004.</li>
<li>Krippendorff K. Computing Krippendorff's alpha-reliability. University of Pennsylvania,
Annenberg School for Communication; 2011.</li>
<li>Bland JM, Altman DG. Statistical methods for assessing agreement between two methods of
clinical measurement. Lancet 1986;327(8476):307–310.</li>
<li>Bland JM, Altman DG. Measuring agreement in method comparison studies. Stat Methods Med
Res 1999;8(2):135–160.</li>
<li>Fleiss JL, Cohen J, Everitt BS. Large sample standard errors of kappa and weighted kappa.
Psychol Bull 1969;72(5):323–327.</li>
<li>Fleiss JL. Measuring nominal scale agreement among many raters. Psychol Bull
1971;76(5):378–382.</li>
<li>Carkeet A. Exact parametric confidence intervals for Bland–Altman limits of agreement.
Optom Vis Sci 2015;92(3):e71–e80.</li>
<li>de Vet HCW, Terwee CB, Knol DL, Bouter LM. When to use agreement versus reliability
measures. J Clin Epidemiol 2006;59(10):1033–1039.</li>
<li>Weir JP. Quantifying test-retest reliability using the intraclass correlation coefficient
and the SEM. J Strength Cond Res 2005;19(1):231–240.</li>
<li>Bonett DG. Sample size requirements for estimating intraclass correlations with desired
precision. Stat Med 2002;21(9):1331–1335.</li>
<li>Kottner J, Audigé L, Brorson S, et al. Guidelines for Reporting Reliability and Agreement
Studies (GRRAS) were proposed. J Clin Epidemiol 2011;64(1):96–106.</li>
</ol>
"""
