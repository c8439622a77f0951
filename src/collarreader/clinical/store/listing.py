"""The clinical tables as pandas frames (totals scored when listed) and as plain text."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd  # type: ignore[import-untyped]

from collarreader.clinical.oxford import ITEM_NAMES
from collarreader.clinical.store.rows import (
    StoredAdverseEvent,
    StoredOxford,
    adverse_events,
    oxford_questionnaires,
)
from collarreader.db.engine import Database

__all__ = [
    "AE_COLUMNS",
    "OXFORD_COLUMNS",
    "ae_frame",
    "format_clinical",
    "list_clinical",
    "oxford_frame",
]

OXFORD_COLUMNS: tuple[str, ...] = (
    "id",
    "patient",
    "instrument",
    "timepoint",
    "date",
    *ITEM_NAMES,
    "scale",
    "source",
    "total",
    "total_unrounded",
    "band",
    "n_missing",
    "imputed",
    "updated_at",
)
"""Columns of the Oxford table of :func:`list_clinical` (items as entered, on ``scale``)."""

AE_COLUMNS: tuple[str, ...] = (
    "id",
    "patient",
    "onset_date",
    "category",
    "henderson_type",
    "severity",
    "grade",
    "relation",
    "related",
    "action",
    "outcome",
    "description",
    "updated_at",
)
"""Columns of the adverse-event table of :func:`list_clinical`."""


def oxford_frame(stored: Sequence[StoredOxford]) -> pd.DataFrame:
    """The Oxford table of :func:`list_clinical` from recorded questionnaires."""
    rows = []
    for item in stored:
        record = item.record
        result = record.score
        rows.append(
            {
                "id": item.id,
                "patient": record.patient,
                "instrument": record.instrument.value,
                "timepoint": record.timepoint.value,
                "date": record.date.isoformat(),
                **dict(zip(ITEM_NAMES, record.items_as_entered, strict=True)),
                "scale": record.scale.value,
                "source": record.source,
                "total": result.total,
                "total_unrounded": result.total_unrounded,
                "band": None if result.band is None else result.band.value,
                "n_missing": result.n_missing,
                "imputed": result.imputed,
                "updated_at": item.updated_at,
            }
        )
    frame = pd.DataFrame(rows, columns=list(OXFORD_COLUMNS))
    for name in (*ITEM_NAMES, "total"):
        frame[name] = frame[name].astype("Int64")
    frame["total_unrounded"] = frame["total_unrounded"].astype("float64")
    frame["n_missing"] = frame["n_missing"].astype("int64")
    frame["imputed"] = frame["imputed"].astype("bool")
    return frame


def ae_frame(stored: Sequence[StoredAdverseEvent]) -> pd.DataFrame:
    """The adverse-event table of :func:`list_clinical` from recorded events."""
    rows = []
    for item in stored:
        event = item.event
        rows.append(
            {
                "id": item.id,
                "patient": event.patient,
                "onset_date": event.onset_date.isoformat(),
                "category": event.category.value,
                "henderson_type": event.category.henderson_type,
                "severity": event.severity.value,
                "grade": event.severity.grade,
                "relation": event.relation.value,
                "related": event.relation.related,
                "action": event.action.value,
                "outcome": event.outcome.value,
                "description": event.description,
                "updated_at": item.updated_at,
            }
        )
    frame = pd.DataFrame(rows, columns=list(AE_COLUMNS))
    frame["henderson_type"] = frame["henderson_type"].astype("Int64")
    frame["grade"] = frame["grade"].astype("int64")
    frame["related"] = frame["related"].astype("bool")
    return frame


def list_clinical(database: Database) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every questionnaire (scored) and every adverse event of the study database.

    Returns
    -------
    (oxford, adverse_events) : pandas.DataFrame, pandas.DataFrame
        ``oxford`` has :data:`OXFORD_COLUMNS`: the answers as entered (nullable ``Int64``, on
        ``scale``) and the computed ``total`` (``Int64``, NA with more than 2 missing),
        ``band``, ``n_missing`` and ``imputed``; ``adverse_events`` has :data:`AE_COLUMNS`.
    """
    return oxford_frame(oxford_questionnaires(database)), ae_frame(adverse_events(database))


def _items_text(row: pd.Series) -> str:
    return " ".join("·" if pd.isna(row[name]) else str(int(row[name])) for name in ITEM_NAMES)


def format_clinical(oxford: pd.DataFrame, events: pd.DataFrame, *, width: int = 60) -> str:
    """Plain-text listing for ``collarreader clinical list DB``.

    Parameters
    ----------
    oxford, events : the two tables of :func:`list_clinical`
    width : longest description shown (longer ones are cut with "…")
    """
    lines: list[str] = []
    lines.append(f"Oxford questionnaires: {len(oxford)}")
    if len(oxford):
        shown = pd.DataFrame(
            {
                "patient": oxford["patient"],
                "instrument": oxford["instrument"],
                "time point": oxford["timepoint"],
                "date": oxford["date"],
                "answers q1…q12 (· missing)": oxford.apply(_items_text, axis=1),
                "scale": oxford["scale"],
                "total": ["—" if pd.isna(total) else str(int(total)) for total in oxford["total"]],
                "band": [
                    "no score (>2 missing)" if pd.isna(band) else band for band in oxford["band"]
                ],
                "source": oxford["source"],
            }
        )
        lines.append(shown.to_string(index=False))
    lines.append("")
    lines.append(f"Adverse events: {len(events)}")
    if len(events):
        shown = pd.DataFrame(
            {
                "patient": events["patient"],
                "onset": events["onset_date"],
                "category": [
                    category if pd.isna(kind) else f"{category} (type {int(kind)})"
                    for category, kind in zip(
                        events["category"], events["henderson_type"], strict=True
                    )
                ],
                "severity": events["severity"],
                "relation": events["relation"],
                "action": events["action"],
                "outcome": events["outcome"],
                "description": [
                    text if len(text) <= width else text[: width - 1] + "…"
                    for text in events["description"]
                ],
            }
        )
        lines.append(shown.to_string(index=False))
    return "\n".join(lines)
