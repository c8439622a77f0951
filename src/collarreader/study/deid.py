"""De-identification per DICOM PS3.15 Annex E, Basic Application Level Confidentiality Profile.

With the *Retain Longitudinal Temporal Information With Modified Dates Option*: dates are
shifted by a secret whole number of days per patient, so the 6 m → 12 m interval survives.

What happens to each data element, in this order (the first rule that matches decides):

1. Structure: private attributes (odd groups, private creators included), curves (50xx,xxxx),
   overlays (60xx,xxxx), group lengths, retired variable pixel data (7Fxx,xxxx other than
   (7FE0,xxxx)), public elements pydicom's dictionary does not know, and every element still
   of VR UN after pydicom looked up the known ones — all removed: what we cannot classify may
   hide identity, and the reader needs none of it.
2. Our decisions: (0010,0010) Patient's Name and (0010,0020) Patient ID become the caller's
   pseudonym; (0010,0030) Patient's Birth Date is emptied (never shifted); the
   de-identification attributes and (0008,0005) Specific Character Set are written afresh.
3. The Basic Profile action of Table E.1-1 (:mod:`collarreader.study.deid_table`), with the
   compound actions resolved as in :func:`_resolve`; dates of any action but X are shifted.
4. Belt and braces by VR for everything the table does not list: PN removed; DA and DT
   shifted (DT keeps its date only); TM removed; LT, ST, UT (free text) and AS removed; UI
   replaced unless it is a class or transfer syntax UID or a UID registered in the standard;
   sequences cleaned item by item with these same rules.
5. Anything else is kept (image pixel module, spacing, VOI/Modality LUT, view position,
   laterality, body part, burned-in annotation, lossy compression, codes …).

Times of day are dropped (TM removed or zero-length, "000000" where a value is required, DT cut
to its date): the intervals that matter here are in days, and a time of day can link an image
back to a RIS log. (0010,1010) Patient's Age is removed (Basic Profile X); the study lead holds
age in the clinical data, joined through the key. Vendor attributes (Manufacturer, model,
software versions) are kept, as the profile does.

New UIDs are ``2.25.<int>`` where the integer is a version-8 UUID made from
HMAC-SHA256(secret, original): the same original maps to the same new UID in every file of a
study, and nobody without the secret can map back.

Pixel data is never decoded: the element's bytes (native, or the encapsulated fragments with
their offset table) are copied as they are and written in the same transfer syntax.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum, auto
from pathlib import Path
from typing import Any, Literal, NamedTuple

import pydicom
from pydicom.datadict import get_entry
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID, UID_dictionary

from collarreader import __version__
from collarreader.errors import DeidentificationError, DicomReadError
from collarreader.study.deid_table import Action, basic_profile_action

__all__ = [
    "DEIDENTIFICATION_METHOD",
    "MODALITIES_THAT_BURN_IN",
    "BurnedIn",
    "DeidResult",
    "Deidentifier",
    "UidSet",
    "burned_in_status",
    "deidentify_file",
    "find_identity_leaks",
    "needs_burned_in_review",
]

BurnedIn = Literal["yes", "no", "unknown"]

MODALITIES_THAT_BURN_IN: frozenset[str] = frozenset(
    {
        # Screen captures, scanned and video modalities carry demographics in the pixels.
        "SC", "OT", "US", "XA", "RF", "ES", "XC", "GM", "SM", "DOC", "IO", "PX",
        # Projection radiography: CR plates and DX exports often carry burned-in side markers,
        # technologist initials, patient labels or a site's name; (0028,0301) is Type 1 in the
        # DX image module but optional for CR, and film digitisers (also CR/DX) never know.
        "CR", "DX", "MG",
    }
)  # fmt: skip
"""Modalities on which an image without (0028,0301) *Burned In Annotation* needs review.

