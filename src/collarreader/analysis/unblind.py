"""Unblinding the tidy export with the study lead's key file.

The reader databases know only codes: case codes (primary or repeat), and the time-point label
each image was shown with — ``6m``/``12m``, or ``A``/``B`` in random order per case when the
set was prepared with ``--blind-timepoints``. The key file (written by ``prepare``, kept by the
study lead, never inside the reading set) maps them back: case code → site and patient study ID,
and per image the label it was shown with → its true time point.

Only the key adds identity; nothing here is reachable from a reader's workstation.
"""

from __future__ import annotations

import pandas as pd  # type: ignore[import-untyped]

from collarreader.analysis.tidy import UNBLINDED_COLUMNS
from collarreader.errors import AnalysisError
from collarreader.study.keyfile import Key

__all__ = ["timepoint_labels", "unblind"]


def timepoint_labels(key: Key) -> dict[tuple[str, str], str]:
    """``(primary case code, label shown) → true time point`` ("6m" or "12m") from the key.

    Raises
    ------
    AnalysisError
        When one label of a case stands for two different time points (a damaged key).
    """
    labels: dict[tuple[str, str], str] = {}
    for code, image in key.images.items():
        slot = (image.case_code, image.label)
        true_timepoint = str(image.timepoint.value)
        if labels.setdefault(slot, true_timepoint) != true_timepoint:
            message = (
                f"key of set {key.set_uuid}: image {code} says label {image.label!r} of case "
                f"{image.case_code} is {true_timepoint}, another image says "
                f"{labels[slot]}. The key file is damaged; use the study lead's backup copy."
            )
            raise AnalysisError(message)
    return labels


def unblind(tidy: pd.DataFrame, key: Key) -> pd.DataFrame:
    """Add ``site``, ``patient`` and ``true_timepoint`` to a tidy table.

    Parameters
    ----------
    tidy : the tidy long table (:data:`collarreader.analysis.tidy.TIDY_COLUMNS`)
    key : the key file of the same reading set (:func:`collarreader.study.keyfile.load_key`)

    Returns
    -------
    pandas.DataFrame
        A copy with the three columns appended (:data:`UNBLINDED_COLUMNS`), rows in the same
        order. ``true_timepoint`` is empty only for values without a time point.

    Raises
    ------
    AnalysisError
        When a case code or a (case, label) pair of the table is not in the key: the table
        and the key come from different reading sets.
    """
    labels = timepoint_labels(key)
    sites: list[str] = []
    patients: list[str] = []
    truths: list[str] = []
    unknown: set[str] = set()
    for case_code, label in zip(tidy["case_code"], tidy["timepoint"], strict=True):
        try:
            primary = key.primary_code(str(case_code))
        except KeyError:
            unknown.add(str(case_code))
            sites.append("")
            patients.append("")
            truths.append("")
            continue
        case = key.cases[primary]
        sites.append(case.site)
        patients.append(case.patient)
        if label in ("", None) or pd.isna(label):
            truths.append("")
        elif (primary, str(label)) in labels:
            truths.append(labels[(primary, str(label))])
        else:
            unknown.add(f"{case_code} (time point {label!r})")
            truths.append("")
    if unknown:
        listed = ", ".join(sorted(unknown)[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        message = (
            f"{len(unknown)} case code(s) of the table are not in the key of set "
            f"{key.set_uuid}: {listed}{more}. Use the key file written when this reading set "
            "was prepared."
        )
        raise AnalysisError(message)
    result = tidy.copy()
    for column, values in zip(UNBLINDED_COLUMNS, (sites, patients, truths), strict=True):
        result[column] = values
    return result
