"""Figures of the agreement report, as PNG ``data:`` URIs to embed in ``report.html``.

Matplotlib's object API (:class:`matplotlib.figure.Figure` drawn by the Agg canvas), never
``pyplot``: no global figure registry, no GUI backend, nothing to close, safe beside Qt. Each
function returns one figure with small multiples — one per field, not one per zone or reader
pair — so a 10-reader study still embeds a few dozen small PNGs.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from collarreader.analysis import agreement
from collarreader.errors import AnalysisError
from collarreader.protocol import Field, Level

__all__ = [
    "BAND_THRESHOLDS",
    "agreement_by_zone_plot",
    "bland_altman_plot",
    "figure_to_data_uri",
    "intra_by_reader_plot",
]

#: Band boundaries drawn as dashed lines, per scale (the ``band_scale`` column's values).
BAND_THRESHOLDS: dict[str, tuple[float, ...]] = {
    "Koo & Li 2016": (0.5, 0.75, 0.9),
    "Landis & Koch 1977": (0.0, 0.2, 0.4, 0.6, 0.8),
    "Krippendorff 2004": (0.667, 0.8),
}

_DPI = 80
# Titles at a fixed height: matplotlib then skips auto-positioning them, which measures every
# tick label of the axes at draw time; nothing is drawn above these axes, so the title lands
# where auto-positioning would put it (the PNGs are byte-identical) at less drawing cost.
_TITLE_Y = 1.0
# Chart text at least as large as the report's body text (14 px): a point is _DPI/72 px, so
# 13 pt draws 14.4 px at 80 dpi (checked against the report's CSS in the tests). Titles a
# point larger. The figures are sized so that no image is scaled down by the page.
_FONT = 14
_SMALL = 13
_COLOURS = ("#3465a4", "#f57900", "#4e9a06", "#75507b", "#c17d11", "#cc0000", "#555753")
# Matplotlib's "tab20": paired light/dark hues, for up to 20 series in one panel.
_MANY_COLOURS = (
    "#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896",
    "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7",
    "#bcbd22", "#dbdb8d", "#17becf", "#9edae5",
)  # fmt: skip


def _figure(
    width_in: float,
    height_in: float,
    *,
    left_in: float = 1.0,
    right_in: float = 0.2,
    top_in: float = 0.65,
    bottom_in: float = 0.75,
    wspace: float = 0.4,
    hspace: float = 0.75,
) -> Figure:
    # Fixed margins in inches instead of a layout engine: constrained/tight layout draws every
    # figure twice, which doubled the report's time for no visible gain on these simple plots.
    figure = Figure(figsize=(width_in, height_in), dpi=_DPI)
    FigureCanvasAgg(figure)
    figure.subplots_adjust(
        left=left_in / width_in,
        right=1.0 - right_in / width_in,
        top=1.0 - top_in / height_in,
        bottom=bottom_in / height_in,
        wspace=wspace,
        hspace=hspace,
    )
    return figure


def figure_to_data_uri(figure: Figure) -> str:
    """The figure as a ``data:image/png;base64,…`` URI (Agg, moderate DPI, small file)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _style(axes: Axes) -> None:
    axes.tick_params(labelsize=_SMALL)
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _whiskers(
    axes: Axes,
    positions: Sequence[float],
    values: Sequence[float],
    intervals: Sequence[tuple[float, float]],
    colour: str,
) -> None:
    """Draw 95 % CI whiskers only where an interval exists.

    A figure without an interval gets none, not a zero-width bar that reads as certainty.
    """
    keep = [
        i for i, (low, high) in enumerate(intervals) if math.isfinite(low) and math.isfinite(high)
    ]
    if not keep:
        return
    axes.errorbar(
        [positions[i] for i in keep],
        [values[i] for i in keep],
        yerr=[
            [values[i] - intervals[i][0] for i in keep],
            [intervals[i][1] - values[i] for i in keep],
        ],
        fmt="none",
        elinewidth=1.1,
        capsize=3,
        ecolor=colour,
    )


def _short_method(method: str) -> str:
    return (
        method.replace("mean pairwise weighted kappa (quadratic)", "mean weighted κ")
        .replace("weighted kappa (quadratic)", "weighted κ")
        .replace("kappa", "κ")
    )