This study reads radiographs, so CR and DX are in the set on purpose: an image whose flag is
absent goes to the study lead's review list instead of to readers.
"""

DEIDENTIFICATION_METHOD: tuple[str, ...] = (
    f"collarreader {__version__}",
    "PS3.15 Annex E Basic Application Confidentiality Profile",
    "Retain Longitudinal Temporal Information Modified Dates Option",
)
"""Values of (0012,0063) *De-identification Method* (LO is at most 64 characters a value)."""

_METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
)  # CID 7050 De-identification Method, coding scheme DCM

_OFFSET_MIN_DAYS = 365
_OFFSET_MAX_DAYS = 3650

# UI attributes that name a class or an encoding, never an instance: kept as they are.
_KEPT_UID_KEYWORDS = frozenset(
    {
        "SOPClassUID", "MediaStorageSOPClassUID", "ReferencedSOPClassUID",
        "ReferencedSOPClassUIDInFile", "AffectedSOPClassUID", "RequestedSOPClassUID",
        "RelatedGeneralSOPClassUID", "OriginalSpecializedSOPClassUID", "SOPClassesInStudy",
        "TransferSyntaxUID", "ReferencedTransferSyntaxUIDInFile", "CodingSchemeUID",
        "MappingResourceUID", "ContextUID",
    }
)  # fmt: skip

# Written afresh on the root dataset; removed wherever else they appear.
_REWRITTEN = frozenset(
    int(Tag(k))
    for k in (
        "SpecificCharacterSet",
        "PatientIdentityRemoved",
        "DeidentificationMethod",
        "DeidentificationMethodCodeSequence",
        "LongitudinalTemporalInformationModified",
    )
)
_PSEUDONYMISED = frozenset(int(Tag(k)) for k in ("PatientName", "PatientID"))
_BIRTH_DATE = int(Tag("PatientBirthDate"))
_PIXEL_DATA = 0x7FE00010
_ICON_IMAGE_SEQUENCE = 0x00880200

_DUMMY_TEXT = {
    "AE": "ANONYMOUS",
    "CS": "ANONYMIZED",
    "LO": "ANONYMIZED",
    "SH": "ANONYMIZED",
    "LT": "ANONYMIZED",
    "ST": "ANONYMIZED",
    "UT": "ANONYMIZED",
    "UC": "ANONYMIZED",
    "PN": "ANONYMIZED",
    "DS": "0",
    "IS": "0",
}
_FREE_TEXT_VRS = frozenset({"LT", "ST", "UT", "AS"})


class _Op(Enum):
    KEEP = auto()
    REMOVE = auto()
    EMPTY = auto()
    DUMMY = auto()
    UID = auto()
    SHIFT = auto()
    ZERO_TIME = auto()
    RECURSE = auto()
    PSEUDONYM = auto()


class UidSet(NamedTuple):
    """Study, series and SOP instance UIDs of one image."""

    study: str
    series: str
    sop: str


@dataclass(frozen=True)
class DeidResult:
    """What :func:`deidentify_file` did to one file.

    Attributes
    ----------
    source, destination : the file read and the file written
    original_uids, new_uids : study, series and SOP instance UIDs before and after
    burned_in : (0028,0301) *Burned In Annotation* of the source, see :func:`burned_in_status`
    needs_burned_in_review : True when readers must not see it unless the study lead confirms
    modality : (0008,0060) *Modality* of the source ("" when absent)
    transfer_syntax : the transfer syntax UID of both files
    date_offset_days : the shift applied to every date (negative: moved into the past)
    """

    source: Path
    destination: Path
    original_uids: UidSet
    new_uids: UidSet
    burned_in: BurnedIn
    needs_burned_in_review: bool
    modality: str
    transfer_syntax: str
    date_offset_days: int


def burned_in_status(ds: Dataset) -> BurnedIn:
    """(0028,0301) *Burned In Annotation*: YES → ``"yes"``, NO → ``"no"``, else ``"unknown"``."""
    value = ds.get("BurnedInAnnotation")
    if isinstance(value, str):
        normalised = value.strip().upper()
        if normalised == "YES":
            return "yes"
        if normalised == "NO":
            return "no"
    return "unknown"


def needs_burned_in_review(ds: Dataset) -> bool:
    """True when the image may show burned-in text and needs the study lead's review.

    That is: (0028,0301) *Burned In Annotation* is YES, or it is absent (or unreadable) and
    the modality is one of :data:`MODALITIES_THAT_BURN_IN`.
    """
    status = burned_in_status(ds)
    if status == "yes":
        return True
    if status == "no":
        return False
    return str(ds.get("Modality", "")).strip().upper() in MODALITIES_THAT_BURN_IN


class Deidentifier:
    """De-identifies datasets with one per-study secret (keep it in the key file only).

    Parameters
    ----------
    secret : at least 16 random bytes (see :meth:`new_secret`); the same secret gives the same
        new UIDs and date offsets, so every file of a study must use one Deidentifier secret
    """

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes) or len(secret) < 16:
            raise ValueError("The de-identification secret must be at least 16 bytes.")
        self._secret = secret

    @staticmethod
    def new_secret() -> bytes:
        """A fresh random 32-byte secret for a new study."""
        return secrets.token_bytes(32)

    def _digest(self, purpose: bytes, text: str) -> bytes:
        message = purpose + b"\x00" + text.encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def new_uid(self, original: str) -> str:
        """The new UID for ``original``: ``2.25.`` and a version-8 UUID from the keyed hash."""
        original = original.strip().rstrip("\x00")
        if not original:
            raise ValueError("Cannot map an empty UID.")
        value = int.from_bytes(self._digest(b"collarreader-uid", original)[:16], "big")
        # RFC 9562 version 8 (custom) and variant 10xx, so the integer is a valid UUID.
        value = (value & ~(0xF << 76)) | (0x8 << 76)
        value = (value & ~(0x3 << 62)) | (0x2 << 62)
        return f"2.25.{value}"

    def date_offset_days(self, patient_key: str) -> int:
        """The patient's secret date shift: a whole number of days in −3650 … −365."""
        if not patient_key:
            raise ValueError("The patient key must not be empty.")
        value = int.from_bytes(self._digest(b"collarreader-date-offset", patient_key)[:8], "big")
        return -(_OFFSET_MIN_DAYS + value % (_OFFSET_MAX_DAYS - _OFFSET_MIN_DAYS + 1))

    # ------------------------------------------------------------------ datasets
    def deidentify(self, ds: Dataset, *, pseudonym: str, patient_key: str) -> Dataset:
        """A de-identified copy of ``ds`` (``ds`` itself is left as it is).

        Parameters
        ----------
        ds : the source dataset, with its file meta information when it came from a file
        pseudonym : the case code that becomes Patient's Name and Patient ID (ASCII, ≤ 64
            characters, no backslash)
        patient_key : identifies the patient for the date shift (e.g. ``"site/patient"``);
            every image of a patient must use the same key

        Raises
        ------
        DeidentificationError
            The pseudonym is unusable, or the result still holds something identifying.
        """
        _check_pseudonym(pseudonym)
        offset = self.date_offset_days(patient_key)
        result = self._clean_dataset(ds, offset, pseudonym)

        result.PatientName = pseudonym
        result.PatientID = pseudonym
        result.PatientIdentityRemoved = "YES"
        result.DeidentificationMethod = list(DEIDENTIFICATION_METHOD)
        codes = []
        for value, meaning in _METHOD_CODES:
            code = Dataset()
            code.CodeValue = value
            code.CodingSchemeDesignator = "DCM"
            code.CodeMeaning = meaning
            codes.append(code)
        result.DeidentificationMethodCodeSequence = codes
        result.LongitudinalTemporalInformationModified = "MODIFIED"
        # Kept text is normally ASCII (codes, vendor names); declare UTF-8 only when needed.
        if any(_has_non_ascii(e.value) for e in _walk(result)):
            result.SpecificCharacterSet = "ISO_IR 192"

        source_meta = getattr(ds, "file_meta", None)
        if source_meta is not None and "TransferSyntaxUID" in source_meta:
            meta = FileMetaDataset()
            meta.FileMetaInformationVersion = b"\x00\x01"
            sop_class = result.get("SOPClassUID") or source_meta.get("MediaStorageSOPClassUID")
            sop_instance = result.get("SOPInstanceUID") or self.new_uid(
                str(source_meta.get("MediaStorageSOPInstanceUID", ""))
            )
            meta.MediaStorageSOPClassUID = UID(str(sop_class or ""))
            meta.MediaStorageSOPInstanceUID = UID(str(sop_instance))
            meta.TransferSyntaxUID = source_meta.TransferSyntaxUID
            result.file_meta = meta
        result.preamble = None  # a TIFF/DICOM dual-format preamble may hold anything

        leaks = find_identity_leaks(result, pseudonym=pseudonym)
        if leaks:
            raise DeidentificationError(
                "De-identification left identifying elements: " + "; ".join(leaks) + ". "
                "This is a bug in collarreader: do not pass the image to readers."
            )
        return result

    def _clean_dataset(self, source: Dataset, offset: int, pseudonym: str) -> Dataset:
        result = Dataset()
        for elem in source:  # iterating decodes text with the source's character set
            new = self._clean_element(elem, offset, pseudonym)
            if new is not None:
                result.add(new)
        return result

    def _clean_element(self, elem: DataElement, offset: int, pseudonym: str) -> DataElement | None:
        op = _decide(elem)
        vr = str(elem.VR)
        tag = elem.tag
        if op is _Op.REMOVE:
            return None
        if op is _Op.KEEP:
            return _copy(elem)
        if op is _Op.PSEUDONYM:
            return DataElement(tag, vr, pseudonym)
        if op is _Op.EMPTY:
            return DataElement(tag, vr, [] if vr == "SQ" else None)
        if op is _Op.DUMMY:
            return DataElement(tag, vr, _DUMMY_TEXT[vr])
        if op is _Op.ZERO_TIME:
            return DataElement(tag, vr, "000000")
        if op is _Op.UID:
            values = [self.new_uid(v) for v in _values(elem.value) if str(v).strip()]
            return DataElement(tag, vr, _pack(values))
        if op is _Op.SHIFT:
            shift = _shift_date if vr == "DA" else _shift_datetime
            shifted = [shift(str(v), offset) for v in _values(elem.value)]
            if any(s is None for s in shifted):
                return DataElement(tag, vr, None)  # unparsable: no date rather than a real one
            return DataElement(tag, vr, _pack([s for s in shifted if s is not None]))
        # RECURSE
        items = [self._clean_dataset(item, offset, pseudonym) for item in elem.value or []]
        return DataElement(tag, "SQ", Sequence(items))


