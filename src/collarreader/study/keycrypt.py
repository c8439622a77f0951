"""A key encrypted at rest with a passphrase (scrypt + AES-256-GCM, ``cryptography``).

Optional: a key without a passphrase is plain JSON, as tests and the demo use. With one
(``--key-passphrase-file``), the key file is a small JSON envelope::

    {"format": "collarreader-key-encrypted", "version": 1,
     "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "<hex>"},
     "cipher": "AES-256-GCM", "nonce": "<hex>", "ciphertext": "<base64>"}

The ciphertext is the plain key file's bytes; GCM authenticates it (with the format string as
associated data), so a wrong passphrase and an edited file are both refused. The passphrase is
read from a file (first line), never from the command line, where it would reach the shell
history and the process list.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

from collarreader.errors import KeyFileError

__all__ = [
    "ENCRYPTED_FORMAT",
    "decrypt_key_bytes",
    "encrypt_key_bytes",
    "is_encrypted",
    "read_passphrase_file",
]

ENCRYPTED_FORMAT = "collarreader-key-encrypted"
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}  # ~0.1 s and 32 MiB per derivation: RFC 7914 interactive


def read_passphrase_file(path: str | Path) -> bytes:
    """The passphrase: the first line of ``path`` (UTF-8, without its line end).

    Raises
    ------
    KeyFileError
        The file is missing, unreadable, or its first line is empty.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise KeyFileError(
            f"{file}: the passphrase file cannot be read ({error}). Check --key-passphrase-file."
        ) from None
    lines = text.splitlines()
    passphrase = lines[0] if lines else ""
    if not passphrase:
        raise KeyFileError(f"{file}: the passphrase file's first line is empty.")
    return passphrase.encode("utf-8")


def _derive(passphrase: bytes, salt: bytes, params: dict[str, int]) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"]).derive(
        passphrase
    )


def encrypt_key_bytes(data: bytes, passphrase: bytes) -> bytes:
    """The encrypted envelope (JSON bytes) of the plain key file ``data``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    ciphertext = AESGCM(_derive(passphrase, salt, _SCRYPT)).encrypt(
        nonce, data, ENCRYPTED_FORMAT.encode("ascii")
    )
    envelope = {
        "format": ENCRYPTED_FORMAT,
        "version": 1,
        "kdf": {"name": "scrypt", **_SCRYPT, "salt": salt.hex()},
        "cipher": "AES-256-GCM",
        "nonce": nonce.hex(),
        "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
    }
    return (json.dumps(envelope, indent=2) + "\n").encode("ascii")


def is_encrypted(document: Any) -> bool:
    """Whether a key file's JSON document is an encrypted envelope."""
    return isinstance(document, dict) and document.get("format") == ENCRYPTED_FORMAT


def decrypt_key_bytes(document: dict[str, Any], passphrase: bytes | None, path: Path) -> bytes:
    """The plain key file's bytes from an encrypted envelope.

    Raises
    ------
    KeyFileError
        No passphrase given, a wrong passphrase or an edited file, or a malformed envelope.
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if passphrase is None:
        raise KeyFileError(
            f"{path}: the key is encrypted; give its passphrase with --key-passphrase-file."
        )
    try:
        kdf = document["kdf"]
        params = {"n": int(kdf["n"]), "r": int(kdf["r"]), "p": int(kdf["p"])}
        key = _derive(passphrase, bytes.fromhex(kdf["salt"]), params)
        nonce = bytes.fromhex(document["nonce"])
        ciphertext = base64.b64decode(document["ciphertext"], validate=True)
    except (KeyError, TypeError, ValueError) as error:
        raise KeyFileError(
            f"{path}: a malformed encrypted key ({type(error).__name__}: {error}); restore it "
            "from the study lead's backup."
        ) from None
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, ENCRYPTED_FORMAT.encode("ascii"))
    except InvalidTag:
        raise KeyFileError(
            f"{path}: the passphrase is wrong, or the encrypted key was edited. Check "
            "--key-passphrase-file; restore the key from the study lead's backup if it is right."
        ) from None
