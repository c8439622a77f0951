"""Command line: parse, call the core, print.

Each subcommand imports its core module only when it runs, so ``collarreader --help`` and
the Qt-free commands start quickly and never load Qt. Every :class:`CollarReaderError` is
printed as one ``collarreader COMMAND: …`` line (it already names the file or row and what
to do) with exit code 1 (``read`` exits 2, see :func:`collarreader.ui.reader.run_reader`);
anything else escaping is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from collarreader import __version__
from collarreader.errors import CollarReaderError, FileError
from collarreader.model import ProgressCallback

# Defaults repeated here so that `--help` does not import the heavy core modules;
# tests/test_cli.py checks they equal the core's own.
DEFAULT_PROTOCOL = "collar-default"
DEFAULT_REPEAT_FRACTION = 0.2


@contextmanager
def progress_bar(description: str) -> Iterator[ProgressCallback]:
    """Yield a ``progress(done, total)`` callback drawing a rich bar on a terminal.

    Off a terminal (CI, pipes) it prints nothing, so logs stay readable.
    """
    if not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


# ---------------------------------------------------------------- subcommands


def _cmd_phantom(args: argparse.Namespace) -> int:
    from collarreader.study.phantom import generate_study

    with progress_bar("phantom") as progress:
        summary = generate_study(
            args.outdir,
            patients=args.patients,
            seed=args.seed,
            small=args.small,
            progress=progress,
        )
    print(summary)
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from collarreader.imaging import describe, format_description

    description = describe(args.file, frame=args.frame)
    if args.json:
        print(json.dumps(description, indent=2, ensure_ascii=False, default=str))
    else:
        print(format_description(description))
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from collarreader.study.prepare import parse_path_list, prepare_reading_set

    with progress_bar("prepare") as progress:
        report = prepare_reading_set(
            args.manifest,
            args.out,
            args.key,
            args.readers,
            repeat_fraction=args.repeat_fraction,
            seed=args.seed,
            protocol=args.protocol,
            blind_timepoints=args.blind_timepoints,
            confirm_burned_in=parse_path_list(args.confirm_burned_in)
            if args.confirm_burned_in
            else (),
            force=args.force,
            skip_unreadable=args.skip_unreadable,
            redact=args.redact,
            search_text=not args.no_text_search,
            key_passphrase=_passphrase(args),
            progress=progress,
        )
    print(report.text)
    return 0


def _check_paths(args: argparse.Namespace) -> None:
    """A folder where a file is expected, or a file where a folder is: a clear error first.

    Checked before any work starts, so nothing is left behind.
    """
    files = {
        "key": "--key (the key file)",
        "csv": "the CSV file",
        "manifest": "--manifest (the manifest CSV)",
        "truth": "--truth (truth.json)",
        "against": "--against (the receipt file)",
    }
    if getattr(args, "command", None) in ("export", "merge"):
        files["out"] = "--out (the file to write)"
        files["target"] = "the study database"
    for name, what in files.items():
        value = getattr(args, name, None)
        if isinstance(value, (str, Path)) and "://" not in str(value) and Path(value).is_dir():
            raise FileError(value, f"is a folder, but {what} must be a file.", "Give a file.")
    folders = {
        "agreement": ("out", "--out names the folder for the report"),
        "prepare": ("out", "--out names the folder of the reading set"),
        "phantom": ("outdir", "OUTDIR names the folder of the synthetic study"),
    }
    command = getattr(args, "command", None)
    if command in folders:
        name, what = folders[command]
        folder = Path(getattr(args, name))
        if folder.exists() and not folder.is_dir():
            raise FileError(folder, f"is a file, but {what}.", "Give a folder.")


def _cmd_verify(args: argparse.Namespace) -> int:
    from collarreader.db.receipts import database_receipt, read_receipt, verify_against
    from collarreader.db.verify import verify_database

    receipt = read_receipt(args.against) if args.against else None
    findings = verify_database(args.db)
    if receipt is not None:
        findings.extend(verify_against(args.db, receipt))
    if args.json:
        result = {
            "database": str(args.db),
            "ok": not findings,
            "findings": [finding.as_dict() for finding in findings],
        }
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 1 if findings else 0
    for finding in findings:
        print(finding)
    if findings:
        print(f"{args.db}: {len(findings)} finding(s)", file=sys.stderr)
        return 1
    if args.receipt:
        print(database_receipt(args.db))
        return 0
    checked = "integrity, schema version, audit chain, signatures, rows match their audit"
    if receipt is not None:
        checked += f", holds event {receipt.seq} of {receipt.db_id} as the receipt says"
    print(f"{args.db}: OK ({checked})")
    return 0


def _passphrase(args: argparse.Namespace) -> bytes | None:
    from collarreader.study.keycrypt import read_passphrase_file

    path = getattr(args, "key_passphrase_file", None)
    return None if path is None else read_passphrase_file(path)


def _check_key(args: argparse.Namespace, db: Any = None) -> Any:
    """The ``--key`` (decrypted), refused unless the database's reading set committed to it."""
    if args.key is None:
        return None
    from collarreader.study.keycheck import load_key_for_database

    return load_key_for_database(args.key, db or args.db, passphrase=_passphrase(args))


