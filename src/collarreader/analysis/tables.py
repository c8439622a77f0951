"""Agreement tables for every protocol field, zone and time point, from a tidy long table.

:func:`agreement_tables` is the study lead's whole agreement analysis (DESIGN §8):

- **inter-observer** agreement on primary reads of submitted readings (an unsubmitted reading
  may be half done, so it is left out and counted in :attr:`StudyCounts.n_unsubmitted`);
- **intra-observer** agreement per reader between the primary read and the repeat read of the
  same case (a repeat row names its primary case in ``repeat_of``; views, zones and time point
  labels match because a repeat shows the same images).

The method follows the field's level:

=========== ================================================================================
continuous  ICC(A,1) with its 95 % CI (headline) + Bland–Altman for every reader pair (inter)
            or primary − repeat (intra): bias, limits of agreement, their CIs, smallest
            detectable difference
ordinal     quadratic-weighted Cohen's kappa (2 readers; for more, every pair plus their mean
            as the headline) + Krippendorff's ordinal alpha
nominal     Cohen's kappa (2 readers) or Fleiss' kappa (more; cases read by every reader) +
            Krippendorff's nominal alpha
text        not analysed
=========== ================================================================================

Values come from :mod:`collarreader.analysis.tidy`: the protocol's rules are applied first (a
zone that is not assessable has no other values; no radiolucent line means 0 mm; ``rll_grade``
is recomputed from the width and analysed as ordinal). Missing reads are NaN: Krippendorff's
alpha uses every pairable value, ICC and kappa use the cases every reader involved scored and
report that ``n``. A statistic that cannot be computed (one reader, too few cases, every value
identical) gives a row with an empty value and a note saying why, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from collarreader.analysis import agreement
from collarreader.analysis.table_columns import (
    AGREEMENT_COLUMNS,
    BLAND_ALTMAN_COLUMNS,
    CONSENSUS_READER,
    DEFAULT_N_BOOT_INTRA,
    DISAGREEMENT_COLUMNS,
    MEASUREMENT_ERROR_COLUMNS,
    AgreementResult,
    StudyCounts,
)
from collarreader.analysis.table_rows import (
    _Analyser,
    _categories,
    _Where,
)
from collarreader.analysis.tidy import (
    analysed_fields,
    apply_protocol_rules,
    entry_codes,
    format_code,
    validate_tidy,
)
from collarreader.protocol import Field, Level, Protocol, Scope

__all__ = [
    "AGREEMENT_COLUMNS",
    "BLAND_ALTMAN_COLUMNS",
    "CONSENSUS_READER",
    "DISAGREEMENT_COLUMNS",
    "MEASUREMENT_ERROR_COLUMNS",
    "AgreementResult",
    "StudyCounts",
    "agreement_tables",
]

# ---------------------------------------------------------------- grouping


def _timepoint_order(labels: Sequence[str], protocol: Protocol) -> list[str]:
    known = [t for t in protocol.timepoints if t in set(labels)]
    return known + sorted(set(labels) - set(known))


def _factorise(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes and the sorted distinct labels of a text column (code order = sort order)."""
    codes, uniques = pd.factorize(column.astype(str), sort=True)
    return np.asarray(codes, dtype=np.int64), [str(label) for label in uniques]


