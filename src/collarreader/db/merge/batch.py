"""Merging a batch of sources: :func:`merge_databases`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from collarreader.db.engine import Database, database_url
from collarreader.db.merge.apply import _merge_source
from collarreader.db.merge.newfile import check_target_path, discard, publish
from collarreader.db.merge.report import MergeReport, SourceOutcome, _problems_text
from collarreader.db.merge.target import _check_against, _open_target
from collarreader.db.merge.validation import _inspected
from collarreader.errors import MergeError
from collarreader.model import ProgressCallback


def merge_databases(
    target: str | Path,
    sources: Sequence[str | Path],
    *,
    progress: ProgressCallback | None = None,
) -> MergeReport:
    """Merge reader databases into a study database (created when absent).

    Each source is checked completely, then merged in its own transaction; while one source
    is merged, the next ones are checked in worker processes (large batches).

    Parameters
    ----------
    target : the study database: SQLite path or SQLAlchemy URL (``postgresql://…``); created
        (role ``study``, the reading set and protocol of the first accepted source) when
        absent
    sources : reader databases (SQLite files), merged in this order
    progress : called as ``progress(done, total)`` after each source

    Returns
    -------
    MergeReport
        Per source: merged, updated (newer copy) or already merged, with row counts.

    Raises
    ------
    MergeError
        When any source was refused, after the others were merged: naming each refused file
        and the reason (not a reader database of ours, damaged or truncated, another reading
        set or protocol, an audit chain or rows that do not verify, a fork of an already
        merged database, readings the study already holds from another database of the same
        reader) and listing what was merged. A refused source leaves the study database as
        it was; when every source is refused, a new study database is not even created.
    DatabaseError
        When the target cannot be opened or created, or is not a study database.
    """
    started = time.perf_counter()
    if not sources:
        raise MergeError("No source databases given: name the readers' .sqlite files.")
    paths = [Path(given).expanduser().resolve() for given in sources]
    final = database_url(target)[1]
    notes = check_target_path(final) if final is not None else []
    problems: list[str] = []
    outcomes: list[SourceOutcome] = []
    database: Database | None = None
    created = False
    if progress is not None:
        progress(0, len(paths))
    try:
        for done, result in enumerate(_inspected(paths), start=1):
            if isinstance(result, MergeError):
                problems.append(str(result))
            else:
                if database is None:
                    database, created = _open_target(target, result)
                identity = database.identity
                try:
                    _check_against(
                        result,
                        identity.set_uuid or "",
                        identity.protocol_sha256 or "",
                        str(final) if final is not None else database.label,
                    )
                    outcomes.append(_merge_source(database, result))
                except MergeError as error:
                    problems.append(str(error))
            if progress is not None:
                progress(done, len(paths))
    except BaseException:
        if database is not None:
            database.close()
            if created and database.path is not None:
                discard(database.path)
        raise
    if database is not None:
        database.close()
        if created and final is not None and database.path is not None:
            # A new SQLite study database takes its name only now, complete.
            if outcomes:
                publish(database.path, final)
            else:
                discard(database.path)
                created = False
    report = MergeReport(
        target=str(target) if database is None else (str(final) if final else database.label),
        created=created,
        notes=tuple(notes),
        sources=tuple(outcomes),
        seconds=time.perf_counter() - started,
    )
    if problems:
        raise MergeError(_problems_text(problems, report, len(paths)))
    return report
