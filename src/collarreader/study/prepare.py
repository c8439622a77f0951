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

import hashlib
import hmac
import io
import math
import os
import secrets
import shutil
import struct
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from collarreader.errors import (
    CollarReaderError,
    DeidentificationError,
    DicomReadError,
    KeyFileError,
    ManifestError,
    ReadingSetError,
)
from collarreader.imaging import load_radiograph
from collarreader.model import ProgressCallback
from collarreader.protocol import DEFAULT_PROTOCOL, Protocol, load_protocol
from collarreader.study.deid import (
    DEIDENTIFICATION_METHOD,
    Deidentifier,
    burned_in_status,
    needs_burned_in_review,
)
from collarreader.study.keyfile import (
    Key,
    KeyCase,
    KeyImage,
    check_key_location,
    install_key,
    stage_key,
)
from collarreader.study.manifest import (
    Manifest,
    ManifestRow,
    TimePoint,
    View,
    load_manifest,
    pixel_data_span,
)
from collarreader.study.readingset import (
    BLINDED_LABELS,
    CASE_CODE_LENGTH,
    CODE_ALPHABET,
    FORMAT,
    IMAGE_CODE_LENGTH,
    IMAGES_DIR,
    PROTOCOL_FILE,
    READINGSET_FILE,
    REPORT_FILE,
    VERSION,
    dump_document,
    open_reading_set,
    valid_reader_id,
)

DEFAULT_REPEAT_FRACTION = 0.2
"""Share of cases each reader reads twice: 20 % gives ≥ 20 repeat pairs from 100 cases, enough
for an intra-observer ICC with a usable confidence interval, at a fifth more reading time."""


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
    warnings: tuple[str, ...]
    text: str = field(repr=False)
    set_text: str = field(repr=False)

    @property
    def n_readers(self) -> int:
        """Number of readers."""
        return len(self.readers)


# --------------------------------------------------------------------------- randomness


class _Stream:
    """Deterministic random choices from HMAC-SHA256(secret, label ‖ counter).

    Written out rather than ``random.Random`` so a seeded set is identical on every Python
    version, and so the choices are unpredictable without the secret.
    """

    def __init__(self, secret: bytes, label: str) -> None:
        self._key = secret
        self._label = label.encode("utf-8")
        self._counter = 0
        self._pool = b""

    def bytes(self, n: int) -> bytes:
        while len(self._pool) < n:
            message = self._label + b"\x00" + self._counter.to_bytes(8, "big")
            self._pool += hmac.new(self._key, message, hashlib.sha256).digest()
            self._counter += 1
        out, self._pool = self._pool[:n], self._pool[n:]
        return out

    def below(self, n: int) -> int:
        """Uniform integer in ``[0, n)`` (rejection sampling: no modulo bias)."""
        if n <= 0:
            raise ValueError(f"below() needs a positive bound, got {n}.")
        limit = (1 << 64) - ((1 << 64) % n)
        while True:
            value = int.from_bytes(self.bytes(8), "big")
            if value < limit:
                return value % n

    def shuffled(self, items: Sequence[Any]) -> list[Any]:
        out = list(items)
        for i in range(len(out) - 1, 0, -1):  # Fisher–Yates
            j = self.below(i + 1)
            out[i], out[j] = out[j], out[i]
        return out

    def code(self, length: int) -> str:
        return "".join(CODE_ALPHABET[self.below(len(CODE_ALPHABET))] for _ in range(length))


def derive_secret(seed: int | str | None) -> bytes:
    """The per-study secret: random from :mod:`secrets`, or derived from ``seed`` when given."""
    if seed is None:
        return secrets.token_bytes(32)
    return hashlib.sha256(b"collarreader/prepare/seed\x00" + str(seed).encode("utf-8")).digest()


# --------------------------------------------------------------------------- argument helpers


