"""The readings of a reader or study database, with the DICOM headers of their images.

What the SR and presentation-state writers need, gathered once: each reading with its reader,
case, scores, drawn marks and calibrations, and for every image it touches the header of the
referenced DICOM instance — the reading set's de-identified file without a key, the site's
original file (found through the key's manifest) with one. The headers give the SOP Class,
Study and Series, the patient module and the pixel description the writers copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from sqlalchemy import Table, select

from collarreader.db.engine import Database, open_database
from collarreader.db.export import TYPED_NOT_MEASURED, _calibration_text, _study_protocol
from collarreader.db.models import (
    AnnotationRow,
    CalibrationRow,
    CaseRow,
    ImageRow,
    Reader,
    ReadingRow,
    ScoreRow,
)
from collarreader.errors import InteropError, KeyFileError
from collarreader.protocol import Protocol
from collarreader.study.keyfile import Key, load_key

__all__ = ["ExportImage", "ExportReading", "ExportScore", "load_readings"]

_TABLES: dict[str, Table] = {
    name: model.__table__  # type: ignore[misc]
    for name, model in {
        "readers": Reader,
        "cases": CaseRow,
        "images": ImageRow,
        "readings": ReadingRow,
        "scores": ScoreRow,
        "annotations": AnnotationRow,
        "calibrations": CalibrationRow,
    }.items()
}


@dataclass(frozen=True)
class ExportImage:
    """An image a reading refers to, and the header of the instance the exports reference.

    ``timepoint`` is the label the reader saw; ``true_timepoint`` the real one when a key is
    given (else the label).
    """

    image_id: str
    view: str
    timepoint: str
    true_timepoint: str
    header: Dataset = field(repr=False)
    path: Path = field(repr=False, default=Path())

    @property
    def sop_instance_uid(self) -> str:
        """(0008,0018) *SOP Instance UID* of the referenced instance."""
        return str(self.header.SOPInstanceUID)

    @property
    def sop_class_uid(self) -> str:
        """(0008,0016) *SOP Class UID* of the referenced instance."""
        return str(self.header.SOPClassUID)


@dataclass(frozen=True)
class ExportScore:
    """A recorded value, with its mark (if measured) and the calibration text of a mm value.

    ``points_px`` : the mark's points, (x=column, y=row), origin at the centre of the
    top-left pixel, or () for a typed or derived value.
    """

    field_key: str
    timepoint: str
    view: str | None
    zone: str | None
    value: str
    unit: str | None
    source: str
    calibration: str
    image: ExportImage | None
    points_px: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class ExportMark:
    """A drawn mark (any tool) on one image: kind, zone, points in pixel (x, y)."""

    kind: str
    zone: str | None
    image: ExportImage
    points_px: tuple[tuple[float, float], ...]
    value_mm: float | None


@dataclass(frozen=True)
class ExportReading:
    """One reader's reading of one case, ready for the writers."""

    reading_id: str
    reader: str
    case_code: str
    kind: str
    joint: str
    side: str
    submitted: bool
    scores: tuple[ExportScore, ...]
    marks: tuple[ExportMark, ...]
    images: tuple[ExportImage, ...]


def _points(raw: Any) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y in (raw or ()))


def _read_header(path: Path, what: str) -> Dataset:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except FileNotFoundError:
        message = f"{path}: {what} not found. {_WHERE_HINT}"
        raise InteropError(message) from None
    except (InvalidDicomError, OSError, ValueError) as error:
        message = f"{path}: {what} cannot be read as DICOM ({error})."
        raise InteropError(message) from None


_WHERE_HINT = (
    "Without --key the images are read from the reading set (--set SETDIR); with --key from "
    "the sites' exports the key's manifest names: run where those files are."
)


class _Headers:
    """Headers of the referenced instances, read once each."""

    def __init__(self, setdir: Path | None, key: Key | None) -> None:
        self.setdir = setdir
        self.key = key
        self.cache: dict[str, tuple[Dataset, str, Path]] = {}

    def get(self, image: Any) -> tuple[Dataset, str, Path]:
        cached = self.cache.get(image.id)
        if cached is not None:
            return cached
        if self.key is not None:
            try:
                source = self.key.image_by_sop(image.sop_instance_uid)
            except KeyFileError as error:
                raise InteropError(str(error)) from None
            path = Path(self.key.manifest).parent / source.source
            header = _read_header(path, "source image")
            if str(header.get("SOPInstanceUID", "")) != source.sop_instance_uid:
                message = (
                    f"{path}: its SOP Instance UID is not the one the key records "
                    f"({source.sop_instance_uid}); the sites' export changed since prepare."
                )
                raise InteropError(message)
            result = (header, str(source.timepoint), path)
        else:
            if self.setdir is None:
                message = f"the images' headers are needed. {_WHERE_HINT}"
                raise InteropError(message)
            path = self.setdir / image.file
            header = _read_header(path, "reading-set image")
            if str(header.get("SOPInstanceUID", "")) != image.sop_instance_uid:
                message = (
                    f"{self.setdir / image.file}: not the image the database records "
                    f"({image.sop_instance_uid}); is {self.setdir} this database's reading set?"
                )
                raise InteropError(message)
            result = (header, str(image.timepoint), path)
        self.cache[image.id] = result
        return result


