"""``collarreader demo --lead``: the study lead's side, end to end, on a phantom study.

phantom (40 patients, with synthetic Oxford questionnaires and adverse events) → blinded reading
set for three readers → each reader simulated with its own bias and noise against the
phantom's truth → merge into a study database → clinical data imported → agreement report
(unblinded with the key) → unblinded export (xlsx). Every step is the same function the
corresponding command runs; a re-run reuses the phantom and the reading set of its work folder.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LeadDemoResult", "run_lead_demo"]

DEFAULT_READERS = ("R1", "R2", "R3")


@dataclass(frozen=True)
class LeadDemoResult:
    """Where the demo left its outputs."""

    workdir: Path
    study_db: Path
    report: Path
    export: Path
    seconds: float


def run_lead_demo(
    workdir: str | Path | None = None,
    *,
    patients: int = 40,
    readers: tuple[str, ...] = DEFAULT_READERS,
    seed: int = 7,
    small: bool = False,
    say: Callable[[str], None] = print,
) -> LeadDemoResult:
    """Run the study lead's pipeline on generated data; return where the report is.

    Parameters
    ----------
    workdir : folder for everything (default ``./build/demo-lead``)
    patients : phantom patients (four images each)
    readers : simulated reader IDs
    seed : one seed for the phantom, the reading set and the simulated readers
    small : use the small phantom images (tests)
    say : where progress lines go
    """
    from collarreader.analysis.study import write_study_export, write_study_report
    from collarreader.clinical import store
    from collarreader.db.merge import merge_databases
    from collarreader.study.phantom import generate_study
    from collarreader.study.phantom_clinical import write_clinical_csvs
    from collarreader.study.prepare import prepare_reading_set
    from collarreader.study.simulate import simulate_reads

    start = time.perf_counter()
    work = Path(workdir or "build/demo-lead")
    work.mkdir(parents=True, exist_ok=True)
    phantom = work / "phantom"
    setdir = work / "set"
    key = work / "key.json"
    if not (phantom / "truth.json").exists():
        shutil.rmtree(phantom, ignore_errors=True)
        say(f"phantom: {patients} patients in {phantom} …")
        generate_study(phantom, patients=patients, seed=seed, small=small)
    if not (setdir / "readingset.json").exists() or not key.exists():
        shutil.rmtree(setdir, ignore_errors=True)
        key.unlink(missing_ok=True)
        say(f"prepare: blinded reading set for {', '.join(readers)} in {setdir} …")
        prepare_reading_set(phantom / "manifest.csv", setdir, key, readers, seed=str(seed))
    reader_dbs = []
    for index, reader in enumerate(readers):
        db = work / f"reader-{reader}.sqlite"
        for stale in work.glob(f"reader-{reader}.sqlite*"):
            stale.unlink()
        say(f"simulate-reads: reader {reader} …")
        simulate_reads(
            setdir,
            reader_id=reader,
            db_path=db,
            seed=seed + index,
            truth=phantom / "truth.json",
            key=key,
        )
        reader_dbs.append(db)
    study_db = work / "study.sqlite"
    for stale in work.glob("study.sqlite*"):
        stale.unlink()
    say(f"merge: {len(reader_dbs)} reader databases into {study_db} …")
    merge_databases(study_db, reader_dbs)
    clinical = write_clinical_csvs(phantom / "truth.json", work / "clinical", seed=seed)
    database = store.open_study_database(study_db)
    try:
        store.import_oxford_csv(database, clinical.oxford_csv, key_path=key)
        if clinical.n_events:  # a header-only file is refused: nothing to import
            store.import_ae_csv(database, clinical.adverse_events_csv, key_path=key)
    finally:
        database.close()
    say("agreement: report with the key (unblinded longitudinal and clinical tables) …")
    report = write_study_report(study_db, work / "report", key=key)
    export = work / "export.xlsx"
    write_study_export(study_db, export, fmt="xlsx", key=key)
    seconds = time.perf_counter() - start
    say(f"report: {report.resolve()}")
    say(f"export: {export.resolve()}")
    return LeadDemoResult(work, study_db, report, export, seconds)
