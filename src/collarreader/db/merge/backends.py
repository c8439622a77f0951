"""Reading a source and copying its events and rows in bulk, per target backend."""

from __future__ import annotations

import json
import sqlite3
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
)

from collarreader.db.audit import row_state
from collarreader.db.merge.common import _EVENT_COLUMNS, _chunks, _sqlite_uri
from collarreader.db.models import AUDITED_TABLES
from collarreader.errors import MergeError


class _Bulk(ABC):
    """Reading a source and copying its events and rows in bulk, per target backend.

    A backend says how to query the source (:meth:`_query`) and how its tables are named
    there (:meth:`_source_table`: ``src.x`` when ATTACHed to a SQLite target, ``x`` when read
    on its own); the queries shared by both backends are written once here.
    """

    db_id: str

    @abstractmethod
    def source_tail(self) -> tuple[int, str]: ...

    @abstractmethod
    def source_hash_at(self, seq: int) -> str | None: ...

    @abstractmethod
    def copy_events(self, after_seq: int) -> int: ...

    @abstractmethod
    def copy_rows(self, table: str) -> int: ...

    @abstractmethod
    def _query(self, sql: str, *parameters: Any) -> list[Any]: ...

    @abstractmethod
    def _source_table(self, name: str) -> str: ...

    def touched(self, after_seq: int, entities: Sequence[str]) -> dict[str, set[str]]:
        """Entity ids, per entity, that the source's events after ``after_seq`` touch."""
        result: dict[str, set[str]] = defaultdict(set)
        placeholders = ", ".join("?" for _ in entities)
        for entity, entity_id in self._query(
            f"SELECT DISTINCT entity, entity_id FROM {self._source_table('audit_events')} "  # noqa: S608
            f"WHERE seq > ? AND entity IN ({placeholders})",
            after_seq,
            *entities,
        ):
            result[str(entity)].add(str(entity_id))
        return result

    def new_events(self, after_seq: int) -> Iterator[tuple[str, str, str | None, str | None, int]]:
        """The source's own events after ``after_seq``: entity, id, before, after, seq."""
        for row in self._query(
            "SELECT entity, entity_id, before, after, seq "  # noqa: S608
            f"FROM {self._source_table('audit_events')} "
            "WHERE db_id = ? AND seq > ? ORDER BY seq",
            self.db_id,
            after_seq,
        ):
            yield (str(row[0]), str(row[1]), row[2], row[3], int(row[4]))

    def case_codes(self, reading_ids: Sequence[str]) -> list[str]:
        """Case codes of these readings in the source, sorted."""
        readings, cases = self._source_table("readings"), self._source_table("cases")
        codes: list[str] = []
        for chunk in _chunks(reading_ids):
            placeholders = ", ".join("?" for _ in chunk)
            codes.extend(
                str(row[0])
                for row in self._query(
                    f"SELECT c.case_code FROM {readings} r JOIN {cases} c ON c.id = r.case_id "  # noqa: S608
                    f"WHERE r.id IN ({placeholders})",
                    *chunk,
                )
            )
        return sorted(codes)

    def same_rows(self, entity: str, ids: Sequence[str]) -> set[str] | None:
        """Of these ids, those whose row the source and the study hold alike; None: unknown."""
        return None

    def rows_by_id(self, entity: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The source's live rows of ``entity`` with these ids, as row states."""
        table = AUDITED_TABLES[entity]
        names = list(table.columns.keys())
        columns = ", ".join(f'"{name}"' for name in names)
        result: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(ids):
            placeholders = ", ".join("?" for _ in chunk)
            for values in self._query(
                f"SELECT {columns} FROM {self._source_table(entity)} "  # noqa: S608
                f"WHERE id IN ({placeholders})",
                *chunk,
            ):
                record = dict(zip(names, values, strict=True))
                for column in table.columns:
                    if isinstance(column.type, JSON) and record[column.name] is not None:
                        record[column.name] = json.loads(record[column.name])
                result[str(record["id"])] = row_state(table, record)
        return result


def _columns(table: str) -> str:
    names = _EVENT_COLUMNS if table == "audit_events" else AUDITED_TABLES[table].columns.keys()
    return ", ".join(f'"{name}"' for name in names)


class _SqliteBulk(_Bulk):
    """The source attached to the target's connection as ``src``: INSERT … SELECT."""

    def __init__(self, connection: Connection, db_id: str) -> None:
        self.connection = connection
        self.db_id = db_id  # every query names it: the (db_id, seq) index orders by seq

    def _query(self, sql: str, *parameters: Any) -> list[Any]:
        return list(self.connection.exec_driver_sql(sql, parameters).all())

    def _source_table(self, name: str) -> str:
        return f"src.{name}"

    def same_rows(self, entity: str, ids: Sequence[str]) -> set[str]:
        """Of these ids, those whose row the source and the study hold alike.

        Compared in SQL, value by value: SQLite's ``IS`` is exact for text and numbers, and
        equal JSON text is equal JSON (different text only makes a row a candidate).
        """
        names = AUDITED_TABLES[entity].columns.keys()
        alike = " AND ".join(f'm."{name}" IS s."{name}"' for name in names)
        same: set[str] = set()
        for chunk in _chunks(ids):
            placeholders = ", ".join("?" for _ in chunk)
            same.update(
                str(row[0])
                for row in self._query(
                    f"SELECT s.id FROM src.{entity} s JOIN main.{entity} m ON m.id = s.id "  # noqa: S608
                    f"WHERE s.id IN ({placeholders}) AND {alike}",
                    *chunk,
                )
            )
        return same

    def source_tail(self) -> tuple[int, str]:
        rows = self._query(
            "SELECT seq, hash FROM src.audit_events WHERE db_id = ? ORDER BY seq DESC LIMIT 1",
            self.db_id,
        )
        return (int(rows[0][0]), str(rows[0][1])) if rows else (0, "")

    def source_hash_at(self, seq: int) -> str | None:
        rows = self._query(
            "SELECT hash FROM src.audit_events WHERE db_id = ? AND seq = ?", self.db_id, seq
        )
        return str(rows[0][0]) if rows else None

    def copy_events(self, after_seq: int) -> int:
        columns = _columns("audit_events")
        result = self.connection.exec_driver_sql(
            f"INSERT INTO main.audit_events ({columns}) SELECT {columns} "  # noqa: S608
            "FROM src.audit_events WHERE db_id = ? AND seq > ?",
            (self.db_id, after_seq),
        )
        return int(result.rowcount)

    def copy_rows(self, table: str) -> int:
        columns = _columns(table)
        result = self.connection.exec_driver_sql(
            f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM src.{table}"  # noqa: S608
        )
        return int(result.rowcount)


class _PostgresBulk(_Bulk):
    """The source read with sqlite3 (read-only), rows written with psycopg ``COPY``."""

    def __init__(self, path: Path, db_id: str) -> None:
        self.db_id = db_id  # every query names it: the (db_id, seq) index orders by seq
        self.connection: Connection | None = None
        self.source = sqlite3.connect(_sqlite_uri(path), uri=True, isolation_level=None)
        self.source.execute("BEGIN")

    def close(self) -> None:
        """Close the source."""
        self.source.close()

    def _query(self, sql: str, *parameters: Any) -> list[Any]:
        return self.source.execute(sql, parameters).fetchall()

    def _source_table(self, name: str) -> str:
        return name

    def source_tail(self) -> tuple[int, str]:
        rows = self._query(
            "SELECT seq, hash FROM audit_events WHERE db_id = ? ORDER BY seq DESC LIMIT 1",
            self.db_id,
        )
        return (int(rows[0][0]), str(rows[0][1])) if rows else (0, "")

    def source_hash_at(self, seq: int) -> str | None:
        rows = self._query(
            "SELECT hash FROM audit_events WHERE db_id = ? AND seq = ?", self.db_id, seq
        )
        return str(rows[0][0]) if rows else None

    def _copy(self, table: str, rows: Iterable[Sequence[Any]]) -> int:
        if self.connection is None:  # pragma: no cover - set before any copy
            raise MergeError("internal: no target connection for COPY")
        driver: Any = self.connection.connection.driver_connection
        count = 0
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table} ({_columns(table)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def copy_events(self, after_seq: int) -> int:
        cursor = self.source.execute(
            f"SELECT {_columns('audit_events')} FROM audit_events "  # noqa: S608
            "WHERE db_id = ? AND seq > ? ORDER BY seq",
            (self.db_id, after_seq),
        )
        return self._copy("audit_events", iter(cursor))

    def copy_rows(self, table: str) -> int:
        model = AUDITED_TABLES[table]
        booleans = [
            index for index, column in enumerate(model.columns) if column.type.python_type is bool
        ]
        cursor = self.source.execute(f"SELECT {_columns(table)} FROM {table}")  # noqa: S608

        def rows() -> Iterator[Sequence[Any]]:
            for row in cursor:
                if booleans:
                    values = list(row)
                    for index in booleans:
                        if values[index] is not None:
                            values[index] = bool(values[index])
                    yield values
                else:
                    yield row  # JSON columns travel as their stored text; json parses it

        return self._copy(table, rows())
