"""Codes of the SR: standard where pydicom's dictionary has one, the local scheme otherwise."""

from __future__ import annotations

from collarreader.interop.codes import (
    LOCAL_SCHEME,
    calibration_code,
    field_code,
    local_code,
    value_code,
)
from collarreader.protocol import load_protocol


def test_every_field_and_choice_of_the_shipped_protocols_has_a_valid_code() -> None:
    for name in ("collar-default", "collar-gruen"):
        protocol = load_protocol(name)
        seen: dict[str, str] = {}
        for fld in protocol.fields:
            code = field_code(fld)
            assert 0 < len(code.value) <= 16
            assert len(code.meaning) <= 64
            if code.scheme_designator == LOCAL_SCHEME:
                assert code.meaning == fld.label
                assert seen.setdefault(code.value, fld.key) == fld.key, "two fields, one code"
            for choice in fld.choices:
                value = value_code(fld, choice)
                assert 0 < len(value.value) <= 16


def test_standard_codes_where_snomed_has_them() -> None:
    protocol = load_protocol("collar-default")
    bridging = protocol.field("bridging")
    assert (
        value_code(bridging, "complete").value,
        value_code(bridging, "complete").scheme_designator,
    ) == ("255594003", "SCT")
    assert field_code(protocol.field("rll_width_mm")).value == "103355008"
    osteolysis = protocol.field("osteolysis")
    assert value_code(osteolysis, "yes").meaning == "Present"
    assert value_code(osteolysis, "false").meaning == "Absent"
    remodeling = protocol.field("remodeling")
    hypertrophy = value_code(remodeling, "hypertrophy")
    assert (hypertrophy.value, hypertrophy.scheme_designator) == ("HYPERTROPHY", LOCAL_SCHEME)


def test_long_keys_get_short_stable_distinct_codes() -> None:
    one = local_code("cortical_thickness_medial_mm", "Cortical thickness, medial")
    two = local_code("cortical_thickness_lateral_mm", "Cortical thickness, lateral")
    assert one.value != two.value
    assert len(one.value) == 16
    assert one.value == local_code("cortical_thickness_medial_mm", "x").value
    calibration = calibration_code("manual: ball 25 mm")
    assert calibration.meaning == "manual: ball 25 mm"
    assert calibration.value.startswith("CAL-")