def load_readings(
    db: Database | str | Path,
    *,
    setdir: str | Path | None = None,
    key: str | Path | Key | None = None,
    protocol: Protocol | None = None,
) -> tuple[list[ExportReading], Protocol]:
    """Every reading of a reader or study database, with its images' headers.

    Parameters
    ----------
    db : an open database, or an SQLite path / database URL
    setdir : the reading set (for the de-identified headers when no key is given)
    key : the key file: reference the sites' original instances instead
    protocol : the scoring protocol, when it is not the shipped one the database records

    Raises
    ------
    InteropError
        A referenced file is missing or is not the instance the database records, the key
        belongs to another reading set, or the protocol is unknown.
    """
    database = db if isinstance(db, Database) else open_database(db, upgrade=False)
    try:
        known = _study_protocol(database, protocol)
        if known is None:
            message = (
                f"{database.label}: its protocol is not shipped with this version; give it "
                "with --protocol."
            )
            raise InteropError(message)
        key_data = key if isinstance(key, Key) or key is None else load_key(key)
        set_uuid = database.identity.set_uuid
        if key_data is not None and set_uuid is not None and key_data.set_uuid != set_uuid:
            message = f"{key}: the key of reading set {key_data.set_uuid}, not of {set_uuid}."
            raise InteropError(message)
        with database.read() as connection:
            rows = {
                name: {row.id: row for row in connection.execute(select(table))}
                for name, table in _TABLES.items()
            }
    finally:
        if not isinstance(db, Database):
            database.close()
    headers = _Headers(Path(setdir) if setdir is not None else None, key_data)
    readings = [
        _reading(reading, rows, headers)
        for reading in sorted(
            rows["readings"].values(),
            key=lambda r: (rows["readers"][r.reader_id].reader_code, r.case_id),
        )
    ]
    readings.sort(key=lambda r: (r.reader, r.case_code))
    return readings, known


def _reading(reading: Any, rows: dict[str, dict[str, Any]], headers: _Headers) -> ExportReading:
    case = rows["cases"][reading.case_id]
    primary_id = case.repeat_of_id or case.id
    images: dict[str, ExportImage] = {}

    def image(image_id: str) -> ExportImage:
        if image_id not in images:
            row = rows["images"][image_id]
            header, true_timepoint, path = headers.get(row)
            images[image_id] = ExportImage(
                image_id, row.view, row.timepoint, true_timepoint, header, path
            )
        return images[image_id]

    by_slot = {
        (row.timepoint, row.view): row.id
        for row in rows["images"].values()
        if row.case_id == primary_id
    }
    annotations = {
        row.id: row for row in rows["annotations"].values() if row.reading_id == reading.id
    }
    scores: list[ExportScore] = []
    for score in sorted(
        (s for s in rows["scores"].values() if s.reading_id == reading.id),
        key=lambda s: (s.timepoint, s.view or "", s.zone or "", s.field_key),
    ):
        annotation = annotations.get(score.annotation_id) if score.annotation_id else None
        calibration = ""
        if score.unit == "mm":
            calibration = _calibration(annotation, rows["calibrations"])
        image_id = (
            annotation.image_id
            if annotation is not None
            else by_slot.get((score.timepoint, score.view))
        )
        scores.append(
            ExportScore(
                field_key=score.field_key,
                timepoint=score.timepoint,
                view=score.view,
                zone=score.zone,
                value=score.value,
                unit=score.unit,
                source=score.source,
                calibration=calibration,
                image=image(image_id) if image_id is not None else None,
                points_px=_points(annotation.points_px) if annotation is not None else (),
            )
        )
    marks = tuple(
        ExportMark(row.kind, row.zone, image(row.image_id), _points(row.points_px), row.value_mm)
        for row in sorted(annotations.values(), key=lambda r: (r.created_at, r.id))
    )
    for row in rows["calibrations"].values():
        if row.reading_id == reading.id:
            marks += (
                ExportMark("calibration", None, image(row.image_id), _points(row.points_px), None),
            )
    # Every image the reader was shown is evidence, marked or not.
    for image_id in sorted(by_slot.values()):
        image(image_id)
    return ExportReading(
        reading_id=reading.id,
        reader=rows["readers"][reading.reader_id].reader_code,
        case_code=case.case_code,
        kind=str(case.kind),
        joint=case.joint,
        side=case.side,
        submitted=bool(reading.locked),
        scores=tuple(scores),
        marks=marks,
        images=tuple(images.values()),
    )


def _calibration(annotation: Any, calibrations: dict[str, Any]) -> str:
    """The tidy export's ``calibration_source`` text of a mm value."""
    if annotation is None:
        return TYPED_NOT_MEASURED
    if annotation.calibration_id is not None:
        return _calibration_text(calibrations[annotation.calibration_id])
    if annotation.value_mm is not None and annotation.spacing_source:
        return str(annotation.spacing_source)
    return "uncalibrated"
