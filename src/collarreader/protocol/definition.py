"""The :class:`Protocol`: what a reader scores, and the summary rules applied to the scores.

Part of :mod:`collarreader.protocol` (see its docstring for the rules).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from collarreader.errors import ProtocolError
from collarreader.protocol.model import (
    Condition,
    CountRule,
    Field,
    FieldType,
    FieldValue,
    FlagRule,
    Scope,
    SummaryValue,
    TotalRule,
    Zone,
)

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
