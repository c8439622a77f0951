"""The protocol's vocabulary: field types, scopes, levels, tools, and the value types of a file.

Part of :mod:`collarreader.protocol` (see its docstring for the rules).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import TypeAlias

FORMAT = "collarreader-protocol"
"""Value of the top-level ``format`` key every protocol file carries."""

SCHEMA_VERSION = 1
"""The protocol file schema this code reads (top-level ``schema`` key)."""

DEFAULT_PROTOCOL = "collar-default"

FieldValue: TypeAlias = str | bool | int | float | None
"""A recorded value: str (choice, derived, text), bool, number, or None (not entered)."""

SummaryValue: TypeAlias = int | float | bool | str | tuple[str, ...] | None
"""A value of :meth:`Protocol.summarise`'s result."""


class FieldType(StrEnum):
    """How a field is entered."""

    CHOICE = "choice"
    BOOL = "bool"
    NUMBER = "number"
    TEXT = "text"
    DERIVED = "derived"  # computed from another field, never entered


class Scope(StrEnum):
    """Where a field is recorded (each per time point)."""

    ZONE = "zone"
    VIEW = "view"
    CASE = "case"


class Level(StrEnum):
    """Measurement level; it chooses the agreement statistic."""

    NOMINAL = "nominal"
    ORDINAL = "ordinal"
    CONTINUOUS = "continuous"
    TEXT = "text"


class ToolKind(StrEnum):
    """Measurement tools that can fill a field (``measured_by``)."""

    BRIDGING = "bridging"  # bridged segments along a zone's interface line → % extent
    RLL_CALIPER = "rll_caliper"  # two-edge caliper across a radiolucent line → width in mm
    CORTICAL_CALIPER = "cortical_caliper"  # caliper across the cortex → thickness in mm


# Levels a type may have; the first is the default when the file gives none.
_LEVELS_FOR_TYPE: dict[FieldType, tuple[Level, ...]] = {
    FieldType.CHOICE: (Level.NOMINAL, Level.ORDINAL),
    FieldType.BOOL: (Level.NOMINAL,),
    FieldType.NUMBER: (Level.CONTINUOUS,),
    FieldType.TEXT: (Level.TEXT,),
    FieldType.DERIVED: (Level.ORDINAL, Level.NOMINAL),
}

_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# --------------------------------------------------------------------------- value types


@dataclass(frozen=True)
class Condition:
    """``field`` has the value ``value`` (e.g. ``assessable == "no"``)."""

    field: str
    value: str | bool

    def holds(self, values: Mapping[str, FieldValue]) -> bool:
        """True when ``values[field]`` equals the condition's value (a missing value never does)."""
        actual = values.get(self.field)
        # bool is an int subclass: keep True from matching 1 and "yes" from matching True.
        return type(actual) is type(self.value) and actual == self.value


@dataclass(frozen=True)
class Derivation:
    """A derived field's rule: ``choices[number of thresholds the source value reaches]``.

    The source value is first rounded to the source field's ``decimals`` (half up), so a
    grade never depends on digits the reader cannot see.
    """

    source: str
    thresholds: tuple[float, ...]


@dataclass(frozen=True)
class Zone:
    """A scoring zone of one view (e.g. ``medial`` on ``AP``)."""

    key: str
    label: str
    view: str


