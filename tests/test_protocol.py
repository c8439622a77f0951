"""Tests of collarreader.protocol: the shipped protocols, validation, derivation, summaries."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from collarreader.errors import ProtocolError
from collarreader.protocol import (
    Field,
    FieldType,
    Level,
    Protocol,
    Scope,
    ToolKind,
    Zone,
    available_protocols,
    load_protocol,
    parse_protocol,
)

DEFAULT_FILE = Path(__file__).parents[1] / "resources" / "protocols" / "collar-default.toml"


@pytest.fixture(scope="module")
def default() -> Protocol:
    return load_protocol()


@pytest.fixture(scope="module")
def default_text() -> str:
    return DEFAULT_FILE.read_text(encoding="utf-8")


def write_variant(tmp_path: Path, text: str, old: str, new: str) -> Path:
    """The default protocol with ``old`` replaced by ``new`` (which must occur)."""
    assert old in text, f"test setup: {old!r} not in the protocol"
    path = tmp_path / "variant.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


# ------------------------------------------------------------------ shipped protocols


def test_shipped_protocols_are_listed() -> None:
    assert {"collar-default", "collar-gruen"} <= set(available_protocols())


def test_default_protocol_matches_the_design(default: Protocol) -> None:
    assert default.name == "collar-default"
    assert default.version == "1.1.0"
    assert default.views == ("AP", "LAT")
    assert default.timepoints == ("6m", "12m")
    assert default.zones == (
        Zone("medial", "Medial", "AP"),
        Zone("lateral", "Lateral", "AP"),
        Zone("anterior", "Anterior", "LAT"),
        Zone("posterior", "Posterior", "LAT"),
    )
    assert [z.key for z in default.zones_for("LAT")] == ["anterior", "posterior"]
    assert [f.key for f in default.zone_fields] == [
        "assessable",
        "bridging",
        "bridging_extent",
        "rll_present",
        "rll_width_mm",
        "rll_grade",
        "rll_progression",
        "remodeling",
        "osteolysis",
    ]
    assert [f.key for f in default.case_fields] == [
        "image_quality",
        "cortical_thickness_medial_mm",
        "cortical_thickness_lateral_mm",
        "migration_mm",
        "comment",
    ]
    assert [f.key for f in default.view_fields] == ["image_quality", "migration_mm"]


def test_default_field_attributes(default: Protocol) -> None:
    assessable = default.field("assessable")
    assert assessable.type is FieldType.CHOICE
    assert assessable.choices == ("yes", "no")
    assert assessable.level is Level.NOMINAL
    assert assessable.required
    bridging = default.field("bridging")
    assert bridging.choices == ("none", "partial", "complete")
    assert bridging.level is Level.ORDINAL
    extent = default.field("bridging_extent")
    assert (extent.unit, extent.minimum, extent.maximum) == ("%", 0.0, 100.0)
    assert extent.measured_by is ToolKind.BRIDGING
    width = default.field("rll_width_mm")
    assert (width.unit, width.minimum, width.maximum, width.decimals) == ("mm", 0.0, 10.0, 1)
    assert width.level is Level.CONTINUOUS
    assert width.measured_by is ToolKind.RLL_CALIPER
    grade = default.field("rll_grade")
    assert grade.type is FieldType.DERIVED
    assert grade.level is Level.ORDINAL
    assert grade.choice_label("ge2mm") == "≥ 2 mm"
    progression = default.field("rll_progression")
    assert progression.timepoints == ("12m",)
    assert progression.applies_at("12m")
    assert not progression.applies_at("6m")
    assert default.field("osteolysis").type is FieldType.BOOL
    quality = default.field("image_quality")
    assert quality.scope is Scope.VIEW
    assert quality.level is Level.ORDINAL
    cortical = default.field("cortical_thickness_medial_mm")
    assert (cortical.scope, cortical.view, cortical.unit) == (Scope.CASE, "AP", "mm")
    assert cortical.measured_by is ToolKind.CORTICAL_CALIPER
    comment = default.field("comment")
    assert (comment.type, comment.level) == (FieldType.TEXT, Level.TEXT)


def test_fields_for_filters_by_timepoint_and_view(default: Protocol) -> None:
    at_6m = [f.key for f in default.fields_for("zone", timepoint="6m")]
    assert "rll_progression" not in at_6m
    assert "rll_progression" in [f.key for f in default.fields_for("zone", timepoint="12m")]
    lat_case = [f.key for f in default.fields_for(Scope.CASE, view="LAT")]
    assert lat_case == ["comment"]
    ap_case = [f.key for f in default.fields_for(Scope.CASE, view="AP")]
    assert ap_case == ["cortical_thickness_medial_mm", "cortical_thickness_lateral_mm", "comment"]


def test_unknown_field_and_zone_are_errors(default: Protocol) -> None:
    with pytest.raises(ProtocolError, match="no field 'bridgin'"):
        default.field("bridgin")
    with pytest.raises(ProtocolError, match="no zone 'distal'"):
        default.zone("distal")


def test_protocol_is_frozen(default: Protocol) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.version = "2"  # type: ignore[misc]
    assert isinstance(default.zone_fields[0], Field)
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.zone_fields[0].required = False  # type: ignore[misc]


def test_gruen_protocol_works_through_the_same_api() -> None:
    gruen = load_protocol("collar-gruen")
    assert gruen.views == ("AP", "LAT")
    assert [z.key for z in gruen.zones_for("AP")] == [f"gruen{i}" for i in range(1, 8)]
    assert [z.key for z in gruen.zones_for("LAT")] == [f"gruen{i}" for i in range(8, 15)]
    values = {"assessable": "yes", "rll_present": True, "rll_width_mm": 1.5, "osteolysis": False}
    assert gruen.derive("rll_grade", values) == "1to2mm"
    summary = gruen.summarise(
        {
            "gruen1": values,
            "gruen7": {"assessable": "yes", "rll_present": False, "osteolysis": True},
            "gruen8": {"assessable": "no"},
        }
    )
    assert summary["zones_scored"] == 2
    assert summary["zones_skipped"] == 1
    assert summary["stable_zones"] == 0
    assert summary["zones_with_rll"] == 1
    assert summary["rll_width_sum_mm"] == 1.5
    assert summary["loosening_signs"] is True
    assert summary["loosening_signs_zones"] == ("gruen7",)
    assert gruen.sha256 != load_protocol().sha256


# ------------------------------------------------------------------ identity: the hash


def test_load_by_path_equals_load_by_name(default: Protocol) -> None:
    by_path = load_protocol(DEFAULT_FILE)
    assert by_path.sha256 == default.sha256
    assert by_path.text == default.text
    assert load_protocol(str(DEFAULT_FILE)).sha256 == default.sha256


def test_hash_ignores_line_endings_and_bom(tmp_path: Path, default: Protocol) -> None:
    lf = DEFAULT_FILE.read_bytes()
    assert b"\r\n" not in lf
    crlf = tmp_path / "crlf.toml"
    crlf.write_bytes(b"\xef\xbb\xbf" + lf.replace(b"\n", b"\r\n"))
    loaded = load_protocol(crlf)
    assert loaded.sha256 == default.sha256
    assert loaded.text == default.text


def test_hash_changes_when_the_file_changes(tmp_path: Path, default_text: str) -> None:
    path = write_variant(tmp_path, default_text, 'version = "1.1.0"', 'version = "1.1.1"')
    assert load_protocol(path).sha256 != load_protocol().sha256
    comment_only = tmp_path / "comment.toml"
    comment_only.write_text(default_text + "# a comment\n", encoding="utf-8")
    assert load_protocol(comment_only).sha256 != load_protocol().sha256


def test_text_round_trips_through_parse(default: Protocol) -> None:
    again = parse_protocol(default.text, source="readingset/protocol.toml")
    assert again.source == "readingset/protocol.toml"
    assert again == dataclasses.replace(default, source=again.source)
    assert again.sha256 == default.sha256
    assert again.zones == default.zones
    assert again.fields == default.fields


# ------------------------------------------------------------------ validation errors


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('type = "bool"', 'type = "boolean"', r"unknown field type 'boolean'"),
        ('choices = ["yes", "no"]\n', "", r"'assessable'.*needs 'choices'"),
        ("minimum = 0\nmaximum = 10\n", "minimum = 10\nmaximum = 0\n", "minimum 10.0 is greater"),
        ('key = "lateral"', 'key = "medial"', r"duplicate zone key 'medial'"),
        ('key = "remodeling"', 'key = "bridging"', r"'bridging'.*duplicate field key"),
        ('view = "LAT"', 'view = "OBL"', r"zones\[2\].*unknown view 'OBL'"),
        ('version = "1.1.0"\n', "", "missing required key 'version'"),
        ("schema = 1\n", "schema = 2\n", "schema: version 2 is not supported"),
        ('format = "collarreader-protocol"', 'format = "other"', "format: is 'other'"),
        ("required = true", "requierd = true", r"unknown key 'requierd' \(a typo\?\)"),
        ('title = "', 'titel = "', r"top level: unknown key 'titel'"),
        (
            "schema = 1\n",
            'schema = 1\nrequire_manual_calibration = "yes"\n',
            r"require_manual_calibration: must be true or false, not 'yes'",
        ),
        ("decimals = 1", "decimals = 1.5", r"decimals: must be an integer"),
        ('level = "nominal"', 'level = "interval"', r"unknown level 'interval'"),
        (
            'type = "text"\nlevel = "text"',
            'type = "text"\nlevel = "ordinal"',
            "a text field cannot",
        ),
        ('timepoints = ["12m"]', 'timepoints = ["24m"]', r"unknown time points \['24m'\]"),
        ('measured_by = "bridging"', 'measured_by = "ruler"', r"unknown tool 'ruler'"),
        ('scope = "view"', 'scope = "image"', r"unknown scope 'image'"),
        ("thresholds = [0.1, 1.0, 2.0]", "thresholds = [0.1, 2.0]", "2 thresholds for 4 choices"),
        ("thresholds = [0.1, 1.0, 2.0]", "thresholds = [0.1, 2.0, 1.0]", "must increase strictly"),
        ('from = "rll_width_mm"', 'from = "rll_widht_mm"', r"derive.from: unknown field"),
        ('from = "rll_width_mm"', 'from = "osteolysis"', r"must be a number field"),
        ('value = "no" }', 'value = "maybe" }', r"skip_zone_when.value: 'maybe' is not a choice"),
        ('{ field = "assessable"', '{ field = "asessable"', r"skip_zone_when.field: unknown field"),
        ("value = false }", 'value = "no" }', r"zero_when.value: 'rll_present' is true/false"),
        ('rll_grade = ["ge2mm"]', 'rll_grade = ["gt2mm"]', r"summary.flags\[0\].any.rll_grade"),
        ('op = "max"', 'op = "mean"', r"unknown operation 'mean'"),
        (
            'field = "rll_width_mm"\nop = "sum"',
            'field = "bridging"\nop = "sum"',
            "not a zone number",
        ),
        ('key = "rll_width_max_mm"', 'key = "rll_width_sum_mm"', "duplicate summary key"),
        ("osteolysis = [false] }", "osteolysis = [false], colour = [true] }", "unknown zone field"),
        ('unit = "%"', 'unit = "%"\nchoices = ["a", "b"]', r"a number field has no choices"),
        (
            'type = "text"\nlevel = "text"',
            'type = "text"\nchoices = ["a", "b"]',
            "text field has no",
        ),
        ('choice_labels = ["none",', "choice_labels = [", "has 3 labels for 4 choices"),
        ('key = "comment"', 'key = "Comment"', r"'Comment' is not a valid key"),
        ('views = ["AP", "LAT"]', 'views = ["AP", "AP"]', r"views: duplicate entries \['AP'\]"),
        ('[[zones]]\nkey = "medial"', '[[zones]]\nkey = "medial"\nkey = "x"', "not valid TOML"),
        ('scope = "case"\nview = "AP"', 'scope = "case"\nview = "OBL"', r"unknown view 'OBL'"),
        ('label = "Osteolysis"\nscope = "zone"', 'scope = "zone"\nview = "AP"', "zone fields take"),
    ],
)
def test_invalid_protocols_are_rejected(
    tmp_path: Path, default_text: str, old: str, new: str, message: str
) -> None:
    path = write_variant(tmp_path, default_text, old, new)
    with pytest.raises(ProtocolError, match=message) as caught:
        load_protocol(path)
    assert str(path) in str(caught.value)


def test_missing_file_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match=r"absent\.toml: cannot read"):
        load_protocol(tmp_path / "absent.toml")
    with pytest.raises(ProtocolError, match=r"No shipped protocol named 'nope'.*collar-default"):
        load_protocol("nope")


def test_non_utf8_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(DEFAULT_FILE.read_bytes().replace(b"Remodelling", b"Remodell\xe9"))
    with pytest.raises(ProtocolError, match="not UTF-8"):
        load_protocol(path)


def test_minimal_protocol_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "minimal.toml"
    path.write_text(
        'format = "collarreader-protocol"\nschema = 1\nname = "mini"\nversion = "0.1"\n'
        'views = ["AP"]\ntimepoints = ["6m"]\n'
        '[[zones]]\nkey = "z1"\nview = "AP"\n'
        '[[fields]]\nkey = "ok"\nscope = "zone"\ntype = "bool"\n',
        encoding="utf-8",
    )
    mini = load_protocol(path)
    assert mini.title == "mini"
    assert mini.zones == (Zone("z1", "z1", "AP"),)
    assert mini.field("ok").level is Level.NOMINAL
    assert mini.skip_zone_when is None
    assert mini.summarise({"z1": {"ok": True}}) == {"zones_scored": 1, "zones_skipped": 0}


# ------------------------------------------------------------------ derivation


@pytest.mark.parametrize(
    ("width_mm", "grade"),
    [
        (0.0, "none"),
        (0.04, "none"),
        (0.05, "lt1mm"),  # rounds half up to 0.1 mm, the smallest visible width
        (0.1, "lt1mm"),
        (0.94, "lt1mm"),
        (0.95, "1to2mm"),
        (1.0, "1to2mm"),
        (1.9, "1to2mm"),
        (1.949, "1to2mm"),
        (1.95, "ge2mm"),
        (2.0, "ge2mm"),
        (10.0, "ge2mm"),
    ],
)
def test_rll_grade_boundaries(default: Protocol, width_mm: float, grade: str) -> None:
    values = {"assessable": "yes", "rll_present": True, "rll_width_mm": width_mm}
    assert default.derive("rll_grade", values) == grade


def test_rll_grade_without_a_width(default: Protocol) -> None:
    assert default.derive("rll_grade", {"assessable": "yes", "rll_present": True}) is None
    assert default.derive("rll_grade", {"assessable": "yes", "rll_present": False}) == "none"
    assert default.derive("rll_grade", {"assessable": "no", "rll_width_mm": 3.0}) is None
    assert default.with_derived({"rll_present": False})["rll_grade"] == "none"
    with pytest.raises(ProtocolError, match="not derived"):
        default.derive("bridging", {})


# ------------------------------------------------------------------ skipping and requirements


def test_not_assessable_skips_the_other_zone_fields(default: Protocol) -> None:
    skipped = {"assessable": "no"}
    assert default.zone_is_skipped(skipped)
    assert default.is_skipped("bridging", skipped)
    assert not default.is_skipped("assessable", skipped)
    assert not default.is_skipped("bridging", {"assessable": "yes"})
    assert not default.is_skipped("image_quality", skipped)
    assert [f.key for f in default.required_fields("zone", skipped)] == ["assessable"]
    assert default.missing_fields("zone", skipped) == ()
    assert default.check_values("zone", skipped) == []
    assert default.check_values("zone", {"assessable": "no", "bridging": "none"}) == [
        "bridging: has a value but the zone is skipped"
    ]


def test_required_fields_follow_values_and_timepoint(default: Protocol) -> None:
    empty = [f.key for f in default.required_fields("zone", {}, timepoint="12m")]
    assert empty == ["assessable", "bridging", "rll_present", "remodeling", "osteolysis"]
    with_line = {"assessable": "yes", "rll_present": True}
    assert "rll_width_mm" in [f.key for f in default.required_fields("zone", with_line)]
    complete = {
        "assessable": "yes",
        "bridging": "partial",
        "rll_present": False,
        "remodeling": "none",
        "osteolysis": False,
    }
    assert default.missing_fields("zone", complete, timepoint="6m") == ()
    assert default.check_values("zone", complete, timepoint="6m") == []
    assert default.missing_fields(Scope.VIEW, {}) == ("image_quality",)


def test_check_values_reports_each_problem(default: Protocol) -> None:
    problems = default.check_values(
        "zone",
        {
            "assessable": "yes",
            "bridging": "total",
            "rll_present": 1,
            "rll_width_mm": 12.0,
            "bridging_extent": -1,
            "remodeling": "none",
            "osteolysis": False,
            "rll_progression": "new",
            "colour": "red",
        },
        timepoint="6m",
    )
    assert problems == [
        "bridging: 'total' is not one of none, partial, complete",
        "rll_present: 1 is not true or false",
        "rll_width_mm: 12.0 is above the maximum 10.0",
        "bridging_extent: -1 is below the minimum 0.0",
        "rll_progression: not recorded here (zone, 6m, None)",
        "colour: not a field of protocol collar-default",
    ]


def test_field_round_is_half_up(default: Protocol) -> None:
    width = default.field("rll_width_mm")
    assert width.round(0.25) == 0.3
    assert width.round(1.05) == 1.1
    assert default.field("comment").round(1.234) == 1.234


# ------------------------------------------------------------------ summary


def zone(**values: object) -> dict[str, object]:
    base: dict[str, object] = {
        "assessable": "yes",
        "bridging": "complete",
        "rll_present": False,
        "remodeling": "none",
        "osteolysis": False,
    }
    base.update(values)
    return base


def test_summary_all_osseointegrated(default: Protocol) -> None:
    summary = default.summarise({z.key: zone() for z in default.zones}, timepoint="6m")
    assert summary == {
        "zones_scored": 4,
        "zones_skipped": 0,
        "osseointegrated_zones": 4,
        "osseointegrated_zones_undetermined": 0,
        "rll_width_sum_mm": 0.0,
        "rll_width_max_mm": 0.0,
        "rll_alert": False,
        "rll_alert_zones": (),
    }


def test_summary_rules(default: Protocol) -> None:
    summary = default.summarise(
        {
            # thin line beside bridged bone: still osseointegrated
            "medial": zone(bridging="partial", rll_present=True, rll_width_mm=0.6),
            # no bridging: not osseointegrated
            "lateral": zone(bridging="none", rll_present=True, rll_width_mm=1.2),
            # line of 2 mm: not osseointegrated, raises the alert
            "anterior": zone(rll_present=True, rll_width_mm=2.0),
            # not assessable: skipped, even with stray values
            "posterior": {"assessable": "no", "rll_width_mm": 9.0},
        },
        timepoint="6m",
    )
    assert summary["zones_scored"] == 3
    assert summary["zones_skipped"] == 1
    assert summary["osseointegrated_zones"] == 1
    assert summary["osseointegrated_zones_undetermined"] == 0
    assert summary["rll_width_sum_mm"] == 3.8
    assert summary["rll_width_max_mm"] == 2.0
    assert summary["rll_alert"] is True
    assert summary["rll_alert_zones"] == ("anterior",)


def test_summary_progression_and_undetermined(default: Protocol) -> None:
    zone_values = {
        "medial": zone(rll_present=True, rll_width_mm=0.5, rll_progression="progressed"),
        "lateral": zone(rll_present=True),  # width not measured yet
        "anterior": zone(bridging=None),
    }
    at_12m = default.summarise(zone_values, timepoint="12m")
    assert at_12m["rll_alert_zones"] == ("medial",)
    assert at_12m["osseointegrated_zones"] == 1
    assert at_12m["osseointegrated_zones_undetermined"] == 2
    assert at_12m["rll_width_sum_mm"] == 0.5
    # progression is not scored at 6 months: a stray value there does not raise the alert
    assert default.summarise(zone_values, timepoint="6m")["rll_alert"] is False


def test_summary_of_nothing(default: Protocol) -> None:
    summary = default.summarise({})
    assert summary["osseointegrated_zones"] == 0
    assert summary["rll_width_sum_mm"] is None
    assert summary["rll_alert"] is False
    with pytest.raises(ProtocolError, match="no zone 'gruen1'"):
        default.summarise({"gruen1": {}})


def test_require_manual_calibration_option(tmp_path: Path, default: Protocol) -> None:
    assert default.require_manual_calibration is False
    path = write_variant(
        tmp_path, default.text, "schema = 1\n", "schema = 1\nrequire_manual_calibration = true\n"
    )
    assert load_protocol(path).require_manual_calibration is True
