"""The allow-list: the only attributes a de-identified image keeps, and how each is kept.

A reading set needs the pixels and what turns them into millimetres and a display; everything
else is dropped by :mod:`collarreader.study.deid`, whatever its VR, known or private, at any
depth. Each entry says how the value is checked, because a hostile export may put identity
into any element it can write text into: coded strings (CS) keep only values from the
standard's enumerated or defined terms, decimal and integer strings only finite numbers, UIDs
are replaced unless registered, dates are shifted, and a sequence keeps only its own allow-list
in each item.

Groups (DESIGN §6): image pixel description and (7FE0,0010) *Pixel Data*; Modality LUT and VOI
LUT values without their explanations; spacing, magnification and calibration type;
photometric and presentation attributes; modality, view position, laterality; the burned-in
and lossy-compression flags; the study, series and instance UIDs (replaced) and the dates
(shifted, for the interval between time points).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, auto

from pydicom.datadict import tag_for_keyword

__all__ = ["ALLOW_LIST", "Keep", "Rule", "rule_for"]


class Keep(Enum):
    """How an allowed element is carried into the de-identified image."""

    AS_IS = auto()  # binary values (US, SS, OW, OB, FD …) and the pixel data
    NUMBER = auto()  # DS / IS: kept only when every value is a finite number
    CHOICE = auto()  # CS / LO: kept only when every value is one of Rule.choices
    UID = auto()  # replaced unless a registered DICOM UID
    DATE = auto()  # shifted by the patient's secret offset
    SEQUENCE = auto()  # each item keeps only Rule.items


@dataclass(frozen=True)
class Rule:
    """How one allowed attribute is kept.

    Attributes
    ----------
    keep : the kind of check and copy
    choices : the allowed values for :attr:`Keep.CHOICE` (compared after stripping spaces)
    max_values : keep only the first ``max_values`` values (e.g. Image Type values 1–2)
    pattern : for :attr:`Keep.CHOICE`, a regular expression a value may match instead
    items : for :attr:`Keep.SEQUENCE`, the allow-list of each item (tag → rule)
    """

    keep: Keep
    choices: frozenset[str] = frozenset()
    max_values: int | None = None
    pattern: re.Pattern[str] | None = None
    items: Mapping[int, Rule] = field(default_factory=dict)

    def accepts(self, value: str) -> bool:
        """Whether a single coded string ``value`` may be kept under this rule."""
        text = value.strip()
        return text in self.choices or bool(self.pattern and self.pattern.fullmatch(text))


def _choice(*values: str, max_values: int | None = None, pattern: str | None = None) -> Rule:
    return Rule(
        Keep.CHOICE,
        frozenset(values),
        max_values=max_values,
        pattern=re.compile(pattern) if pattern else None,
    )


_AS_IS = Rule(Keep.AS_IS)
_NUMBER = Rule(Keep.NUMBER)
_UID = Rule(Keep.UID)
_DATE = Rule(Keep.DATE)


def _tags(rules: Mapping[str, Rule]) -> dict[int, Rule]:
    out = {}
    for keyword, rule in rules.items():
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise ValueError(f"{keyword} is not a DICOM keyword pydicom knows.")
        out[int(tag)] = rule
    return out


def _sequence(rules: Mapping[str, Rule]) -> Rule:
    return Rule(Keep.SEQUENCE, items=_tags(rules))


# (0028,1052)-(0028,1054) and (0028,3002) Modality LUT Type: defined terms of PS3.3 C.11.1.1.2.
_RESCALE_TYPES = ("US", "OD", "HU", "MGML", "Z_EFF", "ED", "EDW", "HU_MOD", "PCT")
_LUT = {"LUTDescriptor": _AS_IS, "LUTData": _AS_IS}

ALLOW_LIST: dict[int, Rule] = _tags(
    {
        # Image Pixel module (PS3.3 C.7.6.3), palettes included.
        "SamplesPerPixel": _AS_IS,
        "PhotometricInterpretation": _choice(
            "MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB", "YBR_FULL", "YBR_FULL_422",
            "YBR_PARTIAL_422", "YBR_PARTIAL_420", "YBR_ICT", "YBR_RCT",
        ),
        "Rows": _AS_IS,
        "Columns": _AS_IS,
        "BitsAllocated": _AS_IS,
        "BitsStored": _AS_IS,
        "HighBit": _AS_IS,
        "PixelRepresentation": _AS_IS,
        "PlanarConfiguration": _AS_IS,
        "PixelAspectRatio": _NUMBER,
        "SmallestImagePixelValue": _AS_IS,
        "LargestImagePixelValue": _AS_IS,
        "PixelPaddingValue": _AS_IS,
        "PixelPaddingRangeLimit": _AS_IS,
        "RedPaletteColorLookupTableDescriptor": _AS_IS,
        "GreenPaletteColorLookupTableDescriptor": _AS_IS,
        "BluePaletteColorLookupTableDescriptor": _AS_IS,
        "RedPaletteColorLookupTableData": _AS_IS,
        "GreenPaletteColorLookupTableData": _AS_IS,
        "BluePaletteColorLookupTableData": _AS_IS,
        "NumberOfFrames": _NUMBER,
        "ExtendedOffsetTable": _AS_IS,
        "ExtendedOffsetTableLengths": _AS_IS,
        "PixelData": _AS_IS,
        # Modality LUT (C.11.1) and VOI LUT (C.11.2), without (0028,3003) LUT Explanation
        # and (0028,1055) Window Center & Width Explanation.
        "RescaleIntercept": _NUMBER,
        "RescaleSlope": _NUMBER,
        "RescaleType": _choice(*_RESCALE_TYPES),
        "ModalityLUTSequence": _sequence(
            {**_LUT, "ModalityLUTType": _choice(*_RESCALE_TYPES)}
        ),
        "WindowCenter": _NUMBER,
        "WindowWidth": _NUMBER,
        "VOILUTFunction": _choice("LINEAR", "LINEAR_EXACT", "SIGMOID"),
        "VOILUTSequence": _sequence(_LUT),
        # Spacing, magnification, calibration (DX C.8.11.4, C.8.11.7; Enhanced MF C.7.6.16).
        "PixelSpacing": _NUMBER,
        "ImagerPixelSpacing": _NUMBER,
        "NominalScannedPixelSpacing": _NUMBER,
        "EstimatedRadiographicMagnificationFactor": _NUMBER,
        "PixelSpacingCalibrationType": _choice("GEOMETRY", "FIDUCIAL"),
        "DistanceSourceToDetector": _NUMBER,
        "DistanceSourceToPatient": _NUMBER,
        "SharedFunctionalGroupsSequence": _sequence(
            {"PixelMeasuresSequence": _sequence({"PixelSpacing": _NUMBER})}
        ),
        # Photometric and presentation.
        "PresentationLUTShape": _choice("IDENTITY", "INVERSE"),
        "PresentationIntentType": _choice("FOR PRESENTATION", "FOR PROCESSING"),
        "PixelIntensityRelationship": _choice("LIN", "LOG", "DISP"),
        "PixelIntensityRelationshipSign": _AS_IS,
        # Modality, view, laterality (Image Type values 3 and on are vendor text).
        "Modality": _choice(
            "CR", "DX", "MG", "RF", "XA", "IO", "PX", "OT", "SC", "DOC", "CT", "MR", "US",
            "NM", "PT", "RG", "OP", "XC", "ES", "GM", "SM",
        ),
        "ImageType": _choice(
            "ORIGINAL", "DERIVED", "PRIMARY", "SECONDARY", max_values=2
        ),
        "ViewPosition": _choice("AP", "PA", "LL", "RL", "RLD", "LLD", "RLO", "LLO"),
        "ImageLaterality": _choice("R", "L", "U", "B"),
        "Laterality": _choice("R", "L"),
        "PatientOrientation": _choice(pattern="[APRLHF]{1,3}"),
        # Flags the study lead's review depends on.
        "BurnedInAnnotation": _choice("YES", "NO"),
        "RecognizableVisualFeatures": _choice("YES", "NO"),
        "LossyImageCompression": _choice("00", "01"),
        "LossyImageCompressionRatio": _NUMBER,
        "LossyImageCompressionMethod": _choice(
            "ISO_10918_1", "ISO_14495_1", "ISO_15444_1", "ISO_15444_15", "ISO_13818_2",
            "ISO_14496_10", "ISO_18181_1",
        ),
        # Identification: replaced; dates: shifted (longitudinal information).
        "SOPClassUID": _UID,
        "SOPInstanceUID": _UID,
        "StudyInstanceUID": _UID,
        "SeriesInstanceUID": _UID,
        "StudyDate": _DATE,
        "SeriesDate": _DATE,
        "AcquisitionDate": _DATE,
        "ContentDate": _DATE,
    }
)  # fmt: skip
"""Root-level allow-list, tag → :class:`Rule`. Anything not listed is dropped."""


def rule_for(tag: int, within: Mapping[int, Rule] | None = None) -> Rule | None:
    """The rule for ``tag`` in ``within`` (default: the root allow-list); None: drop it."""
    return (ALLOW_LIST if within is None else within).get(int(tag))
