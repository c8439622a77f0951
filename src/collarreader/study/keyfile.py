"""The unblinding key: which code is which patient, time point and original image.

The key is the only link between a reading set and identity. It is a JSON file (format
``collarreader-key``, version 2), written only where the study lead says (``--key``), never
inside the reading set, with mode 0600, atomically (temporary file + ``os.replace``), and never
overwritten silently: an existing key is refused, and with ``force`` it is kept as a backup
(``KEY.bak``, ``KEY.bak.1``, … — the first free name) before the new key takes its place,
because losing a key loses the unblinding of every reading already made on its set.

Layout::

    {"format": "collarreader-key", "version": 1, "set_uuid": "…", "secret": "<hex>",
     "manifest": "/absolute/path/manifest.csv",
     "cases": {"K7Q2M": {"site": "…", "patient": "…", "joint": "hip", "side": "L"}},
     "images": {"<image code>": {"case_code": "K7Q2M", "timepoint": "6m", "label": "A",
                                 "view": "AP", "source": "site1/p1/ap6.dcm",
                                 "study_instance_uid": "…", "series_instance_uid": "…",
                                 "sop_instance_uid": "…",
                                 "deidentified_sop_instance_uid": "2.25.…"}},
     "repeats": {"<reader>": {"<repeat code>": "<primary code>"}},
     "uids": {"<original UID>": "2.25.…"}, "nonce": "<64 hex digits>"}

``readingset.json`` records :func:`key_commitment` of the key; :func:`check_key` refuses a key
that was edited or belongs to another set.

``source`` is the path as written in the manifest (relative to it); ``manifest`` is the
manifest's absolute path, given once. ``label`` is the time point as the readers saw it
(equal to ``timepoint`` unless the set blinds time points).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from collarreader.errors import KeyFileError
from collarreader.model import Joint, Side, TimePoint, View
from collarreader.study.keycrypt import decrypt_key_bytes, encrypt_key_bytes, is_encrypted

KEY_FORMAT = "collarreader-key"
KEY_VERSION = 2
"""Version 2 adds the nonce and the UID map; version 1 keys (no nonce) are still read."""

COMMITMENT_PREFIX = "sha256:"


@dataclass(frozen=True)
class KeyCase:
    """Identity of a case: whose joint it is."""

    site: str
    patient: str
    joint: Joint
    side: Side


@dataclass(frozen=True)
class KeyImage:
    """Where an image of the set came from and what it really shows."""

    case_code: str
    timepoint: TimePoint
    label: str
    view: View
    source: str
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    deidentified_sop_instance_uid: str


@dataclass(frozen=True)
class Key:
    """The unblinding key of one reading set.

    Attributes
    ----------
    set_uuid : UUID of the reading set this key unblinds
    secret : the per-study secret the set's codes and UIDs were derived from
    manifest : absolute path of the source manifest (``KeyImage.source`` is relative to it)
    cases : primary case code → identity
    images : image code → source image
    repeats : reader ID → {repeat case code → primary case code}
    uids : every UID the de-identification replaced, original → new, over the whole set
    nonce : 32 random bytes, so the set's commitment (:func:`key_commitment`) cannot be
        recomputed from guessed content; empty in a version 1 key
    """

    set_uuid: str
    secret: bytes
    manifest: str
    cases: dict[str, KeyCase]
    images: dict[str, KeyImage]
    repeats: dict[str, dict[str, str]]
    uids: dict[str, str] = field(default_factory=dict)
    nonce: bytes = b""

    def primary_code(self, case_code: str) -> str:
        """The primary case code for a primary or repeat code.

        Raises
        ------
        KeyError
            When the code is unknown to this key.
        """
        if case_code in self.cases:
            return case_code
        for repeats in self.repeats.values():
            if case_code in repeats:
                return repeats[case_code]
        raise KeyError(f"case code {case_code!r} is not in the key of set {self.set_uuid}")

    def case(self, case_code: str) -> KeyCase:
        """Identity of a case, by primary or repeat code."""
        return self.cases[self.primary_code(case_code)]

    def image_by_sop(self, deidentified_sop_instance_uid: str) -> KeyImage:
        """The source of an image, by the SOP Instance UID it has in the reading set."""
        for image in self.images.values():
            if image.deidentified_sop_instance_uid == deidentified_sop_instance_uid:
                return image
        raise KeyError(
            f"SOP Instance UID {deidentified_sop_instance_uid} is not in the key of set "
            f"{self.set_uuid}"
        )

    def source_path(self, image_code: str) -> Path:
        """Absolute path of an image's source file (via the manifest's folder)."""
        return Path(self.manifest).parent / self.images[image_code].source


def key_document(key: Key) -> dict[str, Any]:
    """The JSON document of a key."""
    return {
        "format": KEY_FORMAT,
        "version": KEY_VERSION,
        "note": "Unblinding key: identifies the patients of a blinded reading set. "
        "Keep it with the study lead; never give it to a reader.",
        "set_uuid": key.set_uuid,
        "secret": key.secret.hex(),
        "manifest": key.manifest,
        "cases": {code: asdict(case) for code, case in key.cases.items()},
        "images": {code: asdict(image) for code, image in key.images.items()},
        "repeats": key.repeats,
        "uids": key.uids,
        "nonce": key.nonce.hex(),
    }


def key_commitment(key: Key) -> str:
    """The hash a reading set records of its key: ``"sha256:<hex>"``.

    Over the key's canonical content (its JSON document with sorted keys, no whitespace,
    ASCII escapes), so it does not depend on how the file was formatted, but changes with any
    value: a patient, a code, a source path, the nonce.
    """
    document = key_document(key)
    document.pop("note")
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return COMMITMENT_PREFIX + hashlib.sha256(canonical.encode("ascii")).hexdigest()


def check_key(
    key: Key, key_path: str | Path, *, set_uuid: str | None, commitment: str | None, where: str
) -> None:
    """Refuse a key that is not the one the reading set (or database) ``where`` committed to.

    Parameters
    ----------
    key, key_path : the loaded key and the file it came from
    set_uuid : the set UUID ``where`` records (None: unknown, not checked)
    commitment : the key commitment ``where`` records (None: made before commitments)
    where : the reading set or database, for the message

    Raises
    ------
    KeyFileError
        "belongs to another reading set" when the set UUIDs differ; "was edited" when the
        key's content no longer has the committed hash.
    """
    if set_uuid is not None and key.set_uuid != set_uuid:
        raise KeyFileError(
            f"{key_path}: the key belongs to another reading set ({key.set_uuid}); {where} "
            f"holds reading set {set_uuid}. Give the key written with this set."
        )
    if commitment is not None and key_commitment(key) != commitment:
        raise KeyFileError(
            f"{key_path}: the key was edited: its content no longer has the hash {where} "
            "committed to when the set was prepared. Restore the key from the study lead's "
            "backup; never edit a key by hand."
        )


def check_key_location(key_path: str | Path, setdir: str | Path, *, force: bool = False) -> None:
    """Check, before any work, that a key can be written at ``key_path`` for the set ``setdir``.

    Raises
    ------
    KeyFileError
        When the key would lie inside ``setdir`` (symbolic links resolved) or be ``setdir``,
        names a folder, lies in a folder that does not exist, or exists and ``force`` is false.
    """
    key = Path(key_path).resolve()
    folder = Path(setdir).resolve()
    if key == folder or key.is_relative_to(folder):
        raise KeyFileError(
            f"{key_path}: the key would be inside the reading set {setdir}, which readers "
            "receive. Write the key outside the set, e.g. beside it."
        )
    if key.is_dir():
        raise KeyFileError(f"{key_path}: is a folder; give the key's file name (e.g. key.json).")
    target = Path(key_path).absolute()
    if not target.parent.is_dir():
        raise KeyFileError(f"{target}: the folder {target.parent} does not exist; create it first.")
    if (target.exists() or target.is_symlink()) and not force:
        raise _exists_error(target)


def backup_path(key_path: Path) -> Path:
    """The first free backup name for an existing key: ``KEY.bak``, then ``KEY.bak.1``, …."""
    candidate = key_path.with_name(key_path.name + ".bak")
    n = 1
    while candidate.exists():
        candidate = key_path.with_name(f"{key_path.name}.bak.{n}")
        n += 1
    return candidate


def stage_key(key: Key, key_path: str | Path, *, passphrase: bytes | None = None) -> Path:
    """Write the key to a temporary file (mode 0600, flushed to disk) beside ``key_path``.

    With ``passphrase`` the file is encrypted (:mod:`collarreader.study.keycrypt`).

    The caller installs it with :func:`install_key` or deletes it.

    Raises
    ------
    KeyFileError
        When the key's folder does not exist or is not writable.
    """
    target = Path(key_path).absolute()
    if not target.parent.is_dir():
        raise KeyFileError(f"{target}: the folder {target.parent} does not exist; create it first.")
    data = (json.dumps(key_document(key), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if passphrase is not None:
        data = encrypt_key_bytes(data, passphrase)
    try:
        # mkstemp creates the file with mode 0600, so the secret is never readable by others.
        handle, temp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
    except OSError as error:
        raise KeyFileError(
            f"{target}: cannot write in {target.parent} ({error.strerror or error})."
        ) from None
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), 0o600)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def install_key(staged: Path, key_path: str | Path, *, force: bool = False) -> Path | None:
    """Move a staged key into place; return the backup made of an existing key, if any.

    Raises
    ------
    KeyFileError
        When a key already exists at ``key_path`` and ``force`` is false.
    """
    target = Path(key_path).absolute()
    backup = None
    if target.exists() or target.is_symlink():
        if not force:
            raise _exists_error(target)
        backup = backup_path(target)
        target.replace(backup)
    try:
        staged.replace(target)
    except BaseException:
        if backup is not None:
            backup.replace(target)
        raise
    _fsync_folder(target.parent)
    return backup


def write_key(key: Key, key_path: str | Path, *, force: bool = False) -> Path | None:
    """Write a key file atomically (mode 0600); return the backup of a replaced key, if any.

    Raises
    ------
    KeyFileError
        When the file exists and ``force`` is false, or cannot be written.
    """
    target = Path(key_path).absolute()
    if (target.exists() or target.is_symlink()) and not force:
        raise _exists_error(target)
    staged = stage_key(key, target)
    try:
        return install_key(staged, target, force=force)
    finally:
        staged.unlink(missing_ok=True)


def _exists_error(target: Path) -> KeyFileError:
    return KeyFileError(
        f"{target}: a key file already exists; it may be the only key of another reading set. "
        "Choose another --key path, or pass --force to replace it (the old key is kept as a "
        ".bak file)."
    )


def _fsync_folder(folder: Path) -> None:
    # Make the rename itself durable; not every platform lets a folder be opened for this.
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def load_key(path: str | Path, *, passphrase: bytes | None = None) -> Key:
    """Read an unblinding key file (decrypting it with ``passphrase`` when it is encrypted).

    Raises
    ------
    KeyFileError
        When the file is missing, not a key, of an unknown version, or malformed; or
        encrypted and the passphrase is missing or wrong.
    """
    key_path = Path(path)
    try:
        document = json.loads(key_path.read_bytes())
        if is_encrypted(document):
            document = json.loads(decrypt_key_bytes(document, passphrase, key_path))
    except FileNotFoundError:
        raise KeyFileError(f"{key_path}: key file not found. Check the --key path.") from None
    except (OSError, ValueError) as error:
        raise KeyFileError(
            f"{key_path}: cannot be read as a JSON key file ({error}); it may be truncated or "
            "damaged. Restore it from the study lead's backup."
        ) from None
    if not isinstance(document, dict) or document.get("format") != KEY_FORMAT:
        raise KeyFileError(
            f"{key_path}: not a collarreader key file (format is not {KEY_FORMAT!r})."
        )
    if document.get("version") not in (1, KEY_VERSION):
        raise KeyFileError(
            f"{key_path}: key file version {document.get('version')!r} is not supported "
            f"(this collarreader reads version {KEY_VERSION}); update collarreader."
        )
    try:
        cases = {
            code: KeyCase(
                site=str(raw["site"]),
                patient=str(raw["patient"]),
                joint=Joint(raw["joint"]),
                side=Side(raw["side"]),
            )
            for code, raw in document["cases"].items()
        }
        images = {
            code: KeyImage(
                case_code=str(raw["case_code"]),
                timepoint=TimePoint(raw["timepoint"]),
                label=str(raw["label"]),
                view=View(raw["view"]),
                source=str(raw["source"]),
                study_instance_uid=str(raw["study_instance_uid"]),
                series_instance_uid=str(raw["series_instance_uid"]),
                sop_instance_uid=str(raw["sop_instance_uid"]),
                deidentified_sop_instance_uid=str(raw["deidentified_sop_instance_uid"]),
            )
            for code, raw in document["images"].items()
        }
        repeats = {
            str(reader): {str(code): str(primary) for code, primary in mapping.items()}
            for reader, mapping in document["repeats"].items()
        }
        key = Key(
            set_uuid=str(document["set_uuid"]),
            secret=bytes.fromhex(document["secret"]),
            manifest=str(document["manifest"]),
            cases=cases,
            images=images,
            repeats=repeats,
            uids={str(k): str(v) for k, v in document.get("uids", {}).items()},
            nonce=bytes.fromhex(document.get("nonce", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise KeyFileError(
            f"{key_path}: malformed key file ({type(error).__name__}: {error}); restore it from "
            "the study lead's backup."
        ) from None
    for code, image in key.images.items():
        if image.case_code not in key.cases:
            raise KeyFileError(f"{key_path}: image {code} names unknown case {image.case_code}.")
    return key
