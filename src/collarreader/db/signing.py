r"""Author keys and signatures of audit-chain heads (Ed25519).

Each author — a reader, by reader ID, or the study lead (``study-lead``) — has one Ed25519
key pair, made on first use and kept in the user's data folder (``platformdirs``'
``user_data_dir("collarreader")/keys``, or the folder ``COLLARREADER_KEY_DIR`` names), in a
file readable only by that user. The private key never enters a database; a database records
its author's *public* key in ``db_identity.public_key`` (64 lower-case hex digits, the raw
32-byte key).

What is signed
    Every write transaction signs the chain head it leaves: the text
    ``collarreader-audit-head/1\\n<db_id>\\n<seq>\\n<hash>`` (UTF-8) of its last event, and the
    signature (128 hex digits) is stored in that event's ``signature`` column. Because each
    ``hash`` covers the previous one, a valid signature on event *n* vouches for events 1 … *n*
    of that chain. Events written before a database had a key (older versions) carry no
    signature; they are vouched for by the first signature after them.

A key's *fingerprint* is the first 16 hex digits of the SHA-256 of the raw public key, in
groups of four (``3f2a-9c01-…``): short enough to read out over the phone.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from platformdirs import user_data_dir

from collarreader.errors import AuthorKeyError

KEY_DIR_ENV = "COLLARREADER_KEY_DIR"
"""Environment variable naming the key folder instead of the user's data folder."""

_PREFIX = "collarreader-audit-head/1"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_RAW = 32


def key_dir() -> Path:
    """The folder holding this user's author keys."""
    given = os.environ.get(KEY_DIR_ENV)
    if given:
        return Path(given).expanduser()
    return Path(user_data_dir("collarreader", appauthor=False)) / "keys"


def fingerprint(public_key_hex: str) -> str:
    """Short, readable fingerprint of a public key (hex of the raw 32 bytes)."""
    digest = hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()[:16]
    return "-".join(digest[index : index + 4] for index in range(0, 16, 4))


def head_message(db_id: str, seq: int, head_hash: str) -> bytes:
    """The bytes signed for the chain head ``(db_id, seq, hash)``."""
    return f"{_PREFIX}\n{db_id}\n{int(seq)}\n{head_hash}".encode()


def signature_valid(public_key_hex: str, db_id: str, seq: int, head_hash: str, sig: str) -> bool:
    """Whether ``sig`` (hex) is the key's signature of the chain head ``(db_id, seq, hash)``."""
    return head_verifier(public_key_hex)(db_id, seq, head_hash, sig)


def head_verifier(public_key_hex: str) -> Callable[[str, int, str, str], bool]:
    """:func:`signature_valid` for one key, the key parsed once (for whole chains)."""
    try:
        key: Ed25519PublicKey | None = Ed25519PublicKey.from_public_bytes(
            bytes.fromhex(public_key_hex)
        )
    except (ValueError, TypeError):
        key = None

    def valid(db_id: str, seq: int, head_hash: str, sig: str) -> bool:
        if key is None:
            return False
        try:
            key.verify(bytes.fromhex(sig), head_message(db_id, seq, head_hash))
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    return valid


@dataclass(frozen=True)
class AuthorKey:
    """One author's key pair, loaded from the key folder.

    Attributes
    ----------
    author : reader ID or ``study-lead``
    path : the private key file
    public_key : the raw public key, 64 hex digits (what ``db_identity.public_key`` records)
    """

    author: str
    path: Path
    public_key: str
    _private: Ed25519PrivateKey

    @property
    def fingerprint(self) -> str:
        """The public key's fingerprint."""
        return fingerprint(self.public_key)

    def sign_head(self, db_id: str, seq: int, head_hash: str) -> str:
        """Signature (128 hex digits) of the chain head ``(db_id, seq, hash)``."""
        return self._private.sign(head_message(db_id, seq, head_hash)).hex()


def key_path(author: str, folder: Path | None = None) -> Path:
    """The private key file of ``author`` in ``folder`` (default :func:`key_dir`)."""
    name = _SAFE.sub("_", author) or "_"
    return (folder or key_dir()) / f"{name}.ed25519"


def author_key(author: str, *, create: bool = True, folder: Path | None = None) -> AuthorKey:
    """The author's key pair, made on first use (``create``) with mode 0600 in a 0700 folder.

    Raises
    ------
    AuthorKeyError
        When the key file is a folder, unreadable, damaged, readable by other users, or
        missing while ``create`` is False.
    """
    path = key_path(author, folder)
    if path.is_dir() or (path.parent.exists() and not path.parent.is_dir()):
        message = (
            f"{path}: the author key of {author!r} must be a file in a folder, but "
            f"{path if path.is_dir() else path.parent} is not. Move it away, or point "
            f"{KEY_DIR_ENV} at the folder holding your keys."
        )
        raise AuthorKeyError(message)
    if not path.exists():
        if not create:
            message = (
                f"{path}: no author key for {author!r}. Work on the computer and user "
                f"account that hold it, or point {KEY_DIR_ENV} at the folder holding it."
            )
            raise AuthorKeyError(message)
        return _create(author, path)
    return _load(author, path)


def _create(author: str, path: Path) -> AuthorKey:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        private = Ed25519PrivateKey.generate()
        raw = private.private_bytes_raw()
        # O_EXCL: two programs starting at once never overwrite each other's new key.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _load(author, path)
    except OSError as error:
        message = (
            f"{path}: cannot create the author key of {author!r} ({error.strerror}). "
            f"Check the folder's permissions, or point {KEY_DIR_ENV} at a writable folder."
        )
        raise AuthorKeyError(message) from None
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(raw.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return AuthorKey(author, path, private.public_key().public_bytes_raw().hex(), private)


def _load(author: str, path: Path) -> AuthorKey:
    try:
        mode = path.stat().st_mode
        content = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        message = f"{path}: the author key of {author!r} cannot be read ({error})."
        raise AuthorKeyError(message) from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        message = (
            f"{path}: the author key of {author!r} is readable by other users; anyone who "
            f"reads it can sign as {author!r}. Run 'chmod 600 {path}'."
        )
        raise AuthorKeyError(message)
    try:
        raw = bytes.fromhex(content)
        if len(raw) != _RAW:
            raise ValueError(len(raw))
        private = Ed25519PrivateKey.from_private_bytes(raw)
    except ValueError:
        message = (
            f"{path}: the author key of {author!r} is damaged (not 64 hex digits). Restore it "
            "from your backup; a new key would no longer match your merged databases."
        )
        raise AuthorKeyError(message) from None
    return AuthorKey(author, path, private.public_key().public_bytes_raw().hex(), private)
