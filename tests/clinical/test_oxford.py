"""Oxford Hip/Knee Score: validation, imputation, rounding, bands and the legacy scale."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collarreader.clinical.oxford import (
    ITEM_NAMES,
    Instrument,
    OxfordBand,
    OxfordRecord,
    OxfordScale,
    Timepoint,
    band_for_total,
    check_item,
    from_legacy_items,
    legacy_total_to_current,
    score,
)
from collarreader.errors import ClinicalDataError


def items_with_total(total: int) -> list[int | None]:
    """Twelve complete answers summing to ``total`` (0–48)."""
    fours, rest = divmod(total, 4)
    items: list[int | None] = [4] * fours
    if len(items) < 12:
        items.append(rest)
    items.extend([0] * (12 - len(items)))
    assert sum(v for v in items if v is not None) == total
    return items


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, OxfordBand.SEVERE),
        (19, OxfordBand.SEVERE),
        (20, OxfordBand.MODERATE_TO_SEVERE),
        (29, OxfordBand.MODERATE_TO_SEVERE),
        (30, OxfordBand.MILD_TO_MODERATE),
        (39, OxfordBand.MILD_TO_MODERATE),
        (40, OxfordBand.SATISFACTORY),
        (48, OxfordBand.SATISFACTORY),
    ],
)
def test_band_boundaries_of_complete_questionnaires(total: int, band: OxfordBand) -> None:
    result = score(items_with_total(total), "hip")
    assert result.total == total
    assert result.total_unrounded == total
    assert result.band is band
    assert result.n_missing == 0
    assert result.imputed is False
    assert band_for_total(total) is band


def test_band_words_are_the_published_labels() -> None:
    assert [band.value for band in OxfordBand] == [
        "severe",
        "moderate to severe",
        "mild to moderate",
        "satisfactory",
    ]


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (19.49, OxfordBand.SEVERE),
        (19.5, OxfordBand.MODERATE_TO_SEVERE),
        (29.4, OxfordBand.MODERATE_TO_SEVERE),
        (29.5, OxfordBand.MILD_TO_MODERATE),
        (39.5, OxfordBand.SATISFACTORY),
        (Fraction(79, 2), OxfordBand.SATISFACTORY),
    ],
)
def test_band_of_a_fractional_total_rounds_half_up(total: float, band: OxfordBand) -> None:
    assert band_for_total(total) is band


@pytest.mark.parametrize("total", [-1, 48.5, 49, math.nan, math.inf, True, "30", None])
def test_band_of_an_impossible_total_is_refused(total: object) -> None:
    with pytest.raises(ClinicalDataError, match="Oxford total"):
        band_for_total(total)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("items", "total", "unrounded", "band"),
    [
        # 1 missing: 12 × 43 / 11 = 46.909… → 47
        ([4] * 10 + [3, None], 47, 12 * 43 / 11, OxfordBand.SATISFACTORY),
        # 1 missing: 12 × 16 / 11 = 17.4545… → 17 (rounds down)
        ([2] * 8 + [0, 0, 0, None], 17, 12 * 16 / 11, OxfordBand.SEVERE),
        # 1 missing: 12 × 18 / 11 = 19.636… → 20: the band follows the rounded total
        ([2] * 9 + [0, 0, None], 20, 12 * 18 / 11, OxfordBand.MODERATE_TO_SEVERE),
        # 2 missing: 12 × 25 / 10 = 30 exactly
        ([None, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, None], 30, 30.0, OxfordBand.MILD_TO_MODERATE),
        # 2 missing: 12 × 23 / 10 = 27.6 → 28
        ([3, 3, 3, None, 2, 2, 2, 2, 2, 2, 2, None], 28, 27.6, OxfordBand.MODERATE_TO_SEVERE),
        # 2 missing, all answered 0
        ([0] * 10 + [None, None], 0, 0.0, OxfordBand.SEVERE),
    ],
)
def test_one_or_two_missing_items_are_imputed_with_the_mean(
    items: list[int | None], total: int, unrounded: float, band: OxfordBand
) -> None:
    result = score(items, "knee")
    assert result.total == total
    assert isinstance(result.total, int)
    assert result.total_unrounded == pytest.approx(unrounded, abs=1e-12)
    assert result.band is band
    assert result.imputed is True
    assert result.n_missing == items.count(None)
    # the answers are kept as entered, never filled in
    assert result.items == tuple(items)


@pytest.mark.parametrize("n_missing", [3, 4, 12])
def test_more_than_two_missing_items_give_no_score(n_missing: int) -> None:
    items: list[int | None] = [4] * (12 - n_missing) + [None] * n_missing
    result = score(items, "hip")
    assert result.total is None
    assert result.total_unrounded is None
    assert result.band is None
    assert result.n_missing == n_missing
    assert result.imputed is False
    assert result.scored is False


@settings(max_examples=300, deadline=None)
@given(
    answers=st.lists(st.integers(0, 4), min_size=12, max_size=12),
    missing=st.sets(st.integers(0, 11), max_size=2),
)
def test_imputed_total_equals_the_rounded_mean_times_twelve(
    answers: list[int], missing: set[int]
) -> None:
    items: list[int | None] = [None if i in missing else v for i, v in enumerate(answers)]
    answered = [v for v in items if v is not None]
    result = score(items, "hip")
    exact = Fraction(12 * sum(answered), len(answered))
    assert result.total == math.floor(exact + Fraction(1, 2))
    assert 0 <= result.total <= 48
    # 12·S/11 and 12·S/10 never end in exactly .5: the half-up rule never decides a score
    assert exact - math.floor(exact) != Fraction(1, 2)


def test_nan_counts_as_missing_and_whole_floats_and_numpy_integers_are_accepted() -> None:
    items = [3.0, np.int64(4), math.nan, *([2] * 9)]
    result = score(items, Instrument.HIP)
    assert result.items == (3, 4, None, *([2] * 9))
    assert all(type(v) is int for v in result.items if v is not None)
    assert result.n_missing == 1
    assert result.total == round(12 * 25 / 11)  # 27.27… → 27


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (5, "5 is outside 0–4"),
        (-1, "-1 is outside 0–4"),
        ("3", "is text, not a number"),
        (2.5, "2.5 is not a whole number"),
        (math.inf, "is not a whole number"),
        (True, "yes/no value"),
        (False, "yes/no value"),
        (object(), "is not a number"),
    ],
)
def test_each_kind_of_invalid_item_is_refused_and_named(bad: object, message: str) -> None:
    items: list[object] = [4] * 12
    items[6] = bad
    with pytest.raises(ClinicalDataError, match=message) as caught:
        score(items, "hip")
    assert "q7:" in str(caught.value)
    assert "q6:" not in str(caught.value)


def test_every_bad_item_is_listed_in_one_error() -> None:
    items: list[object] = [4] * 12
    items[0], items[4], items[11] = 9, "x", 1.5
    with pytest.raises(ClinicalDataError) as caught:
        score(items, "knee")
    text = str(caught.value)
    assert text.startswith("Oxford knee score: ")
    for name in ("q1: 9", "q5: 'x'", "q12: 1.5"):
        assert name in text
    assert ".;" not in text
    assert ".." not in text


def test_a_five_suggests_the_legacy_conversion() -> None:
    with pytest.raises(ClinicalDataError, match="from_legacy_items"):
        score([1, 2, 5, 3, 1, 1, 2, 2, 1, 1, 1, 1], "hip")
    with pytest.raises(ClinicalDataError) as caught:
        score([0, 2, 7, 3, 1, 1, 2, 2, 1, 1, 1, 1], "hip")
    assert "legacy" not in str(caught.value)


@pytest.mark.parametrize("length", [0, 11, 13])
def test_a_list_that_is_not_twelve_long_is_refused(length: int) -> None:
    with pytest.raises(ClinicalDataError, match=f"needs 12 answers .*got {length}"):
        score([4] * length, "hip")


@pytest.mark.parametrize("items", ["444444444444", {"q1": 4}, 48, None])
def test_items_that_are_not_a_list_are_refused(items: object) -> None:
    with pytest.raises(ClinicalDataError, match="items must be a list"):
        score(items, "hip")  # type: ignore[arg-type]


@pytest.mark.parametrize("instrument", ["shoulder", "", "hips", None, 1])
def test_an_unknown_instrument_is_refused(instrument: object) -> None:
    with pytest.raises(ClinicalDataError, match="not an Oxford instrument"):
        score([4] * 12, instrument)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "instrument"),
    [("HIP", Instrument.HIP), (" knee ", Instrument.KNEE), ("OHS", Instrument.HIP)],
)
def test_instrument_names_are_matched_loosely(text: str, instrument: Instrument) -> None:
    assert score([4] * 12, text).instrument is instrument


def test_the_score_is_frozen() -> None:
    result = score([4] * 12, "hip")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.total = 0  # type: ignore[misc]


def test_items_are_named_by_number_only() -> None:
    assert ITEM_NAMES == ("q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9", "q10", "q11", "q12")


# ---------------------------------------------------------------- legacy 12–60 scale


def test_legacy_items_are_reversed_onto_zero_to_four() -> None:
    legacy = [1, 2, 3, 4, 5, None, 1, 1, 5, 5, 2, 4]
    assert from_legacy_items(legacy) == (4, 3, 2, 1, 0, None, 4, 4, 0, 0, 3, 1)


@pytest.mark.parametrize(("bad", "message"), [(0, "0 is outside 1–5"), (6, "6 is outside 1–5")])
def test_legacy_items_outside_one_to_five_are_refused(bad: int, message: str) -> None:
    legacy: list[int | None] = [1] * 12
    legacy[2] = bad
    with pytest.raises(ClinicalDataError, match=message) as caught:
        from_legacy_items(legacy)
    assert "q3:" in str(caught.value)


def test_legacy_items_must_be_twelve() -> None:
    with pytest.raises(ClinicalDataError, match="got 10"):
        from_legacy_items([1] * 10)


@pytest.mark.parametrize(
    ("legacy", "current"), [(12, 48), (60, 0), (36, 24), (27.0, 33), (27.5, 32.5)]
)
def test_legacy_total_is_sixty_minus_the_old_total(legacy: float, current: float) -> None:
    converted = legacy_total_to_current(legacy)
    assert converted == current
    assert type(converted) is type(current)


@pytest.mark.parametrize("bad", [11, 61, 0, 48.5 + 12.0, "30", True, math.nan])
def test_legacy_totals_outside_twelve_to_sixty_are_refused(bad: object) -> None:
    with pytest.raises(ClinicalDataError, match="legacy Oxford total"):
        legacy_total_to_current(bad)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=12, max_size=12))
def test_converting_items_or_the_total_gives_the_same_score(legacy: list[int]) -> None:
    assert score(from_legacy_items(legacy), "hip").total == legacy_total_to_current(sum(legacy))


def test_check_item_on_the_legacy_scale() -> None:
    assert check_item(5, scale=OxfordScale.LEGACY) == 5
    with pytest.raises(ClinicalDataError, match="0 is outside 1–5"):
        check_item(0, scale=OxfordScale.LEGACY)


# ---------------------------------------------------------------- records


def make_record(**changes: object) -> OxfordRecord:
    fields: dict[str, object] = {
        "patient": "P001",
        "instrument": Instrument.HIP,
        "timepoint": Timepoint.SIX_MONTHS,
        "date": dt.date(2024, 3, 1),
        "items_as_entered": (4, 4, 3, 3, 2, 2, 4, 4, 3, 3, None, 4),
        "source": "paper",
    }
    fields.update(changes)
    return OxfordRecord(**fields)  # type: ignore[arg-type]


def test_record_keys_and_hash_ignore_the_row_but_not_the_content() -> None:
    first = make_record(row=2)
    again = make_record(row=17)
    assert first == again
    assert first.natural_key == ("P001", "hip", "6m")
    assert first.content_sha256 == again.content_sha256
    assert len(first.content_sha256) == 64
    changed = make_record(items_as_entered=(4, 4, 3, 3, 2, 2, 4, 4, 3, 3, 0, 4))
    assert changed.natural_key == first.natural_key
    assert changed.content_sha256 != first.content_sha256
    assert make_record(source="phone").content_sha256 != first.content_sha256
    assert make_record(date=dt.date(2024, 3, 2)).content_sha256 != first.content_sha256


def test_a_legacy_record_keeps_its_answers_and_scores_them_converted() -> None:
    record = make_record(
        scale=OxfordScale.LEGACY, items_as_entered=(1, 1, 2, 2, 3, 3, 1, 1, 2, 2, None, 5)
    )
    assert record.items_as_entered == (1, 1, 2, 2, 3, 3, 1, 1, 2, 2, None, 5)
    assert record.items == (4, 4, 3, 3, 2, 2, 4, 4, 3, 3, None, 0)
    assert record.score.total == round(12 * 32 / 11)  # 34.9… → 35
    assert record.content_sha256 != make_record(items_as_entered=record.items).content_sha256


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"patient": ""}, "patient: the study ID is empty"),
        ({"patient": " P001"}, "leading or trailing spaces"),
        ({"instrument": "hip"}, "instrument: 'hip' is not an Instrument"),
        ({"timepoint": "6m"}, "timepoint: '6m' is not a Timepoint"),
        ({"date": dt.datetime(2024, 3, 1, 10, 0)}, "date: .* is not a date"),
        ({"items_as_entered": (5,) * 12}, "q1: 5 is outside 0–4"),
        ({"items_as_entered": [4] * 12}, "must be a tuple"),
        ({"items_as_entered": (True,) * 12}, "must be a tuple of int"),
    ],
)
def test_an_invalid_record_cannot_be_made(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ClinicalDataError, match=message):
        make_record(**changes)
