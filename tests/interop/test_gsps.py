"""Grayscale Softcopy Presentation States: the marks read back where they were stored."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from collarreader.cli import main
from collarreader.db.engine import open_database
from collarreader.interop.gsps import write_presentation_states
from collarreader.interop.sr import PIXEL_ORIGIN_OFFSET
from collarreader.study.keyfile import load_key
from collarreader.study.readingset import open_reading_set

GSPS_CLASS = "1.2.840.10008.5.1.4.1.1.11.1"


def _stored_marks(db: Path) -> dict[str, Counter[tuple[tuple[float, float], ...]]]:
    """SOP Instance UID (the set's) → the pixel points of every mark and calibration line."""
    database = open_database(db, upgrade=False)
    try:
        with database.read() as connection:
            rows = connection.exec_driver_sql(
                "SELECT i.sop_instance_uid, a.points_px FROM annotations a "
                "JOIN images i ON i.id = a.image_id "
                "UNION ALL SELECT i.sop_instance_uid, c.points_px FROM calibrations c "
                "JOIN images i ON i.id = c.image_id"
            ).all()
    finally:
        database.close()
    marks: dict[str, Counter[tuple[tuple[float, float], ...]]] = {}
    for uid, points in rows:
        shape = tuple((round(x, 3), round(y, 3)) for x, y in json.loads(points))
        marks.setdefault(uid, Counter())[shape] += 1
    return marks


def _read_back(paths: list[Path]) -> dict[str, Counter[tuple[tuple[float, float], ...]]]:
    found: dict[str, Counter[tuple[tuple[float, float], ...]]] = {}
    for path in paths:
        state = pydicom.dcmread(path)
        assert state.SOPClassUID == GSPS_CLASS
        for annotation in state.GraphicAnnotationSequence:
            uid = annotation.ReferencedImageSequence[0].ReferencedSOPInstanceUID
            for graphic in annotation.GraphicObjectSequence:
                assert graphic.GraphicAnnotationUnits == "PIXEL"
                data = [float(v) - PIXEL_ORIGIN_OFFSET for v in graphic.GraphicData]
                shape = tuple(
                    (round(x, 3), round(y, 3)) for x, y in zip(data[::2], data[1::2], strict=True)
                )
                found.setdefault(uid, Counter())[shape] += 1
    return found


def _assert_same_marks(
    found: dict[str, Counter[tuple[tuple[float, float], ...]]],
    stored: dict[str, Counter[tuple[tuple[float, float], ...]]],
) -> None:
    """Same images, and per image the same shapes within float32's precision (FL)."""
    assert set(found) == set(stored)
    for uid, shapes in stored.items():
        left = list(found[uid].elements())
        for shape in shapes.elements():
            match = next(
                (
                    other
                    for other in left
                    if len(other) == len(shape)
                    and np.allclose(np.array(other), np.array(shape), atol=2e-3)
                ),
                None,
            )
            assert match is not None, f"{uid}: mark {shape} not in the presentation state"
            left.remove(match)
        assert not left, f"{uid}: extra graphics {left}"


def test_graphic_annotations_are_the_stored_marks(read_study: Any, tmp_path: Path) -> None:
    paths = write_presentation_states(
        read_study.readers["A"], tmp_path / "pr", setdir=read_study.setdir
    )
    assert paths
    stored = _stored_marks(read_study.readers["A"])
    assert sum(sum(c.values()) for c in stored.values()) > 10
    _assert_same_marks(_read_back(paths), stored)


def test_the_window_is_the_images_default_window(read_study: Any, tmp_path: Path) -> None:
    from collarreader.imaging import load_radiograph

    paths = write_presentation_states(
        read_study.readers["A"], tmp_path / "pr", setdir=read_study.setdir
    )
    reading_set = open_reading_set(read_study.setdir)
    by_uid = {image.sop_instance_uid: image for image in reading_set.images}
    state = pydicom.dcmread(paths[0])
    voi = state.SoftcopyVOILUTSequence[0]
    uid = voi.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    window = load_radiograph(reading_set.image_path(by_uid[uid])).window
    assert (float(voi.WindowCenter), float(voi.WindowWidth)) == pytest.approx(
        (window.center, window.width)
    )


def test_with_the_key_the_states_reference_the_originals(
    read_study: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pr"
    code = main(
        [
            "export",
            str(read_study.study),
            "--format",
            "gsps",
            "--out",
            str(out),
            "--key",
            str(read_study.key),
        ]
    )
    assert code == 0
    paths = [Path(line) for line in capsys.readouterr().out.splitlines()]
    key = load_key(read_study.key)
    original = {i.deidentified_sop_instance_uid: i.sop_instance_uid for i in key.images.values()}
    stored = _stored_marks(read_study.study)
    expected = {original[uid]: marks for uid, marks in stored.items()}
    _assert_same_marks(_read_back(paths), expected)
