"""A blinded reading set on disk: its format, and opening it with an integrity check.

A reading set is a folder::

    SETDIR/readingset.json   cases, images, each reader's worklist, protocol hash, file hashes
    SETDIR/protocol.toml     the scoring protocol the set is read with
    SETDIR/images/*.dcm      de-identified images named by random codes
    SETDIR/report.txt        what preparation did (counts, what was left out) — no identity

``readingset.json`` (format ``collarreader-readingset``, version 1)::

    {"format": "collarreader-readingset", "version": 1, "set_uuid": "…",
     "protocol": {"file": "protocol.toml", "name": "…", "version": "…", "sha256": "…"},
     "blind_timepoints": false, "key_commitment": "sha256:…",
     "cases": [{"case_code": "K7Q2M", "joint": "hip", "side": "L",
                "images": [{"image_code": "…", "file": "images/….dcm", "view": "AP",
                            "timepoint": "6m", "sop_instance_uid": "2.25.…", "sha256": "…"}]}],
     "readers": {"A": {"worklist": [{"case_code": "K7Q2M", "kind": "primary"}, …,
                                    {"case_code": "P3X9T", "kind": "repeat",
                                     "repeat_of": "K7Q2M"}]}}}

``cases`` lists each real case once (primary codes only). A repeat read appears only in a
reader's worklist, under its own code, and shows the images of the case it repeats;
:meth:`ReadingSet.case` resolves a repeat code to those images. With ``blind_timepoints`` the
image ``timepoint`` is the label ``"A"`` or ``"B"`` (random per case, the same for both views).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

from collarreader.errors import CollarReaderError, ReadingSetError
from collarreader.model import CaseKind, Joint, Side, TimePoint, View
from collarreader.protocol import Protocol, load_protocol

FORMAT = "collarreader-readingset"
"""Value of ``format`` in ``readingset.json``."""
VERSION = 1
"""The only ``readingset.json`` version this code reads and writes."""
READINGSET_FILE = "readingset.json"
PROTOCOL_FILE = "protocol.toml"
REPORT_FILE = "report.txt"
IMAGES_DIR = "images"

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""Characters of case and image codes: no 0/O, 1/I/L, so a code read aloud or retyped survives."""
CASE_CODE_LENGTH = 5
IMAGE_CODE_LENGTH = 12

BLINDED_LABELS: tuple[str, str] = ("A", "B")
"""Time point labels in a set prepared with ``--blind-timepoints``."""

_HASH_CHUNK_BYTES = 1 << 20
_SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
_CODE_PATTERN = re.compile(rf"^[{CODE_ALPHABET}]+$")
_READER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ImageEntry:
    """One image of a reading set.

    Attributes
    ----------
    image_code : random code, also the file's name
    file : path relative to the set folder, POSIX separators (``images/<code>.dcm``)
    view : projection
    timepoint : ``"6m"``/``"12m"``, or ``"A"``/``"B"`` when the set blinds time points
    sop_instance_uid : the de-identified (0008,0018) SOP Instance UID
    sha256 : hex SHA-256 of the file
    """

    image_code: str
    file: str
    view: View
    timepoint: str
    sop_instance_uid: str
    sha256: str


@dataclass(frozen=True)
class CaseEntry:
    """A case as a reader sees it: one joint, its images at both time points.

    ``repeat_of`` is the primary case code when this is a repeat read (same images, new code).
    """

    case_code: str
    joint: Joint
    side: Side
    images: tuple[ImageEntry, ...]
    repeat_of: str | None = None


@dataclass(frozen=True)
class WorklistEntry:
    """One item of a reader's worklist, in reading order."""

    case_code: str
    kind: CaseKind
    repeat_of: str | None = None


