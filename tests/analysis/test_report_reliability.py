"""Report details a reader of the report asked for: fonts, whiskers, panel order, print, notes."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from collarreader.analysis import plots, report
from collarreader.analysis.report_reliability import proportional_bias_note, scale_notes


def test_chart_text_is_at_least_the_body_text() -> None:
    body = re.search(r"body\{[^}]*font-size:(\d+(?:\.\d+)?)px", report._CSS)
    assert body is not None
    smallest_chart_px = plots._SMALL * plots._DPI / 72.0
    assert smallest_chart_px >= float(body.group(1))


def test_print_stylesheet_is_landscape() -> None:
    assert "@media print{@page{size:A4 landscape" in report._CSS


def test_no_whisker_for_a_figure_without_an_interval() -> None:
    figure = Figure()
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    plots._whiskers(axes, [0.0, 1.0, 2.0], [0.5, 0.6, 0.7],
                    [(math.nan, math.nan), (0.4, 0.8), (0.7, math.nan)], "#000000")  # fmt: skip
    (container,) = axes.containers
    (bars,) = container.lines[2]
    segments = bars.get_segments()
    assert len(segments) == 1  # only the figure with both bounds
    assert segments[0][:, 1].tolist() == pytest.approx([0.4, 0.8])
    empty = Figure().add_subplot()
    plots._whiskers(empty, [0.0], [0.5], [(math.nan, math.nan)], "#000000")
    assert not empty.containers


def _points(pairs: list[tuple[str, str, float]]) -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(1)
    for reader_a, reader_b, spread in pairs:
        for mean, difference in zip(rng.uniform(0, 5, 20), rng.normal(0, spread, 20), strict=True):
            rows.append(
                {"analysis": "inter", "field": "rll_width_mm", "reader_a": reader_a,
                 "reader_b": reader_b, "mean": mean, "difference": difference}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_bland_altman_panels_in_fixed_reader_order() -> None:
    # The widest limits come from C–D, then A–C: the panels still go A–B, A–C, B–C, C–D.
    points = _points([("C", "D", 3.0), ("A", "C", 2.0), ("B", "C", 0.5), ("A", "B", 1.0)])
    panels, available = plots._ba_panels(points, max_panels=6)
    assert available == 4
    assert [(p[0], p[1]) for p in panels] == [("A", "B"), ("A", "C"), ("B", "C"), ("C", "D")]
    kept, _ = plots._ba_panels(points, max_panels=2)
    assert [(p[0], p[1]) for p in kept] == [("A", "C"), ("C", "D")]


def _rows(kappa: tuple[float, str, float], alpha: tuple[float, str, float]) -> pd.DataFrame:
    """Headline kappa and secondary alpha rows: (value, band, band score) each."""
    common = {"view": "AP", "zone": "medial", "timepoint": "6m"}
    return pd.DataFrame(
        [
            {**common, "role": "headline", "method": "weighted kappa (quadratic)",
             "value": kappa[0], "band": kappa[1], "band_scale": "Landis & Koch 1977",
             "band_score": kappa[2]},
            {**common, "role": "secondary", "method": "Krippendorff's alpha (ordinal)",
             "value": alpha[0], "band": alpha[1], "band_scale": "Krippendorff 2004",
             "band_score": alpha[2]},
        ]
    )  # fmt: skip


def test_note_where_two_scales_bands_disagree() -> None:
    text = scale_notes(_rows((0.72, "substantial", 0.8), (0.55, "unacceptable", 0.0)))
    assert "The scales disagree here" in text
    assert "“substantial”" in text
    assert "“unacceptable”" in text
    assert scale_notes(_rows((0.85, "almost perfect", 1.0), (0.84, "acceptable", 1.0))) == ""


def test_proportional_bias_note_names_the_pair() -> None:
    frame = pd.DataFrame(
        [{"reader_a": "A", "reader_b": "B", "view": "AP", "zone": "medial", "timepoint": "6m",
          "proportional_bias": True, "slope": 0.21, "slope_ci_low": 0.1, "slope_ci_high": 0.3,
          "slope_p": 0.001, "reg_intercept": 0.1, "reg_abs_intercept": 0.2,
          "reg_abs_slope": 0.05}]
    )  # fmt: skip
    assert "A – B, AP / medial, 6m: slope 0.210" in proportional_bias_note(frame)
    frame["proportional_bias"] = False
    assert "No reader pair shows proportional bias" in proportional_bias_note(frame)
