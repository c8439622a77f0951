"""The 6 m → 12 m change per patient, after unblinding (DESIGN §8).

Needs the unblinded tidy table (``collarreader export --key``): ``site``, ``patient`` and
``true_timepoint`` say whose image each value is and when it was taken, whatever label the
reader saw. Only submitted primary reads are used (repeat reads measure the reader, not the
patient).

Measures, per case (a patient's joint) and reader:

- per zone, every continuous zone field (``rll_width_mm``, ``bridging_extent``) with the
  protocol's rules applied (no line → 0 mm; a zone that is not assessable has no value);
- per reading, the protocol's own summary scores from :meth:`Protocol.summarise`: counts
  (``osseointegrated_zones``: bridging partial/complete, RLL grade none or < 1 mm, no
  osteolysis) and totals (``rll_width_sum_mm``, ``rll_width_max_mm``), plus the mean of each
  continuous zone field over the zones that have it (``bridging_extent_mean``).

A reader **consensus** row gives, per time point, the median of the readers' values, and the
change between those medians. A missing time point or value gives NaN and a note, never an
error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from collarreader.analysis.tidy import (
    UNBLINDED_COLUMNS,
    apply_protocol_rules,
    decode_value,
    entry_codes,
    is_unblinded,
    validate_tidy,
)
from collarreader.errors import AnalysisError
from collarreader.protocol import FieldValue, Level, Protocol

__all__ = ["CONSENSUS", "LONGITUDINAL_COLUMNS", "consensus_summary", "longitudinal_table"]

CONSENSUS = "consensus (median)"
"""The ``reader`` of consensus rows."""

# The adjudicated reading's reader (analysis.tables.CONSENSUS_READER; not imported from there,
# which imports this module's neighbours' heavy statistics).
ADJUDICATED_READER = "consensus"

LONGITUDINAL_COLUMNS: tuple[str, ...] = (
    "site",
    "patient",
    "case_code",
    "joint",
    "reader",
    "measure",
    "label",
    "zone",
    "unit",
    "baseline",
    "follow_up",
    "value_baseline",
    "value_follow_up",
    "change",
    "n_readers",
    "note",
)
"""Columns of :func:`longitudinal_table`: ``baseline``/``follow_up`` name the time points
(``6m``/``12m``), ``change`` is follow-up − baseline, ``n_readers`` counts the readers behind a
consensus row (1 for a reader's own row)."""


def _reading_summaries(raw: pd.DataFrame, protocol: Protocol, keys: list[str]) -> pd.DataFrame:
    """Protocol summary scores per reading and time point, one column per numeric score."""
    zone_rows = raw[raw["zone"] != ""]
    fields = [f for f in protocol.zone_fields if f.key in raw.columns]
    records: list[dict[str, object]] = []
    numeric_keys: list[str] = [rule.key for rule in protocol.counts] + [
        rule.key for rule in protocol.totals
    ]
    columns = [f.key for f in fields]
    for key_values, group in zone_rows.groupby(keys, sort=False):
        zone_values: dict[str, dict[str, FieldValue]] = {}
        for zone, codes in zip(
            group["zone"], group[columns].to_numpy(dtype=np.float64), strict=True
        ):
            zone_values[str(zone)] = {
                fld.key: decode_value(fld, float(code))
                for fld, code in zip(fields, codes, strict=True)
            }
        summary = protocol.summarise(zone_values, timepoint=str(key_values[-1]))
        record: dict[str, object] = dict(zip(keys, key_values, strict=True))
        for score in numeric_keys:
            value = summary.get(score)
            record[score] = math.nan if value is None else float(value)  # type: ignore[arg-type]
        undetermined = [summary.get(f"{rule.key}_undetermined") for rule in protocol.counts]
        record["_undetermined"] = sum(int(v) for v in undetermined if isinstance(v, int))
        records.append(record)
    return pd.DataFrame(records, columns=[*keys, *numeric_keys, "_undetermined"])


def _measures(protocol: Protocol) -> list[tuple[str, str, str, bool]]:
    """(measure key, label, unit, per zone) in report order."""
    measures: list[tuple[str, str, str, bool]] = [
        (rule.key, rule.label, "zones", False) for rule in protocol.counts
    ]
    measures += [
        (rule.key, rule.label, protocol.field(rule.field).unit or "", False)
        for rule in protocol.totals
    ]
    continuous = [f for f in protocol.zone_fields if f.level is Level.CONTINUOUS]
    measures += [
        (f"{f.key}_mean", f"{f.label}, mean of zones", f.unit or "", False) for f in continuous
    ]
    measures += [(f.key, f.label, f.unit or "", True) for f in continuous]
    return measures


def longitudinal_table(
    tidy: pd.DataFrame,
    protocol: Protocol,
    *,
    baseline: str | None = None,
    follow_up: str | None = None,
) -> pd.DataFrame:
    """Per patient (case), zone and reader: baseline and follow-up values and their change.

    Parameters
    ----------
    tidy : the unblinded tidy long table (with ``site``, ``patient``, ``true_timepoint``)
    protocol : the protocol the study was read with
    baseline, follow_up : true time points compared (default: the protocol's first and last,
        ``6m`` and ``12m``)

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LONGITUDINAL_COLUMNS`, one row per case × measure × zone (``""`` for
        per-reading measures) × reader, and a :data:`CONSENSUS` row per case × measure × zone;
        sorted by site, patient, case, measure, zone, with the consensus first.

    Raises
    ------
    AnalysisError
        If the table is not unblinded (export it with ``--key``) or is malformed.
    """
    table = validate_tidy(tidy)
    if not is_unblinded(table):
        raise AnalysisError(
            f"The 6 m → 12 m change needs the unblinded export (columns "
            f"{', '.join(UNBLINDED_COLUMNS)}); export with collarreader export DB --key KEYFILE."
        )
    start = baseline or protocol.timepoints[0]
    end = follow_up or protocol.timepoints[-1]
    extra = ["joint", "site", "patient", "true_timepoint"]
    raw = entry_codes(table, protocol, extra_keys=extra)
    raw = raw[raw["kind"] == "primary"]
    effective = apply_protocol_rules(raw, protocol)
    reading = ["site", "patient", "case_code", "joint", "reader"]
    keys = [*reading, "true_timepoint"]

    # Per-reading values at each time point: one long frame (keys, measure, zone, value).
    summaries = _reading_summaries(raw, protocol, keys)
    long_parts: list[pd.DataFrame] = [
        summaries[keys].assign(measure=rule_key, zone="", value=summaries[rule_key])
        for rule_key in [r.key for r in protocol.counts] + [r.key for r in protocol.totals]
    ]
    zone_entries = effective[effective["zone"] != ""]
    for fld in protocol.zone_fields:
        if fld.level is not Level.CONTINUOUS or fld.key not in zone_entries.columns:
            continue
        long_parts.append(
            zone_entries[keys].assign(
                measure=fld.key, zone=zone_entries["zone"], value=zone_entries[fld.key]
            )
        )
        means = zone_entries.groupby(keys, sort=False)[fld.key].mean().rename("value").reset_index()
        long_parts.append(means.assign(measure=f"{fld.key}_mean", zone=""))
    long = pd.concat(long_parts, ignore_index=True)
    undetermined = summaries.set_index(keys)["_undetermined"]

    indexed = long.set_index([*reading, "measure", "zone", "true_timepoint"])["value"]
    wide = indexed[~indexed.index.duplicated()].unstack("true_timepoint")
    wide = wide.reindex(columns=[start, end])
    wide.columns = ["value_baseline", "value_follow_up"]
    wide = wide.reset_index()
    wide["change"] = wide["value_follow_up"] - wide["value_baseline"]
    wide["n_readers"] = 1
    wide["note"] = [
        _note(row, start, end, undetermined)
        for row in wide[[*reading, "measure", "value_baseline", "value_follow_up"]].itertuples(
            index=False
        )
    ]

    consensus = _consensus(wide, start, end)
    result = pd.concat([wide, consensus], ignore_index=True)
    measures = _measures(protocol)
    labels = {key: label for key, label, _, _ in measures}
    units = {key: unit for key, _, unit, _ in measures}
    order = {key: index for index, (key, _, _, _) in enumerate(measures)}
    zone_order = {z.key: index for index, z in enumerate(protocol.zones)}
    result["label"] = result["measure"].map(labels).fillna(result["measure"])
    result["unit"] = result["measure"].map(units).fillna("")
    result["baseline"] = start
    result["follow_up"] = end
    result = result.assign(
        _measure=result["measure"].map(order).fillna(len(order)),
        _zone=result["zone"].map(zone_order).fillna(-1),
        _consensus=result["reader"] != CONSENSUS,
    ).sort_values(
        ["site", "patient", "case_code", "_measure", "_zone", "_consensus", "reader"],
        kind="stable",
    )
    return result[list(LONGITUDINAL_COLUMNS)].reset_index(drop=True)


def _note(row: tuple[object, ...], start: str, end: str, undetermined: pd.Series) -> str:
    site, patient, case_code, joint, reader, measure, before, after = row
    notes = []
    if isinstance(before, float) and math.isnan(before):
        notes.append(f"no value at {start}")
    if isinstance(after, float) and math.isnan(after):
        notes.append(f"no value at {end}")
    if measure == "osseointegrated_zones":
        for timepoint in (start, end):
            key = (site, patient, case_code, joint, reader, timepoint)
            count = int(undetermined.get(key, 0))
            if count:
                notes.append(f"{count} zone(s) undetermined at {timepoint}")
    return "; ".join(notes)


def _consensus(wide: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    """Median across readers per time point; change between the medians.

    An adjudicated reading (reader ``consensus``, see :mod:`collarreader.analysis.adjudication`)
    is listed as its own rows beside the readers, never counted in their median.
    """
    group_keys = ["site", "patient", "case_code", "joint", "measure", "zone"]
    wide = wide[wide["reader"] != ADJUDICATED_READER]
    grouped = wide.groupby(group_keys, sort=False, dropna=False)
    consensus = grouped[["value_baseline", "value_follow_up"]].median().reset_index()
    counts = grouped[["value_baseline", "value_follow_up"]].count().reset_index(drop=True)
    consensus["change"] = consensus["value_follow_up"] - consensus["value_baseline"]
    consensus["reader"] = CONSENSUS
    consensus["n_readers"] = np.minimum(counts["value_baseline"], counts["value_follow_up"])
    consensus["note"] = [
        _consensus_note(int(a), int(b), start, end)
        for a, b in zip(counts["value_baseline"], counts["value_follow_up"], strict=True)
    ]
    return consensus


def _consensus_note(n_before: int, n_after: int, start: str, end: str) -> str:
    if n_before == 0 and n_after == 0:
        return "no reader gave a value"
    if n_before == 0:
        return f"no value at {start}"
    if n_after == 0:
        return f"no value at {end}"
    if n_before == n_after:
        return f"median of {n_before} readers"
    return f"median of {n_before} readers at {start}, {n_after} at {end}"


def consensus_summary(longitudinal: pd.DataFrame) -> pd.DataFrame:
    """One row per case with the consensus per-reading measures side by side (for the report).

    Parameters
    ----------
    longitudinal : a table from :func:`longitudinal_table`

    Returns
    -------
    pandas.DataFrame
        ``site, patient, case_code, joint`` then, per per-reading measure, three columns
        ``<measure> <baseline>``, ``<measure> <follow_up>``, ``<measure> Δ``.
    """
    rows = longitudinal[(longitudinal["reader"] == CONSENSUS) & (longitudinal["zone"] == "")]
    if rows.empty:
        return pd.DataFrame(columns=["site", "patient", "case_code", "joint"])
    start, end = str(rows["baseline"].iloc[0]), str(rows["follow_up"].iloc[0])
    measures = list(dict.fromkeys(rows["measure"]))
    labels: Mapping[str, str] = dict(zip(rows["measure"], rows["label"], strict=False))
    wide = rows.set_index(["site", "patient", "case_code", "joint", "measure"])[
        ["value_baseline", "value_follow_up", "change"]
    ].unstack("measure")
    result = wide.index.to_frame(index=False)
    for measure in measures:
        for column, suffix in (
            ("value_baseline", start),
            ("value_follow_up", end),
            ("change", "Δ"),
        ):
            values = (
                wide[(column, measure)].to_numpy()
                if (column, measure) in wide.columns
                else np.full(len(result), np.nan)
            )
            result[f"{labels[measure]} {suffix}"] = values
    return result
