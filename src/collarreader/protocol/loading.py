"""Loading a protocol file: the bundled protocols, canonical bytes, the entry points.

Part of :mod:`collarreader.protocol` (see its docstring for the rules).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import tomllib
from pathlib import Path
from typing import Any

from collarreader.errors import ProtocolError
from collarreader.protocol.definition import Protocol
from collarreader.protocol.model import DEFAULT_PROTOCOL
from collarreader.protocol.parsing import _Parser

# --------------------------------------------------------------------------- loading


def canonical_bytes(data: bytes) -> bytes:
    """The bytes a protocol's hash covers: no UTF-8 byte-order mark, LF line endings."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _protocols_dir() -> Any:  # importlib Traversable, untyped across Python versions
    return importlib.resources.files("collarreader") / "resources" / "protocols"


def available_protocols() -> tuple[str, ...]:
    """Names of the protocols shipped with collarreader (``resources/protocols/*.toml``)."""
    return tuple(
        sorted(
            p.name.removesuffix(".toml")
            for p in _protocols_dir().iterdir()
            if p.name.endswith(".toml")
        )
    )


def load_protocol(name_or_path: str | Path = DEFAULT_PROTOCOL) -> Protocol:
    """Load and validate a protocol by shipped name (``"collar-default"``) or file path.

    Parameters
    ----------
    name_or_path : a shipped protocol's name, or the path of a ``.toml`` file (a :class:`Path`,
        or a string containing a path separator or ending in ``.toml``)

    Raises
    ------
    ProtocolError
        The file is missing, unreadable, not TOML, or breaks a rule; the message names the
        file and the offending key.
    """
    text_arg = str(name_or_path)
    is_path = (
        isinstance(name_or_path, Path)
        or "/" in text_arg
        or "\\" in text_arg
        or text_arg.endswith(".toml")
    )
    if is_path:
        path = Path(name_or_path)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ProtocolError(
                f"{path}: cannot read the protocol file ({error.strerror or error}). "
                "Check the path given with --protocol."
            ) from error
        return parse_protocol(data, source=str(path))
    resource = _protocols_dir() / f"{text_arg}.toml"
    if not resource.is_file():
        raise ProtocolError(
            f"No shipped protocol named {text_arg!r}; available: "
            f"{', '.join(available_protocols())}. Give a name from this list or a .toml path."
        )
    return parse_protocol(resource.read_bytes(), source=f"{text_arg}.toml")


def parse_protocol(data: bytes | str, *, source: str = "<protocol>") -> Protocol:
    """Validate protocol text (e.g. the copy a reading set carries) into a :class:`Protocol`.

    ``source`` names the file in error messages.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    canonical = canonical_bytes(raw)
    try:
        text = canonical.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProtocolError(
            f"{source}: not UTF-8 text (byte {error.start}). Save the protocol as UTF-8."
        ) from error
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProtocolError(f"{source}: not valid TOML: {error}. Fix the syntax.") from error
    return _Parser(source).protocol(document, text, hashlib.sha256(canonical).hexdigest())
