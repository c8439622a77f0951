"""The scoring protocol: which views, time points, zones and fields a reader scores.

A protocol is a TOML file (``resources/protocols/<name>.toml``); the file is the protocol, so a
study lead can write a new one (more zones, other fields, other summary rules) without code
changes. :func:`load_protocol` validates it strictly — an unknown key is a typo, not an
extension — and returns a frozen :class:`Protocol`.

Identity: :attr:`Protocol.sha256` is the SHA-256 of the file's bytes with line endings
normalised to LF and a leading byte-order mark removed, so a Windows checkout (CRLF) hashes
the same. Reader databases, reading sets and the study database record it; a merge refuses a
mismatch.

Where values live: every value is recorded per time point. ``zone`` fields are recorded for each
zone (zones belong to a view), ``view`` fields once per view, ``case`` fields once per case
(``Field.view`` restricts a case field to one view's image). Values are plain Python: ``str``
for choice, derived and text fields, ``bool`` for bool fields, ``float`` (or ``int``) for number
fields, ``None`` for "not entered".
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import itertools
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeAlias

from collarreader.errors import ProtocolError

__all__ = [
    "FORMAT",
    "SCHEMA_VERSION",
    "Band",
    "Condition",
    "CountRule",
    "Derivation",
    "Field",
    "FieldType",
    "FieldValue",
    "FlagRule",
    "Level",
    "Protocol",
    "Scope",
    "SummaryValue",
    "ToolKind",
    "TotalRule",
    "Zone",
    "available_protocols",
    "canonical_bytes",
    "load_protocol",
    "parse_protocol",
]

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


# --------------------------------------------------------------------------- the protocol


@dataclass(frozen=True)
class Protocol:
    """A loaded, validated scoring protocol (see the module docstring for where values live)."""

    name: str
    version: str
    sha256: str
    text: str
    title: str
    description: str
    views: tuple[str, ...]
    timepoints: tuple[str, ...]
    zones: tuple[Zone, ...]
    zone_fields: tuple[Field, ...]
    case_fields: tuple[Field, ...]
    """Fields recorded once per case, *and* the ``view``-scoped ones (``scope`` tells)."""
    skip_zone_when: Condition | None = None
    counts: tuple[CountRule, ...] = ()
    totals: tuple[TotalRule, ...] = ()
    flags: tuple[FlagRule, ...] = ()
    source: str = ""
    require_manual_calibration: bool = False
    """Top-level ``require_manual_calibration = true``: a mm value measured on an image the
    reader did not calibrate (with the ball or a known size) keeps the case from being
    submitted; the file's (0028,0030) or (0018,1164) spacing alone is not enough."""
    _by_key: dict[str, Field] = dataclasses.field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self._by_key.update({f.key: f for f in (*self.zone_fields, *self.case_fields)})

    # ---- lookup
    @property
    def fields(self) -> tuple[Field, ...]:
        """Every field: zone fields, then view and case fields, in file order."""
        return (*self.zone_fields, *self.case_fields)

    @property
    def view_fields(self) -> tuple[Field, ...]:
        """The ``view``-scoped fields (recorded once per view and time point)."""
        return tuple(f for f in self.case_fields if f.scope is Scope.VIEW)

    def field(self, key: str) -> Field:
        """The field ``key``; :class:`ProtocolError` when the protocol has none."""
        try:
            return self._by_key[key]
        except KeyError:
            raise ProtocolError(
                f"Protocol {self.name} {self.version} has no field {key!r}; "
                f"its fields are {', '.join(self._by_key)}."
            ) from None

    def zone(self, key: str) -> Zone:
        """The zone ``key``; :class:`ProtocolError` when the protocol has none."""
        for zone in self.zones:
            if zone.key == key:
                return zone
        raise ProtocolError(
            f"Protocol {self.name} {self.version} has no zone {key!r}; "
            f"its zones are {', '.join(z.key for z in self.zones)}."
        )

    def zones_for(self, view: str) -> tuple[Zone, ...]:
        """The zones scored on ``view``, in file order."""
        return tuple(z for z in self.zones if z.view == view)

    def fields_for(
        self, scope: Scope | str, *, timepoint: str | None = None, view: str | None = None
    ) -> tuple[Field, ...]:
        """Fields of ``scope`` that apply at ``timepoint`` and (for view/case fields) ``view``.

        ``view=None`` keeps every field; a view keeps fields without a view restriction and
        those restricted to that view.
        """
        scope = Scope(scope)
        pool = self.zone_fields if scope is Scope.ZONE else self.case_fields
        return tuple(
            f
            for f in pool
            if f.scope is scope
            and f.applies_at(timepoint)
            and (view is None or f.view is None or f.view == view)
        )

    # ---- skipping and requirements
    def is_skipped(self, field_key: str, values: Mapping[str, FieldValue]) -> bool:
        """True when ``field_key`` is skipped in a zone with ``values`` (e.g. not assessable).

        The field that decides skipping (``assessable``) is never skipped itself; view and case
        fields never are.
        """
        fld = self.field(field_key)
        rule = self.skip_zone_when
        return (
            fld.scope is Scope.ZONE
            and rule is not None
            and fld.key != rule.field
            and rule.holds(values)
        )

    def zone_is_skipped(self, values: Mapping[str, FieldValue]) -> bool:
        """True when a zone with ``values`` is skipped (its other fields are not scored)."""
        return self.skip_zone_when is not None and self.skip_zone_when.holds(values)

    def required_fields(
        self,
        scope: Scope | str = Scope.ZONE,
        values: Mapping[str, FieldValue] | None = None,
        *,
        timepoint: str | None = None,
        view: str | None = None,
    ) -> tuple[Field, ...]:
        """Fields that must have a value, given the values entered so far.

        Parameters
        ----------
        scope : which fields (``zone``, ``view`` or ``case``)
        values : values entered so far for this zone/view/case (skip rules and
            ``required_when`` depend on them); None is an empty entry
        timepoint : the time point scored (fields that do not apply are left out)
        view : the view scored (case fields restricted to another view are left out)
        """
        values = values or {}
        result = []
        for fld in self.fields_for(scope, timepoint=timepoint, view=view):
            if fld.type is FieldType.DERIVED or self.is_skipped(fld.key, values):
                continue
            if fld.required or (fld.required_when is not None and fld.required_when.holds(values)):
                result.append(fld)
        return tuple(result)

    def missing_fields(
        self,
        scope: Scope | str,
        values: Mapping[str, FieldValue],
        *,
        timepoint: str | None = None,
        view: str | None = None,
    ) -> tuple[str, ...]:
        """Keys of required fields without a value (empty when the entry is complete)."""
        required = self.required_fields(scope, values, timepoint=timepoint, view=view)
        return tuple(
            f.key for f in required if values.get(f.key) is None or values.get(f.key) == ""
        )

    def check_values(
        self,
        scope: Scope | str,
        values: Mapping[str, FieldValue],
        *,
        timepoint: str | None = None,
        view: str | None = None,
    ) -> list[str]:
        """Problems with ``values`` of one zone/view/case entry, as sentences (empty: valid).

        Reports unknown fields, fields that do not apply at the time point or view, values of
        the wrong type or out of range, values in skipped fields, and missing required values.
        """
        allowed = {f.key for f in self.fields_for(scope, timepoint=timepoint, view=view)}
        problems = []
        for key, value in values.items():
            if key not in self._by_key:
                problems.append(f"{key}: not a field of protocol {self.name}")
                continue
            if value is None:
                continue
            if key not in allowed:
                problems.append(f"{key}: not recorded here ({scope}, {timepoint}, {view})")
                continue
            if self.is_skipped(key, values):
                problems.append(f"{key}: has a value but the zone is skipped")
                continue
            problem = self._by_key[key].check_value(value)
            if problem:
                problems.append(problem)
        problems.extend(
            f"{key}: required"
            for key in self.missing_fields(scope, values, timepoint=timepoint, view=view)
        )
        return problems

    # ---- derived values
    def effective_value(self, field_key: str, values: Mapping[str, FieldValue]) -> FieldValue:
        """The value summaries and derivations use for ``field_key`` in one entry.

        None when the field is skipped, 0 when ``zero_when`` holds and nothing was entered, the
        computed value for a derived field, else the entered value.
        """
        fld = self.field(field_key)
        if self.is_skipped(field_key, values):
            return None
        if fld.type is FieldType.DERIVED:
            return self.derive(field_key, values)
        value = values.get(field_key)
        if value is None and fld.zero_when is not None and fld.zero_when.holds(values):
            return 0.0
        return value

    def derive(self, field_key: str, values: Mapping[str, FieldValue]) -> str | None:
        """The value of derived field ``field_key`` from the other ``values`` of its entry.

        None when the source value is missing or the entry is skipped.
        """
        fld = self.field(field_key)
        if fld.derive is None:
            raise ProtocolError(f"Field {field_key!r} of protocol {self.name} is not derived.")
        source_value = self.effective_value(fld.derive.source, values)
        if source_value is None or isinstance(source_value, bool | str):
            return None
        rounded = self.field(fld.derive.source).round(float(source_value))
        reached = sum(1 for t in fld.derive.thresholds if rounded >= t)
        return fld.choices[reached]

    def with_derived(
        self, values: Mapping[str, FieldValue], *, scope: Scope | str = Scope.ZONE
    ) -> dict[str, FieldValue]:
        """A copy of ``values`` with every derived field of ``scope`` computed."""
        result = dict(values)
        for fld in self.fields_for(scope):
            if fld.type is FieldType.DERIVED:
                result[fld.key] = self.derive(fld.key, values)
        return result

    # ---- summary
    def summarise(
        self,
        zone_values: Mapping[str, Mapping[str, FieldValue]],
        *,
        timepoint: str | None = None,
    ) -> dict[str, SummaryValue]:
        """Summary scores of one reading at one time point (a pure function).

        Parameters
        ----------
        zone_values : ``{zone key: {field key: value}}``; zones left out are not scored
        timepoint : the time point; fields that do not apply there are ignored

        Returns
        -------
        dict
            ``zones_scored`` (zones with values, not skipped) and ``zones_skipped``; per count
            rule ``<key>`` (zones where every condition holds) and ``<key>_undetermined``
            (scored zones where none fails but some value is missing); per total rule
            ``<key>`` (sum or max, None without any value) and, with bands, ``<key>_band`` (the
            band's label, None without a value or outside every band); per flag rule ``<key>``
            (bool) and ``<key>_zones`` (the zones that raised it, in protocol order).
        """
        for zone_key in zone_values:
            self.zone(zone_key)  # unknown zones are a caller's bug: say so
        scored: list[tuple[str, dict[str, FieldValue]]] = []
        skipped = 0
        for zone in self.zones:
            if zone.key not in zone_values:
                continue
            raw = zone_values[zone.key]
            if self.zone_is_skipped(raw):
                skipped += 1
                continue
            effective = {
                f.key: self.effective_value(f.key, raw)
                for f in self.zone_fields
                if f.applies_at(timepoint)
            }
            scored.append((zone.key, effective))

        summary: dict[str, SummaryValue] = {"zones_scored": len(scored), "zones_skipped": skipped}
        for count in self.counts:
            met = undetermined = 0
            for _, values in scored:
                outcomes = [_matches(values.get(k), allowed) for k, allowed in count.all]
                if all(o is True for o in outcomes):
                    met += 1
                elif False not in outcomes:
                    undetermined += 1
            summary[count.key] = met
            summary[f"{count.key}_undetermined"] = undetermined
        for total in self.totals:
            numbers = [
                float(v)
                for zone_key, values in scored
                if (not total.zones or zone_key in total.zones)
                and (v := values.get(total.field)) is not None
                and not isinstance(v, bool | str)
            ]
            if total.bands:
                summary[f"{total.key}_band"] = None
            if not numbers:
                summary[total.key] = None
                continue
            value = self.field(total.field).round(
                sum(numbers) if total.op == "sum" else max(numbers)
            )
            summary[total.key] = value
            if total.bands:
                summary[f"{total.key}_band"] = next(
                    (band.label for band in total.bands if band.holds(value)), None
                )
        for flag in self.flags:
            zones = tuple(
                key
                for key, values in scored
                if any(_matches(values.get(k), allowed) is True for k, allowed in flag.any)
            )
            summary[flag.key] = bool(zones)
            summary[f"{flag.key}_zones"] = zones
        return summary