def _decide(elem: DataElement) -> _Op:
    """What happens to ``elem`` (see the module docstring for the order of the rules)."""
    tag = int(elem.tag)
    group, element = tag >> 16, tag & 0xFFFF
    vr = str(elem.VR)
    if (
        elem.tag.is_private
        or 0x5000 <= group <= 0x50FF
        or 0x6000 <= group <= 0x60FF
        or element == 0
        or group in (0x0000, 0x0002)
        or (0x7F00 <= group <= 0x7FFF and group != 0x7FE0)
        or vr == "UN"
        or not _is_known(tag)
    ):
        return _Op.REMOVE
    if tag in _PSEUDONYMISED:
        return _Op.PSEUDONYM
    if tag in _REWRITTEN:
        return _Op.REMOVE
    if tag == _BIRTH_DATE:
        return _Op.EMPTY
    action = basic_profile_action(tag)
    if action is not None:
        return _resolve(action, vr)
    # Not in Table E.1-1: belt and braces by VR.
    if vr == "PN" or vr in _FREE_TEXT_VRS or vr == "TM":
        return _Op.REMOVE
    if vr in ("DA", "DT"):
        return _Op.SHIFT
    if vr == "UI":
        keyword = str(elem.keyword)
        if keyword in _KEPT_UID_KEYWORDS or all(
            str(v).strip() in UID_dictionary for v in _values(elem.value)
        ):
            return _Op.KEEP
        return _Op.UID
    if vr == "SQ":
        return _Op.RECURSE
    return _Op.KEEP


