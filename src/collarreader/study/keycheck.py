"""The one check every command that takes ``--key`` makes: is this the set's own key.

A reading set records the hash of its key (``readingset.json``: ``key_commitment``); a reader
database copies it when it is created and a merge carries it into the study database. So a key
given to ``simulate-reads`` is checked against the set, and one given to ``export``,
``agreement`` or ``clinical`` against the database: a key with two patients swapped (edited),
another set's key, and a truncated key are all refused before anything is unblinded.
"""

from __future__ import annotations

from pathlib import Path

from collarreader.db.engine import Database, open_database
from collarreader.study.keyfile import Key, check_key, load_key
from collarreader.study.readingset import ReadingSet, open_reading_set

__all__ = ["load_key_for_database", "load_key_for_set"]


def load_key_for_set(
    key_path: str | Path,
    reading_set: ReadingSet | str | Path,
    *,
    passphrase: bytes | None = None,
) -> Key:
    """Load ``key_path`` and refuse it unless it is the key ``reading_set`` committed to.

    Raises
    ------
    KeyFileError
        The key is missing, truncated or malformed, belongs to another reading set, was
        edited, or is encrypted and ``passphrase`` is missing or wrong.
    ReadingSetError
        The set cannot be opened.
    """
    opened = (
        reading_set
        if isinstance(reading_set, ReadingSet)
        else open_reading_set(reading_set, verify=False)
    )
    key = load_key(key_path, passphrase=passphrase)
    check_key(
        key,
        key_path,
        set_uuid=opened.set_uuid,
        commitment=opened.key_commitment,
        where=f"the reading set {opened.path}",
    )
    return key


def load_key_for_database(
    key_path: str | Path, db: Database | str | Path, *, passphrase: bytes | None = None
) -> Key:
    """Load ``key_path`` and refuse it unless it is the key of the set ``db`` was read on.

    Raises
    ------
    KeyFileError
        The key is missing, truncated or malformed, belongs to another reading set, was
        edited, or is encrypted and ``passphrase`` is missing or wrong.
    DatabaseError
        The database cannot be opened.
    """
    key = load_key(key_path, passphrase=passphrase)
    if isinstance(db, Database):
        identity, label = db.identity, db.label
    else:
        database = open_database(db, upgrade=False)
        try:
            identity, label = database.identity, database.label
        finally:
            database.close()
    check_key(
        key,
        key_path,
        set_uuid=identity.set_uuid,
        commitment=identity.key_commitment,
        where=f"the database {label}",
    )
    return key