def _matches(value: FieldValue, allowed: tuple[str | bool, ...]) -> bool | None:
    """True/False whether ``value`` is allowed; None when the value is missing."""
    if value is None:
        return None
    return any(type(value) is type(a) and value == a for a in allowed)


# --------------------------------------------------------------------------- loading


def canonical_bytes(data: bytes) -> bytes:
    """The bytes a protocol's hash covers: no UTF-8 byte-order mark, LF line endings."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _protocols_dir() -> Any:  # importlib Traversable, untyped across Python versions
    return importlib.resources.files("collarreader") / "resources" / "protocols"


def available_protocols() -> tuple[str, ...]:
    """Names of the protocols shipped with collarreader (``resources/protocols/*.toml``)."""
    return tuple(
        sorted(
            p.name.removesuffix(".toml")
            for p in _protocols_dir().iterdir()
            if p.name.endswith(".toml")
        )
    )


def load_protocol(name_or_path: str | Path = DEFAULT_PROTOCOL) -> Protocol:
    """Load and validate a protocol by shipped name (``"collar-default"``) or file path.

    Parameters
    ----------
    name_or_path : a shipped protocol's name, or the path of a ``.toml`` file (a :class:`Path`,
        or a string containing a path separator or ending in ``.toml``)

    Raises
    ------
    ProtocolError
        The file is missing, unreadable, not TOML, or breaks a rule; the message names the
        file and the offending key.
    """
    text_arg = str(name_or_path)
    is_path = (
        isinstance(name_or_path, Path)
        or "/" in text_arg
        or "\\" in text_arg
        or text_arg.endswith(".toml")
    )
    if is_path:
        path = Path(name_or_path)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ProtocolError(
                f"{path}: cannot read the protocol file ({error.strerror or error}). "
                "Check the path given with --protocol."
            ) from error
        return parse_protocol(data, source=str(path))
    resource = _protocols_dir() / f"{text_arg}.toml"
    if not resource.is_file():
        raise ProtocolError(
            f"No shipped protocol named {text_arg!r}; available: "
            f"{', '.join(available_protocols())}. Give a name from this list or a .toml path."
        )
    return parse_protocol(resource.read_bytes(), source=f"{text_arg}.toml")


def parse_protocol(data: bytes | str, *, source: str = "<protocol>") -> Protocol:
    """Validate protocol text (e.g. the copy a reading set carries) into a :class:`Protocol`.

    ``source`` names the file in error messages.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    canonical = canonical_bytes(raw)
    try:
        text = canonical.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProtocolError(
            f"{source}: not UTF-8 text (byte {error.start}). Save the protocol as UTF-8."
        ) from error
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProtocolError(f"{source}: not valid TOML: {error}. Fix the syntax.") from error
    return _Parser(source).protocol(document, text, hashlib.sha256(canonical).hexdigest())


class _Parser:
    """Turns a TOML document into a Protocol, raising ProtocolError naming file and key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> ProtocolError:
        return ProtocolError(f"{self.source}: {where}: {problem}")

    def keys(
        self, table: Mapping[str, Any], where: str, required: set[str], optional: set[str]
    ) -> None:
        for key in table:
            if key not in required | optional:
                raise self.fail(
                    where,
                    f"unknown key {key!r} (a typo?). Allowed keys: "
                    f"{', '.join(sorted(required | optional))}.",
                )
        for key in sorted(required):
            if key not in table:
                raise self.fail(where, f"missing required key {key!r}.")

    def string(self, table: Mapping[str, Any], key: str, where: str) -> str:
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key}", f"must be a non-empty string, not {value!r}.")
        return value

    def ident(self, table: Mapping[str, Any], key: str, where: str) -> str:
        value = self.string(table, key, where)
        if not _KEY_PATTERN.match(value):
            raise self.fail(
                f"{where}.{key}",
                f"{value!r} is not a valid key: use lower-case letters, digits and '_', "
                "starting with a letter.",
            )
        return value

    def strings(self, table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = table[key]
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v.strip() for v in value)
        ):
            raise self.fail(
                f"{where}.{key}", f"must be a non-empty list of strings, not {value!r}."
            )
        duplicates = sorted({v for v in value if value.count(v) > 1})
        if duplicates:
            raise self.fail(f"{where}.{key}", f"duplicate entries {duplicates}.")
        return tuple(value)

    def number(self, table: Mapping[str, Any], key: str, where: str) -> float | None:
        value = table.get(key)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.fail(f"{where}.{key}", f"must be a finite number, not {value!r}.")
        return float(value)

    def table_list(self, document: Mapping[str, Any], key: str, where: str) -> list[Any]:
        value = document.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(where, f"{key!r} must be an array of tables ([[{key}]]).")
        return value

    # ---- top level
    def protocol(self, doc: Mapping[str, Any], text: str, sha256: str) -> Protocol:
        self.keys(
            doc,
            "top level",
            {"format", "schema", "name", "version", "views", "timepoints", "zones", "fields"},
            {"title", "description", "skip_zone_when", "summary", "require_manual_calibration"},
        )
        if doc["format"] != FORMAT:
            raise self.fail("format", f"is {doc['format']!r}; a protocol file says {FORMAT!r}.")
        schema = doc["schema"]
        if isinstance(schema, bool) or not isinstance(schema, int):
            raise self.fail("schema", f"must be an integer, not {schema!r}.")
        if schema != SCHEMA_VERSION:
            raise self.fail(
                "schema",
                f"version {schema} is not supported (this collarreader reads schema "
                f"{SCHEMA_VERSION}). Use a matching collarreader version.",
            )
        name = self.string(doc, "name", "top level")
        if not _NAME_PATTERN.match(name):
            raise self.fail("name", f"{name!r}: use letters, digits, '.', '_' and '-' only.")
        version = self.string(doc, "version", "top level")
        title = self.string(doc, "title", "top level") if "title" in doc else name
        description = doc.get("description", "")
        if not isinstance(description, str):
            raise self.fail("description", "must be a string.")
        views = self.strings(doc, "views", "top level")
        timepoints = self.strings(doc, "timepoints", "top level")

        zones = self.zones(doc, views)
        fields = self.fields(doc, views, timepoints)
        by_key = {f.key: f for f in fields}
        self.check_references(fields, by_key)

        skip = None
        if "skip_zone_when" in doc:
            skip = self.condition(doc["skip_zone_when"], "skip_zone_when", by_key)
            if by_key[skip.field].scope is not Scope.ZONE:
                raise self.fail("skip_zone_when.field", f"{skip.field!r} is not a zone field.")
        counts, totals, flags = self.summary(
            doc.get("summary", {}), by_key, frozenset(z.key for z in zones)
        )
        require_manual = doc.get("require_manual_calibration", False)
        if not isinstance(require_manual, bool):
            raise self.fail(
                "require_manual_calibration", f"must be true or false, not {require_manual!r}."
            )
        return Protocol(
            name=name,
            version=version,
            sha256=sha256,
            text=text,
            title=title,
            description=description.strip(),
            views=views,
            timepoints=timepoints,
            zones=zones,
            zone_fields=tuple(f for f in fields if f.scope is Scope.ZONE),
            case_fields=tuple(f for f in fields if f.scope is not Scope.ZONE),
            skip_zone_when=skip,
            require_manual_calibration=require_manual,
            counts=counts,
            totals=totals,
            flags=flags,
            source=self.source,
        )

    def zones(self, doc: Mapping[str, Any], views: tuple[str, ...]) -> tuple[Zone, ...]:
        zones: list[Zone] = []
        for index, table in enumerate(self.table_list(doc, "zones", "zones")):
            where = f"zones[{index}]"
            self.keys(table, where, {"key", "view"}, {"label"})
            key = self.ident(table, "key", where)
            where = f"zones[{index}] (key {key!r})"
            if any(z.key == key for z in zones):
                raise self.fail(where, f"duplicate zone key {key!r}.")
            view = self.string(table, "view", where)
            if view not in views:
                raise self.fail(f"{where}.view", f"unknown view {view!r}; views are {views}.")
            label = self.string(table, "label", where) if "label" in table else key
            zones.append(Zone(key=key, label=label, view=view))
        if not zones:
            raise self.fail("zones", "the protocol defines no zones ([[zones]]).")
        return tuple(zones)

    def fields(
        self, doc: Mapping[str, Any], views: tuple[str, ...], timepoints: tuple[str, ...]
    ) -> tuple[Field, ...]:
        fields: list[Field] = []
        for index, table in enumerate(self.table_list(doc, "fields", "fields")):
            fld = self.field(table, f"fields[{index}]", views, timepoints)
            if any(f.key == fld.key for f in fields):
                raise self.fail(f"fields[{index}] (key {fld.key!r})", "duplicate field key.")
            fields.append(fld)
        if not fields:
            raise self.fail("fields", "the protocol defines no fields ([[fields]]).")
        return tuple(fields)

    def field(
        self,
        table: Mapping[str, Any],
        where: str,
        views: tuple[str, ...],
        timepoints: tuple[str, ...],
    ) -> Field:
        self.keys(
            table,
            where,
            {"key", "scope", "type"},
            {
                "label", "help", "choices", "choice_labels", "level", "unit", "minimum",
                "maximum", "decimals", "required", "timepoints", "measured_by", "view",
                "derive", "zero_when", "required_when",
            },
        )  # fmt: skip
        key = self.ident(table, "key", where)
        where = f"{where} (key {key!r})"
        try:
            ftype = FieldType(table["type"])
        except ValueError:
            raise self.fail(
                f"{where}.type",
                f"unknown field type {table['type']!r}; use one of "
                f"{', '.join(t.value for t in FieldType)}.",
            ) from None
        try:
            scope = Scope(table["scope"])
        except ValueError:
            raise self.fail(
                f"{where}.scope",
                f"unknown scope {table['scope']!r}; use one of "
                f"{', '.join(s.value for s in Scope)}.",
            ) from None
        allowed_levels = _LEVELS_FOR_TYPE[ftype]
        if "level" in table:
            try:
                level = Level(table["level"])
            except ValueError:
                raise self.fail(
                    f"{where}.level",
                    f"unknown level {table['level']!r}; use one of "
                    f"{', '.join(v.value for v in Level)}.",
                ) from None
            if level not in allowed_levels:
                raise self.fail(
                    f"{where}.level",
                    f"a {ftype.value} field cannot be {level.value}; use "
                    f"{' or '.join(v.value for v in allowed_levels)}.",
                )
        else:
            level = allowed_levels[0]

        choices: tuple[str, ...] = ()
        labels: tuple[str, ...] = ()
        if ftype in (FieldType.CHOICE, FieldType.DERIVED):
            if "choices" not in table:
                raise self.fail(where, f"a {ftype.value} field needs 'choices'.")
            choices = self.strings(table, "choices", where)
            if len(choices) < 2:
                raise self.fail(f"{where}.choices", "needs at least two choices.")
            if "choice_labels" in table:
                labels = self.strings(table, "choice_labels", where)
                if len(labels) != len(choices):
                    raise self.fail(
                        f"{where}.choice_labels",
                        f"has {len(labels)} labels for {len(choices)} choices.",
                    )
        else:
            for key_ in ("choices", "choice_labels"):
                if key_ in table:
                    raise self.fail(f"{where}.{key_}", f"a {ftype.value} field has no choices.")

        minimum = self.number(table, "minimum", where)
        maximum = self.number(table, "maximum", where)
        decimals = table.get("decimals")
        if ftype is not FieldType.NUMBER:
            for key_ in ("minimum", "maximum", "decimals", "unit", "measured_by", "zero_when"):
                if key_ in table:
                    raise self.fail(
                        f"{where}.{key_}", f"only number fields have {key_!r} ({ftype.value})."
                    )
        if minimum is not None and maximum is not None and minimum > maximum:
            raise self.fail(
                where, f"minimum {minimum} is greater than maximum {maximum}; swap them."
            )
        if decimals is not None and (
            isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 6
        ):
            raise self.fail(f"{where}.decimals", f"must be an integer 0–6, not {decimals!r}.")
        unit = self.string(table, "unit", where) if "unit" in table else None

        required = table.get("required", False)
        if not isinstance(required, bool):
            raise self.fail(f"{where}.required", f"must be true or false, not {required!r}.")
        if ftype is FieldType.DERIVED and (required or "required_when" in table):
            raise self.fail(f"{where}.required", "a derived field is computed, never required.")

        field_timepoints = None
        if "timepoints" in table:
            field_timepoints = self.strings(table, "timepoints", where)
            unknown = [t for t in field_timepoints if t not in timepoints]
            if unknown:
                raise self.fail(
                    f"{where}.timepoints",
                    f"unknown time points {unknown}; the protocol's are {timepoints}.",
                )

        measured_by = None
        if "measured_by" in table:
            try:
                measured_by = ToolKind(table["measured_by"])
            except ValueError:
                raise self.fail(
                    f"{where}.measured_by",
                    f"unknown tool {table['measured_by']!r}; tools are "
                    f"{', '.join(t.value for t in ToolKind)}.",
                ) from None

        view = None
        if "view" in table:
            if scope is Scope.ZONE:
                raise self.fail(f"{where}.view", "zone fields take their view from the zone.")
            view = self.string(table, "view", where)
            if view not in views:
                raise self.fail(f"{where}.view", f"unknown view {view!r}; views are {views}.")

        derive = None
        if ftype is FieldType.DERIVED:
            if "derive" not in table:
                raise self.fail(where, "a derived field needs 'derive = {from, thresholds}'.")
            derive = self.derivation(table["derive"], f"{where}.derive", len(choices))
        elif "derive" in table:
            raise self.fail(f"{where}.derive", "only derived fields have a derive rule.")

        # Conditions are checked against their fields once all fields are known.
        zero_when = self.raw_condition(table, "zero_when", where)
        required_when = self.raw_condition(table, "required_when", where)
        return Field(
            key=key,
            label=self.string(table, "label", where) if "label" in table else key,
            type=ftype,
            scope=scope,
            choices=choices,
            level=level,
            unit=unit,
            minimum=minimum,
            maximum=maximum,
            decimals=decimals,
            required=required,
            timepoints=field_timepoints,
            measured_by=measured_by,
            view=view,
            help=self.string(table, "help", where) if "help" in table else "",
            choice_labels=labels,
            derive=derive,
            zero_when=zero_when,
            required_when=required_when,
        )

    def derivation(self, table: Any, where: str, n_choices: int) -> Derivation:
        if not isinstance(table, dict):
            raise self.fail(where, "must be a table {from = ..., thresholds = [...]}.")
        self.keys(table, where, {"from", "thresholds"}, set())
        source = self.ident(table, "from", where)
        thresholds = table["thresholds"]
        if not isinstance(thresholds, list) or not all(
            isinstance(t, int | float) and not isinstance(t, bool) for t in thresholds
        ):
            raise self.fail(
                f"{where}.thresholds", f"must be a list of numbers, not {thresholds!r}."
            )
        if len(thresholds) != n_choices - 1:
            raise self.fail(
                f"{where}.thresholds",
                f"{len(thresholds)} thresholds for {n_choices} choices; give one fewer "
                "threshold than choices.",
            )
        if any(b <= a for a, b in itertools.pairwise(thresholds)):
            raise self.fail(f"{where}.thresholds", f"must increase strictly: {thresholds}.")
        return Derivation(source=source, thresholds=tuple(float(t) for t in thresholds))

    def raw_condition(self, table: Mapping[str, Any], key: str, where: str) -> Condition | None:
        if key not in table:
            return None
        value = table[key]
        where = f"{where}.{key}"
        if not isinstance(value, dict):
            raise self.fail(where, "must be a table {field = ..., value = ...}.")
        self.keys(value, where, {"field", "value"}, set())
        if not isinstance(value["value"], str | bool):
            raise self.fail(
                f"{where}.value", f"must be a string or true/false: {value['value']!r}."
            )
        return Condition(field=self.ident(value, "field", where), value=value["value"])

    def condition(self, value: Any, where: str, by_key: Mapping[str, Field]) -> Condition:
        condition = self.raw_condition({"c": value}, "c", where.rsplit(".", 1)[0])
        if condition is None:  # pragma: no cover - the key is always present
            raise self.fail(where, "missing.")
        self.check_condition(condition, where, by_key)
        return condition

    def check_condition(
        self, condition: Condition, where: str, by_key: Mapping[str, Field]
    ) -> None:
        target = by_key.get(condition.field)
        if target is None:
            raise self.fail(f"{where}.field", f"unknown field {condition.field!r}.")
        self.check_allowed_value(target, condition.value, f"{where}.value")

    def check_allowed_value(self, target: Field, value: Any, where: str) -> None:
        if target.type in (FieldType.CHOICE, FieldType.DERIVED):
            if not isinstance(value, str) or value not in target.choices:
                raise self.fail(
                    where, f"{value!r} is not a choice of {target.key!r} {target.choices}."
                )
        elif target.type is FieldType.BOOL:
            if not isinstance(value, bool):
                raise self.fail(where, f"{target.key!r} is true/false, not {value!r}.")
        else:
            raise self.fail(
                where,
                f"{target.key!r} is a {target.type.value} field; conditions need "
                "choice, derived or bool fields.",
            )

    def check_references(self, fields: tuple[Field, ...], by_key: Mapping[str, Field]) -> None:
        for fld in fields:
            where = f"field {fld.key!r}"
            for name in ("zero_when", "required_when"):
                condition = getattr(fld, name)
                if condition is None:
                    continue
                self.check_condition(condition, f"{where}.{name}", by_key)
                if by_key[condition.field].scope is not fld.scope:
                    raise self.fail(
                        f"{where}.{name}.field",
                        f"{condition.field!r} is not a {fld.scope.value} field.",
                    )
            if fld.derive is not None:
                source = by_key.get(fld.derive.source)
                if source is None:
                    raise self.fail(f"{where}.derive.from", f"unknown field {fld.derive.source!r}.")
                if source.type is not FieldType.NUMBER or source.scope is not fld.scope:
                    raise self.fail(
                        f"{where}.derive.from",
                        f"{source.key!r} must be a number field of the same scope.",
                    )

    def value_sets(
        self, table: Any, where: str, by_key: Mapping[str, Field]
    ) -> tuple[tuple[str, tuple[str | bool, ...]], ...]:
        if not isinstance(table, dict) or not table:
            raise self.fail(where, "must be a non-empty table {field = [allowed values]}.")
        result = []
        for key, allowed in table.items():
            target = by_key.get(key)
            if target is None or target.scope is not Scope.ZONE:
                raise self.fail(f"{where}.{key}", f"unknown zone field {key!r}.")
            if not isinstance(allowed, list) or not allowed:
                raise self.fail(f"{where}.{key}", "must be a non-empty list of values.")
            for value in allowed:
                self.check_allowed_value(target, value, f"{where}.{key}")
            result.append((key, tuple(allowed)))
        return tuple(result)

    def bands(self, value: Any, where: str) -> tuple[Band, ...]:
        if not isinstance(value, list):
            raise self.fail(where, "must be a list of tables ({ label, minimum, maximum }).")
        bands = []
        for index, table in enumerate(value):
            at = f"{where}[{index}]"
            if not isinstance(table, dict):
                raise self.fail(at, "must be a table ({ label, minimum, maximum }).")
            self.keys(table, at, {"label"}, {"minimum", "maximum"})
            low, high = self.number(table, "minimum", at), self.number(table, "maximum", at)
            if low is not None and high is not None and low > high:
                raise self.fail(at, f"minimum {low} is above maximum {high}.")
            bands.append(Band(self.string(table, "label", at), low, high))
        return tuple(bands)

    def summary(
        self, table: Any, by_key: Mapping[str, Field], zone_keys: frozenset[str] = frozenset()
    ) -> tuple[tuple[CountRule, ...], tuple[TotalRule, ...], tuple[FlagRule, ...]]:
        if not isinstance(table, dict):
            raise self.fail("summary", "must be a table ([summary]).")
        self.keys(table, "summary", set(), {"counts", "totals", "flags"})
        seen: set[str] = {"zones_scored", "zones_skipped"}

        def new_key(rule: Mapping[str, Any], where: str, suffix: str) -> str:
            key = self.ident(rule, "key", where)
            for produced in (key, f"{key}{suffix}") if suffix else (key,):
                if produced in seen:
                    raise self.fail(f"{where}.key", f"duplicate summary key {produced!r}.")
                seen.add(produced)
            return key

        counts = []
        for index, rule in enumerate(self.table_list(table, "counts", "summary")):
            where = f"summary.counts[{index}]"
            self.keys(rule, where, {"key", "all"}, {"label"})
            key = new_key(rule, where, "_undetermined")
            counts.append(
                CountRule(
                    key=key,
                    label=self.string(rule, "label", where) if "label" in rule else key,
                    all=self.value_sets(rule["all"], f"{where}.all", by_key),
                )
            )
        totals = []
        for index, rule in enumerate(self.table_list(table, "totals", "summary")):
            where = f"summary.totals[{index}]"
            self.keys(rule, where, {"key", "field", "op"}, {"label", "zones", "bands"})
            key = new_key(rule, where, "_band" if "bands" in rule else "")
            target = by_key.get(rule["field"])
            if (
                target is None
                or target.type is not FieldType.NUMBER
                or target.scope is not Scope.ZONE
            ):
                raise self.fail(f"{where}.field", f"{rule['field']!r} is not a zone number field.")
            if rule["op"] not in ("sum", "max"):
                raise self.fail(f"{where}.op", f"unknown operation {rule['op']!r}; use sum or max.")
            zones = self.strings(rule, "zones", where) if "zones" in rule else ()
            for zone_key in zones:
                if zone_key not in zone_keys:
                    raise self.fail(f"{where}.zones", f"unknown zone {zone_key!r}.")
            totals.append(
                TotalRule(
                    key=key,
                    label=self.string(rule, "label", where) if "label" in rule else key,
                    field=target.key,
                    op=rule["op"],
                    zones=zones,
                    bands=self.bands(rule.get("bands", []), f"{where}.bands"),
                )
            )
        flags = []
        for index, rule in enumerate(self.table_list(table, "flags", "summary")):
            where = f"summary.flags[{index}]"
            self.keys(rule, where, {"key", "any"}, {"label"})
            key = new_key(rule, where, "_zones")
            flags.append(
                FlagRule(
                    key=key,
                    label=self.string(rule, "label", where) if "label" in rule else key,
                    any=self.value_sets(rule["any"], f"{where}.any", by_key),
                )
            )
        return tuple(counts), tuple(totals), tuple(flags)
