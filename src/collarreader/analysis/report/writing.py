"""Writing the report: ``report.html`` and its CSV tables, all or nothing.

Part of :mod:`collarreader.analysis.report` (see its docstring for the rules).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]

from collarreader.analysis.grras import GrrasFacts, grras_html
from collarreader.analysis.report.figures import _Figures
from collarreader.analysis.report.html import _CSS, _EXTERNAL, _e, _slug
from collarreader.analysis.report.sections import (
    _METHODS,
    _disagree_section,
    _field_section,
    _intra_section,
    _longitudinal_section,
    _summary,
)
from collarreader.analysis.report_reliability import ci_width_text, measurement_error_html
from collarreader.analysis.tables import AgreementResult
from collarreader.analysis.tidy import analysed_fields
from collarreader.db.export import spreadsheet_safe
from collarreader.errors import AnalysisError
from collarreader.protocol import Protocol

REPORT_FILES: tuple[str, ...] = (
    "report.html",
    "agreement_inter.csv",
    "agreement_intra.csv",
    "bland_altman.csv",
    "disagreements.csv",
    "measurement_error.csv",
)
"""Files :func:`write_report` always writes (``longitudinal.csv`` too when given)."""


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
