"""Adverse events: the controlled vocabulary, the event record and its validation.

Every choice is a :class:`~enum.StrEnum` whose value is the word stored in databases and
files. Strings from files or forms are converted once, here, by the ``parse_*`` functions
(case-insensitive; ``-``, ``_`` and repeated spaces count as one space).

Category follows the failure-mode classification of tumour endoprostheses by Henderson et
al. (J Bone Joint Surg Am 2011;93:418–429), adopted by ISOLS: type 1 soft-tissue failure,
2 aseptic loosening, 3 structural failure, 4 infection, 5 tumour progression. Events that are
not an implant failure (e.g. a deep-vein thrombosis) are ``other``. The paediatric type 6 of
the later extension (growth-related failures) is not used in this adult study; record such an
event as ``other`` and describe it.

Severity uses the five grades of the CTCAE (1 mild … 5 death); "grade 3" or "3" are accepted.

The vocabularies can be extended by adding a member to the enum: parsing, validation and
error messages are derived from the members, nothing else lists them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from collarreader.errors import ClinicalDataError

EARLIEST_DATE = dt.date(2000, 1, 1)
"""Dates before this are refused as typing errors: 3D-printed collars are far more recent."""

MAX_DESCRIPTION_CHARS = 2000
MAX_PATIENT_ID_CHARS = 64

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Category(StrEnum):
    """Kind of event: a Henderson/ISOLS failure type 1–5, or ``other``."""

    SOFT_TISSUE = "soft tissue"
    ASEPTIC_LOOSENING = "aseptic loosening"
    STRUCTURAL = "structural"
    INFECTION = "infection"
    TUMOUR_PROGRESSION = "tumour progression"
    OTHER = "other"

    @property
    def henderson_type(self) -> int | None:
        """The Henderson failure type 1–5, or None for ``other``."""
        return _HENDERSON_TYPE.get(self)

    @property
    def implant_failure(self) -> bool:
        """True for the five Henderson failure modes, False for ``other``."""
        return self is not Category.OTHER

    @classmethod
    def from_henderson_type(cls, number: int) -> Category:
        """Return the category of Henderson failure type ``number`` (1–5).

        Raises
        ------
        ClinicalDataError
            For any other number.
        """
        for category, type_number in _HENDERSON_TYPE.items():
            if type_number == number and not isinstance(number, bool):
                return category
        raise ClinicalDataError(
            f"{number!r} is not a Henderson failure type; use 1–5 (or the category 'other')."
        )


_HENDERSON_TYPE: dict[Category, int] = {
    Category.SOFT_TISSUE: 1,
    Category.ASEPTIC_LOOSENING: 2,
    Category.STRUCTURAL: 3,
    Category.INFECTION: 4,
    Category.TUMOUR_PROGRESSION: 5,
}


class Severity(StrEnum):
    """Severity of the event, the five CTCAE grades in order."""

    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"
    LIFE_THREATENING = "life-threatening"
    DEATH = "death"

    @property
    def grade(self) -> int:
        """CTCAE grade 1 (mild) … 5 (death)."""
        return list(Severity).index(self) + 1


class Relation(StrEnum):
    """Relation of the event to the implant and its collar, from none to certain."""

    UNRELATED = "unrelated"
    UNLIKELY = "unlikely"
    POSSIBLE = "possible"
    PROBABLE = "probable"
    DEFINITE = "definite"

    @property
    def related(self) -> bool:
        """True for possible, probable and definite (the usual 'related' count in device trials)."""
        return self in (Relation.POSSIBLE, Relation.PROBABLE, Relation.DEFINITE)


class Action(StrEnum):
    """The most invasive action taken for the event."""

    NONE = "none"
    MEDICATION = "medication"
    REOPERATION = "reoperation"
    REVISION = "revision"
    AMPUTATION = "amputation"
    OTHER = "other"


class Outcome(StrEnum):
    """Outcome of the event at the last follow-up."""

    RECOVERED = "recovered"
    RECOVERING = "recovering"
    NOT_RECOVERED = "not recovered"
    RECOVERED_WITH_SEQUELAE = "recovered with sequelae"
    FATAL = "fatal"
    UNKNOWN = "unknown"


# Extra spellings accepted on input (keys in normalised form); the stored word is the value.
_ALIASES: dict[type[StrEnum], dict[str, StrEnum]] = {
    Category: {
        "soft tissue failure": Category.SOFT_TISSUE,
        "structural failure": Category.STRUCTURAL,
        "tumor progression": Category.TUMOUR_PROGRESSION,
        "non implant": Category.OTHER,
    },
    Severity: {"life threatening": Severity.LIFE_THREATENING, "fatal": Severity.DEATH},
    Relation: {"not related": Relation.UNRELATED, "definitely": Relation.DEFINITE},
    Action: {},
    Outcome: {},
}

_LABELS: dict[type[StrEnum], str] = {
    Category: "category",
    Severity: "severity",
    Relation: "relation",
    Action: "action",
    Outcome: "outcome",
}

E = TypeVar("E", bound=StrEnum)


def _normalise(text: str) -> str:
    return " ".join(text.replace("-", " ").replace("_", " ").lower().split())


def parse_choice(enum: type[E], value: E | str) -> E:
    """Convert ``value`` to a member of ``enum`` (one of the vocabularies above).

    Matching ignores case, and ``-``, ``_`` and repeated spaces count as one space. Category
    also accepts the Henderson type as ``"1"`` or ``"type 1"``; severity the CTCAE grade as
    ``"3"`` or ``"grade 3"``.

    Raises
    ------
    ClinicalDataError
        For an unknown value; the message (without a field name, callers add it) lists the
        allowed words.
    """
    if isinstance(value, enum):
        return value
    label = _LABELS.get(enum, enum.__name__.lower())
    if isinstance(value, str):
        key = _normalise(value)
        for member in enum:
            if key == _normalise(member.value):
                return member
        alias = _ALIASES.get(enum, {}).get(key)
        if alias is not None:
            return alias  # type: ignore[return-value]  # _ALIASES[enum] holds enum members
        number = re.fullmatch(r"(?:type |grade )?(\d+)", key)
        if number is not None:
            prefix = key.split()[0] if " " in key else ""
            level = int(number.group(1))
            if enum is Category and prefix in ("", "type"):
                if 1 <= level <= len(_HENDERSON_TYPE):
                    return Category.from_henderson_type(level)  # type: ignore[return-value]
                raise ClinicalDataError(
                    f"{value.strip()!r} is not a Henderson failure type; use type 1–5, or "
                    "'other' for an event that is not an implant failure."
                )
            if enum is Severity and prefix in ("", "grade"):
                if 1 <= level <= len(Severity):
                    return list(Severity)[level - 1]  # type: ignore[return-value]
                raise ClinicalDataError(
                    f"{value.strip()!r} is not a CTCAE grade; use grade 1 (mild) … 5 (death)."
                )
    allowed = ", ".join(repr(member.value) for member in enum)
    extra = ""
    if enum is Category:
        extra = " (or the Henderson type 1–5, e.g. 'type 4')"
    elif enum is Severity:
        extra = " (or the CTCAE grade 1–5, e.g. 'grade 3')"
    if not isinstance(value, str):
        return_reason = f"{value!r} ({type(value).__name__}) is not a {label}"
    elif not value.strip():
        return_reason = f"the {label} is empty"
    else:
        return_reason = f"{value.strip()!r} is not a known {label}"
    raise ClinicalDataError(f"{return_reason}; use one of {allowed}{extra}.")


def parse_category(value: Category | str) -> Category:
    """Parse a category: ``"soft tissue"``, ``"1"``, ``"Type 1"`` … ``"other"``."""
    return parse_choice(Category, value)


def parse_severity(value: Severity | str) -> Severity:
    """Parse a severity: ``"mild"`` … ``"death"``, or the CTCAE grade ``"1"``–``"5"``."""
    return parse_choice(Severity, value)


def parse_relation(value: Relation | str) -> Relation:
    """Parse a relation to the implant: ``"unrelated"`` … ``"definite"``."""
    return parse_choice(Relation, value)


def parse_action(value: Action | str) -> Action:
    """Parse an action: ``"none"``, ``"medication"``, ``"reoperation"``, ``"revision"`` …."""
    return parse_choice(Action, value)


def parse_outcome(value: Outcome | str) -> Outcome:
    """Parse an outcome: ``"recovered"`` … ``"unknown"``."""
    return parse_choice(Outcome, value)


def parse_iso_date(text: str) -> dt.date:
    """Parse a calendar date written ``YYYY-MM-DD`` (and only that form).

    Raises
    ------
    ClinicalDataError
        For an empty cell, another format (e.g. ``15/01/2024``, which is ambiguous between
        day-first and month-first) or an impossible date such as ``2024-02-30``.
    """
    stripped = text.strip()
    if not stripped:
        raise ClinicalDataError("the date is empty; write it as YYYY-MM-DD.")
    if not _ISO_DATE.fullmatch(stripped):
        raise ClinicalDataError(
            f"{stripped!r} is not a date written YYYY-MM-DD (e.g. 2024-01-31); other forms "
            "are refused because day-first and month-first dates cannot be told apart."
        )
    try:
        return dt.date.fromisoformat(stripped)
    except ValueError:
        raise ClinicalDataError(f"{stripped!r} is not a real calendar date.") from None


def check_date(value: dt.date, *, today: dt.date | None = None) -> dt.date:
    """Return ``value`` when it is a plausible study date: not in the future, not before 2000.

    Parameters
    ----------
    value : the date to check
    today : the reference date (default: today's date on this computer)

    Raises
    ------
    ClinicalDataError
        When the date is later than ``today`` or earlier than :data:`EARLIEST_DATE`.
    """
    reference = dt.date.today() if today is None else today
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise ClinicalDataError(f"{value!r} is not a date.")
    if value > reference:
        raise ClinicalDataError(
            f"{value.isoformat()} is in the future (today is {reference.isoformat()})."
        )
    if value < EARLIEST_DATE:
        raise ClinicalDataError(
            f"{value.isoformat()} is before {EARLIEST_DATE.isoformat()}; probably a typing error."
        )
    return value


def check_patient_id(value: object) -> str:
    """Return a study patient ID when it is usable: non-empty text, ≤ 64 characters.

    Surrounding spaces are an error rather than silently stripped here: the CSV importer
    strips cells, anything else should hand over the ID exactly as in the key file.

    Raises
    ------
    ClinicalDataError
        For empty text, surrounding spaces, control characters or an over-long ID.
    """
    if not isinstance(value, str):
        raise ClinicalDataError(f"the patient ID {value!r} is not text.")
    if not value.strip():
        raise ClinicalDataError("the patient ID is empty; give the study ID from the key file.")
    if value != value.strip():
        raise ClinicalDataError(f"the patient ID {value!r} has leading or trailing spaces.")
    if any(not character.isprintable() for character in value):
        raise ClinicalDataError(f"the patient ID {value!r} contains control characters.")
    if len(value) > MAX_PATIENT_ID_CHARS:
        raise ClinicalDataError(
            f"the patient ID is {len(value)} characters long (at most "
            f"{MAX_PATIENT_ID_CHARS}); is this the study ID from the key file?"
        )
    return value


@dataclass(frozen=True)
class AdverseEvent:
    """One adverse event of one patient.

    Construct it from strings with :meth:`parse`, which validates; a directly constructed
    event is checked with :meth:`validate`.

    Attributes
    ----------
    patient : the patient's study ID, as in the manifest and key file
    onset_date : the date the event began
    description : what happened, in free text (no names or other identity: the description
        reaches exports)
    category : Henderson failure type or other
    severity : mild … death
    relation : relation to the implant and its collar
    action : the most invasive action taken
    outcome : outcome at the last follow-up
    """

    patient: str
    onset_date: dt.date
    description: str
    category: Category
    severity: Severity
    relation: Relation
    action: Action
    outcome: Outcome

    def problems(self, *, today: dt.date | None = None) -> list[tuple[str, str]]:
        """Every problem of the event as ``(field name, reason)``; empty when valid.

        Besides each field's own check: severity ``death`` and outcome ``fatal`` go together
        (CTCAE grade 5 is death related to the event).
        """
        found: list[tuple[str, str]] = []
        try:
            check_patient_id(self.patient)
        except ClinicalDataError as error:
            found.append(("patient", str(error)))
        try:
            check_date(self.onset_date, today=today)
        except ClinicalDataError as error:
            found.append(("onset_date", str(error)))
        if not isinstance(self.description, str) or not self.description.strip():
            found.append(("description", "the description is empty; say what happened."))
        elif len(self.description) > MAX_DESCRIPTION_CHARS:
            found.append(
                (
                    "description",
                    (
                        f"the description is {len(self.description)} characters long "
                        f"(at most {MAX_DESCRIPTION_CHARS})."
                    ),
                )
            )
        for name, enum in (
            ("category", Category),
            ("severity", Severity),
            ("relation", Relation),
            ("action", Action),
            ("outcome", Outcome),
        ):
            value = getattr(self, name)
            if not isinstance(value, enum):
                found.append(
                    (
                        name,
                        (
                            f"{value!r} is not a {enum.__name__}; convert text with "
                            "AdverseEvent.parse()."
                        ),
                    )
                )
        if isinstance(self.severity, Severity) and isinstance(self.outcome, Outcome):
            if self.severity is Severity.DEATH and self.outcome is not Outcome.FATAL:
                found.append(
                    ("outcome", f"severity is 'death' but the outcome is '{self.outcome}'.")
                )
            elif self.outcome is Outcome.FATAL and self.severity is not Severity.DEATH:
                found.append(
                    ("severity", f"the outcome is 'fatal' but severity is '{self.severity}'.")
                )
        return found

    def validate(self, *, today: dt.date | None = None) -> None:
        """Raise :class:`ClinicalDataError` naming every invalid field; return None if valid.

        Parameters
        ----------
        today : reference date for "not in the future" (default: today on this computer)
        """
        found = self.problems(today=today)
        if found:
            details = "; ".join(f"{name}: {reason.rstrip('.')}" for name, reason in found)
            raise ClinicalDataError(f"adverse event of patient {self.patient!r}: {details}.")

    @classmethod
    def parse(
        cls,
        *,
        patient: str,
        onset_date: str | dt.date,
        description: str,
        category: Category | str,
        severity: Severity | str,
        relation: Relation | str,
        action: Action | str,
        outcome: Outcome | str,
        today: dt.date | None = None,
    ) -> AdverseEvent:
        """Build a validated event from text (as typed in a form or read from a file).

        Patient ID and description are stripped of surrounding spaces; dates must be
        ``YYYY-MM-DD``; the choices are parsed with :func:`parse_choice`.

        Raises
        ------
        ClinicalDataError
            Naming every invalid field at once.
        """
        errors: list[str] = []
        parsed: dict[str, object] = {}
        try:
            parsed["onset_date"] = (
                onset_date if isinstance(onset_date, dt.date) else parse_iso_date(onset_date)
            )
        except ClinicalDataError as error:
            errors.append(f"onset_date: {str(error).rstrip('.')}")
        for name, enum, value in (
            ("category", Category, category),
            ("severity", Severity, severity),
            ("relation", Relation, relation),
            ("action", Action, action),
            ("outcome", Outcome, outcome),
        ):
            try:
                parsed[name] = parse_choice(enum, value)
            except ClinicalDataError as error:
                errors.append(f"{name}: {str(error).rstrip('.')}")
        patient_text = patient.strip() if isinstance(patient, str) else patient
        description_text = description.strip() if isinstance(description, str) else description
        if not errors:
            event = cls(
                patient=patient_text,
                description=description_text,
                **parsed,  # type: ignore[arg-type]  # keys and types set just above
            )
            event.validate(today=today)
            return event
        # Report the remaining fields' problems too, so one correction round is enough.
        try:
            check_patient_id(patient_text)
        except ClinicalDataError as error:
            errors.insert(0, f"patient: {str(error).rstrip('.')}")
        if not isinstance(description_text, str) or not description_text:
            errors.append("description: the description is empty; say what happened")
        raise ClinicalDataError(
            f"adverse event of patient {patient_text!r}: " + "; ".join(errors) + "."
        )

    @property
    def natural_key(self) -> tuple[str, str, str, str]:
        """``(patient, onset date, category, description)``: the same event, the same key.

        The description is case- and space-normalised.
        Two different events of one patient on one day differ in category or description;
        an edited description therefore makes a new key (a database importer should report a
        near-match on the first three parts).
        """
        return (
            self.patient,
            self.onset_date.isoformat(),
            self.category.value,
            " ".join(self.description.casefold().split()),
        )

    @property
    def content_sha256(self) -> str:
        """SHA-256 (hex) of every field in canonical form; same data, same hash."""
        canonical = {
            "kind": "collarreader-adverse-event-v1",
            "patient": self.patient,
            "onset_date": self.onset_date.isoformat(),
            "description": self.description,
            "category": self.category.value,
            "severity": self.severity.value,
            "relation": self.relation.value,
            "action": self.action.value,
            "outcome": self.outcome.value,
        }
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
