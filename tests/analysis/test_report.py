"""report.html: self-contained, parseable, complete; CSV tables; extra sections escaped."""

from __future__ import annotations

import dataclasses
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collarreader.analysis import report
from collarreader.analysis.longitudinal import longitudinal_table
from collarreader.analysis.report import REPORT_FILES, html_table, write_report
from collarreader.analysis.tables import AgreementResult, agreement_tables
from collarreader.analysis.tidy import TIDY_COLUMNS, UNBLINDED_COLUMNS, analysed_fields
from collarreader.errors import AnalysisError
from collarreader.protocol import FieldType, Level, Protocol, Scope, load_protocol


@pytest.fixture(scope="module")
def protocol() -> Protocol:
    return load_protocol("collar-default")


def simulated_study(protocol: Protocol, readers: int = 3, cases: int = 12) -> pd.DataFrame:
    """Every field of the protocol, readers scattered around a latent truth, 3 repeats each."""
    rng = np.random.default_rng(5)
    rows: list[dict[str, object]] = []
    truth = {
        (case, fld.key, view, zone, tp): rng.normal()
        for case in range(cases)
        for fld in protocol.fields
        for view in protocol.views
        for zone in [*(z.key for z in protocol.zones_for(view)), ""]
        for tp in protocol.timepoints
    }

    def value(fld_key: str, latent: float) -> str:
        fld = protocol.field(fld_key)
        if fld.level is Level.CONTINUOUS:
            high = 5.0 if fld.unit == "mm" else 100.0
            return f"{np.clip((latent + 2.5) / 5 * high, 0, high):.{fld.decimals or 0}f}"
        if fld.type is FieldType.BOOL:
            return "yes" if latent > 0 else "no"
        if fld.key == "assessable":
            return "no" if latent < -1.5 else "yes"
        if fld.type is FieldType.CHOICE:
            return fld.choices[
                int(np.clip((latent + 1.5) / 3 * len(fld.choices), 0, len(fld.choices) - 1))
            ]
        return "free text" if fld.type is FieldType.TEXT else ""

    def reading(reader: str, code: str, case: int, kind: str, repeat_of: str) -> None:
        for tp in protocol.timepoints:
            for view in protocol.views:
                for zone in [*(z.key for z in protocol.zones_for(view)), ""]:
                    scope = Scope.ZONE if zone else Scope.VIEW
                    for fld in protocol.fields_for(scope, timepoint=tp, view=view):
                        if fld.type is FieldType.DERIVED:
                            continue
                        latent = truth[(case, fld.key, view, zone, tp)] + rng.normal(0, 0.5)
                        rows.append(
                            {
                                "reader": reader,
                                "case_code": code,
                                "kind": kind,
                                "repeat_of": repeat_of,
                                "joint": "knee",
                                "view": view,
                                "timepoint": tp,
                                "zone": zone,
                                "field": fld.key,
                                "value": value(fld.key, latent),
                                "unit": fld.unit or "",
                                "calibration_source": "pixel_spacing" if fld.unit == "mm" else "",
                                "source": "entered",
                                "submitted": True,
                                "site": "S1",
                                "patient": f"P{case}",
                                "true_timepoint": tp,
                            }
                        )
            for fld in protocol.fields_for(Scope.CASE, timepoint=tp):
                latent = truth[(case, fld.key, "AP", "", tp)] + rng.normal(0, 0.5)
                rows.append(
                    {
                        **rows[-1],
                        "view": "",
                        "zone": "",
                        "field": fld.key,
                        "value": value(fld.key, latent),
                        "unit": fld.unit or "",
                    }
                )

    for r in range(readers):
        reader = f"R{r + 1}"
        for case in range(cases):
            reading(reader, f"C{case:02d}", case, "primary", "")
        for case in range(3):
            reading(reader, f"X{r}{case}", case, "repeat", f"C{case:02d}")
    return pd.DataFrame(rows, columns=[*TIDY_COLUMNS, *UNBLINDED_COLUMNS])


@pytest.fixture(scope="module")
def study(protocol: Protocol) -> pd.DataFrame:
    return simulated_study(protocol)


