"""Agreement report at study scale: 10 readers × 500 cases (with repeats), default protocol.

Run: ``python -m bench.bench_agreement [--readers 10] [--cases 500] [--repeat 7]``

Times :func:`collarreader.analysis.tables.agreement_tables` and
:func:`collarreader.analysis.report.write_report` on a synthetic tidy table (seeded: readers with
their own bias and noise around a latent truth per case and zone), against the DESIGN §10 target
(≤ 10 s for both), and, as a peer measured in the same run, a bare pingouin ICC loop over the
same continuous fields, zones and time points (the ratio says what the full analysis costs
beyond the one statistic every study computes).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from bench._machine import describe_machine, median_seconds
from collarreader.analysis.tidy import TIDY_COLUMNS
from collarreader.protocol import Field, FieldType, Level, Protocol, Scope, load_protocol

TARGET_SECONDS = 10.0


def synthesise_tidy(
    protocol: Protocol,
    *,
    n_readers: int = 10,
    n_cases: int = 500,
    repeat_fraction: float = 0.2,
    seed: int = 7,
) -> pd.DataFrame:
    """A tidy long table of simulated reads (every reading submitted).

    Each (case, view/zone, time point) has a latent truth per field; a reader's value is the
    truth plus the reader's bias plus noise, mapped to the field's scale (quantile bins for
    choices). The protocol's skip and zero rules are honoured so the analysis meets the same
    holes as in a real export.
    """
    rng = np.random.default_rng(seed)
    readers = [f"R{index + 1:02d}" for index in range(n_readers)]
    cases = [f"C{index:04d}" for index in range(n_cases)]
    n_repeat = round(repeat_fraction * n_cases)
    entries: list[tuple[str, str, str, str]] = []  # case, view, timepoint, zone
    for case in cases:
        for timepoint in protocol.timepoints:
            for view in protocol.views:
                entries.extend((case, view, timepoint, z.key) for z in protocol.zones_for(view))
                entries.append((case, view, timepoint, ""))
            entries.append((case, "", timepoint, ""))
    frame = pd.DataFrame(entries, columns=["case_code", "view", "timepoint", "zone"])
    truth = {f.key: rng.normal(size=len(frame)) for f in protocol.fields}
    bias = {r: rng.normal(scale=0.3) for r in readers}
    pieces = []
    for reader in readers:
        repeated = set(rng.choice(cases, size=n_repeat, replace=False).tolist())
        for kind in ("primary", "repeat"):
            mask = (
                np.ones(len(frame), dtype=bool)
                if kind == "primary"
                else frame["case_code"].isin(repeated).to_numpy()
            )
            base = frame[mask]
            columns: dict[str, np.ndarray] = {}
            for fld in protocol.fields:
                latent = truth[fld.key][mask] + bias[reader] + rng.normal(scale=0.5, size=len(base))
                columns[fld.key] = _render(fld, latent)
            pieces.append(_rows(protocol, base, columns, reader, kind))
    tidy = pd.concat(pieces, ignore_index=True)
    return tidy[list(TIDY_COLUMNS)]


def _render(fld: Field, latent: np.ndarray) -> np.ndarray:
    if fld.level is Level.CONTINUOUS:
        low = fld.minimum or 0.0
        high = fld.maximum if fld.maximum is not None else 10.0
        values = np.clip(low + (latent + 2.5) / 5.0 * (high - low) * 0.5, low, high)
        decimals = fld.decimals or 0
        return np.array([f"{v:.{decimals}f}" for v in values], dtype=object)
    if fld.type is FieldType.BOOL:
        return np.where(latent > 0.3, "yes", "no").astype(object)
    if fld.type is FieldType.CHOICE:
        edges: np.ndarray | list[float] = (
            np.linspace(-1.2, 1.2, len(fld.choices) - 1) if len(fld.choices) > 1 else []
        )
        index = np.searchsorted(edges, latent)
        if fld.key == "assessable":
            return np.where(latent > -1.8, "yes", "no").astype(object)
        return np.asarray(fld.choices, dtype=object)[index]
    if fld.type is FieldType.TEXT:
        return np.full(len(latent), "", dtype=object)
    return np.full(len(latent), "", dtype=object)  # derived: recomputed by the analysis


def _rows(
    protocol: Protocol,
    base: pd.DataFrame,
    columns: dict[str, np.ndarray],
    reader: str,
    kind: str,
) -> pd.DataFrame:
    zone_rows = (base["zone"] != "").to_numpy()
    view_rows = ((base["zone"] == "") & (base["view"] != "")).to_numpy()
    case_rows = (base["view"] == "").to_numpy()
    skip = protocol.skip_zone_when
    skipped = (
        zone_rows & (columns[skip.field] == skip.value) if skip is not None else zone_rows & False
    )
    out = []
    for fld in protocol.fields:
        if fld.type is FieldType.DERIVED:
            continue
        where = {Scope.ZONE: zone_rows, Scope.VIEW: view_rows, Scope.CASE: case_rows}[fld.scope]
        timepoints = base["timepoint"].isin(fld.timepoints or protocol.timepoints).to_numpy()
        keep = where & timepoints
        values = columns[fld.key].copy()
        if fld.scope is Scope.ZONE and skip is not None and fld.key != skip.field:
            values[skipped] = ""
        if fld.zero_when is not None:
            condition = fld.zero_when
            text = (
                ("yes" if condition.value else "no")
                if isinstance(condition.value, bool)
                else condition.value
            )
            values[columns[condition.field] == text] = ""
        part = base[keep].copy()
        part["field"] = fld.key
        part["value"] = values[keep]
        if fld.scope is Scope.CASE:
            part["view"] = ""
        out.append(part)
    rows = pd.concat(out, ignore_index=True)
    units = {f.key: f.unit or "" for f in protocol.fields}
    rows["reader"] = reader
    rows["case_code"] = (
        rows["case_code"] if kind == "primary" else "X" + rows["case_code"].str[1:] + reader
    )
    rows["kind"] = kind
    rows["repeat_of"] = "" if kind == "primary" else "C" + rows["case_code"].str[1:5]
    rows["joint"] = "hip"
    rows["unit"] = rows["field"].map(units)
    rows["calibration_source"] = np.where(rows["unit"] == "mm", "pixel_spacing", "")
    rows["source"] = "entered"
    rows["submitted"] = True
    return rows


def _pingouin_peer(tidy: pd.DataFrame, protocol: Protocol) -> None:
    """A bare pingouin ICC per continuous zone field, zone and time point (inter only)."""
    import pingouin  # type: ignore[import-untyped]

    primary = tidy[(tidy["kind"] == "primary") & (tidy["zone"] != "")]
    for fld in protocol.zone_fields:
        if fld.level is not Level.CONTINUOUS:
            continue
        rows = primary[primary["field"] == fld.key]
        rows = rows.assign(rating=pd.to_numeric(rows["value"].replace("", np.nan)))
        for _, group in rows.groupby(["zone", "timepoint"]):
            wide = group.pivot_table(index="case_code", columns="reader", values="rating")
            wide = wide.dropna()
            long = wide.stack().rename("rating").reset_index()
            pingouin.intraclass_corr(
                data=long, targets="case_code", raters="reader", ratings="rating"
            )


def _cpu_seconds(function: Callable[[], object]) -> float:
    """CPU time of one run, this process and its (figure-drawing) workers together.

    On a machine shared with other work the wall time says how long the study lead waits;
    the CPU time says what the analysis costs, whatever the load.
    """
    before = os.times()
    function()
    after = os.times()
    return sum(
        getattr(after, name) - getattr(before, name)
        for name in ("user", "system", "children_user", "children_system")
    )


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=10)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (median)")
    args = parser.parse_args()

    from collarreader.analysis.report import write_report
    from collarreader.analysis.tables import agreement_tables

    protocol = load_protocol()
    start = time.perf_counter()
    tidy = synthesise_tidy(protocol, n_readers=args.readers, n_cases=args.cases)
    print(describe_machine())
    print(f"before: {_load()}")
    print(
        f"synthetic tidy table: {len(tidy):,} rows, {args.readers} readers × {args.cases} cases "
        f"(+20 % repeats), made in {time.perf_counter() - start:.1f} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        result = agreement_tables(tidy, protocol)  # warm-up: imports pingouin, statsmodels

        def analyse() -> object:
            return agreement_tables(tidy, protocol)

        def report() -> object:
            return write_report(result, out, title="Benchmark", protocol=protocol)

        t_tables = median_seconds(analyse, repeat=args.repeat, warmup=0)
        t_report = median_seconds(report, repeat=args.repeat, warmup=1)
        cpu_tables = _cpu_seconds(analyse)
        cpu_report = _cpu_seconds(report)
        size_mb = (out / "report.html").stat().st_size / 1e6
        t_peer = median_seconds(lambda: _pingouin_peer(tidy, protocol), repeat=args.repeat)
    total = t_tables + t_report
    print(
        f"agreement_tables: {t_tables:.2f} s, CPU {cpu_tables:.2f} s ({len(result.inter):,} inter "
        f"rows, {len(result.intra):,} intra rows, {len(result.bland_altman):,} Bland–Altman rows)"
    )
    print(
        f"write_report:     {t_report:.2f} s, CPU {cpu_report:.2f} s incl. figure workers "
        f"(report.html {size_mb:.2f} MB)"
    )
    verdict = "meets" if total <= TARGET_SECONDS else "MISSES"
    print(f"total:            {total:.2f} s — {verdict} the ≤ {TARGET_SECONDS:.0f} s target")
    print(
        f"peer: bare pingouin ICC loop over the same continuous zone fields: {t_peer:.2f} s "
        f"(full analysis + report = {total / t_peer:.1f} × the peer)"
    )
    print(f"after: {_load()}")


if __name__ == "__main__":
    main()
