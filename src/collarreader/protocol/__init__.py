"""The scoring protocol: which views, time points, zones and fields a reader scores.

A protocol is a TOML file (``resources/protocols/<name>.toml``); the file is the protocol, so a
study lead can write a new one (more zones, other fields, other summary rules) without code
changes. :func:`load_protocol` validates it strictly — an unknown key is a typo, not an
extension — and returns a frozen :class:`Protocol`.

Identity: :attr:`Protocol.sha256` is the SHA-256 of the file's bytes with line endings
normalised to LF and a leading byte-order mark removed, so a Windows checkout (CRLF) hashes
the same. Reader databases, reading sets and the study database record it; a merge refuses a
mismatch.

Where values live: every value is recorded per time point. ``zone`` fields are recorded for each
zone (zones belong to a view), ``view`` fields once per view, ``case`` fields once per case
(``Field.view`` restricts a case field to one view's image). Values are plain Python: ``str``
for choice, derived and text fields, ``bool`` for bool fields, ``float`` (or ``int``) for number
fields, ``None`` for "not entered".

Modules
-------
:mod:`~collarreader.protocol.model`
    The vocabulary (field types, scopes, levels, tools) and the value types of a file.
:mod:`~collarreader.protocol.definition`
    :class:`Protocol`: the fields a reader scores and the summary rules.
:mod:`~collarreader.protocol.loading`
    :func:`load_protocol`, :func:`parse_protocol`, the bundled protocols, the file's identity.
:mod:`~collarreader.protocol.parsing`
    The strict parser behind :func:`parse_protocol`.
"""

from __future__ import annotations

from collarreader.protocol.definition import Protocol
from collarreader.protocol.loading import (
    available_protocols,
    canonical_bytes,
    load_protocol,
    parse_protocol,
)
from collarreader.protocol.model import (
    DEFAULT_PROTOCOL,
    FORMAT,
    SCHEMA_VERSION,
    Band,
    Condition,
    CountRule,
    Derivation,
    Field,
    FieldType,
    FieldValue,
    FlagRule,
    Level,
    Scope,
    SummaryValue,
    ToolKind,
    TotalRule,
    Zone,
)

__all__ = [
    "DEFAULT_PROTOCOL",
    "FORMAT",
    "SCHEMA_VERSION",
    "Band",
    "Condition",
    "CountRule",
    "Derivation",
    "Field",
    "FieldType",
    "FieldValue",
    "FlagRule",
    "Level",
    "Protocol",
    "Scope",
    "SummaryValue",
    "ToolKind",
    "TotalRule",
    "Zone",
    "available_protocols",
    "canonical_bytes",
    "load_protocol",
    "parse_protocol",
]
