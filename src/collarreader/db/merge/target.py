"""The study database a merge writes: opened, or created with the first source's set."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import (
    inspect,
)
from sqlalchemy.engine import make_url

from collarreader.db.engine import (
    STUDY_LEAD,
    Database,
    database_url,
    make_engine,
    open_database,
)
from collarreader.db.merge.common import _SQLITE_MAGIC, _ProtocolRef, _refuse, _Source
from collarreader.db.merge.newfile import building_path
from collarreader.db.transaction import Transaction
from collarreader.errors import MergeError
from collarreader.model import utc_now_iso


def _ensure_postgres_database(target: str) -> bool:
    """Create the PostgreSQL database named in ``target`` when the server lacks it."""
    import psycopg

    url = make_url(target).set(drivername="postgresql")
    name = url.database
    if not name:
        raise MergeError(f"{url.render_as_string(True)}: the URL names no database.")
    conninfo = url.set(database="postgres").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            found = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if found is not None:
                return False
            connection.execute(f'CREATE DATABASE "{name}"')  # name from the operator's URL
            return True
    except psycopg.Error as error:
        message = (
            f"{url.render_as_string(True)}: cannot reach the PostgreSQL server or create the "
            f"database ({error}). Check the URL, the server and the user's rights."
        )
        raise MergeError(message) from None


def _open_target(target: str | Path, first: _Source) -> tuple[Database, bool]:
    """Open the study database, or create it with the first source's set and protocol.

    A new SQLite study database is created at :func:`building_path` (the caller publishes
    it when the merge is complete); its ``Database.path`` says where.
    """
    url, path = database_url(target)
    if path is None:
        _ensure_postgres_database(str(target))
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                exists = inspect(connection).has_table("db_identity")
        finally:
            engine.dispose()
    else:
        exists = path.exists() and path.stat().st_size > 0
        if exists:
            _check_target_file(path)
    if not exists:
        protocol = _ProtocolRef(first.protocol_name, first.protocol_version, first.protocol_sha256)
        where: str | Path = target if path is None else building_path(path)
        database = open_database(
            where,
            create=True,
            role="study",
            set_uuid=first.set_uuid,
            protocol=protocol,
            key_commitment=first.key_commitment,
        )
        return database, True
    database = open_database(target, role="study")
    identity = database.identity
    if (
        identity.set_uuid is None
        or identity.protocol_sha256 is None
        or (identity.key_commitment is None and first.key_commitment is not None)
    ):
        # A study database made before it knew its set: the first merge records it (audited).
        with database.write() as connection:
            tx = Transaction(
                connection,
                db_id=identity.id,
                actor=STUDY_LEAD,
                at=utc_now_iso(),
                reason="reading set and protocol of the first merged reader database",
                lock_identity=not database.is_sqlite,
                signer=database.signer(),
            )
            tx.update(
                "db_identity",
                identity.id,
                {
                    "set_uuid": identity.set_uuid or first.set_uuid,
                    "protocol_name": identity.protocol_name or first.protocol_name,
                    "protocol_version": identity.protocol_version or first.protocol_version,
                    "protocol_sha256": identity.protocol_sha256 or first.protocol_sha256,
                    "key_commitment": identity.key_commitment or first.key_commitment,
                },
            )
            tx.seal()
        database.close()
        database = open_database(target, role="study")
    return database, False


def _check_against(source: _Source, set_uuid: str, protocol_sha256: str, study: str) -> None:
    if source.set_uuid != set_uuid:
        raise _refuse(
            source.path,
            f"it holds reading set {source.set_uuid}, but {study} holds set {set_uuid}. "
            "Merge only databases read on this study's reading set.",
        )
    if source.protocol_sha256 != protocol_sha256:
        raise _refuse(
            source.path,
            f"it was read with protocol {source.protocol_name} {source.protocol_version} "
            f"(sha256 {source.protocol_sha256[:12]}…), but {study} uses sha256 "
            f"{protocol_sha256[:12]}…. Merge only databases read with the study's protocol.",
        )


def _check_target_file(path: Path) -> None:
    with path.open("rb") as handle:
        magic = handle.read(len(_SQLITE_MAGIC))
    if magic != _SQLITE_MAGIC:
        raise MergeError(
            f"{path}: the study database is not an SQLite file; choose the study database "
            "or a new file name."
        )
