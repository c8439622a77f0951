"""The subcommands' handlers (all but ``clinical``): parse arguments, call the core, print.

Part of :mod:`collarreader.cli` (see its docstring for the rules).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from collarreader.cli.common import progress_bar
from collarreader.errors import FileError

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