def valid_reader_id(reader_id: str) -> bool:
    """Whether ``reader_id`` is usable: 1–64 letters, digits, ``_ . -``, starting alphanumeric."""
    return bool(_READER_PATTERN.match(reader_id))


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (hashlib releases the GIL while hashing)."""
    digest = hashlib.sha256()
    buffer = bytearray(_HASH_CHUNK_BYTES)
    view = memoryview(buffer)
    with Path(path).open("rb", buffering=0) as stream:
        while True:
            n_bytes = stream.readinto(buffer)
            if not n_bytes:
                break
            digest.update(view[:n_bytes])
    return digest.hexdigest()


def sha256_files(paths: Sequence[Path], workers: int | None = None) -> list[str | None]:
    """Hex SHA-256 of each file, in parallel; ``None`` for a file that cannot be read."""

    def one(path: Path) -> str | None:
        try:
            return sha256_file(path)
        except OSError:
            return None

    if not paths:
        return []
    n_workers = workers or min(4, (os.cpu_count() or 1) + 1, len(paths))
    if n_workers <= 1:
        return [one(path) for path in paths]
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="sha256") as pool:
        return list(pool.map(one, paths))


def dump_document(document: dict[str, Any]) -> bytes:
    """``readingset.json`` bytes: stable layout, so the same set gives the same bytes."""
    return (json.dumps(document, indent=2, ensure_ascii=True) + "\n").encode("ascii")


class ReadingSet:
    """An opened reading set. Build it with :func:`open_reading_set`.

    Attributes
    ----------
    path : the set folder
    set_uuid : the set's UUID (recorded in every reader database)
    protocol : the scoring protocol loaded from the set's ``protocol.toml``
    blind_timepoints : whether image time points are the labels A/B
    cases : the primary cases, ordered by case code
    readers : reader IDs, in the order given at preparation
    key_commitment : the hash of the set's key (:func:`~collarreader.study.keyfile.key_commitment`),
        None for a set prepared before commitments
    """

    def __init__(
        self,
        path: Path,
        *,
        set_uuid: str,
        protocol: Protocol,
        blind_timepoints: bool,
        cases: tuple[CaseEntry, ...],
        worklists: dict[str, tuple[WorklistEntry, ...]],
        key_commitment: str | None = None,
    ) -> None:
        self.path = path
        self.key_commitment = key_commitment
        self.set_uuid = set_uuid
        self.protocol = protocol
        self.blind_timepoints = blind_timepoints
        self.cases = cases
        self.readers: tuple[str, ...] = tuple(worklists)
        self._worklists = worklists
        self._cases = {case.case_code: case for case in cases}
        self._repeats = {
            entry.case_code: entry.repeat_of
            for worklist in worklists.values()
            for entry in worklist
            if entry.kind is CaseKind.REPEAT and entry.repeat_of is not None
        }

    def __repr__(self) -> str:
        return (
            f"ReadingSet({str(self.path)!r}, set_uuid={self.set_uuid!r}, "
            f"cases={len(self.cases)}, readers={list(self.readers)!r})"
        )

    def case(self, case_code: str) -> CaseEntry:
        """The case with this code; a repeat code gives the repeated case's images.

        Raises
        ------
        KeyError
            When no case or repeat read has this code.
        """
        if case_code in self._cases:
            return self._cases[case_code]
        primary = self._repeats.get(case_code)
        if primary is None:
            raise KeyError(f"reading set {self.path} has no case {case_code!r}")
        original = self._cases[primary]
        return CaseEntry(
            case_code=case_code,
            joint=original.joint,
            side=original.side,
            images=original.images,
            repeat_of=primary,
        )

    def worklist(self, reader_id: str) -> tuple[WorklistEntry, ...]:
        """The reader's cases in reading order (primaries, then the repeat reads).

        Raises
        ------
        ReadingSetError
            When the set was not prepared for this reader.
        """
        try:
            return self._worklists[reader_id]
        except KeyError:
            raise ReadingSetError(
                f"{self.path / READINGSET_FILE}: no worklist for reader {reader_id!r}; this set "
                f"was prepared for {', '.join(self.readers)}."
            ) from None

    def image_path(self, image: ImageEntry) -> Path:
        """Absolute path of an image file of this set."""
        return self.path / PurePosixPath(image.file)

    @property
    def images(self) -> tuple[ImageEntry, ...]:
        """Every image of the set (each once)."""
        return tuple(image for case in self.cases for image in case.images)


def _not_a_set_message(folder: Path, json_path: Path) -> str:
    """Why ``folder`` is refused: the wrong folder chosen, or a set copied incompletely.

    Only a folder that looks like part of a reading set (an ``images`` folder of coded files)
    is called an incomplete copy; any other folder was simply the wrong choice.
    """
    if (folder / IMAGES_DIR).is_dir():
        return (
            f"{folder}: has an {IMAGES_DIR} folder but no {READINGSET_FILE}, so it is an "
            "incomplete copy of a reading set. Copy the whole set folder again."
        )
    if (folder / "manifest.csv").is_file():
        return (
            f"{folder}: not a reading set but a source study (it has manifest.csv and no "
            f"{READINGSET_FILE}). Choose the folder that 'collarreader prepare --out' made."
        )
    return (
        f"{folder}: not a reading set (no {READINGSET_FILE}). Choose the reading set folder "
        "(the one 'collarreader prepare --out' made)."
    )


def open_reading_set(setdir: str | Path, verify: bool = True) -> ReadingSet:
    """Open a reading set, checking its format and (by default) every file's integrity.

    Parameters
    ----------
    setdir : the reading set folder
    verify : check that every listed image file exists and matches its SHA-256. Tools that have
        just verified the set may pass ``False``; format, version and the protocol hash are
        checked either way.

    Raises
    ------
    ReadingSetError
        Naming the file concerned: not a reading set, unknown format or version, malformed
        ``readingset.json``, protocol file changed or missing, image file missing or modified.
    """
    folder = Path(setdir).absolute()
    json_path = folder / READINGSET_FILE
    if not folder.is_dir():
        raise ReadingSetError(f"{folder}: no such folder. Give the reading set folder.")
    if not json_path.is_file():
        raise ReadingSetError(_not_a_set_message(folder, json_path))
    try:
        document = json.loads(json_path.read_bytes())
    except (OSError, ValueError) as error:
        raise ReadingSetError(f"{json_path}: cannot be read as JSON ({error}).") from None
    set_uuid, blind, protocol_info, cases, worklists = _parse(document, json_path)

    protocol_path = folder / protocol_info["file"]
    if not protocol_path.is_file():
        raise ReadingSetError(f"{protocol_path}: the set's protocol file is missing.")
    try:
        protocol = load_protocol(protocol_path)
    except CollarReaderError as error:
        raise ReadingSetError(f"{protocol_path}: not a valid protocol ({error}).") from None
    if protocol.sha256 != protocol_info["sha256"]:
        raise ReadingSetError(
            f"{protocol_path}: changed since the set was prepared (SHA-256 {protocol.sha256} "
            f"≠ {protocol_info['sha256']} in {READINGSET_FILE}). Restore the set from its "
            "original copy."
        )

    reading_set = ReadingSet(
        folder,
        set_uuid=set_uuid,
        protocol=protocol,
        blind_timepoints=blind,
        cases=cases,
        worklists=worklists,
        key_commitment=_commitment(document, json_path),
    )
    if verify:
        verify_files(reading_set)
    return reading_set


def verify_files(reading_set: ReadingSet, workers: int | None = None) -> None:
    """Check that every image file of the set exists and matches its recorded SHA-256.

    Raises
    ------
    ReadingSetError
        Listing every missing or modified file.
    """
    images = reading_set.images
    paths = [reading_set.image_path(image) for image in images]
    digests = sha256_files(paths, workers)
    problems = []
    for image, path, digest in zip(images, paths, digests, strict=True):
        if digest is None:
            problems.append(f"{path}: missing or unreadable")
        elif digest != image.sha256:
            problems.append(f"{path}: modified (SHA-256 does not match {READINGSET_FILE})")
    if problems:
        listing = "\n".join(f"  {problem}" for problem in problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ReadingSetError(
            f"{reading_set.path}: {len(problems)} image file(s) fail the integrity check; "
            f"copy the set again from the study lead's original:\n{listing}{more}"
        )


def _commitment(document: Any, json_path: Path) -> str | None:
    value = document.get("key_commitment") if isinstance(document, dict) else None
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"sha256:[0-9a-f]{64}", value):
        raise _fail(json_path, "key_commitment is not 'sha256:' and 64 hex digits")
    return value


def _fail(json_path: Path, what: str) -> ReadingSetError:
    return ReadingSetError(f"{json_path}: {what}. The file is damaged or was edited by hand.")


def _get(mapping: Any, key: str, kind: type | tuple[type, ...], json_path: Path, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise _fail(json_path, f"{where} lacks '{key}'")
    value = mapping[key]
    # bool is an int in Python; a version or count must not be True/False.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise _fail(json_path, f"{where}: '{key}' has the wrong type")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _choice(enum: type[StrEnum], value: Any, json_path: Path, where: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise _fail(json_path, f"{where}: unknown value {value!r}") from None


def _safe_relative(file: str, json_path: Path, where: str) -> str:
    pure = PurePosixPath(file)
    if pure.is_absolute() or ".." in pure.parts or "\\" in file or not pure.parts:
        raise _fail(json_path, f"{where}: file {file!r} is not a path inside the set")
    return file


def _parse(
    document: Any, json_path: Path
) -> tuple[str, bool, dict[str, str], tuple[CaseEntry, ...], dict[str, tuple[WorklistEntry, ...]]]:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ReadingSetError(
            f"{json_path}: not a collarreader reading set (format is not {FORMAT!r})."
        )
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _fail(json_path, "'version' is missing or not a number")
    if version != VERSION:
        advice = (
            "It was made by a newer collarreader; update collarreader to read it."
            if version > VERSION
            else "This version was never released; prepare the set again."
        )
        raise ReadingSetError(
            f"{json_path}: reading set version {version} is not supported (this collarreader "
            f"reads version {VERSION}). {advice}"
        )
    set_uuid = _get(document, "set_uuid", str, json_path, "the document")
    blind = _get(document, "blind_timepoints", bool, json_path, "the document")
    protocol = _get(document, "protocol", dict, json_path, "the document")
    protocol_info = {
        key: _get(protocol, key, str, json_path, "'protocol'")
        for key in ("file", "name", "version", "sha256")
    }
    _safe_relative(protocol_info["file"], json_path, "'protocol'")
    allowed_timepoints = set(BLINDED_LABELS) if blind else {t.value for t in TimePoint}

    cases: list[CaseEntry] = []
    codes: set[str] = set()
    files: set[str] = set()
    for i, raw_case in enumerate(_get(document, "cases", list, json_path, "the document")):
        where = f"cases[{i}]"
        code = _get(raw_case, "case_code", str, json_path, where)
        if not _CODE_PATTERN.match(code) or code in codes:
            raise _fail(json_path, f"{where}: case code {code!r} is malformed or repeated")
        codes.add(code)
        images: list[ImageEntry] = []
        for j, raw_image in enumerate(_get(raw_case, "images", list, json_path, where)):
            where_image = f"{where}.images[{j}]"
            image_code = _get(raw_image, "image_code", str, json_path, where_image)
            file = _safe_relative(
                _get(raw_image, "file", str, json_path, where_image), json_path, where_image
            )
            timepoint = _get(raw_image, "timepoint", str, json_path, where_image)
            digest = _get(raw_image, "sha256", str, json_path, where_image)
            if not _CODE_PATTERN.match(image_code) or image_code in codes or file in files:
                raise _fail(
                    json_path, f"{where_image}: image code or file is malformed or repeated"
                )
            if timepoint not in allowed_timepoints:
                raise _fail(json_path, f"{where_image}: time point {timepoint!r} is not allowed")
            if not _SHA256_PATTERN.match(digest):
                raise _fail(json_path, f"{where_image}: 'sha256' is not a hex SHA-256")
            codes.add(image_code)
            files.add(file)
            images.append(
                ImageEntry(
                    image_code=image_code,
                    file=file,
                    view=_choice(View, raw_image.get("view"), json_path, where_image),
                    timepoint=timepoint,
                    sop_instance_uid=_get(
                        raw_image, "sop_instance_uid", str, json_path, where_image
                    ),
                    sha256=digest,
                )
            )
        if not images:
            raise _fail(json_path, f"{where}: case {code} has no images")
        cases.append(
            CaseEntry(
                case_code=code,
                joint=_choice(Joint, raw_case.get("joint"), json_path, where),
                side=_choice(Side, raw_case.get("side"), json_path, where),
                images=tuple(images),
            )
        )

    primaries = {case.case_code for case in cases}
    worklists: dict[str, tuple[WorklistEntry, ...]] = {}
    readers = _get(document, "readers", dict, json_path, "the document")
    if not readers:
        raise _fail(json_path, "'readers' is empty")
    for reader_id, raw_reader in readers.items():
        where = f"readers[{reader_id!r}]"
        if not valid_reader_id(reader_id):
            raise _fail(json_path, f"{where}: malformed reader ID")
        entries: list[WorklistEntry] = []
        seen: set[str] = set()
        for k, raw_entry in enumerate(_get(raw_reader, "worklist", list, json_path, where)):
            where_entry = f"{where}.worklist[{k}]"
            code = _get(raw_entry, "case_code", str, json_path, where_entry)
            kind = _choice(CaseKind, raw_entry.get("kind"), json_path, where_entry)
            if code in seen:
                raise _fail(json_path, f"{where_entry}: case {code} is listed twice")
            seen.add(code)
            if kind is CaseKind.PRIMARY:
                if code not in primaries:
                    raise _fail(json_path, f"{where_entry}: case {code} is not in 'cases'")
                entries.append(WorklistEntry(code, kind))
            else:
                repeat_of = _get(raw_entry, "repeat_of", str, json_path, where_entry)
                if repeat_of not in primaries or code in codes or not _CODE_PATTERN.match(code):
                    raise _fail(
                        json_path, f"{where_entry}: repeat {code} of {repeat_of} is invalid"
                    )
                codes.add(code)
                entries.append(WorklistEntry(code, kind, repeat_of))
        worklists[reader_id] = tuple(entries)
    return set_uuid, blind, protocol_info, tuple(cases), worklists


def iter_files(reading_set: ReadingSet) -> Iterable[Path]:
    """Every file a reading set consists of (for copying or checking a set)."""
    yield reading_set.path / READINGSET_FILE
    yield reading_set.path / PROTOCOL_FILE
    report = reading_set.path / REPORT_FILE
    if report.is_file():
        yield report
    for image in reading_set.images:
        yield reading_set.image_path(image)
