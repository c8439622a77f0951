"""The agreement report: one self-contained ``report.html`` plus CSV tables.

``report.html`` has no external reference of any kind — inline CSS, no script, PNG figures as
``data:`` URIs — so it can be mailed, archived with the study and opened offline years later.
Its order follows what a study lead asks first:

1. a summary (readers, cases, repeat reads, readings left out; how many fields fall in each
   interpretation band);
2. **where readers disagree**: the fields in poor bands, then the disagreement list naming the
   case codes to send to adjudication;
3. per field: n, value, 95 % CI and a coloured band beside each figure, agreement by zone, and
   Bland–Altman plots for continuous fields;
4. intra-observer agreement per reader;
5. the 6 m → 12 m change per patient (after unblinding), sections added by the caller (e.g.
   Oxford scores, adverse events), and the methods with their references.

The CSV files (``agreement_inter.csv``, ``agreement_intra.csv``, ``bland_altman.csv``,
``disagreements.csv``, ``longitudinal.csv``) hold every row, including those the HTML folds
away, for the statistician.
"""

from __future__ import annotations

import datetime as dt
import gc
import html
import math
import multiprocessing
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from collarreader.analysis import plots
from collarreader.analysis.grras import GrrasFacts, grras_html
from collarreader.analysis.longitudinal import consensus_summary
from collarreader.analysis.report_reliability import (
    ci_width_text,
    icc_definition_html,
    measurement_error_html,
    proportional_bias_note,
    scale_notes,
)
from collarreader.analysis.tables import AgreementResult
from collarreader.analysis.tidy import analysed_fields
from collarreader.db.export import spreadsheet_safe
from collarreader.errors import AnalysisError
from collarreader.protocol import Field, Level, Protocol

__all__ = ["REPORT_FILES", "html_table", "write_report"]

REPORT_FILES: tuple[str, ...] = (
    "report.html",
    "agreement_inter.csv",
    "agreement_intra.csv",
    "bland_altman.csv",
    "disagreements.csv",
    "measurement_error.csv",
)
"""Files :func:`write_report` always writes (``longitudinal.csv`` too when given)."""

_CSS = """
body{font-family:"DejaVu Sans",Arial,Helvetica,sans-serif;font-size:14px;color:#222;
  margin:0 auto;max-width:1200px;padding:0 24px 48px;line-height:1.4}
h1{font-size:24px;margin:24px 0 4px}h2{font-size:19px;border-bottom:2px solid #3465a4;
  padding-bottom:3px;margin-top:36px}h3{font-size:16px;margin:26px 0 6px}
.sub{color:#555;margin:0 0 12px}.note{color:#555;font-size:12px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:12.5px;display:block;
  max-width:100%;overflow-x:auto}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#eef1f6;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafafa}
.chip{display:inline-block;padding:0 7px;border-radius:9px;font-size:11.5px;font-weight:600;
  white-space:nowrap}
.b0{background:#d73027;color:#fff}.b1{background:#fc8d59;color:#222}
.b2{background:#fee08b;color:#222}.b3{background:#91cf60;color:#222}
.b4{background:#1a9850;color:#fff}.bna{background:#ddd;color:#444}
.counts td:first-child{font-weight:600}
img{max-width:100%;height:auto;display:block;margin:6px 0 14px}
details{margin:4px 0 12px}summary{cursor:pointer;color:#204a87}
nav ol{columns:2;font-size:13px}
.methods p,.methods li{max-width:900px}
@media print{@page{size:A4 landscape;margin:12mm}
  body{max-width:none;padding:0;font-size:10.5pt}
  table{display:table;overflow:visible;font-size:9pt;page-break-inside:auto}
  tr,img{page-break-inside:avoid}
  details{display:block}details>*{display:block}
  nav{display:none}h2{page-break-after:avoid}}
"""

_EXTERNAL = re.compile(
    r"""(?:https?:|ftp:|//[a-z0-9])|<\s*(?:script|link|iframe|object|embed)\b|"""
    r"""(?:src|href|action)\s*=\s*["']?(?!data:|#)""",
    re.IGNORECASE,
)