class _Entries:
    """An entries table as arrays, its key columns factorised once for all fields.

    Grouping by field, place and time point then costs a stable ``argsort`` of integer codes
    per field instead of a pandas ``groupby`` and a ``get_group`` per group; the groups, their
    order and the row order within each group are those of the pandas version.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.reader_codes, self.readers = _factorise(frame["reader"])
        self.case_codes, self.cases = _factorise(frame["case_code"])
        self.view_codes, self.views = _factorise(frame["view"])
        self.zone_codes, self.zones = _factorise(frame["zone"])
        self.time_codes, self.timepoints = _factorise(frame["timepoint"])
        self.has_zone = (frame["zone"] != "").to_numpy(dtype=bool)
        self._values: dict[str, np.ndarray] = {}

    def values(self, column: str) -> np.ndarray:
        if column not in self._values:
            self._values[column] = self.frame[column].to_numpy(dtype=np.float64)
        return self._values[column]

    def groups(
        self, fld: Field, present_column: str, protocol: Protocol
    ) -> list[tuple[_Where, np.ndarray]]:
        """Rows (indices, in table order) of each group holding a value of ``present_column``.

        Zone fields: one group per view, zone and time point (zone entries); view fields: per
        view and time point; case fields: per time point (entries without a zone). Ordered by
        the protocol's zones/views, then time point label, then the protocol's time points.
        """
        present = ~np.isnan(self.values(present_column))
        n_times = len(self.timepoints)
        if fld.scope is Scope.ZONE:
            mask = present & self.has_zone
            combined = (self.view_codes * len(self.zones) + self.zone_codes) * n_times
        elif fld.scope is Scope.VIEW:
            mask = present & ~self.has_zone
            combined = self.view_codes * n_times
        else:
            mask = present & ~self.has_zone
            combined = np.zeros(len(self.frame), dtype=np.int64)
        combined = combined + self.time_codes
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return []
        ids = combined[rows]
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        members = np.split(rows[order], starts[1:])
        result: list[tuple[_Where, np.ndarray]] = []
        for group_rows in members:
            row = group_rows[0]
            timepoint = self.timepoints[self.time_codes[row]]
            if fld.scope is Scope.ZONE:
                where = _Where(
                    fld,
                    self.views[self.view_codes[row]],
                    self.zones[self.zone_codes[row]],
                    timepoint,
                )
            elif fld.scope is Scope.VIEW:
                where = _Where(fld, self.views[self.view_codes[row]], "", timepoint)
            else:
                where = _Where(fld, fld.view or "", "", timepoint)
            result.append((where, group_rows))
        if fld.scope is Scope.ZONE:
            zone_order = {z.key: i for i, z in enumerate(protocol.zones)}
            result.sort(key=lambda item: (zone_order.get(item[0].zone, 99), item[0].timepoint))
        elif fld.scope is Scope.VIEW:
            view_order = {v: i for i, v in enumerate(protocol.views)}
            result.sort(key=lambda item: (view_order.get(item[0].view, 99), item[0].timepoint))
        order_of_times = _timepoint_order([w.timepoint for w, _ in result], protocol)
        result.sort(key=lambda item: order_of_times.index(item[0].timepoint))
        return result

    def matrix(self, rows: np.ndarray, column: str) -> tuple[np.ndarray, list[str], list[str]]:
        """Cases × readers values of one group (sorted case codes and reader IDs)."""
        cases, case_index = np.unique(self.case_codes[rows], return_inverse=True)
        readers, reader_index = np.unique(self.reader_codes[rows], return_inverse=True)
        matrix = np.full((len(cases), len(readers)), np.nan)
        matrix[case_index, reader_index] = self.values(column)[rows]
        return (
            matrix,
            [self.readers[code] for code in readers],
            [self.cases[code] for code in cases],
        )

    def by_reader(self, rows: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """The rows of each reader (sorted by reader ID), in table order."""
        codes = self.reader_codes[rows]
        order = np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        members = np.split(rows[order], starts[1:])
        return [
            (self.readers[sorted_codes[start]], member)
            for start, member in zip(starts, members, strict=True)
        ]


# ---------------------------------------------------------------- disagreement list


def _disagreement_candidates(
    where: _Where, matrix: np.ndarray, readers: list[str], cases: list[str], scale: float
) -> pd.DataFrame:
    fld = where.fld
    counted = (~np.isnan(matrix)).sum(axis=1)
    keep = counted >= 2
    if not keep.any():
        return pd.DataFrame(columns=list(DISAGREEMENT_COLUMNS))
    values = matrix[keep]
    n = counted[keep]
    with np.errstate(all="ignore"):
        spread = np.nanmax(values, axis=1) - np.nanmin(values, axis=1)
    if fld.level is Level.CONTINUOUS:
        n_distinct = np.array([len(np.unique(row[~np.isnan(row)])) for row in values])
        modal = np.ones(len(values))
        score = spread / scale if scale > 0 else spread
        unit = fld.unit or ""
    else:
        categories = np.asarray(_categories(fld))
        counts = (values[:, :, None] == categories[None, None, :]).sum(axis=1)
        n_distinct = (counts > 0).sum(axis=1)
        modal = counts.max(axis=1)
        fraction = 1.0 - modal / n
        if fld.level is Level.ORDINAL:
            score = spread / max(len(categories) - 1, 1)
            unit = "categories"
        else:
            score = fraction / (1.0 - 1.0 / n)
            spread = n_distinct.astype(np.float64)
            unit = "answers"
    fraction = 1.0 - modal / n if fld.level is not Level.CONTINUOUS else np.full(len(n), np.nan)
    frame = pd.DataFrame(
        {
            "case_code": np.asarray(cases)[keep],
            "field": fld.key,
            "label": fld.label,
            "level": str(fld.level),
            "view": where.view,
            "zone": where.zone,
            "timepoint": where.timepoint,
            "n_readers": n,
            "spread": spread,
            "unit": unit,
            "n_distinct": n_distinct,
            "fraction_disagreeing": fraction,
            "score": score,
            "values": "",
        }
    )
    frame["_row"] = np.flatnonzero(keep)
    return frame[frame["score"] > 0]


def _values_text(fld: Field, row: np.ndarray, readers: list[str]) -> str:
    return "; ".join(
        f"{reader}: {format_code(fld, float(value))}"
        for reader, value in zip(readers, row, strict=True)
        if not math.isnan(value)
    )


# ---------------------------------------------------------------- the analysis


def _sort_worst_first(frame: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """Poor bands first; rows without a band (undefined, failed) last; then protocol order."""
    if frame.empty:
        return frame
    field_order = {f.key: i for i, f in enumerate(protocol.fields)}
    zone_order = {z.key: i for i, z in enumerate(protocol.zones)}
    role_order = {"headline": 0, "secondary": 1, "pairwise": 2}
    keyed = frame.assign(
        _undefined=frame["band_score"].isna(),
        _role=frame["role"].map(role_order),
        _field=frame["field"].map(field_order),
        _zone=frame["zone"].map(zone_order).fillna(-1),
    )
    keyed = keyed.sort_values(
        ["_undefined", "band_score", "value", "_role", "_field", "_zone", "timepoint", "readers"],
        kind="stable",
        na_position="last",
    )
    return keyed.drop(columns=["_undefined", "_role", "_field", "_zone"]).reset_index(drop=True)


def _counts(tidy: pd.DataFrame, protocol: Protocol, repeat_pairs: int) -> StudyCounts:
    readings = tidy.drop_duplicates(["reader", "case_code"])
    submitted = readings[readings["submitted"]]
    primary = submitted[submitted["kind"] == "primary"]
    repeat = submitted[submitted["kind"] == "repeat"]
    return StudyCounts(
        readers=tuple(sorted(submitted["reader"].unique())),
        n_cases=int(primary["case_code"].nunique()),
        n_primary_readings=len(primary),
        n_repeat_readings=len(repeat),
        n_repeat_pairs=repeat_pairs,
        n_unsubmitted=int((~readings["submitted"]).sum()),
        timepoints=tuple(_timepoint_order(list(tidy["timepoint"].unique()), protocol)),
    )


def agreement_tables(
    tidy: pd.DataFrame,
    protocol: Protocol,
    *,
    top_n: int = 50,
    n_boot: int = agreement.DEFAULT_N_BOOT,
    n_boot_intra: int = DEFAULT_N_BOOT_INTRA,
    progress: Callable[[int, int], None] | None = None,
) -> AgreementResult:
    """Inter- and intra-observer agreement for every field, zone and time point.

    Parameters
    ----------
    tidy : the tidy long table (:func:`~collarreader.analysis.tidy.read_tidy`, or a DataFrame
        with the same columns; it is validated)
    protocol : the protocol the study was read with
    top_n : length of the disagreement list
    n_boot : bootstrap resamples for the inter-observer intervals of Fleiss' kappa and
        Krippendorff's alpha (0: no interval)
    n_boot_intra : bootstrap resamples for the intra-observer Krippendorff's alpha, a
        secondary figure beside the kappa (with its asymptotic interval) computed once per
        reader, field, zone and time point — hundreds of times in a large study, where the
        bootstrap was the analysis's main cost; default 0 (the value without an interval)
    progress : called as ``progress(done, total)`` after each field

    Returns
    -------
    AgreementResult
        ``inter`` and ``intra`` sorted worst first (see :data:`AGREEMENT_COLUMNS`).
        ``disagreements`` ranks (case, field, view, zone, time point) groups of primary reads
        by ``score``: continuous fields — the range across readers divided by the field's
        protocol range (``maximum − minimum``; observed range when the protocol gives none);
        ordinal — categories apart divided by (number of categories − 1); nominal — the
        fraction of readers not giving the most common answer, divided by its largest
        possible value (1 − 1/readers). ``spread`` gives the raw range (in ``unit``; number of
        distinct answers for nominal fields).

    Raises
    ------
    AnalysisError
        If the table is malformed or does not match the protocol (naming the file and line).
    """
    table = validate_tidy(tidy)
    # The consensus is an adjudicated answer, not another rater: it is left out of every
    # statistic and shown beside the readers' values in the disagreement list.
    is_consensus = (table["reader"] == CONSENSUS_READER).to_numpy()
    consensus = table[is_consensus]
    table = table[~is_consensus]
    raw = entry_codes(table, protocol)
    values = apply_protocol_rules(raw, protocol)
    primary = values[values["kind"] == "primary"]
    repeats = values[values["kind"] == "repeat"]
    # Intra pairs: a repeat entry meets the same reader's primary entry of the case it repeats.
    keys = ["reader", "case_code", "view", "timepoint", "zone"]
    fields = analysed_fields(protocol)
    field_keys = [f.key for f in fields]
    paired = repeats.drop(columns=["case_code", "kind"]).rename(columns={"repeat_of": "case_code"})
    paired = paired.merge(
        primary[[*keys, *field_keys]], on=keys, how="inner", suffixes=("_repeat", "")
    )
    repeat_pairs = int(paired[["reader", "case_code"]].drop_duplicates().shape[0])

    analyser = _Analyser(n_boot, n_boot_intra)
    candidates: list[pd.DataFrame] = []
    matrices: list[tuple[_Where, np.ndarray, list[str], list[str]]] = []
    primary_entries = _Entries(primary)
    paired_entries = _Entries(paired)
    for index, fld in enumerate(fields):
        scale = _field_scale(fld, primary)
        for where, rows in primary_entries.groups(fld, fld.key, protocol):
            matrix, readers, cases = primary_entries.matrix(rows, fld.key)
            analyser.inter_group(where, matrix, readers)
            found = _disagreement_candidates(where, matrix, readers, cases, scale)
            if not found.empty:
                found["_group"] = len(matrices)
                candidates.append(found)
            matrices.append((where, matrix, readers, cases))
        # Paired entries: ``key`` holds the primary read, ``key_repeat`` the repeat read.
        repeat_key = f"{fld.key}_repeat"
        first_reads = paired_entries.values(fld.key)
        second_reads = paired_entries.values(repeat_key)
        for where, rows in paired_entries.groups(fld, repeat_key, protocol):
            for reader, mine in paired_entries.by_reader(rows):
                analyser.intra_group(where, first_reads[mine], second_reads[mine], reader)
        if progress is not None:
            progress(index + 1, len(fields))

    disagreements = _with_consensus(_top_disagreements(candidates, matrices, top_n), consensus)
    ba = pd.DataFrame(analyser.bland_altman, columns=list(BLAND_ALTMAN_COLUMNS))
    points = analyser.points_frame()
    return AgreementResult(
        protocol_name=protocol.name,
        protocol_version=protocol.version,
        protocol_sha256=protocol.sha256,
        counts=_counts(table, protocol, repeat_pairs),
        inter=_sort_worst_first(analyser.inter.frame(), protocol),
        intra=_sort_worst_first(analyser.intra.frame(), protocol),
        bland_altman=ba,
        disagreements=disagreements,
        points=points,
        n_boot=n_boot,
        n_boot_intra=n_boot_intra,
        measurement_error=pd.DataFrame(
            analyser.measurement_error, columns=list(MEASUREMENT_ERROR_COLUMNS)
        ),
    )


def _field_scale(fld: Field, primary: pd.DataFrame) -> float:
    """The range a continuous field's spread is divided by for ranking."""
    if fld.level is not Level.CONTINUOUS:
        return 1.0
    if fld.minimum is not None and fld.maximum is not None and fld.maximum > fld.minimum:
        return float(fld.maximum - fld.minimum)
    column = primary[fld.key].dropna()
    observed = float(column.max() - column.min()) if len(column) else 0.0
    return observed if observed > 0 else 1.0


