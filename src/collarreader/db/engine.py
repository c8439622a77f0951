"""Opening, creating and upgrading reader and study databases.

:func:`open_database` takes an SQLite path or an SQLAlchemy URL (``postgresql://…`` is mapped to
the psycopg 3 driver, ``postgresql+psycopg://…``). On SQLite every connection gets
``journal_mode=WAL``, ``synchronous=FULL`` (a gesture is on disk when the screen shows it),
``foreign_keys=ON`` and a busy timeout, and write transactions start with ``BEGIN IMMEDIATE``
so that two writers never both read the audit chain's tail.

Schema changes are Alembic revisions inside the package (``collarreader/db/migrations``; no
``alembic.ini``). Opening a database whose revision is behind the application's copies an
SQLite file to ``<name>.bak-<revision>-<UTC timestamp>`` first (with SQLite's online backup, so
the copy is consistent even with a WAL), then upgrades. A PostgreSQL database is upgraded in
one transaction (PostgreSQL DDL is transactional); the operator backs it up (``pg_dump``)
before installing a new collarreader version. A database from a newer collarreader is refused.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from collarreader import __version__
from collarreader.db.models import DbIdentity
from collarreader.db.signing import AuthorKey, author_key, fingerprint
from collarreader.db.transaction import Transaction
from collarreader.errors import AuthorKeyError, DatabaseError
from collarreader.model import DatabaseIdentity, DatabaseRole, utc_now_iso

REVISIONS: tuple[str, ...] = (
    "0001_initial",
    "0002_merge_log",
    "0003_clinical",
    "0004_key_commitment",
    "0005_signatures",
    "0006_measure_detail",
    "0007_registrations",
)
"""Every schema revision, oldest first (the Alembic scripts in ``migrations/versions``)."""

HEAD_REVISION = REVISIONS[-1]
"""The schema revision this application writes (kept here so opening needs no Alembic import)."""

STUDY_LEAD = "study-lead"
"""Audit actor of study-lead changes (readers are audited under their reader ID)."""

BUSY_TIMEOUT_MS = 10_000
_SQLITE_MAGIC = b"SQLite format 3\x00"


class ProtocolIdentity(Protocol):
    """What a database records of a scoring protocol (a :class:`collarreader.protocol.Protocol`)."""

    @property
    def name(self) -> str: ...  # noqa: D102

    @property
    def version(self) -> str: ...  # noqa: D102

    @property
    def sha256(self) -> str: ...  # noqa: D102


@dataclass
class Database:
    """An open reader or study database.

    Attributes
    ----------
    engine : the SQLAlchemy engine (pragmas and ``BEGIN IMMEDIATE`` installed on SQLite)
    url : the SQLAlchemy URL
    path : the SQLite file, or None for a server database
    identity : the ``db_identity`` row
    backup_path : the backup written by an upgrade during this open, if any
    """

    engine: Engine
    url: URL
    path: Path | None
    identity: DatabaseIdentity
    backup_path: Path | None = None

    @property
    def is_sqlite(self) -> bool:
        """True for an SQLite file."""
        return self.path is not None

    @property
    def label(self) -> str:
        """The path, or the URL without its password, for messages."""
        return str(self.path) if self.path is not None else self.url.render_as_string(True)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on exit."""
        with self.engine.connect() as plain:
            connection = plain.execution_options(collar_begin="IMMEDIATE")
            with connection.begin():
                yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection inside a read transaction (one consistent snapshot)."""
        with self.engine.connect() as connection, connection.begin():
            yield connection

    def signer(self) -> AuthorKey:
        """The author's key for writing: the reader's, or the study lead's for a study database.

        Raises
        ------
        AuthorKeyError
            When this user's key for the author is not the key the database records (the
            database was made by another user or on another computer).
        """
        author = self.identity.reader_id or STUDY_LEAD
        key = author_key(author)
        recorded = self.identity.public_key
        if recorded is not None and recorded != key.public_key:
            message = (
                f"{self.label}: signed by key {fingerprint(recorded)} of {author!r}, but this "
                f"user's key for {author!r} is {key.fingerprint} ({key.path}). Work on it "
                "with the user account and computer that made it (or restore that key); "
                "writing here would leave events the database's author did not sign."
            )
            raise AuthorKeyError(message)
        return key

    def close(self) -> None:
        """Close every pooled connection (SQLite then folds the WAL back into the file)."""
        self.engine.dispose()


# ------------------------------------------------------------------------------ URLs, engines


def database_url(path_or_url: str | Path) -> tuple[URL, Path | None]:
    """The SQLAlchemy URL for a path or URL, and the SQLite file path (None for a server)."""
    if isinstance(path_or_url, str) and "://" in path_or_url:
        url = make_url(path_or_url)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        if url.get_backend_name() == "sqlite":
            if not url.database or url.database == ":memory:":
                message = (
                    f"{path_or_url}: an in-memory database cannot hold a reading; give a file."
                )
                raise DatabaseError(message)
            path = Path(url.database).resolve()
            return url.set(drivername="sqlite+pysqlite", database=str(path)), path
        if url.get_backend_name() != "postgresql":
            message = (
                f"{url.render_as_string(True)}: unsupported database; use an SQLite file "
                "or a postgresql:// URL."
            )
            raise DatabaseError(message)
        return url, None
    path = Path(path_or_url).expanduser().resolve()
    return URL.create("sqlite+pysqlite", database=str(path)), path


def _on_sqlite_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (see _on_begin); the driver must not begin implicitly.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _on_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get("collar_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: URL) -> Engine:
    """An engine for ``url``; on SQLite with the pragmas and explicit ``BEGIN`` installed."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


