"""The argument parser of the whole command line.

Part of :mod:`collarreader.cli` (see its docstring for the rules).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from collarreader import __version__
from collarreader.cli.clinical_commands import _add_clinical_parser
from collarreader.cli.commands import (
    _cmd_adjudicate,
    _cmd_agreement,
    _cmd_demo,
    _cmd_doctor,
    _cmd_export,
    _cmd_inspect,
    _cmd_merge,
    _cmd_phantom,
    _cmd_plan,
    _cmd_prepare,
    _cmd_pull,
    _cmd_read,
    _cmd_simulate_reads,
    _cmd_verify,
)
from collarreader.cli.common import DEFAULT_PROTOCOL, DEFAULT_REPEAT_FRACTION

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