def _with_consensus(disagreements: pd.DataFrame, consensus: pd.DataFrame) -> pd.DataFrame:
    """Fill ``consensus`` from the consensus reader's primary values (text as entered)."""
    keys = ["case_code", "field", "view", "zone", "timepoint"]
    if consensus.empty or disagreements.empty:
        return disagreements.assign(consensus="")
    primary = consensus[consensus["kind"] == "primary"]
    lookup = {
        tuple(str(part) for part in key): str(value)
        for key, value in zip(
            primary[keys].itertuples(index=False, name=None), primary["value"], strict=True
        )
    }
    values = [
        lookup.get(tuple(str(part) for part in key), "")
        for key in disagreements[keys].itertuples(index=False, name=None)
    ]
    return disagreements.assign(consensus=values)


def _top_disagreements(
    candidates: list[pd.DataFrame],
    matrices: list[tuple[_Where, np.ndarray, list[str], list[str]]],
    top_n: int,
) -> pd.DataFrame:
    if not candidates or top_n <= 0:
        return pd.DataFrame(columns=list(DISAGREEMENT_COLUMNS))
    frame = pd.concat(candidates, ignore_index=True)
    frame = frame.sort_values(
        ["score", "spread", "n_readers", "case_code", "_group"],
        ascending=[False, False, False, True, True],
        kind="stable",
    ).head(top_n)
    texts = []
    for group, row in zip(frame["_group"], frame["_row"], strict=True):
        where, matrix, readers, _ = matrices[int(group)]
        texts.append(_values_text(where.fld, matrix[int(row)], readers))
    frame["values"] = texts
    frame["consensus"] = ""
    return frame[list(DISAGREEMENT_COLUMNS)].reset_index(drop=True)
