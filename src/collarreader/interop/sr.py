"""DICOM SR Measurement Reports (TID 1500), one per reading, written with highdicom.

Each reading becomes one Comprehensive SR document whose content is an *Imaging Measurement
Report* (TID 1500):

- the reader is the person observer (TID 1002), by the pseudonymous reader ID only;
- every value measured with a tool is a *planar ROI measurement group* (TID 1410): its region
  is an image region (SCOORD, pixel columns/rows of the source image, referenced by SOP Class
  and SOP Instance UID — plain radiographs have no 3-D frame of reference), its value a
  measurement in UCUM ``mm`` (or ``%``) whose *measurement method* codes the calibration used
  (e.g. ``manual: ball 25 mm``, or the header spacing's source);
- typed and derived values, and the categorical scores, are *measurement groups* (TID 1501) per
  time point, view and zone, referencing their image as the group's source image; categorical
  scores are qualitative evaluations with SNOMED CT values where a code exists (yes/no,
  present/absent, partial/complete) and codes of the local scheme
  :data:`collarreader.interop.codes.LOCAL_SCHEME` otherwise;
- every group carries the time point (TID 1502: the label the reader saw, or with the key the
  true time point), the joint and side as finding site, and the scoring protocol as the
  algorithm identification (name, version, and its SHA-256 as a parameter).

SCOORD coordinates follow DICOM (PS3.3 C.18.6.1.2): (0, 0) is the top-left *corner* of the
top-left pixel, so a stored point (x, y) — origin at that pixel's *centre* — is written as
(x + 0.5, y + 0.5). Free-text fields (the comment) are not exported: a PACS shows reports to
people outside the study, and free text is where identity slips in.

Without a key the SR references the reading set's de-identified instances (and carries the
set's pseudonymous patient); with the key it references the sites' original instances and
copies their patient and study, so it can be sent to the sites' PACS. UIDs are derived from
the reading's UUID, so exporting twice gives the same files.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
from highdicom.sr import CodedConcept
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from collarreader import __version__
from collarreader.errors import InteropError, ProtocolError
from collarreader.interop.codes import (
    PLAIN_RADIOGRAPHY,
    calibration_code,
    field_code,
    joint_code,
    laterality_code,
    local_code,
    unit_code,
    value_code,
)
from collarreader.interop.readings import ExportImage, ExportReading, ExportScore, load_readings
from collarreader.model import ProgressCallback
from collarreader.protocol import Field, FieldType, Protocol
from collarreader.study.keyfile import Key

__all__ = ["PIXEL_ORIGIN_OFFSET", "build_sr", "write_srs"]

PIXEL_ORIGIN_OFFSET = 0.5
"""Added to stored pixel coordinates (origin at the pixel centre) for DICOM's corner origin."""

_MANUFACTURER = "collarreader"
_SERIES_NUMBER = 9001


def _uid(*parts: str) -> str:
    return str(generate_uid(entropy_srcs=["collarreader", *parts]))


def _field(protocol: Protocol, key: str) -> Field | None:
    try:
        return protocol.field(key)
    except ProtocolError:
        return None


def _is_numeric(fld: Field | None, score: ExportScore) -> bool:
    if fld is not None and fld.type in {FieldType.CHOICE, FieldType.BOOL, FieldType.TEXT}:
        return False
    if fld is not None and fld.type is FieldType.DERIVED and fld.choices:
        return False
    try:
        float(score.value)
    except ValueError:
        return False
    return True


def _measurement(fld: Field | None, score: ExportScore) -> hd.sr.Measurement:
    name = field_code(fld) if fld is not None else local_code(score.field_key, score.field_key)
    method = calibration_code(score.calibration) if score.calibration else None
    return hd.sr.Measurement(
        name=name, value=float(score.value), unit=unit_code(score.unit), method=method
    )


def _region(score: ExportScore, image: ExportImage) -> hd.sr.ImageRegion:
    points = np.asarray(score.points_px, dtype=float) + PIXEL_ORIGIN_OFFSET
    graphic_type = hd.sr.GraphicTypeValues.POINT if len(points) == 1 else "POLYLINE"
    return hd.sr.ImageRegion(
        graphic_type=graphic_type,
        graphic_data=points if len(points) > 1 else points[0],
        source_image=hd.sr.SourceImageForRegion(image.sop_class_uid, image.sop_instance_uid),
    )


def _time_point(label: str, reading: ExportReading, keyed: bool) -> str:
    """The time point to report: the label the reader saw, or with the key the true one."""
    if keyed:
        for image in reading.images:
            if image.timepoint == label:
                return image.true_timepoint
    return label