@dataclass(frozen=True)
class Field:
    """One thing a reader records (or the protocol derives).

    Attributes
    ----------
    key : identifier, unique in the protocol; also the column name in exports
    label : text shown to the reader
    type : how it is entered (:class:`FieldType`)
    scope : ``zone``, ``view`` or ``case`` (:class:`Scope`)
    choices : allowed values of choice and derived fields, ordered (low → high for ordinal)
    level : measurement level (:class:`Level`); drives the agreement method
    unit : ``"mm"``, ``"%"`` or None
    minimum, maximum : inclusive range of number fields (None = open)
    decimals : number fields are shown and rounded to this many decimals
    required : must have a value before a reading is submitted (unless skipped)
    timepoints : None for every time point, else the time points the field applies to
    measured_by : the tool (:class:`ToolKind`) that can fill it, or None
    view : the view a ``view``/``case`` field is restricted to, or None
    help : longer explanation for a tooltip
    choice_labels : display labels, parallel to ``choices``
    derive : the rule of a derived field
    zero_when : the value counts as 0 when this condition holds (e.g. no line → 0 mm width)
    required_when : the field is required when this condition holds
    """

    key: str
    label: str
    type: FieldType
    scope: Scope
    choices: tuple[str, ...] = ()
    level: Level = Level.NOMINAL
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    decimals: int | None = None
    required: bool = False
    timepoints: tuple[str, ...] | None = None
    measured_by: ToolKind | None = None
    view: str | None = None
    help: str = ""
    choice_labels: tuple[str, ...] = ()
    derive: Derivation | None = None
    zero_when: Condition | None = None
    required_when: Condition | None = None

    def applies_at(self, timepoint: str | None) -> bool:
        """True when the field is recorded at ``timepoint`` (None: any time point)."""
        return timepoint is None or self.timepoints is None or timepoint in self.timepoints

    def choice_label(self, choice: str) -> str:
        """The display label of ``choice`` (the choice itself when the file gives none)."""
        if self.choice_labels:
            return self.choice_labels[self.choices.index(choice)]
        return choice

    def round(self, value: float) -> float:
        """``value`` rounded half up to the field's ``decimals`` (unchanged when None)."""
        if self.decimals is None:
            return float(value)
        quantum = Decimal(1).scaleb(-self.decimals)
        return float(Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP))

    def check_value(self, value: FieldValue) -> str | None:
        """Why ``value`` is not valid for this field, or None when it is (None is valid)."""
        if value is None:
            return None
        if self.type in (FieldType.CHOICE, FieldType.DERIVED):
            if not isinstance(value, str) or value not in self.choices:
                return f"{self.key}: {value!r} is not one of {', '.join(self.choices)}"
        elif self.type is FieldType.BOOL:
            if not isinstance(value, bool):
                return f"{self.key}: {value!r} is not true or false"
        elif self.type is FieldType.NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return f"{self.key}: {value!r} is not a number"
            if not math.isfinite(value):
                return f"{self.key}: {value!r} is not a finite number"
            if self.minimum is not None and value < self.minimum:
                return f"{self.key}: {value} is below the minimum {self.minimum}"
            if self.maximum is not None and value > self.maximum:
                return f"{self.key}: {value} is above the maximum {self.maximum}"
        elif not isinstance(value, str):
            return f"{self.key}: {value!r} is not text"
        return None


@dataclass(frozen=True)
class CountRule:
    """Summary: the number of zones where every condition holds (``field`` in allowed values)."""

    key: str
    label: str
    all: tuple[tuple[str, tuple[str | bool, ...]], ...]


@dataclass(frozen=True)
class Band:
    """A named range of a total (inclusive bounds; None: open on that side)."""

    label: str
    minimum: float | None
    maximum: float | None

    def holds(self, value: float) -> bool:
        """True when ``value`` lies in the band."""
        return (self.minimum is None or value >= self.minimum) and (
            self.maximum is None or value <= self.maximum
        )


@dataclass(frozen=True)
class TotalRule:
    """Summary: ``op`` (``sum`` or ``max``) of a number field over the scored zones.

    ``zones`` restricts the total to some zones (e.g. one component's); ``bands`` name its
    ranges, reported as ``<key>_band``.
    """

    key: str
    label: str
    field: str
    op: str
    zones: tuple[str, ...] = ()
    bands: tuple[Band, ...] = ()


@dataclass(frozen=True)
class FlagRule:
    """Summary: True when any zone has any of the listed values."""

    key: str
    label: str
    any: tuple[tuple[str, tuple[str | bool, ...]], ...]
