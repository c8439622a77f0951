"""Synthetic clinical data for a phantom study: Oxford questionnaires and adverse events.

The phantom's ``truth.json`` knows each patient's joint, surgery date and radiolucent lines.
This module writes the two CSV files a site would send the study lead — Oxford Hip/Knee Score
questionnaires at 6 and 12 months (item answers 0–4, a few left blank) and adverse events with
the ISOLS/Henderson categories — in exactly the formats that ``collarreader clinical
import-oxford`` and ``import-ae`` read (:mod:`collarreader.clinical.csv_import`). Scores fall
a little with wider radiolucent lines and events are more frequent then, so the demo's joined
tables show something to look at. Item numbers only: the licensed questionnaire wording is
never needed.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from collarreader.errors import PhantomError

__all__ = ["ClinicalFiles", "write_clinical_csvs"]

# The phantom plays the site that sends the files, so it writes the CSV format as documented
# (:mod:`collarreader.clinical.csv_import`) rather than importing the importer's column lists:
# that keeps ``study`` below ``clinical``. The tests parse what it writes with the importer.
_OXFORD_COLUMNS = (
    "patient",
    "instrument",
    "timepoint",
    "date",
    *(f"q{i}" for i in range(1, 13)),
    "source",
)
_AE_COLUMNS = (
    "patient",
    "onset_date",
    "description",
    "category",
    "severity",
    "relation",
    "action",
    "outcome",
)

_DAYS_AFTER_SURGERY = {"6m": 182, "12m": 365}
_EVENTS = (
    # (category, description, severity, relation, action, outcome)
    (
        "1",
        "wound dehiscence over the prosthesis",
        "moderate",
        "possible",
        "reoperation",
        "recovered",
    ),
    ("2", "radiological loosening at the collar", "moderate", "probable", "none", "not recovered"),
    (
        "3",
        "periprosthetic fracture below the stem tip",
        "severe",
        "possible",
        "revision",
        "recovering",
    ),
    ("4", "superficial surgical-site infection", "mild", "probable", "medication", "recovered"),
    ("4", "deep periprosthetic infection", "severe", "definite", "revision", "recovering"),
    ("5", "local tumour recurrence", "severe", "unrelated", "reoperation", "not recovered"),
    ("other", "deep vein thrombosis", "moderate", "unlikely", "medication", "recovered"),
    ("other", "urinary tract infection", "mild", "unrelated", "medication", "recovered"),
)


@dataclass(frozen=True)
class ClinicalFiles:
    """The two CSV files written, and how many rows each holds."""

    oxford_csv: Path
    adverse_events_csv: Path
    n_questionnaires: int
    n_events: int


def write_clinical_csvs(
    truth_json: str | Path, outdir: str | Path, *, seed: int = 0
) -> ClinicalFiles:
    """Write ``oxford.csv`` and ``adverse_events.csv`` for the patients of a phantom study.

    Parameters
    ----------
    truth_json : the phantom's ``truth.json``
    outdir : folder for the two files (created when absent)
    seed : random seed; the same seed gives the same files

    Returns
    -------
    ClinicalFiles

    Raises
    ------
    PhantomError
        When ``truth_json`` is missing or not a phantom truth file.
    """
    truth_path = Path(truth_json)
    try:
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        patients: dict[str, dict[str, Any]] = truth["patients"]
        images: dict[str, dict[str, Any]] = truth["images"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        message = f"{truth_path}: not a phantom truth file ({error}). Run 'collarreader phantom'."
        raise PhantomError(message) from error
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    worst_rll_mm: dict[tuple[str, str], float] = {}
    for image in images.values():
        slot = (str(image["patient"]), str(image["timepoint"]))
        zones = image.get("zones", {})
        widest = max((float(zone["rll_width_mm"]) for zone in zones.values()), default=0.0)
        worst_rll_mm[slot] = max(worst_rll_mm.get(slot, 0.0), widest)

    oxford_rows: list[dict[str, str]] = []
    event_rows: list[dict[str, str]] = []
    for patient, info in sorted(patients.items()):
        surgery = dt.date.fromisoformat(str(info["surgery_date"]))
        # A patient's general level, better at 12 m, worse with a wide radiolucent line.
        level = rng.normal(2.9, 0.5)
        for timepoint, days in _DAYS_AFTER_SURGERY.items():
            mean_item = level + (0.3 if timepoint == "12m" else 0.0)
            mean_item -= 0.35 * worst_rll_mm.get((patient, timepoint), 0.0)
            answers = np.clip(np.rint(rng.normal(mean_item, 0.7, 12)), 0, 4).astype(int)
            cells = [str(answer) for answer in answers]
            # Real questionnaires come back with the odd blank; now and then three (unscorable).
            n_blank = int(rng.choice([0] * 14 + [1] * 3 + [2] * 2 + [3]))
            for item in rng.choice(12, size=n_blank, replace=False):
                cells[int(item)] = ""
            completed = surgery + dt.timedelta(days=int(days + rng.integers(-14, 15)))
            row = {
                "patient": patient,
                "instrument": str(info["joint"]),
                "timepoint": timepoint,
                "date": completed.isoformat(),
                "source": str(rng.choice(["clinic", "post", "phone"])),
            }
            row.update({f"q{i}": cell for i, cell in enumerate(cells, start=1)})
            oxford_rows.append(row)
        risk = 0.25 + 0.3 * worst_rll_mm.get((patient, "12m"), 0.0)
        for _ in range(rng.poisson(risk)):
            category, description, severity, relation, action, outcome = _EVENTS[
                int(rng.integers(len(_EVENTS)))
            ]
            onset = surgery + dt.timedelta(days=int(rng.integers(20, 360)))
            event_rows.append(
                {
                    "patient": patient,
                    "onset_date": onset.isoformat(),
                    "description": description,
                    "category": category,
                    "severity": severity,
                    "relation": relation,
                    "action": action,
                    "outcome": outcome,
                }
            )
    # Two events of the same patient, day and category would be one event reworded.
    unique_events = {(e["patient"], e["onset_date"], e["category"]): e for e in event_rows}
    oxford_csv = out / "oxford.csv"
    ae_csv = out / "adverse_events.csv"
    _write(oxford_csv, list(_OXFORD_COLUMNS), oxford_rows)
    _write(ae_csv, list(_AE_COLUMNS), list(unique_events.values()))
    return ClinicalFiles(oxford_csv, ae_csv, len(oxford_rows), len(unique_events))


def _write(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
