"""What a session works on: the case and its reading, values as text, cases from a reading set.

Part of :mod:`collarreader.session` (see its docstring for the rules).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, runtime_checkable
from typing import Protocol as TypingProtocol

from collarreader.errors import SessionError
from collarreader.model import AnnotationKind, Case, CaseKind, ImageRef
from collarreader.protocol import Field, FieldType, FieldValue, Protocol, ToolKind

TOOL_FOR_KIND: dict[AnnotationKind, ToolKind] = {
    AnnotationKind.RLL: ToolKind.RLL_CALIPER,
    AnnotationKind.INTERFACE_LINE: ToolKind.BRIDGING,
    AnnotationKind.BRIDGED_SEGMENT: ToolKind.BRIDGING,
    AnnotationKind.CORTICAL_CALIPER: ToolKind.CORTICAL_CALIPER,
}
"""The protocol tool each drawable annotation kind measures with."""

_CALIPERS = (AnnotationKind.RLL, AnnotationKind.CORTICAL_CALIPER)
_ZONED = (AnnotationKind.RLL, AnnotationKind.INTERFACE_LINE, AnnotationKind.BRIDGED_SEGMENT)
_PRESENCE_FIELD = "rll_present"  # set true by an rll caliper (see the module docstring)


@runtime_checkable
class SpacingLike(TypingProtocol):
    """A header spacing: :class:`collarreader.imaging.Spacing` ``(row_mm, col_mm, source)``."""

    @property
    def row_mm(self) -> float: ...  # noqa: D102

    @property
    def col_mm(self) -> float: ...  # noqa: D102

    @property
    def source(self) -> Any: ...  # noqa: D102


SpacingFor = Callable[[str], SpacingLike | None]
"""Image code → the image's header spacing, or None when it has none."""


def _no_spacing(_image_code: str) -> SpacingLike | None:
    return None


# ------------------------------------------------------------------------------ values


def format_value(field: Field, value: FieldValue) -> str:
    """The canonical text of a field value, as stored in ``scores.value``.

    Choice and derived fields: the choice key; bool: ``true``/``false``; number: rounded half
    up to the field's decimals and written with exactly that many (``1.0``, ``45``), or
    ``repr(float)`` without decimals; text: as given.
    """
    if value is None:
        message = f"{field.key}: no value to format."
        raise ValueError(message)
    if field.type is FieldType.BOOL:
        return "true" if value else "false"
    if field.type is FieldType.NUMBER:
        number = float(value)
        if field.decimals is None:
            return repr(number)
        return f"{field.round(number):.{field.decimals}f}"
    return str(value)


def parse_value(field: Field, text: str) -> FieldValue:
    """The field value of canonical text (the inverse of :func:`format_value`)."""
    if field.type is FieldType.BOOL:
        return text == "true"
    if field.type is FieldType.NUMBER:
        return float(text)
    return text


def score_target(timepoint: str, view: str | None, zone: str | None) -> str:
    """The uniqueness key of a score: ``"<timepoint>/<view or ->/<zone or ->"``."""
    return f"{timepoint}/{view or '-'}/{zone or '-'}"


# ------------------------------------------------------------------------------ reading sets


def cases_from_reading_set(reading_set: Any, reader_id: str) -> list[Case]:
    """The reader's cases in worklist order, as :class:`collarreader.model.Case`.

    Parameters
    ----------
    reading_set : a :class:`collarreader.study.readingset.ReadingSet`
    reader_id : the reader whose worklist is wanted

    Primary cases that a repeat in the worklist shows but that are not in the worklist
    themselves are appended, so the database can record the repeat's images.
    """
    result: list[Case] = []
    seen: set[str] = set()
    for entry in reading_set.worklist(reader_id):
        entry_case = reading_set.case(entry.case_code)
        result.append(_case_from_entry(entry_case, CaseKind(str(entry.kind)), entry.repeat_of))
        seen.add(entry.case_code)
    for case in list(result):
        if case.repeat_of is not None and case.repeat_of not in seen:
            result.append(
                _case_from_entry(reading_set.case(case.repeat_of), CaseKind.PRIMARY, None)
            )
            seen.add(case.repeat_of)
    return result


def _case_from_entry(entry: Any, kind: CaseKind, repeat_of: str | None) -> Case:
    return Case(
        case_code=entry.case_code,
        joint=str(entry.joint),
        side=str(entry.side),
        images=tuple(
            ImageRef(
                image_code=image.image_code,
                view=str(image.view),
                timepoint=str(image.timepoint),
                sop_instance_uid=image.sop_instance_uid,
                file=image.file,
                sha256=getattr(image, "sha256", ""),
            )
            for image in entry.images
        ),
        kind=kind,
        repeat_of=repeat_of if kind is CaseKind.REPEAT else None,
    )


# ------------------------------------------------------------------------------ context


@dataclass(frozen=True)
class ReadingContext:
    """What a command needs to know about the reading it changes.

    Attributes
    ----------
    reading_id : the reading's row id
    case : the case read (its images give view and time point)
    protocol : the scoring protocol
    spacing_for : image code → header spacing, or None
    """

    reading_id: str
    case: Case
    protocol: Protocol
    spacing_for: SpacingFor = _no_spacing

    def image(self, image_code: str) -> ImageRef:
        """The case's image ``image_code``; ``SessionError`` when the case has none."""
        try:
            return self.case.image(image_code)
        except KeyError:
            message = f"Case {self.case.case_code} has no image {image_code!r}."
            raise SessionError(message) from None

    def rule_timepoint(self, timepoint: str) -> str | None:
        """The time point the protocol's restrictions apply to (None for a blinded label)."""
        return timepoint if timepoint in self.protocol.timepoints else None
