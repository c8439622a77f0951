"""Tests of collarreader.study.deid: PS3.15 Annex E Basic Profile with modified dates.

The key test plants identity everywhere in a real DICOM file (names in several character sets,
nested sequences, private tags, UN values, overlays, curves, an icon image, UIDs, dates and
times), de-identifies it to a file and searches every byte of the output for every encoding of
every planted string.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.datadict import get_entry
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from collarreader.errors import DeidentificationError, DicomReadError
from collarreader.study.deid import (
    MODALITIES_THAT_BURN_IN,
    Deidentifier,
    burned_in_status,
    deidentify_file,
    find_identity_leaks,
    needs_burned_in_review,
)
from collarreader.study.deid_table import BASIC_PROFILE, Action, basic_profile_action

SECRET = b"collarreader-test-secret-32bytes"
DX_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
ROOT = "1.2.826.0.1.3680043.10.999"  # a test root that appears nowhere else
STUDY_UID = f"{ROOT}.1.4471"
SERIES_UID = f"{ROOT}.2.4471.1"
FRAME_UID = f"{ROOT}.5.4471"
UNKNOWN_PUBLIC_TAG = 0x00180999  # an even-group tag pydicom's dictionary does not know

# (charset, patient name, institution, a person in a nested sequence)
CHARSETS = {
    "ascii": (None, "Quackenbush^Zebulon", "Saint Hildegard Wexford Clinic", "Ottoline^Grimsby"),
    "latin1": (
        "ISO_IR 100",
        "Müller-Lüdenscheidt^Jürgen",
        "Klinikum Düsseldorf Südstraße",
        "Brügger^Søren",
    ),
    "utf8": ("ISO_IR 192", "Ångström^Zoë Ωmega", "Hôpital Émile Žižek", "Łukasiewicz^Jędrzej"),
    "iso2022_jp": (
        ["", "ISO 2022 IR 87"],
        "Yamada^Tarou=山田^太郎=やまだ^たろう",
        "Kyoto Sakura Hospital",
        "Suzuki^Hanako=鈴木^花子",
    ),
    "gb18030": ("GB18030", "Wang^XiaoDong=王^小东", "北京协和医院骨科", "李^明"),
}

# Every other identity string planted, all ASCII, each at least 6 characters.
IDENTITY = {
    "patient_id": "PID-7731-XQ",
    "other_id": "OPID-4455-ZZ",
    "other_issuer": "Larkspur County Hospital",
    "accession": "ACC-99812-K",
    "study_id": "STY-5512",
    "address": "17 Larkspur Lane Quimby",
    "phone": "+44 1632 960771",
    "department": "Orthopaedic Tumour Unit Vexley",
    "station": "XRAY-ROOM-QZ3",
    "serial": "SN-8841-QWERTY",
    "referring": "Pemberton^Fitzwilliam",
    "operator": "Abernathy^Clementine",
    "performing": "Featherstonehaugh^Rupert",
    "requesting": "Throckmorton^Ignatius",
    "study_description": "Tumour prosthesis follow-up Quackenbush",
    "series_description": "Left femur Zebulon collar",
    "image_comments": "patient Quackenbush moved twice",
    "patient_comments": "allergic to Vexley latex",
    "history": "Osteosarcoma diagnosed at Wexford",
    "protocol": "PROTO-QUACKEN",
    "procedure": "Requested femur film Quimby",
    "requested_id": "RPID-5521-QQ",
    "sps_id": "SPS-3321-QQ",
    "private": "Private note on Quackenbush",
    "private_un": "UN hidden Zebulon identity",
    "unknown_public": "Unknown public Quackenbush tag",
    "un_public_known": "UN department Vexley wing",
    "overlay": "Overlay says Quackenbush",
    "curve": "Curve label Quackenbush",
    "icon": "ICON-PIXELS-QUACKENBUSH",
    "context": "Context text Quackenbush",
    "content_text": "Report text Zebulon Quackenbush",
    "original_name": "Formerly^Quackenbushova",
    "occupation": "Keeper Quimby",
    "derivation": "Derived at Wexford from Quackenbush",
    "device_processing": "Processing Wexford Q7",
}

DATES = ("20210314", "19580723", "20210315", "20210313")
TIMES = ("093015", "101112", "235959")


def uid(n: int) -> str:
    return f"{ROOT}.3.{n}"


def ramp_pixels(rows: int = 12, cols: int = 16) -> np.ndarray:
    # Values below 4096: the high byte of every pixel is ≤ 0x0F, so no run of two printable
    # or multi-byte characters can appear in the pixel data by chance (see the byte search).
    return (np.arange(rows * cols, dtype=np.uint16) * 21 % 4096).reshape(rows, cols)


def name_item(tag_keyword: str, name: str) -> Dataset:
    item = Dataset()
    setattr(item, tag_keyword, name)
    return item


def make_dx(
    *,
    sop_uid: str,
    charset: str = "ascii",
    study_uid: str = STUDY_UID,
    series_uid: str = SERIES_UID,
    study_date: str = "20210314",
    referenced_sop: str | None = None,
    burned_in: str | None = "NO",
    pixels: np.ndarray | None = None,
) -> Dataset:
    """A DX image with identity in every place a real export may carry it."""
    specific, patient_name, institution, nested_person = CHARSETS[charset]
    ds = Dataset()
    if specific is not None:
        ds.SpecificCharacterSet = specific
    ds.SOPClassUID = DX_CLASS
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = FRAME_UID
    ds.InstanceCreatorUID = uid(900)
    ds.IrradiationEventUID = uid(901)
    ds.Modality = "DX"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    # patient
    ds.PatientName = patient_name
    ds.PatientID = IDENTITY["patient_id"]
    ds.IssuerOfPatientID = IDENTITY["other_issuer"]
    ds.PatientBirthDate = "19580723"
    ds.PatientBirthTime = "101112"
    ds.PatientSex = "F"
    ds.PatientAge = "063Y"
    ds.PatientWeight = "83.5"
    ds.PatientSize = "1.71"
    ds.PatientAddress = IDENTITY["address"]
    ds.PatientTelephoneNumbers = IDENTITY["phone"]
    ds.PatientComments = IDENTITY["patient_comments"]
    ds.AdditionalPatientHistory = IDENTITY["history"]
    ds.Occupation = IDENTITY["occupation"]
    ds.OtherPatientIDs = IDENTITY["other_id"]
    ds.OtherPatientNames = nested_person
    other_id = Dataset()
    other_id.PatientID = IDENTITY["other_id"]
    other_id.IssuerOfPatientID = IDENTITY["other_issuer"]
    other_id.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = [other_id]
    # study, series, equipment
    ds.StudyDate = study_date
    ds.SeriesDate = study_date
    ds.AcquisitionDate = study_date
    ds.ContentDate = study_date
    ds.InstanceCreationDate = study_date
    ds.StudyTime = "093015.123"
    ds.SeriesTime = "093015"
    ds.AcquisitionTime = "093015"
    ds.ContentTime = "093015"
    ds.InstanceCreationTime = "235959"
    ds.AcquisitionDateTime = f"{study_date}093015.123456+0100"
    ds.AccessionNumber = IDENTITY["accession"]
    ds.StudyID = IDENTITY["study_id"]
    ds.StudyDescription = IDENTITY["study_description"]
    ds.SeriesDescription = IDENTITY["series_description"]
    ds.ProtocolName = IDENTITY["protocol"]
    ds.DerivationDescription = IDENTITY["derivation"]
    ds.AcquisitionDeviceProcessingDescription = IDENTITY["device_processing"]
    ds.ImageComments = IDENTITY["image_comments"]
    ds.RequestedProcedureDescription = IDENTITY["procedure"]
    ds.ReferringPhysicianName = IDENTITY["referring"]
    ds.ReferringPhysicianAddress = IDENTITY["address"]
    ds.OperatorsName = IDENTITY["operator"]
    ds.PerformingPhysicianName = nested_person
    ds.NameOfPhysiciansReadingStudy = IDENTITY["performing"]
    ds.PhysiciansOfRecord = IDENTITY["performing"]
    ds.InstitutionName = institution
    ds.InstitutionAddress = IDENTITY["address"]
    ds.InstitutionalDepartmentName = IDENTITY["department"]
    ds.StationName = IDENTITY["station"]
    ds.DeviceSerialNumber = IDENTITY["serial"]
    ds.DetectorID = IDENTITY["serial"]
    ds.Manufacturer = "Acme Imaging"
    ds.ManufacturerModelName = "DR-1000"
    # nested: request attributes, with a name and the original study UID inside
    request = Dataset()
    request.RequestedProcedureID = IDENTITY["requested_id"]
    request.ScheduledProcedureStepID = IDENTITY["sps_id"]
    request.ScheduledProcedureStepDescription = IDENTITY["procedure"]
    request.AccessionNumber = IDENTITY["accession"]
    request.StudyInstanceUID = study_uid
    request.ScheduledPerformingPhysicianName = IDENTITY["requesting"]
    ds.RequestAttributesSequence = [request]
    ds.RequestingPhysician = IDENTITY["requesting"]
    performer = Dataset()
    performer.InstitutionName = institution
    performer.PersonIdentificationCodeSequence = [name_item("CodeMeaning", nested_person)]
    ds.PerformingPhysicianIdentificationSequence = [performer]
    pps = Dataset()
    pps.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
    pps.ReferencedSOPInstanceUID = uid(902)
    ds.ReferencedPerformedProcedureStepSequence = [pps]
    referenced_study = Dataset()
    referenced_study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    referenced_study.ReferencedSOPInstanceUID = study_uid
    ds.ReferencedStudySequence = [referenced_study]
    context = Dataset()
    context.ValueType = "TEXT"
    context.TextValue = IDENTITY["context"]
    ds.AcquisitionContextSequence = [context]
    modified = Dataset()
    modified.PatientName = IDENTITY["original_name"]
    modified.PatientID = IDENTITY["other_id"]
    original = Dataset()
    original.ModifiedAttributesSequence = [modified]
    original.AttributeModificationDateTime = "20210101120000"
    original.ModifyingSystem = IDENTITY["station"]
    original.ReasonForTheAttributeModification = "COERCE"
    ds.OriginalAttributesSequence = [original]
    content = Dataset()
    content.ValueType = "PNAME"
    content.PersonName = IDENTITY["performing"]
    content.TextValue = IDENTITY["content_text"]
    content.DateTime = f"{study_date}101112"
    ds.ContentSequence = [content]
    # nested: a kept sequence (view code) whose items hide a name, a date, a UID, a private tag
    view = Dataset()
    view.CodeValue = "R-10206"
    view.CodingSchemeDesignator = "SRT"
    view.CodeMeaning = "antero-posterior"
    modifier = Dataset()
    modifier.CodeValue = "G-A117"
    modifier.CodingSchemeDesignator = "SRT"
    modifier.CodeMeaning = "transverse"
    modifier.OperatorsName = nested_person
    modifier.ContentDate = study_date
    modifier.InstanceCreatorUID = uid(903)
    modifier.private_block(0x0029, "ACME NESTED", create=True).add_new(
        0x01, "LO", IDENTITY["private"]
    )
    view.ViewModifierCodeSequence = [modifier]
    ds.ViewCodeSequence = [view]
    if referenced_sop is not None:
        ref = Dataset()
        ref.ReferencedSOPClassUID = DX_CLASS
        ref.ReferencedSOPInstanceUID = referenced_sop
        ref.PerformingPhysicianName = IDENTITY["performing"]  # not allowed here; must go anyway
        ds.ReferencedImageSequence = [ref]
    # private attributes: creator, text, UN bytes, a private sequence with a public name inside
    block = ds.private_block(0x0009, "ACME PRIVATE", create=True)
    block.add_new(0x01, "LO", IDENTITY["private"])
    block.add_new(0x02, "UN", IDENTITY["private_un"].encode("ascii"))
    block.add_new(0x03, "SQ", Sequence([name_item("PatientName", patient_name)]))
    # unknown public attributes, and a known one written as UN
    ds.add(DataElement(UNKNOWN_PUBLIC_TAG, "UN", IDENTITY["unknown_public"].encode("ascii")))
    ds.add(DataElement(0x00081040, "UN", IDENTITY["un_public_known"].encode("ascii")))
    # overlay and curve
    ds.add_new(0x60000010, "US", 12)
    ds.add_new(0x60000011, "US", 16)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60000022, "LO", IDENTITY["overlay"])
    ds.add_new(0x60003000, "OW", IDENTITY["overlay"].encode("ascii").ljust(24, b"_"))
    ds.add_new(0x50002500, "LO", IDENTITY["curve"])
    icon = Dataset()
    icon.Rows = 1
    icon.Columns = len(IDENTITY["icon"])
    icon.SamplesPerPixel = 1
    icon.PhotometricInterpretation = "MONOCHROME2"
    icon.BitsAllocated = 8
    icon.BitsStored = 8
    icon.HighBit = 7
    icon.PixelRepresentation = 0
    icon.PixelData = IDENTITY["icon"].encode("ascii")
    ds.IconImageSequence = [icon]
    # what the reader needs
    image = ramp_pixels() if pixels is None else pixels
    ds.Rows, ds.Columns = image.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelSpacing = [0.15, 0.15]
    ds.ImagerPixelSpacing = [0.17, 0.17]
    ds.EstimatedRadiographicMagnificationFactor = "1.15"
    ds.WindowCenter = "2048"
    ds.WindowWidth = "4096"
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    voi = Dataset()
    voi.LUTDescriptor = [4, 0, 16]
    voi.LUTExplanation = "NORMAL"
    voi.add_new(0x00283006, "US", [0, 1000, 3000, 4095])  # LUT Data
    ds.VOILUTSequence = [voi]
    ds.ViewPosition = "AP"
    ds.ImageLaterality = "L"
    ds.BodyPartExamined = "LEG"
    ds.PatientOrientation = ["A", "F"]
    ds.LossyImageCompression = "00"
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    ds.PixelData = image.astype("<u2").tobytes()
    return ds


def save(ds: Dataset, path: Path, transfer_syntax: str = ExplicitVRLittleEndian) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = (
        ExplicitVRLittleEndian if transfer_syntax == RLELossless else transfer_syntax
    )
    meta.SourceApplicationEntityTitle = "WEXFORD_PACS"
    ds.file_meta = meta
    if transfer_syntax == RLELossless:
        ds.compress(RLELossless, encoding_plugin="pydicom")
    ds.save_as(path, enforce_file_format=True)
    return path


def byte_variants(text: str) -> set[bytes]:
    """Every encoding of ``text`` (and its case variants) a file might hold."""
    variants: set[bytes] = set()
    pieces = {text, text.upper(), text.lower()}
    # Each PN component group and each name part on its own, too.
    for group in re.split(r"[=^]", text):
        if len(group) >= 2:
            pieces |= {group, group.upper(), group.lower()}
    for piece in pieces:
        for codec in (
            "ascii",
            "latin_1",
            "utf_8",
            "iso2022_jp",
            "gb18030",
            "shift_jis",
            "utf_16_le",
        ):
            try:
                encoded = piece.encode(codec)
            except UnicodeEncodeError:
                continue
            variants.add(encoded)
            # ISO 2022 escape sequences may differ: look for the payload between them too.
            variants |= {p for p in re.split(rb"\x1b[$(][@A-Z]", encoded) if len(p) >= 2}
    return {v for v in variants if len(v) >= 2}


def walk(ds: Dataset) -> Iterator[DataElement]:
    for elem in ds:
        yield elem
        if elem.VR == "SQ":
            for item in elem.value:
                yield from walk(item)


@pytest.fixture
def deid() -> Deidentifier:
    return Deidentifier(SECRET)


# ------------------------------------------------------------------ the key test


@pytest.mark.parametrize("charset", list(CHARSETS))
def test_no_identity_byte_survives(tmp_path: Path, deid: Deidentifier, charset: str) -> None:
    source = save(
        make_dx(sop_uid=uid(1), charset=charset, referenced_sop=uid(2)), tmp_path / "in.dcm"
    )
    raw_in = source.read_bytes()
    _, patient_name, institution, nested_person = CHARSETS[charset]
    planted = [patient_name, institution, nested_person, *IDENTITY.values()]
    # The source really carries what we look for (otherwise this test could not fail).
    assert IDENTITY["private_un"].encode() in raw_in
    for text in (patient_name, institution, nested_person):
        for part in re.split(r"[=^ ]", text):
            # every part, including the ideographic and accented ones, is really in the source
            assert any(v in raw_in for v in byte_variants(part)), part

    out = tmp_path / "out.dcm"
    deidentify_file(source, out, deid, pseudonym="CASE-0001", patient_key="site1/p1")
    raw = out.read_bytes()

    found = [
        (text, variant)
        for text in planted
        for variant in byte_variants(text)
        if len(variant) >= 4 and variant in raw
    ]
    assert found == []
    for original in (
        STUDY_UID,
        SERIES_UID,
        FRAME_UID,
        uid(1),
        uid(2),
        *(uid(n) for n in range(900, 904)),
    ):
        assert original.encode() not in raw
    assert ROOT.encode() not in raw
    for date in DATES:
        assert date.encode() not in raw
    for time in TIMES:
        assert time.encode() not in raw
    assert b"WEXFORD_PACS" not in raw
    assert b"ACME PRIVATE" not in raw
    assert b"ACME NESTED" not in raw

    ds = pydicom.dcmread(out)
    assert find_identity_leaks(ds, pseudonym="CASE-0001") == []
    for elem in walk(ds):
        assert not elem.tag.is_private
        assert elem.VR != "UN"
        assert not (0x5000 <= elem.tag.group <= 0x50FF)
        assert not (0x6000 <= elem.tag.group <= 0x60FF)
        if elem.VR == "PN" and elem.value:
            assert str(elem.value) in {"CASE-0001", "ANONYMIZED"}
    assert "IconImageSequence" not in ds
    assert "OtherPatientIDsSequence" not in ds
    assert "RequestAttributesSequence" not in ds
    assert "OriginalAttributesSequence" not in ds
    assert UNKNOWN_PUBLIC_TAG not in ds
    assert "SpecificCharacterSet" not in ds  # nothing non-ASCII was kept


def test_kept_and_replaced_attributes(tmp_path: Path, deid: Deidentifier) -> None:
    source_ds = make_dx(sop_uid=uid(1), referenced_sop=uid(2))
    source_ds.ImageType = ["DERIVED", "PRIMARY", "QUACKENBUSH", "ZEBULON"]
    source = save(source_ds, tmp_path / "in.dcm")
    out = tmp_path / "out.dcm"
    result = deidentify_file(source, out, deid, pseudonym="CASE-0001", patient_key="site1/p1")
    ds = pydicom.dcmread(out)
    # identity replaced; Type 2 attributes written empty
    assert ds.PatientName == "CASE-0001"
    assert ds.PatientID == "CASE-0001"
    for keyword in ("PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID", "StudyTime"):
        assert ds[keyword].value in ("", None), keyword
    assert ds.ReferringPhysicianName == ""
    # de-identification attributes
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.DeidentificationMethod[0].startswith("collarreader ")
    assert all(len(v) <= 64 for v in ds.DeidentificationMethod)
    codes = [(c.CodeValue, c.CodingSchemeDesignator) for c in ds.DeidentificationMethodCodeSequence]
    assert codes == [("113100", "DCM"), ("113107", "DCM")]
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    # dates shifted, times of day gone
    offset = deid.date_offset_days("site1/p1")
    shifted = (dt.date(2021, 3, 14) + dt.timedelta(days=offset)).strftime("%Y%m%d")
    assert result.date_offset_days == offset
    for keyword in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
        assert ds[keyword].value == shifted, keyword
    for keyword in ("AcquisitionDateTime", "SeriesTime", "ContentTime", "InstanceCreationDate"):
        assert keyword not in ds, keyword
    # what the reader needs is untouched
    for keyword, value in {
        "Rows": 12,
        "Columns": 16,
        "BitsAllocated": 16,
        "BitsStored": 12,
        "HighBit": 11,
        "PixelRepresentation": 0,
        "PhotometricInterpretation": "MONOCHROME1",
        "PixelSpacing": [0.15, 0.15],
        "ImagerPixelSpacing": [0.17, 0.17],
        "EstimatedRadiographicMagnificationFactor": 1.15,
        "WindowCenter": 2048,
        "WindowWidth": 4096,
        "RescaleSlope": 1,
        "RescaleType": "US",
        "ViewPosition": "AP",
        "ImageLaterality": "L",
        "PatientOrientation": ["A", "F"],
        "BurnedInAnnotation": "NO",
        "LossyImageCompression": "00",
        "PresentationIntentType": "FOR PRESENTATION",
        "SOPClassUID": DX_CLASS,
        "Modality": "DX",
    }.items():
        assert ds[keyword].value == value, keyword
    # Image Type: values 1-2 only
    assert list(ds.ImageType) == ["DERIVED", "PRIMARY"]
    # VOI LUT values kept, its explanation dropped
    assert ds.VOILUTSequence[0].LUTData == [0, 1000, 3000, 4095]
    assert "LUTExplanation" not in ds.VOILUTSequence[0]
    # everything else is gone: body part, vendor, codes, references, frame of reference
    for keyword in (
        "BodyPartExamined",
        "Manufacturer",
        "ManufacturerModelName",
        "ViewCodeSequence",
        "ReferencedImageSequence",
        "FrameOfReferenceUID",
        "ContentSequence",
        "InstitutionName",
    ):
        assert keyword not in ds, keyword
    # UIDs: replaced consistently and listed, the registered class UID kept, file meta follows
    assert ds.SOPInstanceUID == deid.new_uid(uid(1)) == result.new_uids.sop
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.file_meta.MediaStorageSOPClassUID == DX_CLASS
    assert "SourceApplicationEntityTitle" not in ds.file_meta
    assert ds.StudyInstanceUID == deid.new_uid(STUDY_UID)
    assert result.uid_map == {
        STUDY_UID: deid.new_uid(STUDY_UID),
        SERIES_UID: deid.new_uid(SERIES_UID),
        uid(1): deid.new_uid(uid(1)),
    }
    assert result.original_uids == (STUDY_UID, SERIES_UID, uid(1))
    assert result.new_uids == (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert result.burned_in == "no"
    assert result.needs_burned_in_review is False
    # the count of dropped attributes: every source element not carried over, nested too
    source_count = sum(1 for _ in walk(pydicom.dcmread(source)))
    kept = sum(
        1
        for elem in walk(ds)
        if elem.keyword
        not in {
            "PatientName", "PatientID", "PatientIdentityRemoved", "DeidentificationMethod",
            "DeidentificationMethodCodeSequence", "LongitudinalTemporalInformationModified",
            "PatientBirthDate", "PatientSex", "StudyTime", "ReferringPhysicianName", "StudyID",
            "AccessionNumber", "SeriesNumber", "InstanceNumber", "CodeValue",
            "CodingSchemeDesignator", "CodeMeaning",
        }
    )  # fmt: skip
    assert result.n_dropped > 100
    assert result.n_dropped == source_count - kept


def test_an_unregistered_class_uid_is_replaced(deid: Deidentifier) -> None:
    ds = make_dx(sop_uid=uid(1))
    ds.SOPClassUID = f"{ROOT}.77.4471"  # a site's own "class" UID built from a patient number
    cleaned = deid.clean(ds, pseudonym="C1", patient_key="p")
    assert cleaned.dataset.SOPClassUID == deid.new_uid(f"{ROOT}.77.4471")
    assert cleaned.uid_map[f"{ROOT}.77.4471"] == cleaned.dataset.SOPClassUID


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("Modality", "QUACKEN"),
        ("ViewPosition", "ZEBULON"),
        ("WindowCenter", "1e999"),
        ("PhotometricInterpretation", "MONOCHROME3"),
        ("PatientOrientation", ["A", "QZ"]),
    ],
)
def test_values_outside_the_allowed_terms_are_dropped(
    deid: Deidentifier, keyword: str, value: object
) -> None:
    ds = make_dx(sop_uid=uid(1))
    setattr(ds, keyword, value)
    assert keyword not in deid.deidentify(ds, pseudonym="C1", patient_key="p")


def test_nothing_non_ascii_is_kept(tmp_path: Path, deid: Deidentifier) -> None:
    source = save(make_dx(sop_uid=uid(1), charset="latin1"), tmp_path / "in.dcm")
    out = tmp_path / "out.dcm"
    deidentify_file(source, out, deid, pseudonym="C1", patient_key="p")
    ds = pydicom.dcmread(out)
    assert "SpecificCharacterSet" not in ds
    texts = [str(e.value) for e in walk(ds) if e.VR in ("CS", "LO", "SH", "PN", "DS", "IS")]
    assert len(texts) > 10
    assert all(text.isascii() for text in texts)


# ------------------------------------------------------------------ pixels and files


@pytest.mark.parametrize(
    "transfer_syntax",
    [ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, RLELossless],
)
def test_pixel_data_bytes_unchanged(
    tmp_path: Path, deid: Deidentifier, transfer_syntax: str
) -> None:
    source = save(make_dx(sop_uid=uid(1)), tmp_path / "in.dcm", transfer_syntax)
    before = pydicom.dcmread(source)
    out = tmp_path / "out.dcm"
    result = deidentify_file(source, out, deid, pseudonym="C1", patient_key="p")
    after = pydicom.dcmread(out)
    assert result.transfer_syntax == transfer_syntax
    assert after.file_meta.TransferSyntaxUID == transfer_syntax
    assert after.PixelData == before.PixelData
    np.testing.assert_array_equal(after.pixel_array, before.pixel_array)
    np.testing.assert_array_equal(after.pixel_array, ramp_pixels())


def test_encapsulated_jpeg2000_fragments_unchanged(tmp_path: Path, deid: Deidentifier) -> None:
    path = pydicom.data.get_testdata_file("JPEG2000.dcm", download=False)
    if path is None:
        pytest.skip("pydicom's JPEG2000.dcm test file is not installed")
    out = tmp_path / "out.dcm"
    deidentify_file(Path(path), out, deid, pseudonym="C1", patient_key="p")
    before, after = pydicom.dcmread(path), pydicom.dcmread(out)
    assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID
    assert after.PixelData == before.PixelData
    np.testing.assert_array_equal(after.pixel_array, before.pixel_array)


def test_input_file_is_byte_identical_and_dataset_unchanged(
    tmp_path: Path, deid: Deidentifier
) -> None:
    source = save(make_dx(sop_uid=uid(1), charset="utf8"), tmp_path / "in.dcm")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    deidentify_file(source, tmp_path / "out.dcm", deid, pseudonym="C1", patient_key="p")
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest
    ds = pydicom.dcmread(source)
    result = deid.deidentify(ds, pseudonym="C1", patient_key="p")
    assert result is not ds
    assert ds.PatientName == CHARSETS["utf8"][1]
    assert ds.SOPInstanceUID == uid(1)
    assert 0x00090010 in ds


def test_refuses_to_overwrite_the_source(tmp_path: Path, deid: Deidentifier) -> None:
    source = save(make_dx(sop_uid=uid(1)), tmp_path / "in.dcm")
    with pytest.raises(DeidentificationError, match="overwrite its source"):
        deidentify_file(source, source, deid, pseudonym="C1", patient_key="p")


def test_unreadable_sources(tmp_path: Path, deid: Deidentifier) -> None:
    text = tmp_path / "notes.dcm"
    text.write_text("not DICOM")
    with pytest.raises(DicomReadError, match=r"notes\.dcm: not a readable DICOM file"):
        deidentify_file(text, tmp_path / "o.dcm", deid, pseudonym="C1", patient_key="p")
    with pytest.raises(DicomReadError, match="file not found"):
        deidentify_file(
            tmp_path / "no.dcm", tmp_path / "o.dcm", deid, pseudonym="C1", patient_key="p"
        )
    no_uid = make_dx(sop_uid=uid(1))
    del no_uid.StudyInstanceUID
    with pytest.raises(DeidentificationError, match="missing Study, Series or SOP"):
        deidentify_file(
            save(no_uid, tmp_path / "x.dcm"),
            tmp_path / "o.dcm",
            deid,
            pseudonym="C1",
            patient_key="p",
        )
    assert not (tmp_path / "o.dcm").exists()


@pytest.mark.parametrize("pseudonym", ["", "x" * 65, "Müller", "A\\B", "Doe^John", "tab\there"])
def test_bad_pseudonyms(deid: Deidentifier, pseudonym: str) -> None:
    with pytest.raises(DeidentificationError, match="cannot be a Patient ID"):
        deid.deidentify(make_dx(sop_uid=uid(1)), pseudonym=pseudonym, patient_key="p")


# ------------------------------------------------------------------ consistency across files


def test_uids_consistent_across_files_of_a_study(tmp_path: Path, deid: Deidentifier) -> None:
    a = save(make_dx(sop_uid=uid(1)), tmp_path / "a.dcm")
    b = save(make_dx(sop_uid=uid(2), referenced_sop=uid(1)), tmp_path / "b.dcm")
    other = save(
        make_dx(sop_uid=uid(3), study_uid=f"{ROOT}.1.9", series_uid=f"{ROOT}.2.9.1"),
        tmp_path / "c.dcm",
    )
    ra = deidentify_file(a, tmp_path / "a_out.dcm", deid, pseudonym="C1", patient_key="p")
    rb = deidentify_file(b, tmp_path / "b_out.dcm", deid, pseudonym="C1", patient_key="p")
    rc = deidentify_file(other, tmp_path / "c_out.dcm", deid, pseudonym="C2", patient_key="q")
    assert ra.new_uids.study == rb.new_uids.study != rc.new_uids.study
    assert ra.new_uids.series == rb.new_uids.series
    assert ra.new_uids.sop != rb.new_uids.sop
    assert ra.uid_map[STUDY_UID] == rb.uid_map[STUDY_UID] == ra.new_uids.study
    # another study secret gives other UIDs
    assert Deidentifier(b"another-secret-of-32-bytes-xxxxx").new_uid(STUDY_UID) != ra.new_uids.study


def test_date_interval_preserved_within_a_patient(tmp_path: Path, deid: Deidentifier) -> None:
    six = save(make_dx(sop_uid=uid(1), study_date="20210314"), tmp_path / "6m.dcm")
    twelve = save(
        make_dx(sop_uid=uid(2), study_uid=f"{ROOT}.1.2", study_date="20210915"),
        tmp_path / "12m.dcm",
    )
    deidentify_file(six, tmp_path / "6.dcm", deid, pseudonym="C1", patient_key="site1/p7")
    deidentify_file(twelve, tmp_path / "12.dcm", deid, pseudonym="C1", patient_key="site1/p7")

    def study_date(path: Path) -> dt.date:
        return dt.datetime.strptime(pydicom.dcmread(path).StudyDate, "%Y%m%d").date()

    new_six, new_twelve = study_date(tmp_path / "6.dcm"), study_date(tmp_path / "12.dcm")
    assert (new_twelve - new_six).days == (dt.date(2021, 9, 15) - dt.date(2021, 3, 14)).days
    assert new_six != dt.date(2021, 3, 14)


def test_date_offsets_differ_between_patients_and_stay_in_range(deid: Deidentifier) -> None:
    offsets = [deid.date_offset_days(f"site{s}/patient{p}") for s in range(3) for p in range(40)]
    assert all(-3650 <= o <= -365 for o in offsets)
    assert len(set(offsets)) > 100  # 120 patients: collisions are rare, not systematic
    assert deid.date_offset_days("site1/p1") != deid.date_offset_days("site1/p2")
    assert deid.date_offset_days("site1/p1") == Deidentifier(SECRET).date_offset_days("site1/p1")


def test_new_uid_form(deid: Deidentifier) -> None:
    new = deid.new_uid(STUDY_UID)
    assert new == deid.new_uid(STUDY_UID + "\x00")  # padding does not change identity
    assert re.fullmatch(r"2\.25\.(0|[1-9][0-9]*)", new)
    assert len(new) <= 64
    as_uuid = uuid.UUID(int=int(new.removeprefix("2.25.")))
    assert as_uuid.version == 8
    assert as_uuid.variant == uuid.RFC_4122
    assert deid.new_uid(SERIES_UID) != new
    with pytest.raises(ValueError, match="empty UID"):
        deid.new_uid(" ")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Deidentifier(b"short")
    assert len(Deidentifier.new_secret()) == 32


# ------------------------------------------------------------------ burned-in annotation


@pytest.mark.parametrize(
    ("flag", "modality", "status", "review"),
    [
        ("YES", "CT", "yes", True),
        ("NO", "DX", "no", False),
        ("no ", "US", "no", False),
        (None, "DX", "unknown", True),
        (None, "CR", "unknown", True),
        (None, "SC", "unknown", True),
        (None, "CT", "unknown", False),
        ("MAYBE", "MR", "unknown", False),
    ],
)
def test_burned_in_rules(flag: str | None, modality: str, status: str, review: bool) -> None:
    ds = Dataset()
    ds.Modality = modality
    if flag is not None:
        ds.BurnedInAnnotation = flag
    assert burned_in_status(ds) == status
    assert needs_burned_in_review(ds) is review


def test_burn_in_modalities_cover_radiography() -> None:
    assert {"US", "SC", "XA", "RF", "ES", "OT", "DX", "CR"} <= MODALITIES_THAT_BURN_IN
    assert "CT" not in MODALITIES_THAT_BURN_IN


def test_result_reports_burned_in_absent(tmp_path: Path, deid: Deidentifier) -> None:
    source = save(make_dx(sop_uid=uid(1), burned_in=None), tmp_path / "in.dcm")
    result = deidentify_file(source, tmp_path / "o.dcm", deid, pseudonym="C1", patient_key="p")
    assert (result.burned_in, result.needs_burned_in_review, result.modality) == (
        "unknown",
        True,
        "DX",
    )


# ------------------------------------------------------------------ the table


def test_profile_table_transcription() -> None:
    assert len(BASIC_PROFILE) >= 600
    expected = {
        "PatientName": Action.Z,
        "PatientID": Action.Z_D,
        "PatientBirthDate": Action.Z,
        "PatientAge": Action.X,
        "OtherPatientIDsSequence": Action.X,
        "RequestAttributesSequence": Action.X,
        "IconImageSequence": Action.X,
        "AcquisitionContextSequence": Action.X_Z,
        "ReferencedImageSequence": Action.X_Z_U,
        "SourceImageSequence": Action.X_Z_U,
        "ReferencedSOPInstanceUID": Action.U,
        "StudyInstanceUID": Action.U,
        "MediaStorageSOPInstanceUID": Action.U,
        "InstitutionName": Action.X_Z_D,
        "DeviceSerialNumber": Action.X_Z_D,
        "StudyDate": Action.Z,
        "ContentDate": Action.Z_D,
        "SeriesDate": Action.X_D,
        "ContentSequence": Action.D,
        "StationName": Action.X_Z_D,
        "OperatorsName": Action.X_Z_D,
    }
    for keyword, action in expected.items():
        assert basic_profile_action(pydicom.datadict.tag_for_keyword(keyword)) is action, keyword
    for keyword in ("Rows", "PixelSpacing", "ImageLaterality", "ViewPosition", "SOPClassUID"):
        assert basic_profile_action(pydicom.datadict.tag_for_keyword(keyword)) is None


def test_unknown_public_tag_guard() -> None:
    # The planted "unknown" public tag must really be unknown to pydicom for the test to mean
    # anything.
    with pytest.raises(KeyError):
        get_entry(UNKNOWN_PUBLIC_TAG)