def _cmd_simulate_reads(args: argparse.Namespace) -> int:
    from collarreader.study.simulate import simulate_reads

    key = None
    if args.key is not None:  # before the database is created: a wrong key leaves nothing
        from collarreader.study.keycheck import load_key_for_set

        key = load_key_for_set(args.key, args.setdir, passphrase=_passphrase(args))

    with progress_bar(f"reader {args.reader}") as progress:
        summary = simulate_reads(
            args.setdir,
            reader_id=args.reader,
            db_path=args.db,
            seed=args.seed,
            truth=args.truth,
            key=key if key is not None else args.key,
            progress=progress,
        )
    print(summary)
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from collarreader.db.merge import merge_databases

    with progress_bar("merge") as progress:
        report = merge_databases(args.target, args.sources, progress=progress)
    print(report)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    if args.format in {"dicom-sr", "gsps"}:
        from collarreader.interop.gsps import write_presentation_states
        from collarreader.interop.sr import write_srs
        from collarreader.protocol import load_protocol

        writer = write_srs if args.format == "dicom-sr" else write_presentation_states
        key = _check_key(args)  # refused unless the set committed to it
        with progress_bar(args.format) as progress:
            paths = writer(
                args.db,
                args.out,
                setdir=args.set,
                key=key,
                protocol=load_protocol(args.protocol) if args.protocol else None,
                progress=progress,
            )
        for path in paths:
            print(path)
        return 0
    from collarreader.analysis.study import write_study_export

    key = _check_key(args)
    written = write_study_export(
        args.db, args.out, fmt=args.format, key=key, protocol=args.protocol
    )
    for path in written:
        print(path)
    return 0


def _cmd_pull(args: argparse.Namespace) -> int:
    from collarreader.interop.pull import pull_images

    with progress_bar("pull") as progress:
        report = pull_images(args.url, args.manifest, args.out, auth=args.auth, progress=progress)
    print(report)
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    if args.probe_qt:
        from collarreader.ui.platform_check import probe_qt  # Qt only here, lazily

        return probe_qt()
    from collarreader.doctor import Check, Status, core_checks, format_checks

    checks = core_checks(args.db_folder)
    try:
        from collarreader.ui.platform_check import qt_checks  # Qt, lazily
    except ImportError as error:
        checks.insert(
            2,
            Check(
                "Qt",
                Status.FAIL,
                f"cannot be loaded ({error})",
                "Reinstall collarreader (pip install collarreader-*.whl) or use the bundle.",
            ),
        )
    else:
        checks[2:2] = qt_checks()
    print(format_checks(checks))
    return 1 if any(check.status is Status.FAIL for check in checks) else 0