def _resolve(action: Action, vr: str) -> _Op:
    """A Table E.1-1 action as an operation on an element of ``vr``.

    Compound actions depend on the attribute's Type in an IOD we do not check; we choose the
    option that keeps the file valid and carries nothing: X/Z and X/Z/D empty the value,
    Z/D and D give a dummy, X/D removes. Dates are shifted instead of emptied or removed
    (Modified Dates Option) unless the action is a plain X; times lose their value.
    """
    if action is Action.K:
        return _Op.KEEP
    if action is Action.X:
        return _Op.REMOVE
    if action is Action.U:
        return _Op.UID if vr == "UI" else _Op.REMOVE
    if vr in ("DA", "DT"):
        return _Op.SHIFT
    if vr == "TM":
        if action is Action.X_D:
            return _Op.REMOVE
        return _Op.ZERO_TIME if action in (Action.D, Action.Z_D) else _Op.EMPTY
    if vr == "SQ":
        if action in (Action.D, Action.Z_D, Action.X_Z_U, Action.C):
            return _Op.RECURSE  # keep the structure, clean what is inside
        if action in (Action.Z, Action.X_Z):
            return _Op.EMPTY
        return _Op.REMOVE
    if action is Action.X_Z_U:
        return _Op.UID if vr == "UI" else _Op.REMOVE
    if action is Action.X_D:
        return _Op.REMOVE
    if action in (Action.D, Action.Z_D, Action.C):
        return _Op.DUMMY if vr in _DUMMY_TEXT else _Op.REMOVE
    # Z, X/Z, X/Z/D
    return _Op.EMPTY