@pytest.fixture(scope="module")
def result(study: pd.DataFrame, protocol: Protocol) -> AgreementResult:
    return agreement_tables(study, protocol, n_boot=0)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.sources: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "src":
                self.sources.append(value or "")
            if name == "href":
                self.links.append(value or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def written(
    tmp_path_factory: pytest.TempPathFactory,
    result: AgreementResult,
    study: pd.DataFrame,
    protocol: Protocol,
) -> tuple[Path, str, _Collector]:
    out = tmp_path_factory.mktemp("report")
    path = write_report(
        result,
        out,
        title="Collar study <pilot> & co",
        protocol=protocol,
        longitudinal=longitudinal_table(study, protocol),
        extra_sections=[("Oxford scores <12 items>", "<p>Oxford table here</p>")],
    )
    document = path.read_text(encoding="utf-8")
    parser = _Collector()
    parser.feed(document)
    parser.close()
    return path, document, parser


def test_report_and_tables_are_written(
    written: tuple[Path, str, _Collector], result: AgreementResult
) -> None:
    path, _, _ = written
    assert path.name == "report.html"
    for name in (*REPORT_FILES, "longitudinal.csv"):
        assert (path.parent / name).is_file(), name
    inter = pd.read_csv(path.parent / "agreement_inter.csv", keep_default_na=False)
    assert len(inter) == len(result.inter)
    assert len(pd.read_csv(path.parent / "bland_altman.csv")) == len(result.bland_altman)


def test_report_is_self_contained(written: tuple[Path, str, _Collector]) -> None:
    _, document, parser = written
    assert "http://" not in document
    assert "https://" not in document
    assert parser.sources, "no image embedded"
    assert all(src.startswith("data:image/png;base64,") for src in parser.sources)
    assert all(link.startswith("#") for link in parser.links)
    assert not {"script", "link", "iframe"} & set(parser.tags)
    # Every src= in the raw text is a data: URI (the parser could miss malformed markup).
    assert all(m.startswith("data:") for m in re.findall(r'src="([^"]*)"', document))


def test_report_names_every_field_and_embeds_plots(
    written: tuple[Path, str, _Collector], protocol: Protocol
) -> None:
    _, document, parser = written
    text = " ".join(parser.text)
    for fld in analysed_fields(protocol):
        assert fld.label in text, fld.key
        assert f'id="field-{fld.key}"' in document
    continuous = [f for f in analysed_fields(protocol) if f.level is Level.CONTINUOUS]
    # A zone chart per field with a value, Bland–Altman per continuous field (inter + intra),
    # and the intra-observer overview.
    assert len(parser.sources) >= len(continuous) * 2 + 1
    for heading in ("Summary", "Where readers disagree", "Methods and references"):
        assert heading in text
    for citation in ("McGraw", "Shrout", "Koo", "Landis", "Krippendorff", "Bland"):
        assert citation in text


def test_report_escapes_titles_and_keeps_extra_html(written: tuple[Path, str, _Collector]) -> None:
    _, document, parser = written
    assert "Collar study &lt;pilot&gt; &amp; co" in document
    assert "Oxford scores &lt;12 items&gt;" in document
    assert "<p>Oxford table here</p>" in document
    assert "Change from 6 months to 1 year" in " ".join(parser.text)


def test_report_shows_disagreement_cases(
    written: tuple[Path, str, _Collector], result: AgreementResult
) -> None:
    _, document, _ = written
    assert not result.disagreements.empty
    assert result.disagreements.iloc[0]["case_code"] in document


def test_extra_section_with_external_reference_is_refused(
    tmp_path: Path, result: AgreementResult, protocol: Protocol
) -> None:
    for body in (
        '<img src="https://example.org/x.png">',
        "<script>alert(1)</script>",
        '<a href="file.csv">tables</a>',
    ):
        with pytest.raises(AnalysisError, match="self-contained"):
            write_report(
                result, tmp_path, title="t", protocol=protocol, extra_sections=[("x", body)]
            )
    assert not (tmp_path / "report.html").exists()


def test_protocol_mismatch_is_refused(tmp_path: Path, result: AgreementResult) -> None:
    with pytest.raises(AnalysisError, match="same protocol"):
        write_report(result, tmp_path, title="t", protocol=load_protocol("collar-gruen"))


def test_html_table_escapes_cells() -> None:
    frame = pd.DataFrame({"case": ["<b>C1</b>"], "value": [0.12345]})
    rendered = html_table(frame, [("case", "case & code"), ("value", "value")], decimals=2)
    assert "&lt;b&gt;C1&lt;/b&gt;" in rendered
    assert "case &amp; code" in rendered
    assert '<td class="num">0.12</td>' in rendered


def _without_timestamp(document: str) -> str:
    return re.sub(r"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", "generated …", document)


def test_report_is_the_same_drawn_in_one_or_several_processes(
    tmp_path: Path, result: AgreementResult, protocol: Protocol
) -> None:
    # Two fields keep it quick: a continuous one (Bland–Altman figures) and an ordinal one.
    kept = {"rll_width_mm", "bridging"}
    small = dataclasses.replace(
        result,
        inter=result.inter[result.inter["field"].isin(kept)],
        intra=result.intra[result.intra["field"].isin(kept)],
        bland_altman=result.bland_altman[result.bland_altman["field"].isin(kept)],
        points=result.points[result.points["field"].isin(kept)],
    )
    serial = write_report(small, tmp_path / "one", title="T", protocol=protocol, processes=1)
    pooled = write_report(small, tmp_path / "two", title="T", protocol=protocol, processes=2)
    first = _without_timestamp(serial.read_text(encoding="utf-8"))
    assert first == _without_timestamp(pooled.read_text(encoding="utf-8"))
    assert first.count("data:image/png;base64,") >= 3
    assert "\x00" not in first  # every figure placeholder was filled


def _pid_uri() -> str:
    return f"data:text/plain,{os.getpid()}"


def test_figures_are_drawn_in_worker_processes_when_forking_is_safe() -> None:
    figures = report._Figures()
    html_text = "".join(figures.request(_pid_uri, alt=f"job {i}") for i in range(4))
    figures.draw(2)
    pids = set(re.findall(r"data:text/plain,(\d+)", figures.fill(html_text)))
    assert len(re.findall(r"<img ", figures.fill(html_text))) == 4
    if not report._fork_is_safe():
        assert pids == {str(os.getpid())}
        pytest.skip("forking is not safe in this process (Qt loaded or threads running)")
    # This process draws its share and one worker draws the rest.
    assert len(pids) == 2
    assert str(os.getpid()) in pids
    serial = report._Figures()
    serial.request(_pid_uri, alt="here")
    serial.draw(2)  # a single figure is not worth a worker
    assert serial.images == [f'<img src="data:text/plain,{os.getpid()}" alt="here">']