def _cmd_agreement(args: argparse.Namespace) -> int:
    from collarreader.analysis.study import write_study_report

    key = _check_key(args)
    with progress_bar("agreement") as progress:
        report = write_study_report(
            args.db,
            args.out,
            key=key,
            protocol=args.protocol,
            top_n=args.top,
            progress=progress,
        )
    print(f"report: {report}")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from collarreader.analysis.planning import icc_sample_size

    cases = icc_sample_size(
        icc=args.icc, ci_width=args.ci_width, raters=args.raters, confidence=args.confidence
    )
    print(
        f"{cases} cases, each read by all {args.raters} readers, give an ICC of {args.icc} a "
        f"{args.confidence:.0%} confidence interval {args.ci_width} wide (Bonett 2002)."
    )
    return 0


def _cmd_adjudicate(args: argparse.Namespace) -> int:
    from collarreader.ui.adjudication import run_adjudication  # Qt only here, lazily

    codes = [code.strip() for code in (args.cases or "").split(",") if code.strip()]
    return run_adjudication(args.db, args.setdir, codes=codes, all_cases=args.all)


def _cmd_read(args: argparse.Namespace) -> int:
    from collarreader.ui.reader import run_reader  # Qt only here, lazily

    return run_reader(args.setdir, args.reader, args.db)


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.lead:
        from collarreader.lead_demo import run_lead_demo

        run_lead_demo(args.workdir, patients=args.patients)
        return 0
    from collarreader.ui.demo import run_demo  # Qt only here, lazily

    return run_demo(args.workdir, args.screenshot)


def _cmd_clinical(args: argparse.Namespace) -> int:
    if args.clinical_command == "edit":
        from collarreader.ui.clinical_window import run_clinical_window  # Qt, lazily

        return run_clinical_window(args.db, screenshot=args.screenshot)

    from collarreader.clinical import store

    database = store.open_study_database(args.db)
    try:
        key = _check_key(args, database) if getattr(args, "key", None) is not None else None
        if args.clinical_command == "import-oxford":
            print(
                store.import_oxford_csv(
                    database,
                    args.csv,
                    legacy=args.legacy,
                    key_path=key,
                    update=args.update,
                    reason=args.reason,
                )
            )
        elif args.clinical_command == "import-ae":
            print(
                store.import_ae_csv(
                    database, args.csv, key_path=key, update=args.update, reason=args.reason
                )
            )
        elif args.clinical_command == "list":
            print(store.format_clinical(*store.list_clinical(database)))
        elif args.clinical_command == "add-ae":
            from collarreader.clinical.adverse_events import AdverseEvent

            event = AdverseEvent.parse(
                patient=args.patient,
                onset_date=args.onset,
                description=args.description,
                category=args.category,
                severity=args.severity,
                relation=args.relation,
                action=args.action,
                outcome=args.outcome,
            )
            row_id = store.add_adverse_event(database, event, reason=args.reason)
            print(f"adverse event recorded: {row_id}")
    finally:
        database.close()
    return 0


