"""Shared names of the merge package: table groups, the refusal message, source descriptions."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from json.encoder import encode_basestring
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import (
    Table,
)

from collarreader.db.models import AuditEvent, MergeLogRow
from collarreader.errors import MergeError

SHARED_TABLES: tuple[str, ...] = ("readers", "cases", "images")
"""Reading-set rows every reader database of a set holds alike, parents first."""


OWNED_TABLES: tuple[str, ...] = (
    "readings",
    "calibrations",
    "annotations",
    "scores",
    "registrations",
    "migrations",
)
"""Rows one reader's chain writes, parents first (foreign keys point backwards)."""


_TABLE_ORDER = (*SHARED_TABLES, *OWNED_TABLES)


_AUDIT: Table = AuditEvent.__table__  # type: ignore[assignment]


_MERGE_LOG: Table = MergeLogRow.__table__  # type: ignore[assignment]


_EVENT_COLUMNS = tuple(column.name for column in _AUDIT.columns)


_SQLITE_MAGIC = b"SQLite format 3\x00"


_CHUNK = 500


_MAX_LISTED = 12


_MAX_PROBLEMS = 50


_encode_str: Callable[[str], str] = encode_basestring  # C-accelerated; json.dumps uses it


_CACHE_KIB = -256 * 1024  # negative: KiB, SQLite's convention


_PARALLEL_BYTES = 64 * 2**20  # below this, starting worker processes costs more than it saves


@dataclass(frozen=True)
class _Source:
    path: Path
    label: str
    db_id: str
    reader_id: str
    set_uuid: str
    protocol_name: str
    protocol_version: str
    protocol_sha256: str
    schema_revision: str
    last_seq: int
    last_hash: str
    counts: dict[str, int]
    public_key: str | None = None
    key_commitment: str | None = None


@dataclass(frozen=True)
class _ProtocolRef:
    """What a database records of a protocol (satisfies ``engine.ProtocolIdentity``)."""

    name: str
    version: str
    sha256: str


def _refuse(source: Path | str, reason: str) -> MergeError:
    name = Path(source).name if isinstance(source, Path) else source
    return MergeError(f"{name}: refused: {reason}")


def _sqlite_uri(path: Path) -> str:
    return f"file:{quote(str(path))}?mode=ro"


@contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a source inside one read transaction (one snapshot)."""
    connection = sqlite3.connect(_sqlite_uri(path), uri=True, isolation_level=None)
    try:
        connection.execute("BEGIN")
        yield connection
    finally:
        connection.close()


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
