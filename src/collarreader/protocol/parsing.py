"""Strict parsing of a protocol's TOML: every key checked, every error naming its place.

Part of :mod:`collarreader.protocol` (see its docstring for the rules).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from collarreader.errors import ProtocolError
from collarreader.protocol.definition import Protocol
from collarreader.protocol.model import (
    _KEY_PATTERN,
    _LEVELS_FOR_TYPE,
    _NAME_PATTERN,
    FORMAT,
    SCHEMA_VERSION,
    Band,
    Condition,
    CountRule,
    Derivation,
    Field,
    FieldType,
    FlagRule,
    Level,
    Scope,
    ToolKind,
    TotalRule,
    Zone,
)


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

    def label(self, table: Mapping[str, Any], where: str, key: str) -> str:
        """The optional ``label`` of a table; without one, the reader sees its ``key``."""
        return self.string(table, "label", where) if "label" in table else key

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
            label = self.label(table, where, key)
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
            label=self.label(table, where, key),
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
                    label=self.label(rule, where, key),
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
                    label=self.label(rule, where, key),
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
                    label=self.label(rule, where, key),
                    any=self.value_sets(rule["any"], f"{where}.any", by_key),
                )
            )
        return tuple(counts), tuple(totals), tuple(flags)
