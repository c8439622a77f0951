"""``collarreader simulate-reads``: every reader of a reading set, read by simulated readers.

Part of :mod:`collarreader.study.simulate` (see its docstring).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from collarreader.db.engine import Database, open_database
from collarreader.db.models import AnnotationRow, CalibrationRow, ScoreRow
from collarreader.db.repository import Repository
from collarreader.errors import ReadingSetError
from collarreader.imaging import Spacing
from collarreader.model import ProgressCallback
from collarreader.session import ReadingSession
from collarreader.study.keyfile import Key
from collarreader.study.readingset import open_reading_set
from collarreader.study.simulate.latent import _Image, _image_from_latent, _image_from_truth
from collarreader.study.simulate.profile import SimulationSummary, reader_profile
from collarreader.study.simulate.reader import _Clock, _load_truth, _read_header, _Reader

# ------------------------------------------------------------------------------ the command


def simulate_reads(
    setdir: str | Path,
    *,
    reader_id: str,
    db_path: str | Path,
    seed: int = 0,
    truth: str | Path | None = None,
    key: str | Path | Key | None = None,
    limit: int | None = None,
    progress: ProgressCallback | None = None,
) -> SimulationSummary:
    """Read a reader's whole worklist (repeats included) as a simulated reader.

    Parameters
    ----------
    setdir : the reading set; its integrity is checked first (every file's SHA-256)
    reader_id : the reader whose worklist is read (a reader of the set)
    db_path : the reader database, created when absent (role reader, this reader, the set's
        UUID and protocol); cases already submitted in it are left alone
    seed : makes the reader's tendencies and noise reproducible
    truth, key : the phantom's ``truth.json`` and the set's key file, together: values are
        truth + the reader's bias + noise. Without them, latent values per image.
    limit : read only the first ``limit`` cases of the worklist (a reader half-way through;
        a later run without it reads the rest)
    progress : called as ``progress(done, total)`` after each case

    Returns
    -------
    SimulationSummary

    Raises
    ------
    ReadingSetError
        The set is missing, tampered with (a file's hash differs) or has no worklist for the
        reader; the truth file is not the phantom's or lacks an image of the set.
    KeyFileError
        The key is missing, malformed, of another set, or lacks an image of the set.
    DatabaseError
        The database belongs to another reader, set or protocol, or cannot be opened.
    """
    started = time.perf_counter()
    if (truth is None) != (key is None):
        raise ReadingSetError(
            "simulate-reads: give --truth and --key together (the key maps the set's image "
            "codes to the truth's source paths), or neither."
        )
    reading_set = open_reading_set(setdir, verify=True)
    worklist = reading_set.worklist(reader_id)
    if limit is not None:
        worklist = worklist[: max(0, limit)]
    protocol = reading_set.protocol
    truths = None if truth is None or key is None else _load_truth(truth, key, reading_set)
    database = open_database(
        db_path,
        create=True,
        role="reader",
        reader_id=reader_id,
        set_uuid=reading_set.set_uuid,
        protocol=protocol,
        key_commitment=reading_set.key_commitment,
    )
    try:
        _relax_sync(database)
        clock = _Clock()
        repository = Repository(database)
        images: dict[str, _Image] = {}
        spacings: dict[str, Spacing | None] = {}
        session = ReadingSession(
            repository,
            reading_set,
            protocol,
            reader_id,
            clock=clock,
            spacing_for=spacings.get,
        )
        by_image = {image.image_code: image for image in reading_set.images}
        for case in session.cases:
            for image in case.images:
                if image.image_code in images:
                    continue
                rows, cols, spacing = _read_header(
                    reading_set.image_path(by_image[image.image_code])
                )
                spacings[image.image_code] = spacing
                if truths is not None:
                    images[image.image_code] = _image_from_truth(
                        reading_set.set_uuid, image, protocol, truths[image.image_code], spacing
                    )
                else:
                    images[image.image_code] = _image_from_latent(
                        reading_set.set_uuid,
                        image,
                        protocol=protocol,
                        rows=rows,
                        cols=cols,
                        spacing=spacing,
                    )
        reader = _Reader(
            session,
            protocol=protocol,
            profile=reader_profile(reader_id, seed),
            images=images,
            clock=clock,
            seed=seed,
            reader_id=reader_id,
        )
        by_code = {case.case_code: case for case in session.cases}
        submitted = already = 0
        if progress is not None:
            progress(0, len(worklist))
        for done, entry in enumerate(worklist, start=1):
            reading = repository.reading(repository.reading_uuid(entry.case_code, reader_id))
            if reading is not None and reading.locked:
                already += 1
            else:
                reader.read(by_code[entry.case_code])
                submitted += 1
            if progress is not None:
                progress(done, len(worklist))
        counts = _counts(repository)
    finally:
        database.close()
    return SimulationSummary(
        reader_id=reader_id,
        db_path=Path(db_path),
        set_uuid=reading_set.set_uuid,
        submitted=submitted,
        already_submitted=already,
        annotations=counts["annotations"],
        calibrations=counts["calibrations"],
        scores=counts["scores"],
        with_truth=truths is not None,
        seconds=time.perf_counter() - started,
    )


def _relax_sync(database: Database) -> None:
    """Commit without an fsync per gesture (``synchronous=NORMAL``, still crash-consistent).

    A human reader's gesture must be on disk when the screen shows it (``FULL``); a simulated
    reader that loses its last gestures to a power cut simply runs again, and an fsync per
    command would make it ten times slower.
    """
    if not database.is_sqlite:
        return
    database.engine.dispose()

    def normal(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous = NORMAL")

    event.listen(database.engine, "connect", normal)


def _counts(repository: Repository) -> dict[str, int]:
    result = {}
    with repository.database.read() as connection:
        for name, model in (
            ("annotations", AnnotationRow),
            ("calibrations", CalibrationRow),
            ("scores", ScoreRow),
        ):
            result[name] = int(
                connection.execute(select(func.count()).select_from(model.__table__)).scalar_one()
            )
    return result