def parse_readers(text: str | Iterable[str]) -> tuple[str, ...]:
    """Reader IDs from ``"A,B,C"`` (or an iterable), validated.

    Raises
    ------
    ReadingSetError
        When the list is empty, an ID is malformed, or an ID repeats.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    readers = tuple(item.strip() for item in items if item.strip())
    if not readers:
        raise ReadingSetError("--readers: give at least one reader ID, e.g. --readers A,B.")
    for reader in readers:
        if not valid_reader_id(reader):
            raise ReadingSetError(
                f"--readers: {reader!r} is not a usable reader ID; use 1–64 letters, digits, "
                "'_', '.' or '-', starting with a letter or digit."
            )
    repeated = sorted({reader for reader in readers if readers.count(reader) > 1})
    if repeated:
        raise ReadingSetError(f"--readers: {', '.join(repeated)} listed more than once.")
    return readers


def parse_path_list(argument: str) -> tuple[str, ...]:
    """Manifest paths from ``--confirm-burned-in``: comma-separated, or a text file listing them.

    A file is one path per line; blank lines and lines starting with ``#`` are ignored. An
    argument naming an existing file that is not DICOM is read as such a list.
    """
    candidate = Path(argument)
    if candidate.is_file() and not _looks_like_dicom(candidate):
        lines = candidate.read_text(encoding="utf-8-sig").splitlines()
        return tuple(
            line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")
        )
    return tuple(item.strip() for item in argument.split(",") if item.strip())


def _looks_like_dicom(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(132)[128:132] == b"DICM"


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _PlannedImage:
    row: ManifestRow
    image_code: str
    label: str
    case_code: str


@dataclass(frozen=True)
class _PlannedCase:
    case_code: str
    rows: tuple[ManifestRow, ...]
    images: tuple[_PlannedImage, ...]


@dataclass(frozen=True)
class _Plan:
    set_uuid: str
    cases: tuple[_PlannedCase, ...]
    worklists: dict[str, list[dict[str, str]]]
    repeats: dict[str, dict[str, str]]
    n_repeats: int


def _plan(
    secret: bytes,
    rows: Sequence[ManifestRow],
    readers: Sequence[str],
    repeat_fraction: float,
    blind_timepoints: bool,
) -> _Plan:
    codes = _Stream(secret, "codes")
    used: set[str] = set()

    def new_code(length: int) -> str:
        while True:
            code = codes.code(length)
            if code not in used:
                used.add(code)
                return code

    set_uuid = str(uuid.UUID(bytes=_Stream(secret, "set-uuid").bytes(16), version=4))
    by_patient: dict[tuple[str, str], list[ManifestRow]] = {}
    for row in rows:
        by_patient.setdefault(row.patient_key, []).append(row)

    timepoint_order = {timepoint: i for i, timepoint in enumerate(TimePoint)}
    view_order = {view: i for i, view in enumerate(View)}
    cases: list[_PlannedCase] = []
    # Sorted, so codes do not depend on the order of the manifest's rows.
    for patient_key in sorted(by_patient):
        patient_rows = sorted(
            by_patient[patient_key],
            key=lambda row: (timepoint_order[row.timepoint], view_order[row.view]),
        )
        case_code = new_code(CASE_CODE_LENGTH)
        labels = {timepoint: timepoint.value for timepoint in TimePoint}
        if blind_timepoints:
            shuffled = _Stream(secret, f"labels/{case_code}").shuffled(BLINDED_LABELS)
            labels = dict(zip(TimePoint, shuffled, strict=True))
        images = tuple(
            _PlannedImage(row, new_code(IMAGE_CODE_LENGTH), labels[row.timepoint], case_code)
            for row in patient_rows
        )
        cases.append(_PlannedCase(case_code, tuple(patient_rows), images))

    primaries = sorted(case.case_code for case in cases)
    n_repeats = min(len(primaries), math.floor(repeat_fraction * len(primaries) + 0.5))
    worklists: dict[str, list[dict[str, str]]] = {}
    repeats: dict[str, dict[str, str]] = {}
    orders: list[list[str]] = []
    for reader in readers:
        stream = _Stream(secret, f"reader/{reader}")
        order = stream.shuffled(primaries)
        # Readers must not share an order (a shared order would carry fatigue and learning
        # effects into the agreement figures alike); re-draw while orders remain to be had.
        if len(orders) < math.factorial(min(len(primaries), 10)):
            while order in orders:
                order = stream.shuffled(primaries)
        orders.append(order)
        repeated = stream.shuffled(stream.shuffled(primaries)[:n_repeats])
        if len(repeated) >= 2 and repeated[0] == order[-1]:
            # Never re-present a case straight after its primary read.
            repeated = repeated[1:] + repeated[:1]
        repeat_codes = {primary: new_code(CASE_CODE_LENGTH) for primary in repeated}
        worklists[reader] = [{"case_code": code, "kind": "primary"} for code in order] + [
            {"case_code": repeat_codes[primary], "kind": "repeat", "repeat_of": primary}
            for primary in repeated
        ]
        repeats[reader] = {repeat_codes[primary]: primary for primary in repeated}
    return _Plan(set_uuid, tuple(cases), worklists, repeats, n_repeats)


# --------------------------------------------------------------------------- checks


def _check_output(setdir: Path, force: bool) -> None:
    if not setdir.exists():
        if not setdir.parent.is_dir():
            raise ReadingSetError(
                f"{setdir}: the folder {setdir.parent} does not exist; create it first."
            )
        return
    if not setdir.is_dir():
        raise ReadingSetError(f"{setdir}: exists and is not a folder; choose another --out.")
    if not force:
        raise ReadingSetError(
            f"{setdir}: already exists. Choose a new --out folder, or pass --force to replace "
            "the reading set in it."
        )
    # --force replaces a reading set, never an arbitrary folder (a mistyped --out must not
    # delete someone's data).
    if not (setdir / READINGSET_FILE).is_file() and any(setdir.iterdir()):
        raise ReadingSetError(
            f"{setdir}: exists and is not a reading set (no {READINGSET_FILE}); --force only "
            "replaces a reading set or an empty folder. Choose another --out."
        )


def _check_sources_apart(manifest: Manifest, setdir: Path, key_path: Path) -> None:
    folder = setdir.resolve()
    key = key_path.resolve()
    protected = [manifest.path.resolve(), *(row.file for row in manifest.rows)]
    for path in protected:
        if path == folder or path.is_relative_to(folder):
            raise ReadingSetError(
                f"{setdir}: contains source file {path}; the reading set must be a new folder "
                "apart from the sites' exports."
            )
        if path == key:
            raise KeyFileError(
                f"{key_path}: is a source file of the manifest; choose another --key."
            )


def _burned_in_reason(row: ManifestRow) -> str | None:
    if not needs_burned_in_review(row.header):
        return None
    if burned_in_status(row.header) == "yes":
        return "(0028,0301) Burned In Annotation is YES"
    modality = str(row.header.get("Modality", "") or "").strip().upper() or "(none)"
    return (
        f"(0028,0301) Burned In Annotation is absent and modality {modality} may carry "
        "burned-in text"
    )


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
    force: bool = False,
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
    confirm_burned_in : manifest paths of images with burned-in text that the study lead has
        checked and admits
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
    _check_output(setdir, force)
    loaded_protocol = load_protocol(protocol)
    source = load_manifest(manifest)
    _check_sources_apart(source, setdir, key_path)

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

    left_out: list[LeftOut] = []
    confirmed: list[LeftOut] = []
    admitted: list[ManifestRow] = []
    for row in source.rows:
        reason = _burned_in_reason(row)
        if reason is None:
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
    if not admitted:
        raise ReadingSetError(
            f"{source.path}: every image was left out (see below); nothing to read.\n"
            + "\n".join(f"  row {item.row} ({item.path}): {item.reason}" for item in left_out)
        )

    secret = derive_secret(seed)
    plan = _plan(secret, admitted, reader_ids, repeat_fraction, blind_timepoints)
    dropped_cases = len(source.patients()) - len(plan.cases)
    warnings = list(source.warnings)
    if seed is not None:
        warnings.append(
            "seeded set: whoever knows the seed and the manifest can recompute the codes and so "
            "unblind the set; keep the seed as secret as the key, or omit --seed for a real study"
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
        document, key_data = _build(
            temp,
            secret=secret,
            plan=plan,
            protocol=loaded_protocol,
            blind_timepoints=blind_timepoints,
            source=source,
            progress=progress,
            workers=workers,
        )
        report = _report(
            setdir=setdir,
            key_path=key_path,
            plan=plan,
            source=source,
            readers=reader_ids,
            left_out=left_out,
            confirmed=confirmed,
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

        staged_key = stage_key(key_data, key_path)
        if setdir.exists():
            if not force:  # appeared while we were building
                _check_output(setdir, force)
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
        report = _with_backup(report, backup)
    return report


def _build(
    temp: Path,
    *,
    secret: bytes,
    plan: _Plan,
    protocol: Protocol,
    blind_timepoints: bool,
    source: Manifest,
    progress: ProgressCallback | None,
    workers: int | None,
) -> tuple[dict[str, Any], Key]:
    images_dir = temp / IMAGES_DIR
    images_dir.mkdir()
    (temp / PROTOCOL_FILE).write_bytes(protocol.text.encode("utf-8"))
    deidentifier = Deidentifier(secret)
    # Written in image-code order (random): in manifest or patient order, file times and inode
    # numbers would show which cases come from the same site.
    jobs = sorted(
        (image for case in plan.cases for image in case.images), key=lambda image: image.image_code
    )

    def one(image: _PlannedImage) -> tuple[str, str]:
        return _write_image(
            image,
            images_dir / f"{image.image_code}.dcm",
            deidentifier,
            remove_dates=blind_timepoints,
        )

    total = len(jobs)
    done = 0
    if progress is not None:
        progress(0, total)
    results: dict[str, tuple[str, str]] = {}
    n_workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="prepare") as pool:
        futures: dict[Future[tuple[str, str]], _PlannedImage] = {
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

    cases_json = []
    key_cases: dict[str, KeyCase] = {}
    key_images: dict[str, KeyImage] = {}
    for case in sorted(plan.cases, key=lambda case: case.case_code):
        first = case.rows[0]
        images_json = []
        for image in case.images:
            new_sop, digest = results[image.image_code]
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
    )
    return document, key


_COPY_CHUNK_BYTES = 1 << 20


def _write_image(
    image: _PlannedImage, target: Path, deidentifier: Deidentifier, *, remove_dates: bool
) -> tuple[str, str]:
    """De-identify one source file into ``target``; return its new SOP Instance UID and SHA-256.

    pydicom parses the header only (a compressed image is also decoded once, to prove it
    decodes; its bytes are still copied, never re-encoded); the de-identified header
    (:meth:`Deidentifier.deidentify`, PS3.15 Basic Profile) is encoded by pydicom in the
    source's transfer syntax and followed by the source's (7FE0,0010) Pixel Data element
    copied byte for byte — tag, length and value —
    so the image cannot change, and the work is that of a copy: 1 MiB chunks through one
    reused buffer, hashed on the way out (hashlib and file I/O release the GIL, so worker
    threads run in parallel). A file with elements after the pixel data (trailing padding,
    private groups) is read whole by pydicom instead, so those are de-identified too. The file
    is created exclusively: codes are unique, so an existing file means something is wrong.
    """
    source = image.row.file
    hint = "Export the image again from the site's archive."
    digest = hashlib.sha256()
    try:
        with source.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            header = pydicom.dcmread(stream, stop_before_pixels=True)
            span = pixel_data_span(stream, header, size)
            if span.problem:
                raise DicomReadError(source, span.problem + ".", hint)
            pixels_last = span.end == size
            if not pixels_last:
                stream.seek(0)
            dataset = header if pixels_last else pydicom.dcmread(stream)
            result = deidentifier.deidentify(
                dataset,
                pseudonym=image.case_code,
                patient_key="\x1f".join(image.row.patient_key),
            )
            if remove_dates:
                _remove_dates(result)
            pixels_kept = (
                "PixelData" not in result
                if pixels_last
                else result.get("PixelData") is dataset.get("PixelData")  # the same object
            )
            syntax = header.file_meta.TransferSyntaxUID
            if syntax.is_compressed:
                # Decoded once here with the crash-safe decoders, so the reader may later
                # hand these verified bytes to the faster gdcm (`trusted=True`), which
                # aborts the whole process on some corrupt JPEG / JPEG 2000 streams.
                load_radiograph(source)
            if result.file_meta.TransferSyntaxUID != syntax or not pixels_kept:
                raise DeidentificationError(
                    f"{source}: de-identification changed the pixel data or the transfer "
                    "syntax. This is a bug in collarreader: the image was not passed to readers."
                )
            buffer = io.BytesIO()
            pydicom.dcmwrite(buffer, result, enforce_file_format=True)
            try:
                with target.open("xb", buffering=0) as output:
                    _write_hashed(output, buffer.getbuffer(), digest)
                    if pixels_last:
                        stream.seek(span.start)
                        _copy_hashed(stream, output, span.end - span.start, digest, source)
            except OSError as error:
                raise ReadingSetError(
                    f"{target}: cannot be written ({error.strerror or error}). Check the free "
                    "space and permissions of the output folder."
                ) from error
    except (InvalidDicomError, OSError, ValueError, EOFError, struct.error) as error:
        raise DicomReadError(
            source, f"cannot be read ({type(error).__name__}: {error}).", hint
        ) from error
    return str(result.SOPInstanceUID), digest.hexdigest()


def _write_hashed(output: BinaryIO, data: memoryview, digest: Any) -> None:
    for offset in range(0, len(data), _COPY_CHUNK_BYTES):
        chunk = data[offset : offset + _COPY_CHUNK_BYTES]
        digest.update(chunk)
        while chunk:
            written = output.write(chunk) or 0
            chunk = chunk[written:]


def _copy_hashed(
    stream: BinaryIO, output: BinaryIO, n_bytes: int, digest: Any, source: Path
) -> None:
    buffer = bytearray(_COPY_CHUNK_BYTES)
    view = memoryview(buffer)
    remaining = n_bytes
    while remaining:
        n_read = stream.readinto(view[: min(remaining, _COPY_CHUNK_BYTES)])  # type: ignore[attr-defined]
        if not n_read:
            raise DicomReadError(source, "became shorter while it was being copied.")
        _write_hashed(output, view[:n_read], digest)
        remaining -= n_read


def _remove_dates(dataset: Dataset) -> None:
    """Empty every date (DA, DT) at any depth.

    With blinded time points, the interval between the two studies' shifted dates would tell
    which image is the later one.
    """
    for element in list(dataset.iterall()):
        if element.VR in ("DA", "DT"):
            element.value = None
    dataset.LongitudinalTemporalInformationModified = "REMOVED"
    dataset.DeidentificationMethod = [
        *DEIDENTIFICATION_METHOD[:2],
        "Dates removed (time points blinded)",
    ]
    dataset.DeidentificationMethodCodeSequence = [
        item
        for item in dataset.get("DeidentificationMethodCodeSequence", [])
        if item.get("CodeValue") != "113107"  # Modified Dates Option: no longer true
    ]


def _result(future: Future[tuple[str, str]], image: _PlannedImage) -> tuple[str, str]:
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


# --------------------------------------------------------------------------- report


def _report(
    *,
    setdir: Path,
    key_path: Path,
    plan: _Plan,
    source: Manifest,
    readers: Sequence[str],
    left_out: Sequence[LeftOut],
    confirmed: Sequence[LeftOut],
    warnings: Sequence[str],
    protocol: Protocol,
    blind_timepoints: bool,
    repeat_fraction: float,
) -> PrepareReport:
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
        f"warnings ({len(warnings)}):",
        *(f"  {warning}" for warning in warnings),
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
        warnings=tuple(warnings),
        text="\n".join(lines) + "\n",
        set_text="\n".join(set_lines) + "\n",
    )


def _with_backup(report: PrepareReport, backup: Path) -> PrepareReport:
    text = report.text.replace(
        f"key: {report.key_path}\n",
        f"key: {report.key_path} (the previous key was kept as {backup})\n",
    )
    return replace(report, key_backup=backup, text=text)
