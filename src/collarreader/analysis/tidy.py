"""The tidy long table: reading it, checking it, and turning its text into numbers once.

The study database exports one row per (reader, case, image/zone, field) value (the contract in
the project's shared context). This module is the boundary between that text and the
statistics:

- :func:`read_tidy` reads a CSV (or the ``xlsx`` export) with every cell as text and checks it
  with :func:`validate_tidy`: the columns in their order, ``kind``/``repeat_of``/``submitted``
  consistent, no duplicate value. Problems raise :class:`~collarreader.errors.AnalysisError`
  naming the file and the line (CSV line numbers count the header as line 1).
- :func:`entry_codes` pivots the values of one protocol into one row per *entry* (a reader's
  zone, view or case at one time point) with one float column per field: numbers as numbers,
  ``yes``/``no`` as 1/0, choices as their index in the protocol's ordered ``choices`` (so an
  ordinal field's codes follow its clinical order), NaN for "not entered".
- :func:`apply_protocol_rules` turns those raw codes into the values the analysis uses, with
  the protocol's own rules: a zone marked not assessable (``skip_zone_when``) has no other
  values, ``zero_when`` gives a width of 0 mm when no line is present, and derived fields
  (``rll_grade``) are recomputed from their source with the protocol's thresholds and rounding,
  whether or not the export carried them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from collarreader.errors import AnalysisError
from collarreader.model import TIDY_COLUMNS
from collarreader.protocol import Condition, Field, FieldType, FieldValue, Level, Protocol, Scope

__all__ = [
    "ENTRY_KEYS",
    "TIDY_COLUMNS",
    "UNBLINDED_COLUMNS",
    "analysed_fields",
    "apply_protocol_rules",
    "decode_value",
    "entry_codes",
    "format_code",
    "is_unblinded",
    "read_tidy",
    "validate_tidy",
]


UNBLINDED_COLUMNS: tuple[str, ...] = ("site", "patient", "true_timepoint")
"""Columns the export adds when it is unblinded with the key file."""

ENTRY_KEYS: tuple[str, ...] = ("reader", "case_code", "view", "timepoint", "zone")
"""What identifies one entry (a reader's zone, view or case at one time point)."""

_KINDS = ("primary", "repeat")
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})
_BOOL_CODES = {"no": 0.0, "yes": 1.0}


def _where(frame: pd.DataFrame, index: object) -> str:
    """Where a row is: "<file>, line N" after :func:`read_tidy`, else "row <index>"."""
    source = frame.attrs.get("source")
    first_line = frame.attrs.get("first_line")
    if source and isinstance(first_line, int) and isinstance(index, int | np.integer):
        return f"{source}, line {int(index) + first_line}"
    if source:
        return f"{source}, row {index}"
    return f"tidy table row {index}"


