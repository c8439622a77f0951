"""``collarreader clinical``: its handler and its sub-parser.

Part of :mod:`collarreader.cli` (see its docstring for the rules).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from collarreader.cli.commands import _check_key


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
