"""Small HTML pieces of the report: its style sheet, escaped numbers, coloured bands, tables.

Part of :mod:`collarreader.analysis.report` (see its docstring for the rules).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence

import pandas as pd  # type: ignore[import-untyped]

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
