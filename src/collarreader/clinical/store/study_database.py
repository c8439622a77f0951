"""The study database that clinical data live in: open it, refuse any other, read the key."""

from __future__ import annotations

from pathlib import Path

from collarreader.db.engine import Database, database_url, open_database
from collarreader.errors import DatabaseError
from collarreader.model import DatabaseRole
from collarreader.study.keyfile import Key, load_key

__all__ = ["open_study_database", "require_study", "study_patients"]


def require_study(database: Database) -> None:
    """Refuse anything but a study database.

    Raises
    ------
    DatabaseError
        For a reader database, naming its reader.
    """
    identity = database.identity
    if identity.role is not DatabaseRole.STUDY:
        who = f" of reader {identity.reader_id!r}" if identity.reader_id else ""
        message = (
            f"{database.label}: this is the {identity.role} database{who}. Oxford scores and "
            "adverse events belong in the study database (the one 'collarreader merge' "
            "writes); give that database instead."
        )
        raise DatabaseError(message)


def open_study_database(path_or_url: str | Path) -> Database:
    """Open an existing study database for clinical data.

    Parameters
    ----------
    path_or_url : SQLite file or ``postgresql://`` URL of the study database

    Raises
    ------
    DatabaseError
        When the file does not exist (it is not created: clinical data join the study
        database that ``collarreader merge`` made), or it is a reader's database, damaged, or
        from a newer collarreader.
    """
    _url, path = database_url(path_or_url)
    if path is not None and not path.exists():
        message = (
            f"{path}: no such study database. Clinical data go into the study database that "
            "'collarreader merge STUDY.sqlite READER.sqlite …' creates; check the path."
        )
        raise DatabaseError(message)
    database = open_database(path_or_url)
    try:
        require_study(database)
    except DatabaseError:
        database.close()
        raise
    return database


def study_patients(key_path: str | Path | Key) -> frozenset[str]:
    """The patient study IDs of an unblinding key file (``collarreader prepare --key``).

    Raises
    ------
    KeyFileError
        When the key cannot be read.
    """
    key = key_path if isinstance(key_path, Key) else load_key(key_path)
    return frozenset(case.patient for case in key.cases.values())