def build_sr(
    reading: ExportReading, protocol: Protocol, *, keyed: bool, series_uid: str
) -> hd.sr.ComprehensiveSR:
    """The Measurement Report of one reading (see the module docstring).

    Raises
    ------
    InteropError
        The reading references no image (nothing to attach the report to).
    """
    if not reading.images:
        message = (
            f"reading of case {reading.case_code} by reader {reading.reader}: it references no "
            "image, so there is no study to attach a report to."
        )
        raise InteropError(message)
    algorithm = hd.sr.AlgorithmIdentification(
        name=f"collarreader protocol {protocol.name}",
        version=str(protocol.version),
        parameters=[f"sha256={protocol.sha256}"],
    )
    site = [
        hd.sr.FindingSite(
            anatomic_location=joint_code(reading.joint),
            laterality=laterality_code(reading.side),
        )
    ]
    groups: list[
        hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations
        | hd.sr.MeasurementsAndQualitativeEvaluations
    ] = []
    grouped: dict[tuple[str, str, str], list[ExportScore]] = defaultdict(list)
    for score in reading.scores:
        fld = _field(protocol, score.field_key)
        if fld is not None and fld.type is FieldType.TEXT:
            continue
        if score.points_px and score.image is not None and _is_numeric(fld, score):
            parts = (reading.case_code, score.timepoint, score.view, score.zone, score.field_key)
            identifier = " ".join(p for p in parts if p)
            groups.append(
                hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                    tracking_identifier=hd.sr.TrackingIdentifier(
                        uid=_uid(reading.reading_id, identifier), identifier=identifier[:64]
                    ),
                    referenced_region=_region(score, score.image),
                    time_point_context=hd.sr.TimePointContext(
                        _time_point(score.timepoint, reading, keyed)
                    ),
                    finding_sites=site,
                    algorithm_id=algorithm,
                    measurements=[_measurement(fld, score)],
                )
            )
        else:
            grouped[(score.timepoint, score.view or "", score.zone or "")].append(score)
    for (timepoint, view, zone), scores in sorted(grouped.items()):
        measurements = []
        evaluations = []
        for score in scores:
            fld = _field(protocol, score.field_key)
            if _is_numeric(fld, score):
                measurements.append(_measurement(fld, score))
            elif fld is not None:
                evaluations.append(
                    hd.sr.QualitativeEvaluation(field_code(fld), value_code(fld, score.value))
                )
        if not measurements and not evaluations:
            continue
        image = next((s.image for s in scores if s.image is not None), None)
        identifier = " ".join(p for p in (reading.case_code, timepoint, view, zone) if p)
        sources = (
            [hd.sr.SourceImageForMeasurementGroup(image.sop_class_uid, image.sop_instance_uid)]
            if image is not None
            else None
        )
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=_uid(reading.reading_id, identifier), identifier=identifier[:64]
                ),
                time_point_context=hd.sr.TimePointContext(_time_point(timepoint, reading, keyed)),
                finding_sites=site,
                algorithm_id=algorithm,
                source_images=sources,
                measurements=measurements or None,
                qualitative_evaluations=evaluations or None,
            )
        )
    observer = hd.sr.ObservationContext(
        observer_person_context=hd.sr.ObserverContext(
            observer_type=CodedConcept(codes.DCM.Person.value, "DCM", codes.DCM.Person.meaning),
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name=f"{reading.reader}^"  # the ID as family name: a PN, not a person
            ),
        )
    )
    report = hd.sr.MeasurementReport(
        observation_context=observer,
        procedure_reported=PLAIN_RADIOGRAPHY,
        imaging_measurements=groups or None,
        referenced_images=None if groups else [image.header for image in reading.images],
    )
    variant = "keyed" if keyed else "set"
    with warnings.catch_warnings():
        # The set's pseudonymous Patient's Name is one component by design.
        warnings.filterwarnings("ignore", "The string .* person name", UserWarning)
        document = hd.sr.ComprehensiveSR(
            evidence=[image.header for image in reading.images],
            content=report[0],
            series_instance_uid=series_uid,
            series_number=_SERIES_NUMBER,
            sop_instance_uid=_uid(reading.reading_id, "sr", variant),
            instance_number=1,
            manufacturer=_MANUFACTURER,
            is_complete=reading.submitted,
            series_description=f"collarreader reading {reading.reader}",
            software_versions=__version__,
        )
    # Protocol labels hold non-Latin-1 signs (≥, –): declare UTF-8 for every text value.
    document.SpecificCharacterSet = "ISO_IR 192"
    return document


def _write_atomic(dataset: hd.sr.ComprehensiveSR, target: Path) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        dataset.save_as(temporary, enforce_file_format=True)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_srs(
    db: str | Path,
    out: str | Path,
    *,
    setdir: str | Path | None = None,
    key: str | Path | Key | None = None,
    protocol: Protocol | None = None,
    progress: ProgressCallback | None = None,
) -> list[Path]:
    """Write one SR file per reading into ``out``; return the paths.

    Parameters
    ----------
    db : reader or study database (SQLite path or URL)
    out : folder, created when absent; files are named ``<reader>_<case code>.sr.dcm``
    setdir : the reading set (needed without ``key``)
    key : the key file: reference the sites' original instances
    protocol : the protocol when it is not a shipped one
    progress : ``progress(done, total)`` after each file

    Raises
    ------
    InteropError
        See :func:`collarreader.interop.readings.load_readings` and :func:`build_sr`.
    """
    readings, known = load_readings(db, setdir=setdir, key=key, protocol=protocol)
    return _write_each(readings, known, out, keyed=key is not None, progress=progress)


def _write_each(
    readings: Sequence[ExportReading],
    protocol: Protocol,
    out: str | Path,
    *,
    keyed: bool,
    progress: ProgressCallback | None,
) -> list[Path]:
    series_uid = _uid(*(r.reading_id for r in readings), "sr", str(keyed))
    # Build every document before writing one: a reading that cannot be reported leaves no
    # half-written export behind.
    datasets = [
        build_sr(reading, protocol, keyed=keyed, series_uid=series_uid) for reading in readings
    ]
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        message = f"{folder}: cannot create the output folder ({error.strerror or error})."
        raise InteropError(message) from None
    written = []
    for done, (reading, dataset) in enumerate(zip(readings, datasets, strict=True), start=1):
        target = folder / f"{reading.reader}_{reading.case_code}.sr.dcm"
        _write_atomic(dataset, target)
        written.append(target)
        if progress is not None:
            progress(done, len(readings))
    return written
