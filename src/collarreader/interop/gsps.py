"""Grayscale Softcopy Presentation States of the readers' marks, written with highdicom.

One GSPS per reading and marked image, so a PACS viewer (Weasis, OHIF) shows a reader's marks
on the image: every drawn mark (interface line, bridged segment, radiolucent line, caliper,
calibration line) is a graphic object on a layer named for the reader, labelled with its tool
and zone (and value in mm, when it has one), and the presentation keeps the image's default
window — the window the reader was first shown, from (0028,1050) *Window Center* / (0028,1051)
*Window Width* or the loader's data window — as the softcopy VOI LUT.

Graphic Data in PIXEL units follow DICOM (PS3.3 C.10.5.1.2): (0, 0) is the top-left *corner*
of the top-left pixel, so a stored point (x, y) — origin at that pixel's centre — is written as
(x + 0.5, y + 0.5) (:data:`collarreader.interop.sr.PIXEL_ORIGIN_OFFSET`).

Without a key the states reference the reading set's instances; with the key the sites'
originals (see :mod:`collarreader.interop.readings`).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.uid import generate_uid

from collarreader import __version__
from collarreader.errors import CollarReaderError, InteropError
from collarreader.imaging import load_radiograph
from collarreader.interop.readings import ExportImage, ExportMark, ExportReading, load_readings
from collarreader.interop.sr import PIXEL_ORIGIN_OFFSET
from collarreader.model import ProgressCallback
from collarreader.protocol import Protocol
from collarreader.study.keyfile import Key

__all__ = ["build_presentation_state", "write_presentation_states"]

_SERIES_NUMBER = 9002
_TEXT_MAX = 64


def _uid(*parts: str) -> str:
    return str(generate_uid(entropy_srcs=["collarreader", *parts]))


def _graphic(mark: ExportMark) -> hd.pr.GraphicObject:
    points = np.asarray(mark.points_px, dtype=float) + PIXEL_ORIGIN_OFFSET
    single = len(points) == 1
    return hd.pr.GraphicObject(
        graphic_type="POINT" if single else "POLYLINE",
        graphic_data=points,
        units="PIXEL",
    )


def _label(mark: ExportMark) -> str:
    text = mark.kind.replace("_", " ")
    if mark.zone:
        text += f" {mark.zone}"
    if mark.value_mm is not None:
        text += f" {mark.value_mm:.1f} mm"
    return text[:_TEXT_MAX]


def _window(image: ExportImage) -> tuple[float, float]:
    try:
        window = load_radiograph(image.path).window
    except CollarReaderError as error:
        message = f"{image.path}: cannot read the image for its window ({error})."
        raise InteropError(message) from None
    return float(window.center), max(float(window.width), 1.0)


def build_presentation_state(
    reading: ExportReading, image: ExportImage, marks: list[ExportMark], *, series_uid: str
) -> hd.pr.GrayscaleSoftcopyPresentationState:
    """The GSPS of one reader's marks on one image (see the module docstring)."""
    layer = hd.pr.GraphicLayer(
        layer_name=f"READER {reading.reader}"[:16].upper(),
        order=1,
        description=f"collarreader marks of reader {reading.reader}",
    )
    drawable = [mark for mark in marks if mark.points_px]
    texts = [
        hd.pr.TextObject(
            text_value=_label(mark),
            units="PIXEL",
            anchor_point=(
                mark.points_px[0][0] + PIXEL_ORIGIN_OFFSET,
                mark.points_px[0][1] + PIXEL_ORIGIN_OFFSET,
            ),
        )
        for mark in drawable
    ]
    annotation = hd.pr.GraphicAnnotation(
        referenced_images=[image.header],
        graphic_layer=layer,
        graphic_objects=[_graphic(mark) for mark in drawable] or None,
        text_objects=texts or None,
    )
    center, width = _window(image)
    voi = hd.pr.SoftcopyVOILUTTransformation(
        window_center=[center],
        window_width=[width],
        window_explanation=["default window shown to the reader"],
        referenced_images=hd.ReferencedImageSequence(referenced_images=[image.header]),
    )
    with warnings.catch_warnings():
        # The set's pseudonymous Patient's Name is one component by design.
        warnings.filterwarnings("ignore", "The string .* person name", UserWarning)
        return hd.pr.GrayscaleSoftcopyPresentationState(
            referenced_images=[image.header],
            series_instance_uid=series_uid,
            series_number=_SERIES_NUMBER,
            sop_instance_uid=_uid(reading.reading_id, image.sop_instance_uid, "gsps"),
            instance_number=1,
            manufacturer="collarreader",
            manufacturer_model_name="collarreader",
            software_versions=__version__,
            device_serial_number="0",
            content_label=f"READER_{reading.reader}"[:16].upper().replace("-", "_"),
            content_description=f"marks of reader {reading.reader}, case {reading.case_code}",
            graphic_layers=[layer],
            graphic_annotations=[annotation],
            voi_lut_transformations=[voi],
            content_creator_name=f"{reading.reader}^",
        )


def write_presentation_states(
    db: str | Path,
    out: str | Path,
    *,
    setdir: str | Path | None = None,
    key: str | Path | Key | None = None,
    protocol: Protocol | None = None,
    progress: ProgressCallback | None = None,
) -> list[Path]:
    """Write one GSPS per reading and marked image into ``out``; return the paths.

    Files are named ``<reader>_<case code>_<time point>_<view>.pr.dcm``. Parameters and errors
    as :func:`collarreader.interop.sr.write_srs`.
    """
    readings, _ = load_readings(db, setdir=setdir, key=key, protocol=protocol)
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        message = f"{folder}: cannot create the output folder ({error.strerror or error})."
        raise InteropError(message) from None
    series_uid = _uid(*(r.reading_id for r in readings), "gsps", str(key is not None))
    jobs: list[tuple[ExportReading, ExportImage, list[ExportMark]]] = []
    for reading in readings:
        by_image: dict[str, list[ExportMark]] = {}
        for mark in reading.marks:
            by_image.setdefault(mark.image.image_id, []).append(mark)
        jobs.extend((reading, marks[0].image, marks) for marks in by_image.values())
    states = [
        build_presentation_state(reading, image, marks, series_uid=series_uid)
        for reading, image, marks in jobs
    ]
    written = []
    for done, ((reading, image, _), state) in enumerate(zip(jobs, states, strict=True), start=1):
        name = f"{reading.reader}_{reading.case_code}_{image.timepoint}_{image.view}.pr.dcm"
        target = folder / name
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
        os.close(handle)
        try:
            state.save_as(temporary, enforce_file_format=True)
            Path(temporary).replace(target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.append(target)
        if progress is not None:
            progress(done, len(jobs))
    return written
