"""De-identification by allow-list, with PS3.15 Annex E as the documented baseline.

The baseline is the *Basic Application Level Confidentiality Profile* of DICOM PS3.15 Annex E
(its Table E.1-1 is transcribed in :mod:`collarreader.study.deid_table`) with the *Retain
Longitudinal Temporal Information With Modified Dates Option*: dates are shifted by a secret
whole number of days per patient, so the 6 m → 12 m interval survives.

The profile keeps every attribute its table does not list, and that is where identity hides in
real exports: a local code meaning and its ``99…`` coding scheme in (0008,1032) *Procedure Code
Sequence*, (0028,1055) *Window Center & Width Explanation*, (0028,3003) *LUT Explanation*,
(0008,1090) *Manufacturer's Model Name*, (0018,0015) *Body Part Examined*, Image Type value 3,
(0010,0033)/(0010,0034) dates in another calendar, UIDs built from a patient number. So this
module works the other way round: it keeps only the attributes of
:data:`~collarreader.study.deid_allowlist.ALLOW_LIST`, each checked against its rule (coded
strings against the standard's terms, numbers as numbers, nested items against their own
allow-list), writes the pseudonymous attributes and the de-identification record, and drops
everything else, whatever its VR, public or private, at any depth. Beyond the Basic Profile
that is, in the profile's own terms: the *Clean Descriptors*, *Clean Structured Content*,
*Clean Graphics* and *Clean Recognizable Visual Features* options are met by removal (no
description, content, overlay or icon is kept at all); *Retain Device Identity* and *Retain
Safe Private* are not applied (vendor, model, serial numbers and all private data go);
*Retain UIDs* is not applied: every UID that is not a registered DICOM UID (pydicom's
``UID_dictionary``: SOP classes, transfer syntaxes, coding schemes) is replaced, including
"class" UIDs a site made up. Image Type keeps values 1–2 only.

New UIDs are ``2.25.<int>`` where the integer is a version-8 UUID made from
HMAC-SHA256(secret, original): the same original maps to the same new UID in every file of a
study, and nobody without the secret can map back; :class:`Cleaned` lists the replacements so
the key can record them. Times of day are dropped, (0010,0030) *Patient's Birth Date* and the
other Type 2 attributes of the Patient and General Study modules are written empty.

The file meta information is written afresh and the 128-byte preamble zeroed. Pixel data is
never decoded here: the element's bytes (native, or the encapsulated fragments with their
offset table) are copied as they are and written in the same transfer syntax.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import os
import re
import secrets
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import pydicom
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID, UID_dictionary

from collarreader import __version__
from collarreader.errors import DeidentificationError, DicomReadError
from collarreader.study.deid_allowlist import ALLOW_LIST, Keep, Rule

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

# Written afresh on the root dataset (pseudonym, de-identification record, and the Type 2
# attributes of the Patient, General Study and General Series modules, left empty).
_WRITTEN = frozenset(
    int(Tag(k))
    for k in (
        "SpecificCharacterSet",
        "PatientName",
        "PatientID",
        "PatientIdentityRemoved",
        "DeidentificationMethod",
        "DeidentificationMethodCodeSequence",
        "LongitudinalTemporalInformationModified",
        "PatientBirthDate",
        "PatientSex",
        "StudyTime",
        "ReferringPhysicianName",
        "StudyID",
        "AccessionNumber",
        "SeriesNumber",
        "InstanceNumber",
    )
)
_EMPTY_TYPE_2 = (
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "SeriesNumber",
    "InstanceNumber",
)
_CODE_ITEM = frozenset(int(Tag(k)) for k in ("CodeValue", "CodingSchemeDesignator", "CodeMeaning"))
_NUMBER_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_DEID_CODES = int(Tag("DeidentificationMethodCodeSequence"))


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
    uid_map : every UID replaced in this file, original → new (the same within a set)
    n_dropped : attributes of the source not carried into the copy, nested ones included
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
    uid_map: dict[str, str]
    n_dropped: int
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

        See :meth:`clean`, which also says what was replaced and dropped.
        """
        return self.clean(ds, pseudonym=pseudonym, patient_key=patient_key).dataset

    def clean(self, ds: Dataset, *, pseudonym: str, patient_key: str) -> Cleaned:
        """A de-identified copy of ``ds``, the UIDs replaced and the count of dropped attributes.

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
            The pseudonym is unusable, an allowed attribute cannot be read, or the result
            still holds something the allow-list does not allow.
        """
        _check_pseudonym(pseudonym)
        work = _Work(offset_days=self.date_offset_days(patient_key))
        result = self._clean_dataset(ds, ALLOW_LIST, work)

        result.PatientName = pseudonym
        result.PatientID = pseudonym
        for keyword in _EMPTY_TYPE_2:
            if keyword not in result:
                setattr(result, keyword, None)
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

        source_meta = getattr(ds, "file_meta", None)
        if source_meta is not None and "TransferSyntaxUID" in source_meta:
            meta = FileMetaDataset()
            meta.FileMetaInformationVersion = b"\x00\x01"
            sop_class = result.get("SOPClassUID") or self._uid(
                str(source_meta.get("MediaStorageSOPClassUID", "")), work
            )
            sop_instance = result.get("SOPInstanceUID") or self._uid(
                str(source_meta.get("MediaStorageSOPInstanceUID", "")), work
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
        return Cleaned(result, dict(work.uid_map), work.n_dropped)

    def _uid(self, original: str, work: _Work) -> str:
        original = original.strip().rstrip("\x00")
        if not original or original in UID_dictionary:
            return original
        new = work.uid_map.get(original)
        if new is None:
            new = work.uid_map[original] = self.new_uid(original)
        return new

    def _clean_dataset(self, source: Dataset, allowed: Mapping[int, Rule], work: _Work) -> Dataset:
        result = Dataset()
        # Tags first and values only for allowed elements: a dropped element is never decoded,
        # so a malformed value in it (wrong length, bad characters) cannot stop the copy.
        for tag in list(source.keys()):
            rule = None if BaseTag(tag).is_private else allowed.get(int(tag))
            raw = source.get_item(tag)
            if rule is None or getattr(raw, "VR", None) == "UN":
                work.n_dropped += _count(source, tag)
                continue
            new = self._keep(source, tag, rule, work)
            if new is None:
                work.n_dropped += 1
            else:
                result.add(new)
        return result

    def _keep(self, source: Dataset, tag: BaseTag, rule: Rule, work: _Work) -> DataElement | None:
        try:
            elem = source[tag]
            value = elem.value
        except (ValueError, TypeError, struct.error) as error:
            if rule.keep is Keep.AS_IS:
                raise DeidentificationError(
                    f"({tag.group:04X},{tag.element:04X}) {keyword_for_tag(tag) or ''}: the "
                    f"value cannot be read ({error}); its length does not fit its VR. Export "
                    "the image again from the site's archive."
                ) from error
            return None  # a text value that is not what it should be: drop it
        vr = str(elem.VR)
        if rule.keep is Keep.AS_IS:
            return _copy(elem)
        if rule.keep is Keep.SEQUENCE:
            items = [self._clean_dataset(item, rule.items, work) for item in value or []]
            return DataElement(tag, "SQ", Sequence(items))
        values = _values(value)
        if rule.max_values is not None and len(values) > rule.max_values:
            values = values[: rule.max_values]
        if rule.keep is Keep.NUMBER:
            if not all(_is_number(v) for v in values):
                return None
            return DataElement(tag, vr, _pack([str(v).strip() for v in values]))
        if rule.keep is Keep.CHOICE:
            if not values or not all(rule.accepts(str(v)) for v in values):
                return None
            return DataElement(tag, vr, _pack([str(v).strip() for v in values]))
        if rule.keep is Keep.UID:
            new = [self._uid(str(v), work) for v in values if str(v).strip()]
            return DataElement(tag, vr, _pack(new)) if new else None
        # Keep.DATE
        shift = _shift_date if vr == "DA" else _shift_datetime
        shifted = [shift(str(v), work.offset_days) for v in values]
        if not shifted or any(s is None for s in shifted):
            return None  # unparsable: no date rather than a real one
        return DataElement(tag, vr, _pack([s for s in shifted if s is not None]))


@dataclass
class _Work:
    """What one :meth:`Deidentifier.clean` call accumulates."""

    offset_days: int
    uid_map: dict[str, str] = field(default_factory=dict)
    n_dropped: int = 0


class Cleaned(NamedTuple):
    """The result of :meth:`Deidentifier.clean`.

    Attributes
    ----------
    dataset : the de-identified dataset
    uid_map : every UID replaced, original → new
    n_dropped : attributes of the source not carried over (elements inside dropped sequences
        counted too)
    """

    dataset: Dataset
    uid_map: dict[str, str]
    n_dropped: int


def _count(source: Dataset, tag: BaseTag) -> int:
    """1 for the element, plus every element inside it when it is a readable sequence."""
    raw = source.get_item(tag)
    if getattr(raw, "VR", None) != "SQ":
        return 1
    try:
        items = source[tag].value or []
    except (ValueError, TypeError, struct.error):
        return 1
    return 1 + sum(_count(item, item_tag) for item in items for item_tag in list(item.keys()))


def _is_number(value: Any) -> bool:
    text = str(value).strip()
    return bool(_NUMBER_TEXT.fullmatch(text)) and math.isfinite(float(text))


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


def find_identity_leaks(ds: Dataset, *, pseudonym: str | None = None) -> list[str]:
    """Elements of a de-identified dataset that the allow-list does not allow (empty: none).

    Checks every nested item against its own allow-list, and person names other than the
    pseudonym. This is the self-check of :meth:`Deidentifier.clean`, so it reads the same
    :data:`~collarreader.study.deid_allowlist.ALLOW_LIST`.
    """
    leaks: list[str] = []
    _check_items(ds, ALLOW_LIST, pseudonym, leaks, root=True)
    return leaks


def _check_items(
    ds: Dataset, allowed: Mapping[int, Rule], pseudonym: str | None, leaks: list[str], *, root: bool
) -> None:
    for elem in ds:
        tag: BaseTag = elem.tag
        where = f"{tag} {elem.keyword or 'private'}"
        rule = None if tag.is_private else allowed.get(int(tag))
        if elem.VR == "PN" and elem.value and str(elem.value) != pseudonym:
            leaks.append(f"{where}: person name")
        elif int(tag) == _DEID_CODES and root:
            items = elem.value or []
            unexpected = [e for item in items for e in item if int(e.tag) not in _CODE_ITEM]
            leaks.extend(f"{where}: {e.tag} in a code item" for e in unexpected)
        elif rule is None and not (root and int(tag) in _WRITTEN):
            leaks.append(f"{where}: not on the allow-list")
        elif rule is not None and rule.keep is Keep.SEQUENCE:
            for item in elem.value or []:
                _check_items(item, rule.items, pseudonym, leaks, root=False)


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
    cleaned = deidentifier.clean(ds, pseudonym=pseudonym, patient_key=patient_key)
    result = cleaned.dataset
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
        uid_map=cleaned.uid_map,
        n_dropped=cleaned.n_dropped,
        burned_in=burned_in_status(ds),
        needs_burned_in_review=needs_burned_in_review(ds),
        modality=str(ds.get("Modality", "")),
        transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
        date_offset_days=deidentifier.date_offset_days(patient_key),
    )
