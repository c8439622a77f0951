"""Domain types: enums convert from the strings files and databases hold."""

from __future__ import annotations

import re

import pytest

from collarreader.model import (
    AnnotationKind,
    Case,
    CaseKind,
    ImageRef,
    ScoreSource,
    utc_now_iso,
)


def test_case_finds_its_images_by_code() -> None:
    image = ImageRef("IMG1", "AP", "6m", "2.25.1", "images/IMG1.dcm")
    case = Case("C1", "hip", "L", (image,))
    assert case.image("IMG1") is image
    assert case.kind is CaseKind.PRIMARY
    with pytest.raises(KeyError, match="no image IMG2"):
        case.image("IMG2")


def test_enums_round_trip_their_stored_text() -> None:
    assert AnnotationKind("rll") is AnnotationKind.RLL
    assert str(ScoreSource.MEASURED) == "measured"
    assert CaseKind("repeat") is CaseKind.REPEAT


def test_timestamps_are_utc_iso_with_microseconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", utc_now_iso())