# ---------------------------------------------------------------- small HTML helpers


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _number(value: object, decimals: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return ""
    if number.is_integer() and abs(number) < 1e9 and decimals == 0:
        return str(int(number))
    return f"{number:.{decimals}f}"


def _chip(label: object, score: object) -> str:
    text = "" if label is None or (isinstance(label, float) and math.isnan(label)) else str(label)
    if not text:
        return '<span class="chip bna">—</span>'
    try:
        level = round(float(score) * 4)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        level = -1
    css = f"b{level}" if 0 <= level <= 4 else "bna"
    return f'<span class="chip {css}">{_e(text)}</span>'


def _figure_cell(value: object, low: object, high: object) -> str:
    shown = _number(value)
    if not shown:
        return "—"
    interval = ""
    if _number(low) and _number(high):
        interval = f" ({_number(low)} to {_number(high)})"
    return f"{shown}{interval}"


def html_table(
    frame: pd.DataFrame,
    columns: Sequence[tuple[str, str]] | None = None,
    *,
    decimals: int | dict[str, int] = 3,
    raw_html: Iterable[str] = (),
) -> str:
    """An escaped HTML table of ``frame``, for the report and for ``extra_sections``.

    Parameters
    ----------
    frame : the rows to show
    columns : (column, heading) pairs in display order (default: every column, as named)
    decimals : decimals for float columns (one number, or per column)
    raw_html : columns whose cells are already HTML (built with escaped text) and are inserted
        verbatim; every other cell is escaped

    Returns
    -------
    str
        ``<table>…</table>``; numbers right-aligned, NaN as an empty cell.
    """
    chosen = list(columns) if columns is not None else [(c, c) for c in frame.columns]
    verbatim = set(raw_html)
    head = "".join(f"<th>{_e(heading)}</th>" for _, heading in chosen)
    body: list[str] = []
    for record in frame[[c for c, _ in chosen]].itertuples(index=False, name=None):
        cells = []
        for (column, _), value in zip(chosen, record, strict=True):
            if column in verbatim:
                cells.append(f"<td>{value}</td>")
            elif isinstance(value, int | float) and not isinstance(value, bool):
                places = decimals.get(column, 3) if isinstance(decimals, dict) else decimals
                cells.append(f'<td class="num">{_number(value, places)}</td>')
            else:
                cells.append(f"<td>{_e(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _image(uri: str | None, alt: str) -> str:
    if uri is None:
        return ""
    return f'<img src="{uri}" alt="{_e(alt)}">'


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


# ---------------------------------------------------------------- figures

_FigureJob = tuple[Callable[..., str | None], tuple[Any, ...], str]

# The jobs of the drawing in progress, read by forked workers (which inherit this process's
# memory, so the data never has to be pickled); empty outside write_report.
_FORKED_JOBS: list[_FigureJob] = []


def _bland_altman_uri(points: pd.DataFrame, fld: Field, analysis: str) -> str | None:
    return plots.bland_altman_plot(points, fld, analysis)[0]


def _draw_job(index: int) -> str | None:
    function, args, _ = _FORKED_JOBS[index]
    return function(*args)


def _fork_is_safe() -> bool:
    """Whether worker processes may be forked from here.

    Only with the ``fork`` start method (a spawned worker would spend longer importing
    matplotlib than drawing), never from a process running a Qt application or other Python
    threads (a forked child inherits locks held by threads that do not exist in it).
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    if any(name in sys.modules for name in ("PySide6", "PyQt6", "PyQt5", "shiboken6")):
        return False
    return threading.active_count() == 1


class _Figures:
    """The report's figures: requested while the sections are written, drawn together.

    A request returns a placeholder for the ``<img>`` element; :meth:`draw` renders every
    figure — in worker processes when allowed — and :meth:`fill` puts them in place. The
    drawing is deterministic, so the report is the same byte for byte whatever the number of
    processes.
    """

    def __init__(self) -> None:
        self.jobs: list[_FigureJob] = []
        self.images: list[str] = []

    def request(self, function: Callable[..., str | None], *args: Any, alt: str) -> str:
        self.jobs.append((function, args, alt))
        return f"\x00figure {len(self.jobs) - 1}\x00"

    def draw(self, processes: int) -> None:
        uris: list[str | None] | None = None
        if processes > 1 and len(self.jobs) > 1 and _fork_is_safe():
            uris = self._draw_forked(min(processes, len(self.jobs)))
        if uris is None:
            uris = [function(*args) for function, args, _ in self.jobs]
        self.images = [_image(uri, alt) for uri, (_, _, alt) in zip(uris, self.jobs, strict=True)]

    def _cost(self, index: int) -> int:
        # Relative drawing time: the small-multiple figures have several axes, the rest one.
        function = self.jobs[index][0]
        return 3 if function in (_bland_altman_uri, plots.intra_by_reader_plot) else 1

    def _draw_forked(self, processes: int) -> list[str | None] | None:
        # This process draws a share too, so ``processes`` − 1 workers are forked; the shares
        # are balanced greedily by estimated cost, largest first.
        shares: list[list[int]] = [[] for _ in range(processes)]
        loads = [0] * processes
        for index in sorted(range(len(self.jobs)), key=self._cost, reverse=True):
            lightest = loads.index(min(loads))
            shares[lightest].append(index)
            loads[lightest] += self._cost(index)
        uris: list[str | None] = [None] * len(self.jobs)
        _FORKED_JOBS[:] = self.jobs
        # Objects that exist now are left out of the garbage collector's passes: a collection
        # in a worker would otherwise touch, and so copy, every page of this process's heap.
        # (A caller that froze the collector itself keeps its own setting.)
        freeze = gc.get_freeze_count() == 0
        if freeze:
            gc.freeze()
        try:
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=processes - 1, mp_context=context) as pool:
                futures = {
                    index: pool.submit(_draw_job, index) for share in shares[1:] for index in share
                }
                for index in shares[0]:
                    function, args, _ = self.jobs[index]
                    uris[index] = function(*args)
                for index, future in futures.items():
                    uris[index] = future.result()
        except (OSError, BrokenProcessPool):
            return None  # drawn in this process instead
        finally:
            if freeze:
                gc.unfreeze()
            _FORKED_JOBS.clear()
        return uris

    def fill(self, html_text: str) -> str:
        return re.sub(
            "\x00figure (\\d+)\x00", lambda match: self.images[int(match.group(1))], html_text
        )


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


def _check_extra(extra_sections: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    checked = []
    for index, item in enumerate(extra_sections):
        if (
            not isinstance(item, tuple)
            or len(item) != 2
            or not all(isinstance(part, str) for part in item)
        ):
            raise AnalysisError(
                f"extra_sections[{index}] must be a (title, html) pair of strings; got "
                f"{type(item).__name__}."
            )
        title, body = item
        match = _EXTERNAL.search(body)
        if match:
            raise AnalysisError(
                f"extra section {title!r} refers to something outside the report "
                f"({match.group(0)!r}); report.html must be self-contained — embed images as "
                "data: URIs and leave out scripts and links."
            )
        checked.append((title, body))
    return checked


def write_report(
    result: AgreementResult,
    out_dir: str | Path,
    *,
    title: str,
    protocol: Protocol,
    longitudinal: pd.DataFrame | None = None,
    extra_sections: Sequence[tuple[str, str]] = (),
    processes: int | None = None,
    grras: GrrasFacts | None = None,
) -> Path:
    """Write ``report.html`` and the CSV tables into ``out_dir``.

    Parameters
    ----------
    result : from :func:`~collarreader.analysis.tables.agreement_tables`
    out_dir : folder to write into (created when absent; files of the same names are replaced)
    title : the report's title (plain text)
    protocol : the protocol ``result`` was computed with (field labels and order)
    longitudinal : from :func:`~collarreader.analysis.longitudinal.longitudinal_table`, or None
        before unblinding
    extra_sections : ``(title, html)`` pairs appended before the methods, e.g. Oxford scores
        and adverse events. The title is plain text (escaped here); the body is an HTML
        fragment inserted as given — escape its data (:func:`html_table` does) — and must not
        refer to anything outside the report (no links, scripts or non-``data:`` sources).
    processes : processes drawing the figures, this one included (drawing is most of the
        report's time); None (default) uses one per CPU, at most 4; 1 draws everything in this
        process. Workers are forked only where that is safe (the ``fork`` start method, no Qt
        application and no other thread in this process); otherwise, or if a worker fails, the
        figures are drawn here. The report is the same byte for byte either way.
    grras : the study database's design facts (:func:`~collarreader.analysis.grras.grras_facts`)
        for the GRRAS section; None leaves the section out.

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.

    Raises
    ------
    AnalysisError
        If the protocol is not the one ``result`` was computed with, an extra section is
        malformed or not self-contained, or the folder cannot be written.
    """
    if protocol.sha256 != result.protocol_sha256:
        raise AnalysisError(
            f"The report's protocol {protocol.name} {protocol.version} is not the one the "
            f"agreement was computed with ({result.protocol_name} {result.protocol_version}); "
            "pass the same protocol to agreement_tables and write_report."
        )
    extras = _check_extra(extra_sections)
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise AnalysisError(
            f"{folder}: is a file, but --out names the folder for report.html and its CSV "
            "tables. Give a folder name."
        )
    tables = {
        "agreement_inter.csv": result.inter,
        "agreement_intra.csv": result.intra,
        "bland_altman.csv": result.bland_altman,
        "disagreements.csv": result.disagreements,
        "measurement_error.csv": result.measurement_error,
    }
    if longitudinal is not None:
        tables["longitudinal.csv"] = longitudinal
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, frame in tables.items():
            # Cells a spreadsheet would run become inert text (OWASP); numbers stay numbers.
            spreadsheet_safe(frame).to_csv(folder / name, index=False)
    except OSError as error:
        raise AnalysisError(
            f"{folder}: cannot write the report tables ({error.strerror or error}). Choose a "
            "writable --out folder."
        ) from error

    fields = list(analysed_fields(protocol))
    figures = _Figures()
    # Split the (large) Bland–Altman point table once, not once per figure.
    points = {
        (str(analysis), str(key)): group
        for (analysis, key), group in result.points.groupby(["analysis", "field"], sort=False)
    }
    field_sections = "".join(
        _field_section(result, fld, protocol, figures, points) for fld in fields
    )
    intra_section = _intra_section(result, protocol, figures, points)
    figures.draw(min(4, os.cpu_count() or 1) if processes is None else processes)
    sections: list[tuple[str, str, str]] = [
        ("summary", "Summary", _summary(result, longitudinal)),
        ("disagreement", "Where readers disagree", _disagree_section(result, protocol)),
        ("fields", "Inter-observer agreement per field", figures.fill(field_sections)),
        ("intra", "Intra-observer agreement per reader", figures.fill(intra_section)),
        (
            "measurement-error",
            "Measurement error in the unit of the measurement",
            measurement_error_html(result, protocol) + f"<p>{ci_width_text(result)}</p>",
        ),
    ]
    if grras is not None:
        sections.append(
            ("grras", "Reporting checklist (GRRAS)", grras_html(grras, ci_width_text(result)))
        )
    if longitudinal is not None:
        sections.append(
            ("longitudinal", "Change from 6 months to 1 year", _longitudinal_section(longitudinal))
        )
    for index, (extra_title, body) in enumerate(extras):
        sections.append((f"extra-{index + 1}-{_slug(extra_title)}", _e(extra_title), body))
    sections.append(("methods", "Methods and references", f'<div class="methods">{_METHODS}</div>'))

    nav = "".join(f'<li><a href="#{anchor}">{heading}</a></li>' for anchor, heading, _ in sections)
    field_nav = " · ".join(f'<a href="#field-{_e(f.key)}">{_e(f.label)}</a>' for f in fields)
    body = "".join(
        f'<section id="{anchor}"><h2>{heading}</h2>{content}</section>'
        for anchor, heading, content in sections
    )
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>"
        f'<p class="sub">Protocol {_e(result.protocol_name)} {_e(result.protocol_version)} '
        f"(SHA-256 {_e(result.protocol_sha256[:16])}…) · generated {generated} by collarreader"
        "</p>"
        f'<nav><ol>{nav}</ol><p class="note">Fields: {field_nav}</p></nav>'
        f"{body}</body></html>\n"
    )
    path = folder / "report.html"
    try:
        path.write_text(document, encoding="utf-8")
    except OSError as error:
        raise AnalysisError(
            f"{path}: cannot write the report ({error.strerror or error}). Choose a writable "
            "--out folder."
        ) from error
    return path