def _group_label(view: str, zone: str) -> str:
    if zone:
        return f"{view} {zone}" if view else zone
    return view or "case"


def agreement_by_zone_plot(rows: pd.DataFrame, fld: Field) -> str | None:
    """Bars of one field's headline agreement per view/zone, one bar per time point.

    Parameters
    ----------
    rows : headline inter-observer rows of the field (columns of
        :data:`~collarreader.analysis.tables.AGREEMENT_COLUMNS`)
    fld : the field

    Returns
    -------
    str or None
        A PNG data URI: error bars show the 95 % CI, dashed lines the band boundaries of the
        statistic's scale; None when no row has a value.
    """
    shown = rows[rows["value"].notna()]
    if shown.empty:
        return None
    groups = list(dict.fromkeys(zip(shown["view"], shown["zone"], strict=True)))
    timepoints = list(dict.fromkeys(shown["timepoint"]))
    width = max(5.4, 0.8 * len(groups) * max(1, len(timepoints)) + 3.0)
    figure = _figure(width, 3.6, right_in=1.2, top_in=0.5, bottom_in=0.6)
    axes = figure.add_subplot()
    width = 0.8 / max(len(timepoints), 1)
    for t_index, timepoint in enumerate(timepoints):
        subset = shown[shown["timepoint"] == timepoint]
        positions, heights, intervals = [], [], []
        for g_index, (view, zone) in enumerate(groups):
            match = subset[(subset["view"] == view) & (subset["zone"] == zone)]
            if match.empty:
                continue
            row = match.iloc[0]
            positions.append(g_index - 0.4 + width * (t_index + 0.5))
            heights.append(float(row["value"]))
            intervals.append((float(row["ci_low"]), float(row["ci_high"])))
        axes.bar(
            positions,
            heights,
            width=width * 0.9,
            color=_COLOURS[t_index % len(_COLOURS)],
            label=str(timepoint),
        )
        _whiskers(axes, positions, heights, intervals, "#2e3436")
    scale = str(shown["band_scale"].iloc[0])
    for threshold in BAND_THRESHOLDS.get(scale, ()):
        axes.axhline(threshold, color="#888a85", linestyle="--", linewidth=0.8)
    axes.set_xticks(range(len(groups)))
    axes.set_xticklabels([_group_label(v, z) for v, z in groups], fontsize=_SMALL)
    lows = shown["ci_low"].dropna().tolist() + shown["value"].tolist()
    axes.set_ylim(max(-1.05, min(-0.05, min(lows) - 0.05)), 1.05)
    axes.set_ylabel(_short_method(str(shown["method"].iloc[0])), fontsize=_SMALL)
    axes.set_title(f"{fld.label} ({scale})", fontsize=_FONT, loc="left", y=_TITLE_Y)
    axes.legend(fontsize=_SMALL, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _style(axes)
    return figure_to_data_uri(figure)


def _ba_panels(mine: pd.DataFrame, max_panels: int) -> tuple[list[Any], int]:
    """The Bland–Altman panels to draw, in a fixed reader order, and how many pairs exist.

    With more pairs than ``max_panels`` those with the widest limits are kept; the kept ones
    are then drawn sorted by (reader A, reader B), so the same pair sits in the same place in
    every field's figure.
    """
    panels = []
    for (reader_a, reader_b), pair in mine.groupby(["reader_a", "reader_b"], sort=True):
        means = pair["mean"].to_numpy(dtype=np.float64)
        differences = pair["difference"].to_numpy(dtype=np.float64)
        try:
            pooled = agreement.bland_altman(means + differences / 2, means - differences / 2)
        except AnalysisError:
            continue
        panels.append((str(reader_a), str(reader_b), means, differences, pooled))
    available = len(panels)
    if available > max_panels:
        panels.sort(key=lambda panel: -(panel[4].upper - panel[4].lower))
        panels = panels[:max_panels]
    panels.sort(key=lambda panel: (panel[0], panel[1]))
    return panels, available


def bland_altman_plot(
    points: pd.DataFrame,
    fld: Field,
    analysis: str,
    *,
    max_panels: int = 6,
    max_points: int = 1500,
) -> tuple[str | None, int]:
    """Bland–Altman small multiples of one continuous field, zones and time points pooled.

    Parameters
    ----------
    points : the ``points`` of an :class:`~collarreader.analysis.tables.AgreementResult`
    fld : a continuous field
    analysis : ``"inter"`` (one panel per reader pair, differences reader A − reader B) or
        ``"intra"`` (one panel per reader, primary − repeat)
    max_panels : at most this many panels; with more pairs, those with the widest limits of
        agreement are drawn (the rest are in ``bland_altman.csv``)
    max_points : at most this many dots per panel (a seeded random subset; bias and limits use
        every pair)

    Returns
    -------
    (str or None, int)
        The PNG data URI (None without points) and the number of panels available.
    """
    mine = points[(points["field"] == fld.key) & (points["analysis"] == analysis)]
    if mine.empty:
        return None, 0
    panels, available = _ba_panels(mine, max_panels)
    if not panels:
        return None, 0
    columns = min(3, len(panels))
    n_rows = math.ceil(len(panels) / columns)
    figure = _figure(3.9 * columns + 0.4, 3.2 * n_rows + 0.7, wspace=0.45, hspace=0.8)
    unit = f" ({fld.unit})" if fld.unit else ""
    for index, (reader_a, reader_b, means, differences, pooled) in enumerate(panels):
        axes = figure.add_subplot(n_rows, columns, index + 1)
        shown_means, shown_differences = means, differences
        if len(means) > max_points:
            # Thousands of overlapping dots add drawing time, not information; the lines use
            # every point.
            keep = np.random.default_rng(0).choice(len(means), size=max_points, replace=False)
            shown_means, shown_differences = means[keep], differences[keep]
        axes.plot(
            shown_means,
            shown_differences,
            linestyle="none",
            marker="o",
            markersize=2.2,
            markeredgewidth=0,
            alpha=0.35,
            color=_COLOURS[0],
        )
        for level, style, text in (
            (pooled.bias, "-", f"bias {pooled.bias:.2f}"),
            (pooled.upper, "--", f"+1.96 SD {pooled.upper:.2f}"),
            (pooled.lower, "--", f"−1.96 SD {pooled.lower:.2f}"),
        ):
            axes.axhline(level, color="#cc0000", linestyle=style, linewidth=0.9)
            axes.annotate(
                text,
                xy=(1.0, level),
                xycoords=("axes fraction", "data"),
                ha="right",
                va="bottom",
                fontsize=_SMALL,
                color="#a40000",
            )
        axes.axhline(0.0, color="#888a85", linewidth=0.6)
        bias = pooled.proportional
        if bias is not None and bias.detected:
            # Proportional bias: the regression line and the regression-based limits
            # (Bland & Altman 1999 §3.2) replace the constant ones as the message.
            grid = np.linspace(float(means.min()), float(means.max()), 50)
            centre, low, high = bias.limits_at(grid)
            axes.plot(grid, centre, color="#204a87", linewidth=1.2)
            axes.plot(grid, low, color="#204a87", linewidth=1.0, linestyle=":")
            axes.plot(grid, high, color="#204a87", linewidth=1.0, linestyle=":")
            axes.annotate(
                f"proportional bias, slope {bias.slope:.2f} (p = {bias.p_value:.2g})",
                xy=(0.0, 1.0),
                xycoords="axes fraction",
                ha="left",
                va="top",
                fontsize=_SMALL,
                color="#204a87",
            )
        title = (
            f"{reader_a} − {reader_b}" if analysis == "inter" else f"{reader_a}: primary − repeat"
        )
        axes.set_title(f"{title} (n = {pooled.n})", fontsize=_SMALL, y=_TITLE_Y)
        axes.set_xlabel(f"mean{unit}", fontsize=_SMALL)
        axes.set_ylabel(f"difference{unit}", fontsize=_SMALL)
        _style(axes)
    what = "reader pairs" if analysis == "inter" else "readers"
    shown = (
        f"{len(panels)} of {available} {what}, widest limits first"
        if available > len(panels)
        else f"{available} {what}"
    )
    figure.suptitle(
        f"{fld.label}: Bland–Altman, all zones and time points pooled ({shown})",
        fontsize=_FONT,
    )
    return figure_to_data_uri(figure), available


def intra_by_reader_plot(rows: pd.DataFrame, fields: Sequence[Field]) -> str | None:
    """Intra-observer headline agreement per reader: one panel per field, CI whiskers.

    Parameters
    ----------
    rows : headline intra-observer rows (columns of
        :data:`~collarreader.analysis.tables.AGREEMENT_COLUMNS`)
    fields : the fields to draw, in order (fields without a value are skipped)

    Returns
    -------
    str or None
        A PNG data URI; each dot is one view/zone and time point, dashed lines are the band
        boundaries; None when there is nothing to draw.
    """
    shown = rows[rows["value"].notna()]
    drawn = [f for f in fields if (shown["field"] == f.key).any()]
    if not drawn:
        return None
    readers = sorted(shown["readers"].unique())
    every_group = list(
        dict.fromkeys(zip(shown["view"], shown["zone"], shown["timepoint"], strict=True))
    )
    palette = _COLOURS if len(every_group) <= len(_COLOURS) else _MANY_COLOURS
    colours = {g: palette[i % len(palette)] for i, g in enumerate(every_group)}
    columns = min(3, len(drawn))
    n_rows = math.ceil(len(drawn) / columns)
    width = max(3.9, 0.5 * len(readers) + 2.0)
    n_legend_rows = math.ceil(len(every_group) / 4)
    figure = _figure(
        width * columns,
        3.0 * n_rows + 0.9 + 0.3 * n_legend_rows,
        bottom_in=0.8 + 0.3 * n_legend_rows,
        top_in=0.8,
        wspace=0.35,
        hspace=0.7,
    )
    for index, fld in enumerate(drawn):
        axes = figure.add_subplot(n_rows, columns, index + 1)
        mine = shown[shown["field"] == fld.key]
        groups = list(
            dict.fromkeys(zip(mine["view"], mine["zone"], mine["timepoint"], strict=True))
        )
        for g_index, group in enumerate(groups):
            view, zone, timepoint = group
            subset = mine[
                (mine["view"] == view) & (mine["zone"] == zone) & (mine["timepoint"] == timepoint)
            ]
            offset = (g_index - (len(groups) - 1) / 2) * (0.6 / max(len(groups), 1))
            x = np.array([readers.index(r) for r in subset["readers"]]) + offset
            values = subset["value"].to_numpy(dtype=np.float64)
            axes.plot(
                x,
                values,
                linestyle="none",
                marker="o",
                markersize=4,
                color=colours[group],
                label=f"{_group_label(view, zone)} {timepoint}",
            )
            _whiskers(
                axes,
                x.tolist(),
                values.tolist(),
                list(zip(subset["ci_low"], subset["ci_high"], strict=True)),
                colours[group],
            )
        scale = str(mine["band_scale"].iloc[0])
        for threshold in BAND_THRESHOLDS.get(scale, ()):
            axes.axhline(threshold, color="#888a85", linestyle="--", linewidth=0.7)
        axes.set_xticks(range(len(readers)))
        axes.set_xticklabels(readers, fontsize=_SMALL, rotation=90 if len(readers) > 6 else 0)
        lowest = float(np.nanmin(mine["ci_low"].fillna(mine["value"])))
        # Intervals of small samples can reach far below 0; the bands live in −1…1.
        axes.set_ylim(max(-1.05, min(-0.05, lowest - 0.05)), 1.05)
        method = "ICC" if fld.level is Level.CONTINUOUS else "kappa"
        axes.set_title(f"{fld.label} ({method})", fontsize=_SMALL, y=_TITLE_Y)
        _style(axes)
    handles: dict[str, Any] = {}
    for axes in figure.axes:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    figure.legend(
        list(handles.values()),
        list(handles.keys()),
        loc="lower center",
        ncol=min(4, len(handles)),
        fontsize=_SMALL,
        frameon=False,
    )
    figure.suptitle(
        "Intra-observer agreement per reader (dots: views/zones × time points; bars: 95 % CI)",
        fontsize=_FONT,
    )
    return figure_to_data_uri(figure)