def _add_clinical_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    clinical = commands.add_parser(
        "clinical",
        help="Oxford Hip/Knee scores and adverse events in the study database",
        description="Clinical data of the study database: CSV imports (validated, all or "
        "nothing, idempotent), listing, hand entry and the study-lead window. Every change "
        "is audited.",
    )
    sub = clinical.add_subparsers(dest="clinical_command", metavar="ACTION", required=True)
    clinical.set_defaults(handler=_cmd_clinical)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("db", help="study database (SQLite file or SQLAlchemy URL)")

    def updates(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--key", type=Path, help="key file: refuse patients not in it")
        parser.add_argument(
            "--key-passphrase-file",
            type=Path,
            metavar="FILE",
            help="file whose first line is the passphrase of an encrypted key",
        )
        parser.add_argument(
            "--update",
            action="store_true",
            help="apply rows that change a recorded entry as audited corrections",
        )
        parser.add_argument("--reason", help="reason stored with each correction")

    p = sub.add_parser("import-oxford", help="import Oxford Hip/Knee Score questionnaires (CSV)")
    common(p)
    p.add_argument("csv", type=Path, help="CSV: patient, instrument, timepoint, date, q1..q12")
    p.add_argument(
        "--legacy", action="store_true", help="the file uses the legacy 12–60 scoring (1 = best)"
    )
    updates(p)

    p = sub.add_parser("import-ae", help="import adverse events (CSV)")
    common(p)
    p.add_argument("csv", type=Path, help="CSV: patient, onset_date, description, category, …")
    updates(p)

    p = sub.add_parser("list", help="list questionnaires (with totals and bands) and events")
    common(p)

    p = sub.add_parser("add-ae", help="record one adverse event")
    common(p)
    p.add_argument("--patient", required=True, help="patient study ID (as in the key file)")
    p.add_argument("--onset", required=True, help="onset date, YYYY-MM-DD")
    p.add_argument("--description", required=True)
    p.add_argument(
        "--category",
        required=True,
        help="Henderson type 1 soft tissue, 2 aseptic loosening, 3 structural, 4 infection, "
        "5 tumour progression, or other",
    )
    p.add_argument(
        "--severity", required=True, help="mild, moderate, severe, life-threatening, death"
    )
    p.add_argument(
        "--relation", required=True, help="unrelated, unlikely, possible, probable, definite"
    )
    p.add_argument(
        "--action", required=True, help="none, medication, reoperation, revision, amputation, other"
    )
    p.add_argument("--outcome", required=True, help="recovered, recovering, not recovered, …")
    p.add_argument("--reason", help="optional note stored in the audit event")

    p = sub.add_parser("edit", help="open the study-lead window to enter and correct data")
    common(p)
    p.add_argument("--screenshot", type=Path, help="render offscreen, write a PNG and exit")


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; each later issue adds its subcommand here."""
    parser = argparse.ArgumentParser(
        prog="collarreader",
        description=(
            "Blinded radiographic reading of porous collars on tumour-resection prostheses."
        ),
    )
    parser.add_argument("--version", action="version", version=f"collarreader {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser(
        "phantom",
        help="generate a synthetic study (DX DICOMs, manifest.csv, truth.json)",
        description="Generate a synthetic study of collared prostheses at 6 m and 12 m, "
        "AP and lateral, with manifest.csv and truth.json.",
    )
    p.add_argument("outdir", type=Path, help="folder to create (must be absent or empty)")
    p.add_argument("--patients", type=_positive_int, default=4, help="number of patients")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same study)")
    p.add_argument(
        "--small",
        action="store_true",
        help="same anatomy at a fraction of the size, for tests and benchmarks at scale",
    )
    p.set_defaults(handler=_cmd_phantom)

    p = commands.add_parser(
        "inspect",
        help="show what the loader sees in a DICOM file",
        description="Show size, photometric interpretation, spacing and its source, "
        "window, transfer syntax and decoder of one DICOM file. No patient identity.",
    )
    p.add_argument("file", type=Path, help="DICOM file")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--frame", type=int, default=0, help="frame of a multi-frame file (from 0)")
    p.set_defaults(handler=_cmd_inspect)

    p = commands.add_parser(
        "prepare",
        help="build a blinded reading set (de-identify, pseudonymise, randomise per reader)",
        description="Build a blinded reading set from the sites' DICOM exports: PS3.15 "
        "de-identification, random codes, a seeded order per reader with repeat reads, "
        "SHA-256 of every file. The key file is written only where --key says.",
    )
    p.add_argument("--manifest", type=Path, required=True, help="manifest.csv of the sources")
    p.add_argument("--out", type=Path, required=True, help="reading-set folder to create")
    p.add_argument("--key", type=Path, required=True, help="key file (outside the set)")
    p.add_argument(
        "--key-passphrase-file",
        type=Path,
        metavar="FILE",
        help="encrypt the key with the passphrase on this file's first line (scrypt + AES-GCM)",
    )
    p.add_argument("--readers", required=True, help="reader IDs, comma-separated (A,B,…)")
    p.add_argument(
        "--repeat-fraction",
        type=float,
        default=DEFAULT_REPEAT_FRACTION,
        help=f"fraction of cases read twice per reader (default {DEFAULT_REPEAT_FRACTION})",
    )
    p.add_argument("--seed", help="seed: the same seed gives the same set (keep it secret)")
    p.add_argument(
        "--protocol",
        default=DEFAULT_PROTOCOL,
        help=f"scoring protocol name or TOML path (default {DEFAULT_PROTOCOL})",
    )
    p.add_argument(
        "--blind-timepoints", action="store_true", help="label the time points A/B at random"
    )
    p.add_argument(
        "--confirm-burned-in",
        metavar="PATHS",
        help="manifest paths of burned-in images you have checked: comma-separated, or a "
        "text file listing one per line",
    )
    p.add_argument(
        "--redact",
        metavar="CSV",
        type=Path,
        help="rectangles to blank in held-back images: CSV of path, x, y, width, height (px)",
    )
    p.add_argument(
        "--no-text-search",
        action="store_true",
        help="do not search the images for burned-in text with OCR (the report warns)",
    )
    p.add_argument(
        "--skip-unreadable",
        action="store_true",
        help="leave out images the reader cannot open (listed in the report) instead of stopping",
    )
    p.add_argument("--force", action="store_true", help="replace an existing reading set")
    p.set_defaults(handler=_cmd_prepare)

    p = commands.add_parser(
        "verify",
        help="check a database: integrity, schema version, audit chain, signatures, merge "
        "anchors, rows against audit",
        description="Check a reader or study database. Exits non-zero on any finding.",
    )
    p.add_argument("db", help="SQLite file or SQLAlchemy URL")
    p.add_argument("--json", action="store_true", help="print the findings as JSON (for a monitor)")
    p.add_argument(
        "--receipt",
        action="store_true",
        help="after a clean check, print a receipt of the database's signed head (send it "
        "with the file; the study lead checks it later with --against)",
    )
    p.add_argument(
        "--against",
        metavar="RECEIPT",
        help="also check the database still holds the head a receipt file vouches for",
    )
    p.set_defaults(handler=_cmd_verify)

    p = commands.add_parser(
        "read",
        help="the reader's workstation: read a blinded reading set",
        description="Open the blinded reading GUI on a reading set, as one reader. Every "
        "gesture is committed to the reader's SQLite database before the screen shows it.",
    )
    p.add_argument("setdir", type=Path, help="reading-set folder")
    p.add_argument("--reader", required=True, help="your reader ID, as in the reading set")
    p.add_argument(
        "--db",
        type=Path,
        help="your reader database (default ./collarreader-<set>-<reader>.sqlite)",
    )
    p.set_defaults(handler=_cmd_read)

    p = commands.add_parser(
        "demo",
        help="the main job on generated data: phantom → reading set → the reader",
        description="Make a synthetic study, prepare a reading set and open the reader on "
        "it as reader 'demo'. With no display, or with --screenshot, it renders offscreen, "
        "places a few demonstration annotations, writes a PNG and exits.",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        help="working folder (default ./build/demo, --lead: ./build/demo-lead)",
    )
    p.add_argument("--screenshot", type=Path, help="write a PNG of the window and exit")
    p.add_argument(
        "--lead",
        action="store_true",
        help="the study lead's side instead: phantom → prepare → simulated readers → merge → "
        "agreement report → unblinded export",
    )
    p.add_argument(
        "--patients",
        type=_positive_int,
        default=40,
        help="phantom patients for --lead (default 40)",
    )
    p.set_defaults(handler=_cmd_demo)

    p = commands.add_parser(
        "simulate-reads",
        help="a synthetic reader: read a whole worklist through the session commands",
        description="Work through one reader's whole worklist (repeats included) with the same "
        "session commands as the GUI. With the phantom's truth and the key, values are truth "
        "plus a per-reader bias and noise; without, plausible random values.",
    )
    p.add_argument("setdir", type=Path, help="reading-set folder")
    p.add_argument("--reader", required=True, help="reader ID, as in the reading set")
    p.add_argument("--db", type=Path, required=True, help="the reader database to write")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--truth", type=Path, help="the phantom's truth.json (needs --key)")
    p.add_argument("--key", type=Path, help="the reading set's key file (needs --truth)")
    p.add_argument(
        "--key-passphrase-file",
        type=Path,
        metavar="FILE",
        help="file whose first line is the passphrase of an encrypted key",
    )
    p.set_defaults(handler=_cmd_simulate_reads)

    p = commands.add_parser(
        "merge",
        help="merge reader databases into a study database (SQLite or PostgreSQL)",
        description="Merge reader databases into a study database, created when absent. "
        "Atomic per source, idempotent, order-independent; a source from another reading set "
        "or protocol, with a broken audit chain or conflicting readings is refused and the "
        "target left unchanged.",
    )
    p.add_argument("target", help="study database: SQLite path or URL such as postgresql://…")
    p.add_argument("sources", nargs="+", type=Path, help="reader databases (SQLite files)")
    p.set_defaults(handler=_cmd_merge)

    p = commands.add_parser(
        "export",
        help="export the tidy long table (blinded; unblinded with --key)",
        description="Export one row per recorded value: reader, case code, reading kind, view, "
        "time point label, zone, field, value, unit, calibration source, measured or entered. "
        "Without --key the export is blinded: case codes and the time-point labels the readers "
        "saw, no site, patient or true time point. A study database also exports its clinical "
        "tables (Oxford scores, adverse events) with or without --key; they name patients by "
        "their study IDs, which are pseudonyms, not identities, and without the key they "
        "cannot be joined to the readings. With --key: site, patient and true time point in "
        "every row, the per-patient 6 m → 12 m table and the patients table joining readings "
        "and clinical data. A reader database exports its own readings only (no clinical "
        "tables). The extension of --out decides the format: .csv (one file per table, the "
        "others beside it as NAME_TABLE.csv) or .xlsx (one sheet per table).",
    )
    p.add_argument("db", help="study or reader database (SQLite file or SQLAlchemy URL)")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output file (.csv or .xlsx); a folder for dicom-sr and gsps",
    )
    p.add_argument(
        "--format",
        choices=("csv", "xlsx", "dicom-sr", "gsps"),
        help="csv/xlsx: optional, must match the extension of --out (which decides); "
        "dicom-sr: a TID 1500 Measurement Report per reading; gsps: a presentation state per "
        "marked image",
    )
    p.add_argument(
        "--key",
        type=Path,
        help="key file: unblind the export (dicom-sr/gsps: reference the sites' originals)",
    )
    p.add_argument(
        "--set",
        type=Path,
        help="the reading set (dicom-sr/gsps without --key: the images referenced)",
    )
    p.add_argument(
        "--key-passphrase-file",
        type=Path,
        metavar="FILE",
        help="file whose first line is the passphrase of an encrypted key",
    )
    p.add_argument("--protocol", help="protocol name or TOML path, if not shipped")
    p.set_defaults(handler=_cmd_export)

    p = commands.add_parser(
        "agreement",
        help="inter- and intra-observer agreement report (report.html + CSV tables)",
        description="Agreement for every protocol field, per zone and time point: ICC(A,1) "
        "and Bland–Altman for measurements, weighted kappa and Krippendorff's alpha for "
        "ordinal fields, Cohen/Fleiss kappa and alpha for nominal ones. With --key also the "
        "per-patient 6 m → 12 m changes.",
    )
    p.add_argument(
        "db", help="study database made by 'collarreader merge' (SQLite file or SQLAlchemy URL)"
    )
    p.add_argument("--out", type=Path, required=True, help="folder for report.html and CSVs")
    p.add_argument("--key", type=Path, help="key file: add the unblinded longitudinal tables")
    p.add_argument(
        "--key-passphrase-file",
        type=Path,
        metavar="FILE",
        help="file whose first line is the passphrase of an encrypted key",
    )
    p.add_argument("--protocol", help="protocol name or TOML path, if not shipped")
    p.add_argument(
        "--top", type=_positive_int, default=50, help="cases in the disagreement list (default 50)"
    )
    p.set_defaults(handler=_cmd_agreement)

    p = commands.add_parser(
        "pull",
        help="retrieve a manifest's images from a PACS over DICOMweb, ready for prepare",
        description="Retrieve the images a manifest names by study_uid, series_uid and sop_uid "
        "(with site, patient, timepoint, view, joint, side) over DICOMweb (WADO-RS), verify "
        "each, and write OUT/manifest.csv for prepare. A second run resumes.",
    )
    p.add_argument("url", help="the PACS's DICOMweb root, e.g. http://pacs:8042/dicom-web")
    p.add_argument("--manifest", type=Path, required=True, help="CSV naming the images by UID")
    p.add_argument("--out", type=Path, required=True, help="folder for the images and manifest")
    p.add_argument(
        "--auth",
        type=Path,
        help="credentials file: 'user = …' and 'password = …' lines, or 'token = …'",
    )
    p.set_defaults(handler=_cmd_pull)

    p = commands.add_parser(
        "doctor",
        help="check this workstation: Qt, display, decoders, OCR, disk space, write access",
        description="Check what this workstation has and say what to do about what it lacks. "
        "Exits non-zero when something the reader needs is missing.",
    )
    p.add_argument(
        "--db-folder",
        type=Path,
        default=Path(),
        help="where the database will live (default: the current folder)",
    )
    p.add_argument("--probe-qt", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=_cmd_doctor)

    p = commands.add_parser(
        "adjudicate",
        help="record a consensus reading with every reader's marks overlaid",
        description="Open the reader window in consensus mode on the study database: the "
        "cases of the disagreement list (or --all, or --cases), every reader's marks in one "
        "colour per reader, their scores beside the panel; the adjudicator's reading is "
        "recorded as reader 'consensus', audited like any reading.",
    )
    p.add_argument("db", help="study database (after merge)")
    p.add_argument("setdir", type=Path, help="the reading set the readers read")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="every primary case of the set")
    which.add_argument("--cases", help="comma-separated case codes to adjudicate")
    p.set_defaults(handler=_cmd_adjudicate)

    p = commands.add_parser(
        "plan",
        help="cases a reliability study needs for an ICC interval of chosen width",
        description="Bonett (2002): cases needed so that the confidence interval of an "
        "expected ICC is W wide with K readers reading every case.",
    )
    p.add_argument("--icc", type=float, required=True, help="expected ICC, e.g. 0.8")
    p.add_argument(
        "--ci-width", type=float, required=True, help="total width of the interval, e.g. 0.2"
    )
    p.add_argument("--raters", type=int, required=True, help="readers who read every case")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level (default 0.95)")
    p.set_defaults(handler=_cmd_plan)

    _add_clinical_parser(commands)

    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        message = f"must be at least 1, not {value}"
        raise argparse.ArgumentTypeError(message)
    return value


def error_prefix(args: argparse.Namespace) -> str:
    """``collarreader COMMAND`` (``collarreader clinical ACTION``): the prefix of every error line.

    The same prefix as ``collarreader read``'s refusals, so a script or a user searching a log
    finds every command's errors the same way.
    """
    words = ["collarreader", args.command]
    action = getattr(args, "clinical_command", None)
    if action:
        words.append(action)
    return " ".join(words)


def main(argv: list[str] | None = None) -> int:
    """Run the ``collarreader`` command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _check_paths(args)
        return int(args.handler(args))
    except CollarReaderError as error:
        print(f"{error_prefix(args)}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
