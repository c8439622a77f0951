"""The study lead's outputs from a merged study database: report and exports.

``collarreader agreement DB --out DIR [--key KEY]`` and ``collarreader export DB --out FILE
[--format csv|xlsx] [--key KEY]`` are thin shells over :func:`write_study_report` and
:func:`write_study_export`. Without the key everything stays blinded (case codes and shown
time-point labels only). With the key the tidy table gains site, patient and true time point
(:func:`collarreader.analysis.unblind.unblind`), and the outputs gain the per-patient
longitudinal table (6 m → 12 m change per reader and as the readers' median) and the clinical
tables (Oxford totals and their change, adverse events), joined to the radiological consensus
through the patient study ID the key carries.

A reader's own database exports its readings (the tidy table) and nothing else: clinical data
live only in the study database. Agreement needs several readers, so it is refused on a
reader database with the command that makes a study database.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]

from collarreader.analysis.grras import grras_facts
from collarreader.analysis.longitudinal import consensus_summary, longitudinal_table
from collarreader.analysis.report import write_report
from collarreader.analysis.tables import agreement_tables
from collarreader.analysis.unblind import unblind
from collarreader.db.engine import Database, open_database
from collarreader.db.export import spreadsheet_safe, tidy_frame
from collarreader.errors import AnalysisError, ProtocolError
from collarreader.model import DatabaseRole, ProgressCallback
from collarreader.protocol import Protocol, load_protocol
from collarreader.study.keyfile import Key, load_key

__all__ = [
    "StudyTables",
    "study_protocol",
    "study_tables",
    "write_study_export",
    "write_study_report",
]


class StudyTables:
    """Every table of a study database, blinded or (with the key) unblinded.

    Attributes
    ----------
    protocol : the protocol the study was read with
    tidy : the tidy long table (unblinded when a key was given)
    longitudinal : per patient, measure, zone and reader: 6 m, 12 m and change (key only)
    consensus : one row per patient with the readers' median per measure (key only)
    oxford, oxford_change, adverse_events, ae_counts, events_per_patient : clinical tables
        (empty when the study database holds none)
    patients : per patient: the radiological consensus change joined with the Oxford change
        and the adverse-event counts (key only)
    """

    def __init__(self, protocol: Protocol, tidy: pd.DataFrame) -> None:
        self.protocol = protocol
        self.tidy = tidy
        self.longitudinal: pd.DataFrame | None = None
        self.consensus: pd.DataFrame | None = None
        self.oxford = pd.DataFrame()
        self.oxford_change = pd.DataFrame()
        self.adverse_events = pd.DataFrame()
        self.ae_counts = pd.DataFrame()
        self.events_per_patient = pd.DataFrame()
        self.patients: pd.DataFrame | None = None

    def sheets(self) -> dict[str, pd.DataFrame]:
        """The tables to export, by sheet name (xlsx) or file suffix (csv); empty ones left out."""
        named: dict[str, pd.DataFrame | None] = {
            "values": self.tidy,
            "longitudinal": self.longitudinal,
            "consensus": self.consensus,
            "patients": self.patients,
            "oxford": self.oxford,
            "oxford_change": self.oxford_change,
            "adverse_events": self.adverse_events,
            "ae_counts": self.ae_counts,
            "events_per_patient": self.events_per_patient,
        }
        return {name: frame for name, frame in named.items() if frame is not None and len(frame)}


def study_protocol(database: Database, protocol: str | Path | None = None) -> Protocol:
    """The protocol a database was read with, checked against the hash it records.

    Parameters
    ----------
    database : an open database
    protocol : a protocol name or TOML path (e.g. the reading set's ``protocol.toml``);
        default: the shipped protocol of the name the database records

    Raises
    ------
    ProtocolError
        When no protocol of the recorded hash can be found, or the one given differs.
    """
    identity = database.identity
    recorded = identity.protocol_sha256
    try:
        loaded = load_protocol(protocol or identity.protocol_name or "collar-default")
    except ProtocolError as error:
        message = (
            f"{database.label}: was read with protocol {identity.protocol_name} "
            f"{identity.protocol_version}, which is not shipped with this program ({error}). "
            "Pass --protocol SETDIR/protocol.toml from the reading set."
        )
        raise ProtocolError(message) from error
    if recorded and loaded.sha256 != recorded:
        message = (
            f"{database.label}: was read with protocol {identity.protocol_name} "
            f"{identity.protocol_version} (sha256 {recorded[:12]}…), not with "
            f"{loaded.name} {loaded.version} (sha256 {loaded.sha256[:12]}…). Pass --protocol "
            "SETDIR/protocol.toml from the reading set the readers used."
        )
        raise ProtocolError(message)
    return loaded


def study_tables(
    db: str | Path,
    *,
    key: str | Path | Key | None = None,
    protocol: str | Path | None = None,
) -> StudyTables:
    """Read every table of a study (or reader) database; unblind with the key if given."""
    database = open_database(db)
    try:
        resolved = study_protocol(database, protocol)
        tidy = tidy_frame(database, protocol=resolved)
        # Clinical tables exist only in a study database; a reader's has its readings only.
        reader_db = database.identity.role is DatabaseRole.READER
        clinical = (pd.DataFrame(), pd.DataFrame()) if reader_db else _clinical_frames(database)
    finally:
        database.close()
    if key is None:
        tables = StudyTables(resolved, tidy)
        _add_clinical(tables, clinical, patients=())
        return tables
    loaded_key = key if isinstance(key, Key) else load_key(key)
    if tidy.empty:
        message = f"{db}: holds no readings to unblind. Merge the readers' databases first."
        raise AnalysisError(message)
    unblinded = unblind(tidy, loaded_key)
    tables = StudyTables(resolved, unblinded)
    tables.longitudinal = longitudinal_table(unblinded, resolved)
    tables.consensus = consensus_summary(tables.longitudinal)
    all_patients = sorted({case.patient for case in loaded_key.cases.values()})
    _add_clinical(tables, clinical, patients=all_patients)
    tables.patients = _patients_table(tables)
    return tables


EXPORT_FORMATS = ("csv", "xlsx")
"""Table formats of :func:`write_study_export`, each written to a file of that extension."""


def export_format(out: str | Path, fmt: str | None = None) -> str:
    """The format of an export: the extension of ``out``, which ``fmt`` (if given) must match.

    Raises
    ------
    AnalysisError
        An extension other than .csv or .xlsx, or one that contradicts ``fmt`` (an Excel
        workbook named ``.csv`` or CSV text named ``.xlsx`` opens as garbage).
    """
    target = Path(out)
    suffix = target.suffix.lower().lstrip(".")
    if fmt is not None and fmt not in EXPORT_FORMATS:
        message = f"export format {fmt!r}: choose csv or xlsx."
        raise AnalysisError(message)
    if suffix not in EXPORT_FORMATS:
        wanted = f"{target.stem}.{fmt or 'csv'}"
        message = (
            f"{target}: the extension decides the format; name the file .csv or .xlsx "
            f"(e.g. {wanted})."
        )
        raise AnalysisError(message)
    if fmt is not None and fmt != suffix:
        message = (
            f"{target}: --format {fmt} does not match the .{suffix} extension. Name the file "
            f"{target.stem}.{fmt}, or leave out --format (the extension decides)."
        )
        raise AnalysisError(message)
    return suffix


def write_study_export(
    db: str | Path,
    out: str | Path,
    *,
    fmt: str | None = None,
    key: str | Path | Key | None = None,
    protocol: str | Path | None = None,
) -> list[Path]:
    """Write the study's tables: ``.csv`` (one file per table) or ``.xlsx`` (one sheet each).

    The extension of ``out`` decides the format (:func:`export_format`; ``fmt``, if given,
    must agree). With ``csv`` the tidy table goes to ``out`` itself and every other table
    beside it as ``<stem>_<table>.csv``. A reader database exports its tidy table only. Files
    are written to a temporary name and renamed, so a failure never leaves a half-written
    export. Returns the paths written.
    """
    target = Path(out)
    if target.is_dir():
        message = (
            f"{target}: is a folder, but --out names the file to write. Give a file name, e.g. "
            f"{target / ('study.' + (fmt or 'csv'))}."
        )
        raise AnalysisError(message)
    fmt = export_format(out, fmt)
    tables = study_tables(db, key=key, protocol=protocol)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Every cell a spreadsheet would run becomes inert text (OWASP); numbers stay numbers.
    sheets = {name: spreadsheet_safe(frame) for name, frame in tables.sheets().items()}
    if fmt == "xlsx":
        temporary = target.with_name(f".{target.name}.partial")
        try:
            with pd.ExcelWriter(temporary, engine="openpyxl") as writer:
                for name, frame in sheets.items():
                    frame.to_excel(writer, sheet_name=name[:31], index=False)
            temporary.replace(target)
        finally:
            temporary.unlink(missing_ok=True)
        return [target]
    paths = {
        name: target if name == "values" else target.with_name(f"{target.stem}_{name}.csv")
        for name in sheets
    }
    for path in paths.values():
        if path.is_dir():
            message = f"{path}: is a folder, but the export writes this table there. Move it."
            raise AnalysisError(message)
    written = []
    for name, frame in sheets.items():
        path = paths[name]
        temporary = path.with_name(f".{path.name}.partial")
        try:
            frame.to_csv(temporary, index=False)
            temporary.replace(path)
        finally:
            temporary.unlink(missing_ok=True)
        written.append(path)
    return written


def write_study_report(
    db: str | Path,
    out_dir: str | Path,
    *,
    key: str | Path | Key | None = None,
    protocol: str | Path | None = None,
    top_n: int = 50,
    n_boot: int | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Agreement report (``report.html`` + CSV tables) of a study database; returns its path.

    With the key it also shows the per-patient 6 m → 12 m changes, and in every case the
    clinical sections (Oxford scores, adverse events) when the database holds them.
    """
    _refuse_reader_database(db)
    tables = study_tables(db, key=key, protocol=protocol)
    if tables.tidy.empty:
        message = f"{db}: holds no readings. Merge the readers' databases into it first."
        raise AnalysisError(message)
    database = open_database(db)
    try:
        facts = grras_facts(database)
    finally:
        database.close()
    options = {} if n_boot is None else {"n_boot": n_boot}
    result = agreement_tables(
        tables.tidy, tables.protocol, top_n=top_n, progress=progress, **options
    )
    from collarreader.clinical.summary import clinical_sections

    extra = clinical_sections(db) if len(tables.oxford) or len(tables.adverse_events) else []
    return write_report(
        result,
        out_dir,
        title=f"Agreement — {tables.protocol.title}",
        protocol=tables.protocol,
        longitudinal=tables.longitudinal,
        extra_sections=extra,
        grras=facts,
    )


def _refuse_reader_database(db: str | Path) -> None:
    """Agreement compares readers: a single reader's database is refused with what to do."""
    database = open_database(db)
    try:
        identity = database.identity
    finally:
        database.close()
    if identity.role is DatabaseRole.READER:
        message = (
            f"{db}: this is reader {identity.reader_id}'s own database; agreement compares "
            "readers. Merge every reader's database into a study database first "
            f"('collarreader merge study.sqlite {Path(str(db)).name} OTHER_READER.sqlite …') "
            "and run agreement on study.sqlite. To look at this reader's values, use "
            "'collarreader export' on this file."
        )
        raise AnalysisError(message)


def _clinical_frames(database: Database) -> tuple[pd.DataFrame, pd.DataFrame]:
    from collarreader.clinical.store import list_clinical

    return list_clinical(database)


def _add_clinical(
    tables: StudyTables,
    frames: tuple[pd.DataFrame, pd.DataFrame],
    *,
    patients: list[str] | tuple[str, ...],
) -> None:
    from collarreader.clinical import summary

    oxford, events = frames
    tables.oxford = oxford
    tables.adverse_events = events
    if len(oxford):
        tables.oxford_change = summary.oxford_change(oxford)
    if len(events):
        tables.ae_counts = summary.ae_counts(events)
    if len(events) or patients:
        tables.events_per_patient = summary.events_per_patient(events, patients)


def _patients_table(tables: StudyTables) -> pd.DataFrame:
    """Per patient: radiological consensus change, Oxford change and adverse events."""
    if tables.consensus is None:  # blinded: no patients to join
        return pd.DataFrame()
    patients = tables.consensus.copy()
    if len(tables.oxford_change):
        oxford = tables.oxford_change.rename(
            columns={
                "total_6m": "oxford_6m",
                "band_6m": "oxford_band_6m",
                "total_12m": "oxford_12m",
                "band_12m": "oxford_band_12m",
                "change": "oxford_change",
            }
        )
        patients = patients.merge(oxford, on="patient", how="left")
    if len(tables.events_per_patient):
        patients = patients.merge(tables.events_per_patient, on="patient", how="left")
    return patients