def read_tidy(path: str | Path) -> pd.DataFrame:
    """Read and validate a tidy long table exported by ``collarreader export``.

    Parameters
    ----------
    path : a ``.csv`` file (UTF-8, comma separated, header row) or an ``.xlsx`` workbook
        (first sheet) with the contract's columns.

    Returns
    -------
    pandas.DataFrame
        Every column as text except ``submitted`` (bool); empty cells are ``""``. The frame's
        ``attrs["source"]`` names the file, so later errors can point at its lines.

    Raises
    ------
    AnalysisError
        If the file cannot be read, or :func:`validate_tidy` finds a problem.
    """
    file = Path(path)
    try:
        if file.suffix.lower() in (".xlsx", ".xlsm"):
            frame = pd.read_excel(file, dtype=str, keep_default_na=False)
        else:
            frame = pd.read_csv(file, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError:
        raise AnalysisError(
            f"{file}: no such file. Export the study database first: "
            "collarreader export DB --out FILE."
        ) from None
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as error:
        raise AnalysisError(
            f"{file}: cannot read it as a tidy table ({error}). Give the CSV or XLSX written "
            "by collarreader export."
        ) from None
    frame.attrs["source"] = str(file)
    # Line 1 is the header (CSV) or the first worksheet row (XLSX).
    frame.attrs["first_line"] = 2
    return validate_tidy(frame)


def _as_bool(frame: pd.DataFrame, column: str) -> pd.Series:
    values = frame[column]
    if values.dtype == bool:
        return values
    text = values.astype(str).str.strip().str.lower()
    true, false = text.isin(_TRUE), text.isin(_FALSE)
    bad = ~(true | false)
    if bad.any():
        index = frame.index[bad.to_numpy()][0]
        raise AnalysisError(
            f"{_where(frame, index)}: {column} is {values.loc[index]!r}, not true/false. "
            "Re-export the table; do not edit it by hand."
        )
    return true


def validate_tidy(frame: pd.DataFrame, *, source: str | None = None) -> pd.DataFrame:
    """Check a tidy long table and return a normalised copy.

    Parameters
    ----------
    frame : the table, columns as in :data:`TIDY_COLUMNS` (extra columns, such as the
        unblinded :data:`UNBLINDED_COLUMNS`, are kept)
    source : name used in error messages (default: the frame's ``attrs["source"]``)

    Returns
    -------
    pandas.DataFrame
        A copy with text columns stripped, ``submitted`` as bool, ``repeat_of`` empty for
        primary reads, and a default integer index (the original row order).

    Raises
    ------
    AnalysisError
        Naming the file and line: a missing column, an unknown ``kind``, a repeat without
        ``repeat_of`` (or a primary with one), ``submitted`` not true/false, an empty
        reader/case/field, or the same value twice.
    """
    attrs = dict(frame.attrs)
    if source is not None:
        attrs["source"] = source
    name = attrs.get("source") or "tidy table"
    missing = [column for column in TIDY_COLUMNS if column not in frame.columns]
    if missing:
        raise AnalysisError(
            f"{name}: missing column(s) {', '.join(missing)}. A tidy table needs "
            f"{', '.join(TIDY_COLUMNS)}; export it with collarreader export."
        )
    table = frame.reset_index(drop=True).copy()
    table.attrs = attrs
    for column in table.columns:
        if column == "submitted" or table[column].dtype != object:
            continue
        table[column] = table[column].fillna("").astype(str).str.strip()
    for column in ("reader", "case_code", "field"):
        empty = table[column].astype(str) == ""
        if empty.any():
            raise AnalysisError(
                f"{_where(table, table.index[empty.to_numpy()][0])}: {column} is empty. "
                "Every value needs a reader, a case code and a field."
            )
    kind = table["kind"].astype(str).str.lower()
    bad_kind = ~kind.isin(_KINDS)
    if bad_kind.any():
        index = table.index[bad_kind.to_numpy()][0]
        raise AnalysisError(
            f"{_where(table, index)}: kind is {table.at[index, 'kind']!r}; it must be "
            "'primary' or 'repeat'."
        )
    table["kind"] = kind
    repeat_of = table["repeat_of"].astype(str)
    orphan = (kind == "repeat") & (repeat_of == "")
    if orphan.any():
        raise AnalysisError(
            f"{_where(table, table.index[orphan.to_numpy()][0])}: a repeat read without "
            "repeat_of (the primary case code); re-export the table."
        )
    stray = (kind == "primary") & (repeat_of != "")
    if stray.any():
        raise AnalysisError(
            f"{_where(table, table.index[stray.to_numpy()][0])}: a primary read with "
            "repeat_of set; only repeat reads name the case they repeat."
        )
    table["submitted"] = _as_bool(table, "submitted")
    duplicated = table.duplicated([*ENTRY_KEYS, "field"], keep="first")
    if duplicated.any():
        index = table.index[duplicated.to_numpy()][0]
        raise AnalysisError(
            f"{_where(table, index)}: a second value for reader {table.at[index, 'reader']}, "
            f"case {table.at[index, 'case_code']}, field {table.at[index, 'field']} "
            f"({table.at[index, 'view'] or 'no view'}, {table.at[index, 'timepoint']}, "
            f"{table.at[index, 'zone'] or 'no zone'}). Each value may appear once."
        )
    return table


def is_unblinded(tidy: pd.DataFrame) -> bool:
    """True when ``tidy`` carries the unblinded columns (exported with the key)."""
    return all(column in tidy.columns for column in UNBLINDED_COLUMNS)


# ---------------------------------------------------------------- text → numbers


def _codes_for(fld: Field, text: pd.Series, where: pd.DataFrame) -> pd.Series:
    """One field's canonical text as float codes (NaN for ""), or an error naming the row."""
    if fld.type is FieldType.NUMBER:
        codes = pd.to_numeric(text.where(text != ""), errors="coerce")
        bad = codes.isna() & (text != "")
        bad |= ~np.isfinite(codes.fillna(0.0))
        if bad.any():
            index = text.index[bad.to_numpy()][0]
            raise AnalysisError(
                f"{_where(where, index)}: {fld.key} value {text.loc[index]!r} is not a number "
                "(decimal point '.', no unit). Re-export the table."
            )
        return codes.astype(np.float64)
    if fld.type is FieldType.BOOL:
        mapping = _BOOL_CODES
        allowed = "yes, no"
    else:
        mapping = {choice: float(position) for position, choice in enumerate(fld.choices)}
        allowed = ", ".join(fld.choices)
    codes = text.map(mapping)
    bad = codes.isna() & (text != "")
    if bad.any():
        index = text.index[bad.to_numpy()][0]
        raise AnalysisError(
            f"{_where(where, index)}: {fld.key} value {text.loc[index]!r} is not one of "
            f"{allowed} (protocol {fld.key!r}). Export with the study's protocol."
        )
    return codes.astype(np.float64)


def analysed_fields(protocol: Protocol) -> tuple[Field, ...]:
    """The fields with a numeric code: every field except free text."""
    return tuple(f for f in protocol.fields if f.level is not Level.TEXT)


def entry_codes(
    tidy: pd.DataFrame,
    protocol: Protocol,
    *,
    submitted_only: bool = True,
    extra_keys: Iterable[str] = (),
) -> pd.DataFrame:
    """One row per entry, one float column per non-text field (raw codes, before the rules).

    Parameters
    ----------
    tidy : a table checked by :func:`validate_tidy` (or read by :func:`read_tidy`)
    protocol : the protocol the readings were made with; its fields decide the coding
    submitted_only : keep only values of submitted readings (the default for analysis: an
        unsubmitted reading may be half done)
    extra_keys : further columns that are constant within an entry and should be kept (e.g.
        ``true_timepoint``, ``patient``)

    Returns
    -------
    pandas.DataFrame
        Columns ``reader, case_code, kind, repeat_of, view, timepoint, zone`` (+ ``extra_keys``)
        and one float column per field of :func:`analysed_fields`; numbers as numbers, bools
        1/0, choices as their 0-based index in ``Field.choices``, NaN when not entered.
        Derived fields hold the export's values here; :func:`apply_protocol_rules` recomputes
        them.

    Raises
    ------
    AnalysisError
        Naming the file and line: a field or zone the protocol does not have, a value that is
        not a number/choice/yes-no for its field.
    """
    table = tidy if tidy["submitted"].dtype == bool else validate_tidy(tidy)
    where = table.iloc[:0]  # keeps attrs (file name) for error messages
    known = {f.key for f in protocol.fields}
    unknown = ~table["field"].isin(known)
    if unknown.any():
        index = table.index[unknown.to_numpy()][0]
        raise AnalysisError(
            f"{_where(where, index)}: field {table.at[index, 'field']!r} is not in protocol "
            f"{protocol.name} {protocol.version}. Analyse with the protocol the study was read "
            "with (the reading set's protocol.toml)."
        )
    zones = {z.key for z in protocol.zones}
    bad_zone = (table["zone"] != "") & ~table["zone"].isin(zones)
    if bad_zone.any():
        index = table.index[bad_zone.to_numpy()][0]
        raise AnalysisError(
            f"{_where(where, index)}: zone {table.at[index, 'zone']!r} is not in protocol "
            f"{protocol.name} {protocol.version} (zones: {', '.join(sorted(zones))})."
        )
    if submitted_only:
        table = table[table["submitted"].to_numpy()]
    fields = analysed_fields(protocol)
    keys = [*ENTRY_KEYS, "kind", "repeat_of", *extra_keys]
    # Entries that exist (even with only text values) are kept, so a case read with every
    # field left empty still counts as read.
    entry_id = table.groupby(keys, sort=True, dropna=False).ngroup().to_numpy()
    n_entries = int(entry_id.max()) + 1 if len(entry_id) else 0
    first_rows = np.full(n_entries, -1, dtype=np.int64)
    # Reverse order so the first row of each entry wins the assignment.
    first_rows[entry_id[::-1]] = np.arange(len(entry_id))[::-1]
    entries = table.iloc[first_rows][keys].reset_index(drop=True)
    codes = np.full((n_entries, len(fields)), np.nan)
    field_text = table["field"].to_numpy()
    for column, fld in enumerate(fields):
        rows = field_text == fld.key
        if rows.any():
            codes[entry_id[rows], column] = _codes_for(
                fld, table.loc[rows, "value"], where
            ).to_numpy()
    coded = pd.DataFrame(codes, columns=[f.key for f in fields])
    entries = pd.concat([entries, coded], axis=1)
    entries.attrs = {}
    return entries


def _condition_mask(entries: pd.DataFrame, protocol: Protocol, condition: Condition) -> np.ndarray:
    fld = protocol.field(condition.field)
    if fld.key not in entries.columns:
        return np.zeros(len(entries), dtype=bool)
    if isinstance(condition.value, bool):
        code = 1.0 if condition.value else 0.0
    elif fld.type is FieldType.NUMBER:
        code = float(condition.value)
    else:
        code = float(fld.choices.index(condition.value))
    return np.array(entries[fld.key].to_numpy() == code, dtype=bool)


def apply_protocol_rules(entries: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """The values the analysis uses: skip, zero and derivation rules of the protocol applied.

    Parameters
    ----------
    entries : raw codes from :func:`entry_codes`
    protocol : the same protocol

    Returns
    -------
    pandas.DataFrame
        A copy where, for zone entries, every zone field except the deciding one is NaN when
        ``skip_zone_when`` holds (a zone that is not assessable has no other scores); a field
        with ``zero_when`` is 0 when it was left empty and the condition holds (no line → 0 mm);
        and each derived field is recomputed from its (effective, rounded) source — NaN when
        the source is missing — exactly as :meth:`Protocol.derive` does.
    """
    result = entries.copy()
    zone_rows = (result["zone"] != "").to_numpy()
    zone_keys = [f.key for f in protocol.zone_fields if f.key in result.columns]
    rule = protocol.skip_zone_when
    if rule is not None:
        skipped = _condition_mask(result, protocol, rule) & zone_rows
        others = [key for key in zone_keys if key != rule.field]
        result.loc[skipped, others] = np.nan
    for fld in analysed_fields(protocol):
        if fld.zero_when is None or fld.key not in result.columns:
            continue
        holds = _condition_mask(result, protocol, fld.zero_when).copy()
        empty = result[fld.key].isna().to_numpy()
        if fld.scope is Scope.ZONE and rule is not None:
            holds &= ~(_condition_mask(result, protocol, rule) & zone_rows)
        result.loc[holds & empty, fld.key] = 0.0
    for fld in analysed_fields(protocol):
        if fld.derive is None or fld.key not in result.columns:
            continue
        source = protocol.field(fld.derive.source)
        values = result[source.key].to_numpy(dtype=np.float64)
        # Round the few distinct values with the protocol's own (decimal, half-up) rounding.
        distinct = np.unique(values[np.isfinite(values)])
        rounded = dict(zip(distinct.tolist(), (source.round(v) for v in distinct), strict=True))
        thresholds = np.asarray(fld.derive.thresholds, dtype=np.float64)
        derived = np.full(len(values), np.nan)
        finite = np.isfinite(values)
        rounded_values = np.array([rounded[v] for v in values[finite].tolist()], dtype=np.float64)
        derived[finite] = (rounded_values[:, None] >= thresholds[None, :]).sum(axis=1)
        result[fld.key] = derived
    return result


def decode_value(fld: Field, code: float) -> FieldValue:
    """A float code back to the protocol's value: choice text, bool, number or None."""
    if code is None or (isinstance(code, float) and math.isnan(code)):
        return None
    if fld.type is FieldType.NUMBER:
        return float(code)
    if fld.type is FieldType.BOOL:
        return bool(code)
    return fld.choices[int(code)]


def format_code(fld: Field, code: float) -> str:
    """A float code as text for tables: choice label, yes/no, or number at the field's decimals."""
    value = decode_value(fld, code)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return fld.choice_label(value)
    if fld.decimals is None:
        return f"{float(value):g}"
    # The protocol's half-up rounding, as the reader's screen shows the value.
    return f"{fld.round(float(value)):.{fld.decimals}f}"
