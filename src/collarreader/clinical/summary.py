"""Summaries of the clinical endpoints: Oxford totals and their change, adverse-event counts.

Every function takes the tables of :func:`collarreader.clinical.store.list_clinical` (pandas
DataFrames) and returns a new DataFrame, so the same figures feed the report, exports and
tests. :func:`clinical_sections` renders them as escaped HTML fragments for the study report
(``write_report(..., extra_sections=clinical_sections(db))``).

Conventions
-----------
* Oxford totals are the computed 0–48 totals (:func:`collarreader.clinical.oxford.score`):
  with more than 2 missing answers there is no total (NA), and such a questionnaire counts as
  "not scored", never as 0.
* The change is ``total at 12 m − total at 6 m`` per patient and instrument; positive is
  better (48 is the best score). NA when either total is missing.
* Adverse-event tables list every category and severity of the vocabularies in their fixed
  order, with zeros, so two summaries always have the same shape.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]

from collarreader.clinical.adverse_events import Category, Severity
from collarreader.clinical.oxford import Instrument, OxfordBand, Timepoint
from collarreader.db.engine import Database

__all__ = [
    "ae_counts",
    "clinical_sections",
    "events_per_patient",
    "oxford_change",
    "oxford_overview",
    "oxford_totals",
]

_TIMEPOINTS: tuple[str, ...] = tuple(member.value for member in Timepoint)
_INSTRUMENT_LABELS = {
    Instrument.HIP.value: "Oxford Hip Score",
    Instrument.KNEE.value: "Oxford Knee Score",
}
_TIMEPOINT_LABELS = {"6m": "6 months", "12m": "12 months"}


_OXFORD_NOTE = (
    '<p class="note">Totals 0–48 (48 best) computed from the answers as entered; 1–2 '
    "missing answers replaced by the mean of the patient's other answers, more than 2 "
    "missing: no score. Bands: 0–19 severe, 20–29 moderate to severe, 30–39 mild to "
    "moderate, 40–48 satisfactory. Change = 12 months − 6 months (positive is better).</p>"
)


def _category_label(category: Category) -> str:
    number = category.henderson_type
    return category.value if number is None else f"type {number}: {category.value}"


def oxford_totals(oxford: pd.DataFrame) -> pd.DataFrame:
    """One row per patient, instrument and time point with the computed total and band.

    Parameters
    ----------
    oxford : the Oxford table of :func:`~collarreader.clinical.store.list_clinical`

    Returns
    -------
    pandas.DataFrame
        Columns ``patient, instrument, timepoint, date, total`` (``Int64``, NA = not scored),
        ``band`` (text or None), ``n_missing``, ``imputed``; sorted by patient, instrument,
        time point (6 m first).
    """
    columns = ["patient", "instrument", "timepoint", "date", "total", "band", "n_missing"]
    frame = oxford[[*columns, "imputed"]].copy()
    order = {value: index for index, value in enumerate(_TIMEPOINTS)}
    frame["_order"] = frame["timepoint"].map(order)
    frame = frame.sort_values(["patient", "instrument", "_order"], kind="stable")
    frame = frame.drop(columns="_order").reset_index(drop=True)
    frame["total"] = frame["total"].astype("Int64")
    return frame


def oxford_change(oxford: pd.DataFrame) -> pd.DataFrame:
    """The 6 m → 12 m change per patient and instrument.

    Returns
    -------
    pandas.DataFrame
        Columns ``patient, instrument, total_6m, band_6m, total_12m, band_12m, change``
        (totals and change ``Int64``; change = 12 m − 6 m, positive = better, NA unless both
        totals exist), one row per patient and instrument with at least one questionnaire.
    """
    totals = oxford_totals(oxford)
    rows = []
    for (patient, instrument), group in totals.groupby(["patient", "instrument"], sort=True):
        by_time = {row.timepoint: row for row in group.itertuples(index=False)}
        row: dict[str, object] = {"patient": patient, "instrument": instrument}
        for timepoint in _TIMEPOINTS:
            found = by_time.get(timepoint)
            row[f"total_{timepoint}"] = None if found is None else found.total
            row[f"band_{timepoint}"] = None if found is None else found.band
        first, last = row["total_6m"], row["total_12m"]
        both = first is not None and last is not None and not pd.isna(first) and not pd.isna(last)
        row["change"] = int(last) - int(first) if both else None  # type: ignore[call-overload]
        rows.append(row)
    columns = ["patient", "instrument", "total_6m", "band_6m", "total_12m", "band_12m", "change"]
    frame = pd.DataFrame(rows, columns=columns)
    for name in ("total_6m", "total_12m", "change"):
        frame[name] = pd.array(
            [None if value is None or pd.isna(value) else int(value) for value in frame[name]],
            dtype="Int64",
        )
    return frame


def oxford_overview(oxford: pd.DataFrame) -> pd.DataFrame:
    """Per instrument and time point: questionnaires, scored, mean (SD), median, bands.

    Returns
    -------
    pandas.DataFrame
        Columns ``instrument, timepoint, questionnaires, scored, mean, sd, median`` and one
        count column per band (``severe`` … ``satisfactory``), for every instrument present.
        ``mean``/``sd``/``median`` are NaN without a scored questionnaire (``sd`` with one).
    """
    totals = oxford_totals(oxford)
    rows = []
    for instrument in (member.value for member in Instrument):
        of_instrument = totals[totals["instrument"] == instrument]
        if of_instrument.empty:
            continue
        for timepoint in _TIMEPOINTS:
            group = of_instrument[of_instrument["timepoint"] == timepoint]
            scored = group["total"].dropna().astype("float64")
            row: dict[str, object] = {
                "instrument": instrument,
                "timepoint": timepoint,
                "questionnaires": len(group),
                "scored": len(scored),
                "mean": float(scored.mean()) if len(scored) else math.nan,
                "sd": float(scored.std(ddof=1)) if len(scored) > 1 else math.nan,
                "median": float(scored.median()) if len(scored) else math.nan,
            }
            for band in OxfordBand:
                row[band.value] = int((group["band"] == band.value).sum())
            rows.append(row)
    columns = [
        "instrument",
        "timepoint",
        "questionnaires",
        "scored",
        "mean",
        "sd",
        "median",
        *(band.value for band in OxfordBand),
    ]
    return pd.DataFrame(rows, columns=columns)


def ae_counts(events: pd.DataFrame) -> pd.DataFrame:
    """Adverse events counted by category (rows) and severity (columns), with totals.

    Parameters
    ----------
    events : the adverse-event table of :func:`~collarreader.clinical.store.list_clinical`

    Returns
    -------
    pandas.DataFrame
        Columns ``category``, ``henderson_type`` (``Int64``, NA for other), one column per
        severity (mild … death) and ``total``; one row per category in vocabulary order
        (Henderson types 1–5, then other) and a last row ``category == "total"``.
    """
    severities = [member.value for member in Severity]
    rows = []
    for category in Category:
        of_category = events[events["category"] == category.value]
        row: dict[str, object] = {
            "category": category.value,
            "henderson_type": category.henderson_type,
        }
        for severity in severities:
            row[severity] = int((of_category["severity"] == severity).sum())
        row["total"] = len(of_category)
        rows.append(row)
    total: dict[str, object] = {"category": "total", "henderson_type": None}
    for severity in severities:
        total[severity] = sum(int(row[severity]) for row in rows)  # type: ignore[call-overload]
    total["total"] = len(events)
    rows.append(total)
    frame = pd.DataFrame(rows, columns=["category", "henderson_type", *severities, "total"])
    frame["henderson_type"] = frame["henderson_type"].astype("Int64")
    return frame


def events_per_patient(events: pd.DataFrame, patients: Iterable[str] = ()) -> pd.DataFrame:
    """Adverse events per patient.

    Parameters
    ----------
    events : the adverse-event table of :func:`~collarreader.clinical.store.list_clinical`
    patients : further patients to list with zero events (e.g. everyone with an Oxford
        score), so the table covers the whole cohort

    Returns
    -------
    pandas.DataFrame
        Columns ``patient, events, implant_failures`` (Henderson types 1–5), ``related``
        (possible, probable or definite), ``revisions`` (action revision or amputation),
        ``worst_severity`` (text, missing without events); sorted by patient.
    """
    everyone = sorted(set(events["patient"]) | set(patients))
    rows = []
    grades = {member.value: member.grade for member in Severity}
    for patient in everyone:
        of_patient = events[events["patient"] == patient]
        worst = None
        if len(of_patient):
            worst = max(of_patient["severity"], key=lambda severity: grades[severity])
        rows.append(
            {
                "patient": patient,
                "events": len(of_patient),
                "implant_failures": int((of_patient["category"] != Category.OTHER.value).sum()),
                "related": int(of_patient["related"].astype(bool).sum()),
                "revisions": int(of_patient["action"].isin(["revision", "amputation"]).sum()),
                "worst_severity": worst,
            }
        )
    columns = ["patient", "events", "implant_failures", "related", "revisions", "worst_severity"]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------------- HTML


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: object, decimals: int = 1) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "<td>—</td>"
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, int):
        return f'<td class="num">{value}</td>'
    if isinstance(value, float):
        return f'<td class="num">{value:.{decimals}f}</td>'
    return f"<td>{_e(value)}</td>"


def _table(frame: pd.DataFrame, columns: Sequence[tuple[str, str]], decimals: int = 1) -> str:
    head = "".join(f"<th>{_e(heading)}</th>" for _, heading in columns)
    body = []
    for record in frame[[name for name, _ in columns]].itertuples(index=False, name=None):
        cells = []
        for value in record:
            plain = value.item() if hasattr(value, "item") else value  # numpy → Python
            cells.append(_cell(plain, decimals))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _total_and_band(total: object, band: object, present: bool) -> str:
    if not present:
        return "—"
    if total is None or pd.isna(total):
        return "no score (> 2 missing)"
    return f"{int(total)} ({band})"  # type: ignore[call-overload]


def oxford_section(oxford: pd.DataFrame) -> str:
    """HTML of the Oxford section (escaped): overview per time point, then per patient."""
    if oxford.empty:
        return '<p class="note">No Oxford questionnaire is recorded in the study database.</p>'
    parts = [_OXFORD_NOTE]
    overview = oxford_overview(oxford)
    overview["time point"] = overview["timepoint"].map(_TIMEPOINT_LABELS)
    overview["score"] = overview["instrument"].map(_INSTRUMENT_LABELS)
    columns = [
        ("score", "Score"),
        ("time point", "Time point"),
        ("questionnaires", "n"),
        ("scored", "scored"),
        ("mean", "mean"),
        ("sd", "SD"),
        ("median", "median"),
        *((band.value, band.value) for band in OxfordBand),
    ]
    parts.append(_table(overview, columns))

    change = oxford_change(oxford)
    paired = change["change"].dropna().astype("float64")
    if len(paired):
        sd = f", SD {paired.std(ddof=1):.1f}" if len(paired) > 1 else ""
        parts.append(
            f'<p class="note">Patients with both totals: {len(paired)}; mean change '
            f"{paired.mean():+.1f}{sd}; improved {int((paired > 0).sum())}, unchanged "
            f"{int((paired == 0).sum())}, worse {int((paired < 0).sum())}.</p>"
        )
    present = set(zip(oxford["patient"], oxford["instrument"], oxford["timepoint"], strict=True))
    cells: dict[str, list[str]] = {"6m": [], "12m": []}
    for row in change.itertuples(index=False):
        for timepoint in _TIMEPOINTS:
            cells[timepoint].append(
                _total_and_band(
                    getattr(row, f"total_{timepoint}"),
                    getattr(row, f"band_{timepoint}"),
                    (row.patient, row.instrument, timepoint) in present,
                )
            )
    shown = pd.DataFrame(
        {
            "patient": change["patient"],
            "score": change["instrument"].map(_INSTRUMENT_LABELS),
            "6 months": cells["6m"],
            "12 months": cells["12m"],
            "change": [
                None if pd.isna(value) else f"{int(value):+d}" for value in change["change"]
            ],
        }
    )
    parts.append(
        _table(
            shown,
            [
                ("patient", "Patient"),
                ("score", "Score"),
                ("6 months", "6 months"),
                ("12 months", "12 months"),
                ("change", "Change"),
            ],
        )
    )
    return "".join(parts)


def adverse_event_section(events: pd.DataFrame, patients: Iterable[str] = ()) -> str:
    """HTML of the adverse-event section (escaped): counts, events per patient, the list."""
    if events.empty:
        return '<p class="note">No adverse event is recorded in the study database.</p>'
    note = (
        f'<p class="note">{len(events)} adverse events in {events["patient"].nunique()} '
        "patients. Category: Henderson/ISOLS failure type 1–5, or other; severity: CTCAE "
        "grade (mild … death).</p>"
    )
    parts = [note]
    counts = ae_counts(events)
    counts["label"] = [
        "total" if name == "total" else _category_label(Category(name))
        for name in counts["category"]
    ]
    severities = [member.value for member in Severity]
    parts.append(
        _table(
            counts,
            [("label", "Category"), *((name, name) for name in severities), ("total", "total")],
        )
    )
    per_patient = events_per_patient(events, patients)
    parts.append(
        _table(
            per_patient,
            [
                ("patient", "Patient"),
                ("events", "events"),
                ("implant_failures", "implant failures"),
                ("related", "related to implant"),
                ("revisions", "revision/amputation"),
                ("worst_severity", "worst severity"),
            ],
        )
    )
    listing = events.copy()
    listing["category_label"] = [_category_label(Category(name)) for name in events["category"]]
    parts.append(
        "<details><summary>Every adverse event</summary>"
        + _table(
            listing,
            [
                ("patient", "Patient"),
                ("onset_date", "Onset"),
                ("category_label", "Category"),
                ("severity", "Severity"),
                ("relation", "Relation"),
                ("action", "Action"),
                ("outcome", "Outcome"),
                ("description", "Description"),
            ],
        )
        + "</details>"
    )
    return "".join(parts)


def clinical_sections(db: Database | str | Path) -> list[tuple[str, str]]:
    """The report sections of the clinical endpoints, as ``(title, html)`` pairs.

    Parameters
    ----------
    db : an open study database, or its path/URL (opened and closed here)

    Returns
    -------
    list of (str, str)
        ``("Oxford Hip and Knee Scores", …)`` and ``("Adverse events", …)``; titles are plain
        text, bodies are HTML fragments with every data value escaped and no external
        reference (for ``write_report(extra_sections=…)``).

    Raises
    ------
    DatabaseError
        For a missing or reader database.
    """
    # Imported here: the store pulls in the key-file and CSV code, which a caller holding
    # only DataFrames does not need.
    from collarreader.clinical.store import list_clinical, open_study_database

    if isinstance(db, Database):
        oxford, events = list_clinical(db)
    else:
        database = open_study_database(db)
        try:
            oxford, events = list_clinical(database)
        finally:
            database.close()
    patients = set(oxford["patient"])
    return [
        ("Oxford Hip and Knee Scores", oxford_section(oxford)),
        ("Adverse events", adverse_event_section(events, patients)),
    ]