def _is_known(tag: int) -> bool:
    try:
        get_entry(tag)
    except KeyError:
        return False
    return True


def _values(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list | tuple):
        return list(value)
    return [value]


def _pack(values: list[str]) -> str | list[str] | None:
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _copy(elem: DataElement) -> DataElement:
    value = elem.value
    if isinstance(value, MultiValue | list):
        value = list(value)
    # Pixel data bytes (native or encapsulated fragments) are shared, never re-encoded.
    return DataElement(elem.tag, elem.VR, value, is_undefined_length=bool(elem.is_undefined_length))


def _shift_date(value: str, offset_days: int) -> str | None:
    text = value.strip()
    try:
        date = dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None
    return (date + dt.timedelta(days=offset_days)).strftime("%Y%m%d")


def _shift_datetime(value: str, offset_days: int) -> str | None:
    text = value.strip()
    if len(text) < 8 or not text[:8].isdigit():
        return None
    return _shift_date(text[:8], offset_days)


def _has_non_ascii(value: Any) -> bool:
    return any(isinstance(v, str) and not v.isascii() for v in _values(value))


def _walk(ds: Dataset) -> Iterator[DataElement]:
    for elem in ds:
        yield elem
        if elem.VR == "SQ":
            for item in elem.value or []:
                yield from _walk(item)