# ------------------------------------------------------------------------------ inspection


def backups_of(path: Path) -> list[Path]:
    """The upgrade backups (``<name>.bak-<revision>-<time>``) next to ``path``, newest last."""
    return sorted(path.parent.glob(f"{path.name}.bak-*"), key=lambda p: p.stat().st_mtime)


def restore_advice(path: Path) -> str:
    """What to do with an unreadable database file: restore the newest backup that exists.

    Backups exist only after an upgrade (:func:`_backup_sqlite`); when there is none, the
    advice is to check the file chosen, never to restore a backup that is not there.
    """
    backups = backups_of(path)
    if backups:
        return f"Restore it from its newest backup, {backups[-1]}."
    return (
        "Check that you chose a collarreader database (a reader's or the study's .sqlite "
        "file); if it is one, restore it from your own copy (no upgrade backup exists next to it)."
    )


def _check_sqlite_file(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(_SQLITE_MAGIC))
    except OSError as error:
        message = f"{path}: cannot be read ({error.strerror}). Check the path and permissions."
        raise DatabaseError(message) from error
    if magic != _SQLITE_MAGIC:
        message = (
            f"{path}: not an SQLite database (damaged, truncated or another kind of file). "
            + restore_advice(path)
        )
        raise DatabaseError(message)


