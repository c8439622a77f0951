"""Coded concepts of the SR and presentation states: standard codes first, a local scheme else.

Standard codes are taken from pydicom's code dictionary (SNOMED CT ``SCT``, DICOM ``DCM``,
UCUM), never typed in by hand, so a code here exists in the standard. A protocol field or choice
without a standard code gets a code in the local coding scheme :data:`LOCAL_SCHEME`:

- designator ``99COLLAR`` (PS3.16 8.2: private schemes start with ``99``), version
  :data:`LOCAL_SCHEME_VERSION`;
- code value: the protocol's key (a field key such as ``bridging``, a choice key such as
  ``hypertrophy``) upper-cased, when it fits the 16 characters of (0008,0100) *Code Value*;
  otherwise its first 7 characters, ``-`` and 8 hex digits of the key's SHA-256 (stable, unique
  within a protocol);
- code meaning: the label the reader saw in the protocol (e.g. ``Bone bridging``).

Calibrations are coded as measurement methods in the same scheme (``CAL-…``), with the known
size in the meaning (``manual: ball 25 mm``), exactly the text of the tidy export's
``calibration_source`` column.
"""

from __future__ import annotations

import hashlib

from highdicom.sr import CodedConcept
from pydicom.sr.codedict import codes

from collarreader.protocol import Field, FieldType

__all__ = [
    "LOCAL_SCHEME",
    "LOCAL_SCHEME_VERSION",
    "MILLIMETRE",
    "calibration_code",
    "field_code",
    "joint_code",
    "laterality_code",
    "local_code",
    "unit_code",
    "value_code",
]

LOCAL_SCHEME = "99COLLAR"
LOCAL_SCHEME_VERSION = "1"
_CODE_VALUE_MAX = 16
_MEANING_MAX = 64

MILLIMETRE = CodedConcept("mm", "UCUM", "millimeter")
PERCENT = CodedConcept("%", "UCUM", "percent")
NO_UNIT = CodedConcept("1", "UCUM", "no units")
PLAIN_RADIOGRAPHY = codes.SCT.PlainRadiography
DERIVATION_MAXIMUM = codes.SCT.Maximum

# Fields and choices with a standard concept (pydicom's dictionary spells them).
_FIELD_CODES = {
    "rll_width_mm": codes.SCT.Width,
    "image_quality": codes.DCM.ImageQuality,
}
_BOOL_CODES = {True: codes.SCT.Present, False: codes.SCT.Absent}
_CHOICE_CODES = {
    "yes": codes.SCT.Yes,
    "no": codes.SCT.No,
    "partial": codes.SCT.Partial,
    "complete": codes.SCT.Complete,
}


def _as_concept(code: object) -> CodedConcept:
    return CodedConcept(
        code.value,  # type: ignore[attr-defined]
        code.scheme_designator,  # type: ignore[attr-defined]
        code.meaning,  # type: ignore[attr-defined]
    )


def local_code(key: str, meaning: str) -> CodedConcept:
    """A code of the local scheme for a protocol key (see the module docstring)."""
    value = key.upper()
    if len(value) > _CODE_VALUE_MAX:
        value = f"{value[:7]}-{hashlib.sha256(key.encode()).hexdigest()[:8].upper()}"
    return CodedConcept(
        value, LOCAL_SCHEME, meaning[:_MEANING_MAX], scheme_version=LOCAL_SCHEME_VERSION
    )


def field_code(fld: Field) -> CodedConcept:
    """The concept name of a protocol field: a standard code where one exists."""
    standard = _FIELD_CODES.get(fld.key)
    return _as_concept(standard) if standard is not None else local_code(fld.key, fld.label)


def value_code(fld: Field, value: str) -> CodedConcept:
    """The coded value of a choice or bool field (bool: ``yes``/``no`` or ``true``/``false``)."""
    if fld.type is FieldType.BOOL:
        return _as_concept(_BOOL_CODES[value in {"yes", "true"}])
    standard = _CHOICE_CODES.get(value)
    if standard is not None:
        return _as_concept(standard)
    label = fld.choice_label(value) if value in fld.choices else value
    return local_code(value, label)


def unit_code(unit: str | None) -> CodedConcept:
    """UCUM unit of a numeric field (``mm``, ``%``, none)."""
    if unit == "mm":
        return MILLIMETRE
    if unit == "%":
        return PERCENT
    return NO_UNIT


def calibration_code(text: str) -> CodedConcept:
    """The measurement method naming a calibration, e.g. ``manual: ball 25 mm``."""
    return local_code(f"cal-{text}", text)


def joint_code(joint: str) -> CodedConcept:
    """SNOMED CT hip or knee joint."""
    return _as_concept(codes.SCT.HipJoint if joint == "hip" else codes.SCT.KneeJoint)


def laterality_code(side: str) -> CodedConcept:
    """SNOMED CT right or left."""
    return _as_concept(codes.SCT.Right if side == "R" else codes.SCT.Left)
