"""The preparation report: what ``prepare`` did, for the study lead and for the set."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from collarreader.protocol import Protocol
from collarreader.study.manifest import (
    Manifest,
    TimePoint,
    View,
)
from collarreader.study.plan import Plan


@dataclass(frozen=True)
class LeftOut:
    """An image not passed to the readers (or admitted only after confirmation)."""

    row: int
    path: str
    reason: str


@dataclass(frozen=True)
class PrepareReport:
    """What :func:`prepare_reading_set` did.

    Attributes
    ----------
    setdir, key_path : where the set and the key were written
    key_backup : where an existing key was moved when ``force`` replaced it (else None)
    set_uuid : the new set's UUID
    n_patients : patients in the manifest
    n_cases, n_images : cases and images in the set
    readers : reader IDs
    n_repeats : repeat reads per reader
    left_out : images not passed to readers, with the reason
    confirmed : burned-in images admitted because the study lead confirmed them
    dropped : manifest row → (path, attributes dropped by de-identification)
    redacted : images admitted with rectangles blanked (``--redact``), with what was done
    warnings : e.g. incomplete cases
    text : the full report for the study lead (names manifest rows, paths and patients)
    set_text : the identity-free report written to ``SETDIR/report.txt``
    """

    setdir: Path
    key_path: Path
    key_backup: Path | None
    set_uuid: str
    n_patients: int
    n_cases: int
    n_images: int
    readers: tuple[str, ...]
    n_repeats: int
    left_out: tuple[LeftOut, ...]
    confirmed: tuple[LeftOut, ...]
    dropped: dict[int, tuple[str, int]]
    redacted: tuple[LeftOut, ...]
    warnings: tuple[str, ...]
    text: str = field(repr=False)
    set_text: str = field(repr=False)

    @property
    def n_readers(self) -> int:
        """Number of readers."""
        return len(self.readers)


# --------------------------------------------------------------------------- report


def make_report(
    *,
    setdir: Path,
    key_path: Path,
    plan: Plan,
    source: Manifest,
    readers: Sequence[str],
    left_out: Sequence[LeftOut],
    confirmed: Sequence[LeftOut],
    dropped: Mapping[int, tuple[str, int]],
    redacted: Sequence[LeftOut] = (),
    warnings: Sequence[str],
    protocol: Protocol,
    blind_timepoints: bool,
    repeat_fraction: float,
) -> PrepareReport:
    """The report of a finished build: counts, what was left out, and both report texts."""
    n_images = sum(len(case.images) for case in plan.cases)
    n_patients = len(source.patients())
    counts = [
        f"protocol: {protocol.name} {protocol.version} (SHA-256 {protocol.sha256})",
        f"cases: {len(plan.cases)}",
        f"images: {n_images}",
        f"readers: {len(readers)} ({', '.join(readers)})",
        f"repeat reads per reader: {plan.n_repeats} (fraction {repeat_fraction:g})",
        "time points: "
        + ("blinded, labelled A/B at random per case" if blind_timepoints else "shown (6m/12m)"),
    ]

    lines = [
        f"collarreader prepare: reading set {setdir}",
        f"set UUID: {plan.set_uuid}",
        f"manifest: {source.path} ({len(source.rows)} image rows, {n_patients} patients)",
        *counts,
        f"key: {key_path}",
        f"left out ({len(left_out)}):",
        *(f"  row {item.row} ({item.path}): {item.reason}" for item in left_out),
        f"admitted after confirmation ({len(confirmed)}):",
        *(f"  row {item.row} ({item.path}): {item.reason}" for item in confirmed),
        f"redacted by the study lead ({len(redacted)}):",
        *(f"  row {item.row} ({item.path}): {item.reason}" for item in redacted),
        f"warnings ({len(warnings)}):",
        *(f"  {warning}" for warning in warnings),
        "attributes dropped by de-identification (allow-list), per source file:",
        *(f"  row {row} ({path}): {count}" for row, (path, count) in dropped.items()),
    ]

    # The set's own report goes to readers: counts and manifest row numbers only, no site,
    # patient or path (paths often carry patient names).
    incomplete = [
        f"  case {case.case_code}: {len(case.images)} of {len(TimePoint) * len(View)} images"
        for case in sorted(plan.cases, key=lambda case: case.case_code)
        if len(case.images) < len(TimePoint) * len(View)
    ]
    set_lines = [
        "collarreader reading set",
        f"set UUID: {plan.set_uuid}",
        *counts,
        f"images left out ({len(left_out)}), by manifest row: "
        + (", ".join(str(item.row) for item in left_out) or "none"),
        *(f"  row {item.row}: {item.reason.split(';')[0]}" for item in left_out),
        f"burned-in images admitted after confirmation ({len(confirmed)}), by manifest row: "
        + (", ".join(str(item.row) for item in confirmed) or "none"),
        f"images redacted by the study lead ({len(redacted)}), by manifest row: "
        + (", ".join(str(item.row) for item in redacted) or "none"),
        f"incomplete cases ({len(incomplete)}):",
        *incomplete,
    ]
    return PrepareReport(
        setdir=setdir,
        key_path=key_path,
        key_backup=None,
        set_uuid=plan.set_uuid,
        n_patients=n_patients,
        n_cases=len(plan.cases),
        n_images=n_images,
        readers=tuple(readers),
        n_repeats=plan.n_repeats,
        left_out=tuple(left_out),
        confirmed=tuple(confirmed),
        dropped=dict(dropped),
        redacted=tuple(redacted),
        warnings=tuple(warnings),
        text="\n".join(lines) + "\n",
        set_text="\n".join(set_lines) + "\n",
    )


def with_backup(report: PrepareReport, backup: Path) -> PrepareReport:
    """``report`` noting that the previous key was kept as ``backup``."""
    text = report.text.replace(
        f"key: {report.key_path}\n",
        f"key: {report.key_path} (the previous key was kept as {backup})\n",
    )
    return replace(report, key_backup=backup, text=text)