def find_identity_leaks(ds: Dataset, *, pseudonym: str | None = None) -> list[str]:
    """Elements of a de-identified dataset that should not be there (empty list: none).

    Checks every nested item for private attributes, curves, overlays, UN elements, the icon
    image sequence, and person names other than the pseudonym and the dummy name.
    """
    leaks = []
    allowed_names = {_DUMMY_TEXT["PN"], pseudonym or _DUMMY_TEXT["PN"]}
    for elem in _walk(ds):
        tag: BaseTag = elem.tag
        group = tag.group
        where = f"{tag} {elem.keyword or 'private'}"
        if tag.is_private:
            leaks.append(f"{where}: private attribute")
        elif 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
            leaks.append(f"{where}: curve or overlay")
        elif elem.VR == "UN":
            leaks.append(f"{where}: unknown (UN) value")
        elif int(tag) == _ICON_IMAGE_SEQUENCE:
            leaks.append(f"{where}: icon image")
        elif elem.VR == "PN" and elem.value and str(elem.value) not in allowed_names:
            leaks.append(f"{where}: person name")
    return leaks


def _check_pseudonym(pseudonym: str) -> None:
    if (
        not pseudonym
        or len(pseudonym) > 64
        or not pseudonym.isascii()
        or not pseudonym.isprintable()
        or any(c in pseudonym for c in "\\^=")
    ):
        raise DeidentificationError(
            f"Pseudonym {pseudonym!r} cannot be a Patient ID: use 1–64 printable ASCII "
            "characters without '\\', '^' or '='."
        )


# ---------------------------------------------------------------------- files


def _uids(ds: Dataset, path: Path) -> UidSet:
    values = [str(ds.get(k, "")).strip() for k in ("StudyInstanceUID", "SeriesInstanceUID")]
    values.append(str(ds.get("SOPInstanceUID", "")).strip())
    if not all(values):
        raise DeidentificationError(
            f"{path}: missing Study, Series or SOP Instance UID; the image cannot be tracked "
            "through the reading set. Re-export it from the PACS."
        )
    return UidSet(*values)


def deidentify_file(
    src: Path,
    dst: Path,
    deidentifier: Deidentifier,
    *,
    pseudonym: str,
    patient_key: str,
) -> DeidResult:
    """Write a de-identified copy of the DICOM file ``src`` to ``dst``.

    The copy has the same transfer syntax and the same pixel data bytes (checked by reading
    the written file back); ``src`` is only read. ``dst`` is written atomically (a temporary
    file in the same folder, then renamed) and replaced if it exists.

    Raises
    ------
    DicomReadError
        ``src`` is missing or not a readable DICOM file.
    DeidentificationError
        ``dst`` would overwrite ``src``, the UIDs are missing, or the check after writing failed.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise DeidentificationError(
            f"{dst}: the de-identified copy would overwrite its source. Choose another folder."
        )
    try:
        ds = pydicom.dcmread(src)
    except FileNotFoundError as error:
        raise DicomReadError(src, "file not found.") from error
    except (InvalidDicomError, OSError, ValueError, EOFError) as error:
        raise DicomReadError(
            src, f"not a readable DICOM file ({error}).", "Export the image again as DICOM."
        ) from error
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
        raise DicomReadError(src, "no file meta information (transfer syntax unknown).")
    original = _uids(ds, src)
    result = deidentifier.deidentify(ds, pseudonym=pseudonym, patient_key=patient_key)
    new = _uids(result, dst)

    dst.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".deid-", suffix=".dcm", dir=dst.parent)
    os.close(handle)
    try:
        pydicom.dcmwrite(temporary, result, enforce_file_format=True)
        written = pydicom.dcmread(temporary)
        if written.file_meta.TransferSyntaxUID != ds.file_meta.TransferSyntaxUID or written.get(
            "PixelData"
        ) != ds.get("PixelData"):
            raise DeidentificationError(
                f"{dst}: the written copy's pixel data or transfer syntax differs from "
                f"{src}. This is a bug in collarreader: do not use the copy."
            )
        Path(temporary).replace(dst)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return DeidResult(
        source=src,
        destination=dst,
        original_uids=original,
        new_uids=new,
        burned_in=burned_in_status(ds),
        needs_burned_in_review=needs_burned_in_review(ds),
        modality=str(ds.get("Modality", "")),
        transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
        date_offset_days=deidentifier.date_offset_days(patient_key),
    )
