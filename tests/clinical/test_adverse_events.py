"""Adverse events: vocabulary, parsing from text, validation, keys."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from collarreader.clinical.adverse_events import (
    Action,
    AdverseEvent,
    Category,
    Outcome,
    Relation,
    Severity,
    check_date,
    parse_action,
    parse_category,
    parse_iso_date,
    parse_outcome,
    parse_relation,
    parse_severity,
)
from collarreader.errors import ClinicalDataError

TODAY = dt.date(2025, 6, 30)


def event_fields(**changes: str) -> dict[str, str]:
    fields = {
        "patient": "S01-P004",
        "onset_date": "2025-02-14",
        "description": "Deep infection of the distal femoral replacement",
        "category": "type 4",
        "severity": "severe",
        "relation": "probable",
        "action": "revision",
        "outcome": "recovering",
    }
    fields.update(changes)
    return fields


def test_henderson_types_of_the_categories() -> None:
    assert [c.henderson_type for c in Category] == [1, 2, 3, 4, 5, None]
    assert [c.value for c in Category][:5] == [
        "soft tissue",
        "aseptic loosening",
        "structural",
        "infection",
        "tumour progression",
    ]
    assert Category.OTHER.implant_failure is False
    assert Category.INFECTION.implant_failure is True
    assert [Category.from_henderson_type(n) for n in range(1, 6)] == list(Category)[:5]


@pytest.mark.parametrize("number", [0, 6, True])
def test_only_henderson_types_one_to_five_exist(number: int) -> None:
    with pytest.raises(ClinicalDataError, match="not a Henderson failure type"):
        Category.from_henderson_type(number)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("1", Category.SOFT_TISSUE),
        ("type 1", Category.SOFT_TISSUE),
        ("Type 1", Category.SOFT_TISSUE),
        ("TYPE  2", Category.ASEPTIC_LOOSENING),
        ("soft tissue", Category.SOFT_TISSUE),
        ("Soft-Tissue", Category.SOFT_TISSUE),
        ("soft_tissue failure", Category.SOFT_TISSUE),
        ("structural failure", Category.STRUCTURAL),
        (" Infection ", Category.INFECTION),
        ("5", Category.TUMOUR_PROGRESSION),
        ("tumor progression", Category.TUMOUR_PROGRESSION),
        ("Other", Category.OTHER),
        (Category.INFECTION, Category.INFECTION),
    ],
)
def test_category_is_parsed_from_words_and_type_numbers(text: str, category: Category) -> None:
    assert parse_category(text) is category


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("type 6", "'type 6' is not a Henderson failure type"),
        ("0", "'0' is not a Henderson failure type"),
        ("grade 1", "not a known category"),
        ("infektion", "not a known category"),
        ("", "the category is empty"),
    ],
)
def test_unknown_categories_are_refused_with_the_allowed_words(text: str, message: str) -> None:
    with pytest.raises(ClinicalDataError, match=message) as caught:
        parse_category(text)
    if "known" in message:
        assert "'aseptic loosening'" in str(caught.value)
        assert "type 4" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("mild", Severity.MILD),
        ("Life threatening", Severity.LIFE_THREATENING),
        ("life-threatening", Severity.LIFE_THREATENING),
        ("grade 3", Severity.SEVERE),
        ("5", Severity.DEATH),
        ("DEATH", Severity.DEATH),
    ],
)
def test_severity_is_parsed_from_words_and_ctcae_grades(text: str, severity: Severity) -> None:
    assert parse_severity(text) is severity


def test_severity_grades_are_ordered() -> None:
    assert [s.grade for s in Severity] == [1, 2, 3, 4, 5]
    for bad, message in (
        ("6", "'6' is not a CTCAE grade"),
        ("grade 0", "'grade 0' is not a CTCAE grade"),
        ("type 3", "'type 3' is not a known severity"),
        ("bad", "'bad' is not a known severity"),
    ):
        with pytest.raises(ClinicalDataError, match=message):
            parse_severity(bad)


def test_relation_action_and_outcome_vocabularies() -> None:
    assert [r.value for r in Relation] == [
        "unrelated",
        "unlikely",
        "possible",
        "probable",
        "definite",
    ]
    assert [r.related for r in Relation] == [False, False, True, True, True]
    assert parse_relation("Not related") is Relation.UNRELATED
    assert parse_relation("POSSIBLE") is Relation.POSSIBLE
    assert [a.value for a in Action] == [
        "none",
        "medication",
        "reoperation",
        "revision",
        "amputation",
        "other",
    ]
    assert parse_action("Revision") is Action.REVISION
    assert parse_outcome("not_recovered") is Outcome.NOT_RECOVERED
    assert parse_outcome("Recovered with sequelae") is Outcome.RECOVERED_WITH_SEQUELAE
    assert parse_outcome("recovered-with-sequelae") is Outcome.RECOVERED_WITH_SEQUELAE
    for parse, bad, word in (
        (parse_relation, "maybe", "relation"),
        (parse_action, "surgery", "action"),
        (parse_outcome, "healed", "outcome"),
    ):
        with pytest.raises(ClinicalDataError, match=f"not a known {word}"):
            parse(bad)  # type: ignore[operator]


def test_a_valid_event_is_parsed_from_text() -> None:
    event = AdverseEvent.parse(**event_fields(), today=TODAY)
    assert event == AdverseEvent(
        patient="S01-P004",
        onset_date=dt.date(2025, 2, 14),
        description="Deep infection of the distal femoral replacement",
        category=Category.INFECTION,
        severity=Severity.SEVERE,
        relation=Relation.PROBABLE,
        action=Action.REVISION,
        outcome=Outcome.RECOVERING,
    )
    event.validate(today=TODAY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.severity = Severity.MILD  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"onset_date": "2025-07-01"}, "onset_date", "is in the future"),
        ({"onset_date": "1999-12-31"}, "onset_date", "before 2000-01-01"),
        ({"onset_date": "14/02/2025"}, "onset_date", "not a date written YYYY-MM-DD"),
        ({"onset_date": "2025-02-30"}, "onset_date", "not a real calendar date"),
        ({"description": "  "}, "description", "description is empty"),
        ({"description": "x" * 2001}, "description", "2001 characters long"),
        ({"patient": ""}, "patient", "patient ID is empty"),
        ({"patient": "P\x01"}, "patient", "control characters"),
        ({"patient": "P" * 65}, "patient", "65 characters long"),
        ({"category": "type 9"}, "category", "not a Henderson failure type"),
        ({"severity": "grave"}, "severity", "not a known severity"),
        ({"relation": "related"}, "relation", "not a known relation"),
        ({"action": "surgery"}, "action", "not a known action"),
        ({"outcome": "cured"}, "outcome", "not a known outcome"),
        ({"severity": "death"}, "outcome", "severity is 'death' but the outcome is 'recovering'"),
        ({"outcome": "fatal"}, "severity", "outcome is 'fatal' but severity is 'severe'"),
    ],
)
def test_invalid_events_are_refused_naming_the_field(
    changes: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(ClinicalDataError, match=message) as caught:
        AdverseEvent.parse(**event_fields(**changes), today=TODAY)
    assert f"{field}: " in str(caught.value)


def test_all_problems_of_one_event_are_listed_together() -> None:
    fields = event_fields(patient="", category="bad", severity="worse", description="")
    with pytest.raises(ClinicalDataError) as caught:
        AdverseEvent.parse(**fields, today=TODAY)
    text = str(caught.value)
    for field in ("patient:", "category:", "severity:", "description:"):
        assert field in text
    assert ".;" not in text


def test_validate_names_fields_holding_plain_strings() -> None:
    event = AdverseEvent(
        patient="P1",
        onset_date=dt.date(2024, 1, 1),
        description="Wound dehiscence",
        category="soft tissue",  # type: ignore[arg-type]
        severity=Severity.MILD,
        relation=Relation.POSSIBLE,
        action=Action.NONE,
        outcome=Outcome.RECOVERED,
    )
    with pytest.raises(ClinicalDataError, match="category: 'soft tissue' is not a Category"):
        event.validate(today=TODAY)
    assert [name for name, _ in event.problems(today=TODAY)] == ["category"]


def test_death_with_fatal_outcome_is_consistent() -> None:
    event = AdverseEvent.parse(**event_fields(severity="grade 5", outcome="fatal"), today=TODAY)
    assert event.severity is Severity.DEATH


def test_keys_and_hashes_identify_the_same_event() -> None:
    event = AdverseEvent.parse(**event_fields(), today=TODAY)
    same = AdverseEvent.parse(**event_fields(category="infection"), today=TODAY)
    assert event.natural_key == same.natural_key
    assert event.content_sha256 == same.content_sha256
    respaced = AdverseEvent.parse(
        **event_fields(description="deep  infection of the DISTAL femoral replacement"),
        today=TODAY,
    )
    assert respaced.natural_key == event.natural_key
    assert respaced.content_sha256 != event.content_sha256
    healed = AdverseEvent.parse(**event_fields(outcome="recovered"), today=TODAY)
    assert healed.natural_key == event.natural_key
    assert healed.content_sha256 != event.content_sha256
    other_day = AdverseEvent.parse(**event_fields(onset_date="2025-02-15"), today=TODAY)
    assert other_day.natural_key != event.natural_key


def test_dates_are_iso_only_and_plausible() -> None:
    assert parse_iso_date(" 2024-01-31 ") == dt.date(2024, 1, 31)
    for bad in ("20240131", "2024-1-31", "2024-W05-3", "31.01.2024", ""):
        with pytest.raises(ClinicalDataError):
            parse_iso_date(bad)
    assert check_date(TODAY, today=TODAY) == TODAY
    with pytest.raises(ClinicalDataError, match="not a date"):
        check_date(dt.datetime(2024, 1, 1, 12, 0), today=TODAY)
