"""``collarreader prepare``: build a blinded reading set and its unblinding key.

The build is all or nothing. Everything that can be checked before writing is checked first
(arguments, output and key locations, the protocol, the whole manifest with every file's
header). The set is then built in a hidden temporary folder beside ``SETDIR`` (same file
system, so the final rename is atomic); any failure — a file that turns out to be corrupt, a
full disk, Ctrl-C — removes that folder and writes no key. The key is written only once the
set is complete, and the source files are only ever read.

Randomness and determinism: every random choice (case and image codes, the set UUID, blinded
time point labels, each reader's order, the repeat reads, the de-identified UIDs) is derived
from one 32-byte per-study *secret* through HMAC-SHA256, so the same secret gives a
byte-identical set on every platform and Python version. Without ``seed`` the secret comes from
:mod:`secrets`; with ``seed`` it is derived from the seed (for reproducible sets and tests).
A seeded secret is only as hard to guess as the seed, so a real study should either omit the
seed or use a long random one. The secret is stored in the key file.
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from collarreader.errors import (
    CollarReaderError,
    DeidentificationError,
    DicomReadError,
    ManifestError,
    ReadingSetError,
)
from collarreader.model import ProgressCallback
from collarreader.protocol import DEFAULT_PROTOCOL, Protocol, load_protocol
from collarreader.study.contactsheet import CONTACT_SHEET_FILE, write_contact_sheet
from collarreader.study.deid import (
    Deidentifier,
    burned_in_status,
)
from collarreader.study.imagecopy import Written, write_image
from collarreader.study.keyfile import (
    Key,
    KeyCase,
    KeyImage,
    check_key_location,
    install_key,
    key_commitment,
    stage_key,
)
from collarreader.study.manifest import (
    Manifest,
    ManifestRow,
    TimePoint,
    load_manifest,
)
from collarreader.study.ocr import require_ocr
from collarreader.study.plan import Plan, PlannedImage, Stream, derive_secret, make_plan
from collarreader.study.prepareargs import (
    boxes_text,
    burned_in_reason,
    check_output,
    check_sources_apart,
    parse_path_list,
    parse_readers,
)
from collarreader.study.preparereport import LeftOut, PrepareReport, make_report, with_backup
from collarreader.study.readingset import (
    FORMAT,
    IMAGES_DIR,
    PROTOCOL_FILE,
    READINGSET_FILE,
    REPORT_FILE,
    VERSION,
    dump_document,
    open_reading_set,
)
from collarreader.study.redaction import Rect, parse_redactions, rects_text
from collarreader.study.screening import screen_images

__all__ = [
    "DEFAULT_REPEAT_FRACTION",
    "LeftOut",
    "PrepareReport",
    "derive_secret",
    "parse_path_list",
    "parse_readers",
    "prepare_reading_set",
]

DEFAULT_REPEAT_FRACTION = 0.2
"""Share of cases each reader reads twice: 20 % gives ≥ 20 repeat pairs from 100 cases, enough
for an intra-observer ICC with a usable confidence interval, at a fifth more reading time."""
# --------------------------------------------------------------------------- the build


def prepare_reading_set(
    manifest: str | Path,
    out: str | Path,
    key: str | Path,
    readers: Sequence[str] | str,
    *,
    repeat_fraction: float = DEFAULT_REPEAT_FRACTION,
    seed: int | str | None = None,
    protocol: str | Path = DEFAULT_PROTOCOL,
    blind_timepoints: bool = False,
    confirm_burned_in: Iterable[str] = (),
    redact: str | Path | None = None,
    key_passphrase: bytes | None = None,
    force: bool = False,
    skip_unreadable: bool = False,
    search_text: bool = True,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> PrepareReport:
    """Build a blinded reading set from a manifest, and write its unblinding key.

    Parameters
    ----------
    manifest : the source ``manifest.csv`` (see :mod:`collarreader.study.manifest`)
    out : the reading set folder to create (``SETDIR``)
    key : where to write the key file; refused inside ``out``
    readers : reader IDs (or ``"A,B"``); each gets a differently ordered worklist
    repeat_fraction : share of cases re-presented to each reader at the end of the worklist
        under new codes, ``round(fraction × cases)`` per reader, a different random subset each
    seed : makes the set reproducible: the same manifest, arguments and seed give a
        byte-identical set. Without it the per-study secret is random.
    protocol : shipped protocol name or path of a ``.toml`` file
    blind_timepoints : label time points A/B (random per case) instead of 6m/12m
    redact : a CSV of rectangles to blank in the set's copies (``path, x, y, width, height``,
        see :mod:`collarreader.study.redaction`); a redacted image is admitted when OCR finds
        no text left in it
    key_passphrase : encrypt the key file with this passphrase (scrypt + AES-GCM)
    confirm_burned_in : manifest paths of images with burned-in text that the study lead has
        checked and admits
    skip_unreadable : leave out (and list in the report) images the reader's loader cannot
        open, instead of refusing to build the set
    search_text : search every image for burned-in text with OCR (Tesseract) and hold back
        those with text; False only where the images are known to carry none (the report says
        they were not searched)
    force : replace an existing reading set at ``out`` and an existing key (kept as ``.bak``)
    progress : called as ``progress(done, total)`` from the calling thread after each image
        is written
    workers : threads for de-identification (default: CPU count, at most 4)

    Returns
    -------
    PrepareReport
        Counts, what was left out and why, warnings and the report texts.

    Raises
    ------
    ManifestError
        The manifest has bad rows (all listed), or a confirmed path is not in it.
    ReadingSetError
        Bad arguments, ``out`` exists (without ``force``) or is not a reading set, nothing left
        to read.
    KeyFileError
        The key would be inside the set, or exists (without ``force``), or cannot be written.
    DicomReadError, DeidentificationError
        A file could not be read or de-identified during the build (nothing is written).
    """
    setdir = Path(out).absolute()
    key_path = Path(key).absolute()
    reader_ids = parse_readers(readers)
    if not 0.0 <= repeat_fraction <= 1.0 or math.isnan(repeat_fraction):
        raise ReadingSetError(
            f"--repeat-fraction: {repeat_fraction} is outside 0–1; e.g. 0.2 repeats a fifth "
            "of the cases."
        )
    check_key_location(key_path, setdir, force=force)
    check_output(setdir, force)
    loaded_protocol = load_protocol(protocol)
    source = load_manifest(manifest)
    check_sources_apart(source, setdir, key_path)

    confirmed_rows: set[int] = set()
    unknown: list[str] = []
    for path in confirm_burned_in:
        row = source.row_for_path(path)
        if row is None:
            unknown.append(path)
        else:
            confirmed_rows.add(row.row)
    if unknown:
        raise ManifestError(
            f"--confirm-burned-in: {', '.join(unknown)} not in {source.path}; give the paths as "
            "written in the manifest's 'path' column."
        )

    redactions = parse_redactions(redact, source) if redact is not None else {}
    left_out: list[LeftOut] = []
    confirmed: list[LeftOut] = []
    admitted: list[ManifestRow] = []
    for row in source.rows:
        reason = burned_in_reason(row)
        if reason is None or row.row in redactions:
            admitted.append(row)
        elif row.row in confirmed_rows:
            confirmed.append(LeftOut(row.row, row.path, reason + "; confirmed by the study lead"))
            admitted.append(row)
        else:
            left_out.append(
                LeftOut(
                    row.row,
                    row.path,
                    reason + "; check the image and admit it with --confirm-burned-in if it "
                    "shows no identifying text",
                )
            )
    if search_text:
        require_ocr()
    held = [row for row in source.rows if row.row in {item.row for item in left_out}]
    screened = screen_images(
        [*admitted, *held], search_text=search_text, workers=workers, redactions=redactions
    )
    unreadable = [
        LeftOut(row.row, row.path, problem)
        for row in admitted
        if (problem := screened[row.row].problem) is not None
    ]
    if unreadable and not skip_unreadable:
        raise ManifestError(
            f"{source.path}: {len(unreadable)} image(s) cannot be opened by the reader, so "
            "nothing was written:\n"
            + "\n".join(f"  row {item.row} ({item.path}): {item.reason}" for item in unreadable)
            + "\nExport them again from the site's archive, or pass --skip-unreadable to leave "
            "them out (the report lists them)."
        )
    left_out.extend(unreadable)
    text_rows = {
        row.row
        for row in admitted
        if screened[row.row].text_boxes and row.row not in confirmed_rows
    }
    for row in admitted:
        boxes = screened[row.row].text_boxes
        if not boxes:
            continue
        reason = (
            f"OCR found text in the pixels at {len(boxes)} place(s) ({boxes_text(boxes)}) "
            f"although (0028,0301) Burned In Annotation is {burned_in_status(row.header)}"
        )
        if row.row in redactions:
            reason = (
                f"OCR still finds text after redaction ({rects_text(redactions, row.row)}) at "
                f"{len(boxes)} place(s) ({boxes_text(boxes)})"
            )
        if row.row in confirmed_rows:
            confirmed.append(LeftOut(row.row, row.path, reason + "; confirmed by the study lead"))
        else:
            left_out.append(
                LeftOut(
                    row.row,
                    row.path,
                    reason + "; check it in the contact sheet and admit it with "
                    "--confirm-burned-in if the text identifies no one",
                )
            )
    left_out.sort(key=lambda item: item.row)
    skipped = {item.row for item in unreadable} | text_rows
    admitted = [row for row in admitted if row.row not in skipped]
    held_rows = sorted({item.row for item in left_out} - {item.row for item in unreadable})
    sheet = key_path.parent / CONTACT_SHEET_FILE if held_rows else None
    if not admitted:
        raise ReadingSetError(
            f"{source.path}: every image was left out (see below); nothing to read.\n"
            + "\n".join(f"  row {item.row} ({item.path}): {item.reason}" for item in left_out)
        )

    secret = derive_secret(seed)
    plan = make_plan(secret, admitted, reader_ids, repeat_fraction, blind_timepoints)
    dropped_cases = len(source.patients()) - len(plan.cases)
    warnings = list(source.warnings)
    if seed is not None:
        warnings.append(
            "seeded set: whoever knows the seed and the manifest can recompute the codes and so "
            "unblind the set; keep the seed as secret as the key, or omit --seed for a real study"
        )
    if not search_text:
        warnings.append(
            "the images were not searched for burned-in text (OCR switched off): check them"
        )
    if sheet is not None:
        warnings.append(
            f"{len(held_rows)} image(s) held back for text; review them in the contact sheet "
            f"{sheet}"
        )
    if dropped_cases:
        warnings.append(
            f"{dropped_cases} patient(s) have no image left after leaving out burned-in images; "
            "they are not in the set"
        )

    temp = setdir.parent / f".{setdir.name}.preparing-{secrets.token_hex(4)}"
    aside: Path | None = None
    staged_key: Path | None = None
    installed = False
    try:
        temp.mkdir()
        paths = {row.row: row.path for row in source.rows}
        document, key_data, dropped, redaction_notes = _build(
            temp,
            secret=secret,
            plan=plan,
            protocol=loaded_protocol,
            blind_timepoints=blind_timepoints,
            source=source,
            progress=progress,
            workers=workers,
            redactions=redactions,
        )
        report = make_report(
            setdir=setdir,
            key_path=key_path,
            plan=plan,
            source=source,
            readers=reader_ids,
            left_out=left_out,
            confirmed=confirmed,
            dropped=dropped,
            redacted=[
                LeftOut(row, paths[row], f"{rects_text(redactions, row)}: {note}")
                for row, note in sorted(redaction_notes.items())
            ],
            warnings=warnings,
            protocol=loaded_protocol,
            blind_timepoints=blind_timepoints,
            repeat_fraction=repeat_fraction,
        )
        (temp / REPORT_FILE).write_text(report.set_text, encoding="utf-8")
        (temp / READINGSET_FILE).write_bytes(dump_document(document))
        # Self-check: the set must open with our own reader before anyone gets it.
        open_reading_set(temp, verify=False)
        _fsync_small_files(temp)

        staged_key = stage_key(key_data, key_path, passphrase=key_passphrase)
        if setdir.exists():
            if not force:  # appeared while we were building
                check_output(setdir, force)
            aside = setdir.parent / f".{setdir.name}.replaced-{secrets.token_hex(4)}"
            setdir.rename(aside)
        temp.rename(setdir)
        installed = True
        backup = install_key(staged_key, key_path, force=force)
        staged_key = None
    except BaseException:
        # Leave things as they were: no new set, no key, the replaced set (if any) restored.
        if installed:
            shutil.rmtree(setdir, ignore_errors=True)
        if aside is not None and aside.exists():
            aside.rename(setdir)
        if staged_key is not None:
            staged_key.unlink(missing_ok=True)
        shutil.rmtree(temp, ignore_errors=True)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    if backup is not None:
        report = with_backup(report, backup)
    if sheet is not None:
        write_contact_sheet(sheet, [screened[row] for row in held_rows])
    return report


def _build(
    temp: Path,
    *,
    secret: bytes,
    plan: Plan,
    protocol: Protocol,
    blind_timepoints: bool,
    source: Manifest,
    progress: ProgressCallback | None,
    workers: int | None,
    redactions: Mapping[int, Sequence[Rect]],
) -> tuple[dict[str, Any], Key, dict[int, tuple[str, int]], dict[int, str]]:
    images_dir = temp / IMAGES_DIR
    images_dir.mkdir()
    (temp / PROTOCOL_FILE).write_bytes(protocol.text.encode("utf-8"))
    deidentifier = Deidentifier(secret)
    # Written in image-code order (random): in manifest or patient order, file times and inode
    # numbers would show which cases come from the same site.
    jobs = sorted(
        (image for case in plan.cases for image in case.images), key=lambda image: image.image_code
    )

    def one(image: PlannedImage) -> Written:
        return write_image(
            image,
            images_dir / f"{image.image_code}.dcm",
            deidentifier,
            remove_dates=blind_timepoints,
            redactions=redactions.get(image.row.row, ()),
        )

    total = len(jobs)
    done = 0
    if progress is not None:
        progress(0, total)
    results: dict[str, Written] = {}
    n_workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="prepare") as pool:
        futures: dict[Future[Written], PlannedImage] = {
            pool.submit(one, image): image for image in jobs
        }
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    image = futures[future]
                    results[image.image_code] = _result(future, image)
                    done += 1
                    if progress is not None:
                        progress(done, total)
        except BaseException:
            for future in pending:
                future.cancel()
            raise

    uid_map: dict[str, str] = {}
    dropped: dict[int, tuple[str, int]] = {}
    redaction_notes: dict[int, str] = {}
    cases_json = []
    key_cases: dict[str, KeyCase] = {}
    key_images: dict[str, KeyImage] = {}
    for case in sorted(plan.cases, key=lambda case: case.case_code):
        first = case.rows[0]
        images_json = []
        for image in case.images:
            written = results[image.image_code]
            new_sop, digest = written.sop_instance_uid, written.sha256
            uid_map.update(written.uid_map)
            dropped[image.row.row] = (image.row.path, written.n_dropped)
            if written.redaction_note:
                redaction_notes[image.row.row] = written.redaction_note
            images_json.append(
                {
                    "image_code": image.image_code,
                    "file": f"{IMAGES_DIR}/{image.image_code}.dcm",
                    "view": image.row.view.value,
                    "timepoint": image.label,
                    "sop_instance_uid": new_sop,
                    "sha256": digest,
                }
            )
            key_images[image.image_code] = KeyImage(
                case_code=case.case_code,
                timepoint=image.row.timepoint,
                label=image.label,
                view=image.row.view,
                source=image.row.path,
                study_instance_uid=image.row.study_instance_uid,
                series_instance_uid=image.row.series_instance_uid,
                sop_instance_uid=image.row.sop_instance_uid,
                deidentified_sop_instance_uid=new_sop,
            )
        images_json.sort(key=lambda item: (item["timepoint"], item["view"]))
        if not blind_timepoints:
            order = {timepoint.value: i for i, timepoint in enumerate(TimePoint)}
            images_json.sort(key=lambda item: (order[item["timepoint"]], item["view"]))
        cases_json.append(
            {
                "case_code": case.case_code,
                "joint": first.joint.value,
                "side": first.side.value,
                "images": images_json,
            }
        )
        key_cases[case.case_code] = KeyCase(first.site, first.patient, first.joint, first.side)

    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "set_uuid": plan.set_uuid,
        "protocol": {
            "file": PROTOCOL_FILE,
            "name": protocol.name,
            "version": protocol.version,
            "sha256": protocol.sha256,
        },
        "blind_timepoints": blind_timepoints,
        "cases": cases_json,
        "readers": {reader: {"worklist": worklist} for reader, worklist in plan.worklists.items()},
    }
    key = Key(
        set_uuid=plan.set_uuid,
        secret=secret,
        manifest=str(source.path),
        cases=key_cases,
        images=key_images,
        repeats=plan.repeats,
        uids=dict(sorted(uid_map.items())),
        # Random with a random secret, reproducible with a seeded one (so is the whole set).
        nonce=Stream(secret, "key-nonce").bytes(32),
    )
    document["key_commitment"] = key_commitment(key)
    return document, key, dict(sorted(dropped.items())), redaction_notes


def _result(future: Future[Written], image: PlannedImage) -> Written:
    """The job's result; its failure becomes an error naming the manifest row and file."""
    where = f"manifest row {image.row.row} ({image.row.path})"
    try:
        return future.result()
    except DicomReadError as error:
        raise DicomReadError(error.path, f"{error.reason} [{where}]", error.hint) from error
    except DeidentificationError as error:
        raise DeidentificationError(f"{where}: {error}") from error
    except CollarReaderError:
        raise
    except (OSError, ValueError, EOFError) as error:
        # A header that read fine in the manifest check, but the rest of the file did not.
        raise DicomReadError(
            image.row.file,
            f"cannot be read completely ({type(error).__name__}: {error}) [{where}]",
            "Export the image again from the site's archive.",
        ) from error


def _fsync_small_files(folder: Path) -> None:
    # The images were flushed by the workers; the key is written only after the set, so the
    # set's other files must be on disk too.
    for name in (PROTOCOL_FILE, REPORT_FILE, READINGSET_FILE):
        descriptor = os.open(folder / name, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