def current_revision(connection: Connection) -> str | None:
    """The Alembic revision stamped in the database, or None when unstamped."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    revisions = [
        row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))
    ]
    return revisions[0] if len(revisions) == 1 else None


def read_identity(connection: Connection) -> DatabaseIdentity | None:
    """The ``db_identity`` row, or None when the table is empty."""
    rows = connection.execute(select(DbIdentity.__table__)).all()
    if len(rows) != 1:
        return None
    row = rows[0]._mapping
    return DatabaseIdentity(
        id=row["id"],
        role=DatabaseRole(row["role"]),
        reader_id=row["reader_id"],
        set_uuid=row["set_uuid"],
        protocol_name=row["protocol_name"],
        protocol_version=row["protocol_version"],
        protocol_sha256=row["protocol_sha256"],
        created_at=row["created_at"],
        app_version=row["app_version"],
        schema_revision=row["schema_revision"],
        public_key=row["public_key"],
        key_commitment=row.get("key_commitment"),
    )


# ------------------------------------------------------------------------------ migrations


def run_migrations(connection: Connection, revision: str = "head") -> None:
    """Upgrade the schema on ``connection`` (inside the caller's transaction) to ``revision``."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _backup_sqlite(path: Path, revision: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.bak-{revision}-{stamp}")
    serial = 1
    while target.exists():
        serial += 1
        target = path.with_name(f"{path.name}.bak-{revision}-{stamp}-{serial}")
    source = sqlite3.connect(path)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    return target


# ------------------------------------------------------------------------------ opening


def open_database(
    path_or_url: str | Path,
    *,
    create: bool = False,
    role: DatabaseRole | str | None = None,
    reader_id: str | None = None,
    set_uuid: str | None = None,
    protocol: ProtocolIdentity | None = None,
    upgrade: bool = True,
    key_commitment: str | None = None,
) -> Database:
    """Open (or create) a collarreader database.

    Parameters
    ----------
    path_or_url : SQLite file path, ``sqlite:///…``, or ``postgresql://…`` URL
    create : create the database when it does not exist (it needs ``role``); an existing
        database is opened as usual
    role : ``reader`` or ``study``; when given for an existing database it must match
    reader_id : the reader of a reader database (must match an existing one when given)
    set_uuid : the reading set's UUID (must match an existing one when given and recorded)
    protocol : the scoring protocol (``name``, ``version``, ``sha256``); its hash must match an
        existing database's when given and recorded
    upgrade : upgrade an older schema (after a backup); False refuses instead
    key_commitment : the reading set's commitment to its key (``readingset.json``), recorded
        when the database is created

    Raises
    ------
    DatabaseError
        When the file is missing (and ``create`` is False), damaged, not a collarreader
        database, from a newer collarreader, or belongs to another reader, set or protocol.
    """
    url, path = database_url(path_or_url)
    label = str(path) if path is not None else url.render_as_string(True)
    exists = path is None or (path.exists() and path.stat().st_size > 0)
    if path is not None:
        if not exists and not create:
            message = (
                f"{path}: no such database. Check the path, or create it (the reader "
                "creates one on first start)."
            )
            raise DatabaseError(message)
        if exists:
            _check_sqlite_file(path)
        elif not path.parent.is_dir():
            message = f"{path}: the folder {path.parent} does not exist. Create it first."
            raise DatabaseError(message)
    engine = make_engine(url)
    try:
        database = _open(
            engine,
            url,
            path,
            label,
            create=create,
            role=role,
            reader_id=reader_id,
            set_uuid=set_uuid,
            protocol=protocol,
            upgrade=upgrade,
            key_commitment=key_commitment,
        )
    except sa_exc.DBAPIError as error:
        engine.dispose()
        advice = (
            restore_advice(path)
            if path is not None
            else "Check the URL and that the server is running."
        )
        message = f"{label}: cannot be read as a database ({error.orig}). {advice}"
        raise DatabaseError(message) from error
    except BaseException:
        engine.dispose()
        raise
    return database


def _open(
    engine: Engine,
    url: URL,
    path: Path | None,
    label: str,
    *,
    create: bool,
    role: DatabaseRole | str | None,
    reader_id: str | None,
    set_uuid: str | None,
    protocol: ProtocolIdentity | None,
    upgrade: bool,
    key_commitment: str | None = None,
) -> Database:
    with engine.connect() as connection:
        has_identity = inspect(connection).has_table("db_identity")
        any_table = bool(inspect(connection).get_table_names())
        revision = current_revision(connection)
    backup_path: Path | None = None
    if not has_identity:
        if any_table or not create:
            message = (
                f"{label}: not a collarreader database (no db_identity table). Choose the "
                "database collarreader created."
            )
            raise DatabaseError(message)
        identity = _create(
            engine, role, reader_id, set_uuid, protocol, key_commitment=key_commitment
        )
        return Database(engine, url, path, identity)
    if revision is None:
        message = f"{label}: a collarreader database without a schema revision; it is damaged."
        raise DatabaseError(message)
    if revision not in REVISIONS:
        message = (
            f"{label}: schema revision {revision} is newer than this collarreader "
            f"{__version__} understands (newest {HEAD_REVISION}). Install the collarreader "
            "version that wrote it, or a newer one."
        )
        raise DatabaseError(message)
    if revision != HEAD_REVISION:
        if not upgrade:
            message = (
                f"{label}: schema revision {revision} is older than {HEAD_REVISION}; open it "
                "with upgrading allowed (a backup is made first)."
            )
            raise DatabaseError(message)
        if path is not None:
            backup_path = _backup_sqlite(path, revision)
    with engine.connect() as plain:
        connection = plain.execution_options(collar_begin="IMMEDIATE")
        with connection.begin():
            if current_revision(connection) != HEAD_REVISION:
                run_migrations(connection)
            found = read_identity(connection)
            if found is None:
                message = (
                    f"{label}: the db_identity table must hold exactly one row; it is damaged."
                )
                raise DatabaseError(message)
            identity = found
            if identity.schema_revision != HEAD_REVISION:
                actor = identity.reader_id or STUDY_LEAD
                # Events before this upgrade stay unsigned; this first signed transaction
                # records the author's key and vouches for them (collarreader.db.signing).
                key = author_key(actor) if identity.public_key is None else None
                tx = Transaction(
                    connection,
                    db_id=identity.id,
                    actor=actor,
                    at=utc_now_iso(),
                    reason=f"schema upgrade from {identity.schema_revision}",
                    lock_identity=path is None,
                    signer=key,
                )
                changes = {"schema_revision": HEAD_REVISION, "app_version": __version__}
                if key is not None:
                    changes["public_key"] = key.public_key
                tx.update("db_identity", identity.id, changes, action="upgrade")
                tx.seal()
                if key is not None:
                    _sign_old_anchors(connection, key)
                identity = read_identity(connection) or identity
    _check_identity(
        label, identity, role=role, reader_id=reader_id, set_uuid=set_uuid, protocol=protocol
    )
    return Database(engine, url, path, identity, backup_path)


def _sign_old_anchors(connection: Connection, key: AuthorKey) -> None:
    """Sign the merge-log heads recorded before signatures existed (revision 0005).

    The study lead who upgrades vouches for the merges the study database holds at that
    moment, as every later merge does for its own head (:mod:`collarreader.db.anchors`).
    """
    rows = connection.execute(
        text("SELECT id, source_db_id, last_seq, last_hash FROM merge_log WHERE signature IS NULL")
    ).all()
    for row_id, db_id, last_seq, last_hash in rows:
        connection.execute(
            text("UPDATE merge_log SET signature = :sig WHERE id = :id"),
            {"sig": key.sign_head(str(db_id), int(last_seq), str(last_hash)), "id": row_id},
        )


def _check_identity(
    label: str,
    identity: DatabaseIdentity,
    *,
    role: DatabaseRole | str | None,
    reader_id: str | None,
    set_uuid: str | None,
    protocol: ProtocolIdentity | None,
) -> None:
    problems = []
    if role is not None and DatabaseRole(role) is not identity.role:
        problems.append(f"it is a {identity.role} database, not a {DatabaseRole(role)} database")
    if reader_id is not None and identity.reader_id != reader_id:
        problems.append(f"it belongs to reader {identity.reader_id!r}, not {reader_id!r}")
    if set_uuid is not None and identity.set_uuid not in (None, set_uuid):
        problems.append(f"it holds reading set {identity.set_uuid}, not {set_uuid}")
    if (
        protocol is not None
        and identity.protocol_sha256 is not None
        and identity.protocol_sha256 != protocol.sha256
    ):
        problems.append(
            f"it was read with protocol {identity.protocol_name} {identity.protocol_version} "
            f"(sha256 {identity.protocol_sha256[:12]}…), not {protocol.name} {protocol.version} "
            f"(sha256 {protocol.sha256[:12]}…)"
        )
    if problems:
        message = f"{label}: {'; '.join(problems)}. Choose the database made for this reading."
        raise DatabaseError(message)


def _create(
    engine: Engine,
    role: DatabaseRole | str | None,
    reader_id: str | None,
    set_uuid: str | None,
    protocol: ProtocolIdentity | None,
    *,
    key_commitment: str | None = None,
) -> DatabaseIdentity:
    if role is None:
        message = "Creating a database needs its role: 'reader' or 'study'."
        raise DatabaseError(message)
    role = DatabaseRole(role)
    if role is DatabaseRole.READER and not reader_id:
        message = "Creating a reader database needs the reader ID."
        raise DatabaseError(message)
    if role is DatabaseRole.STUDY and reader_id:
        message = "A study database has no reader ID."
        raise DatabaseError(message)
    with engine.connect() as plain:
        connection = plain.execution_options(collar_begin="IMMEDIATE")
        with connection.begin():
            run_migrations(connection)
            db_id = str(uuid.uuid4())
            at = utc_now_iso()
            key = author_key(reader_id or STUDY_LEAD)
            tx = Transaction(
                connection,
                db_id=db_id,
                actor=reader_id or STUDY_LEAD,
                at=at,
                lock_identity=False,
                signer=key,
            )
            tx.insert(
                "db_identity",
                {
                    "id": db_id,
                    "role": str(role),
                    "reader_id": reader_id,
                    "set_uuid": set_uuid,
                    "protocol_name": None if protocol is None else protocol.name,
                    "protocol_version": None if protocol is None else protocol.version,
                    "protocol_sha256": None if protocol is None else protocol.sha256,
                    "created_at": at,
                    "app_version": __version__,
                    "schema_revision": HEAD_REVISION,
                    "public_key": key.public_key,
                    "key_commitment": key_commitment,
                },
            )
            tx.seal()
            identity = read_identity(connection)
    if identity is None:  # pragma: no cover - the row was written just above
        message = "The new database has no identity row."
        raise DatabaseError(message)
    return identity
