"""The canary corpus: identity planted in every place an export can carry it never reaches readers.

Each planted value is a unique canary. The corpus is three patients, each in its own character
set (ISO_IR 100, ISO_IR 192, GB18030), with canaries in every group the allow-list keeps
(their explanations and free text beside them), nested sequences, private blocks, overlays,
curves, the icon image, trailing padding, the file meta information, the preamble, file and
folder names, the manifest's columns, UIDs built from the patient number, dates in another
calendar and the code sequences of a local coding scheme. The reading set (every byte of every
file), the reader database ``simulate-reads`` writes from it, the output of both commands and
an export made without the key are searched for every canary in every case and encoding.

The test is shown to be able to fail: with the allow-list widened by one attribute, the canary
planted there is found.
"""

from __future__ import annotations

import csv
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian

from collarreader.cli import main
from collarreader.db.export import export_tidy
from collarreader.study import deid_allowlist
from collarreader.study.deid_allowlist import Keep, Rule
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.simulate import simulate_reads

DX_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"
ROOT = "1.2.826.0.1.3680043.10.999"
# (Specific Character Set, patient name, institution, referring physician), one per patient.
CHARSETS = (
    ("ISO_IR 100", "Kanarí{n}^Zoë", "Klinik Südkanarí{n}", "Vögelé{n}^Kanarí"),
    ("ISO_IR 192", "Κανάρι{n}^Ωμέγα", "Νοσοκομείο Κανάρι{n}", "Πουλί{n}^Κανάρι"),
    ("GB18030", "Jin{n}=金丝雀{n}^小东", "金丝雀医院{n}", "鸟{n}^金丝雀"),
)
PATIENT_NUMBERS = ("8813527", "8813611", "8813794")


def canary(place: str, patient: int) -> str:
    """A unique ASCII canary: upper-case letters and digits (valid in every text VR)."""
    return f"QZK{patient}{place.upper()}"


def patient_uid(patient: int, n: int) -> str:
    """A UID built from the patient's number, as some PACS make them."""
    return f"{ROOT}.{PATIENT_NUMBERS[patient]}.{n}"


def text_item(**values: object) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def local_code(patient: int, place: str, tag: str) -> Dataset:
    """A code of the site's own coding scheme (a ``99…`` designator and its UID)."""
    return text_item(
        CodeValue=canary(f"{place}V{tag}", patient),
        CodingSchemeDesignator=f"99Q{patient}{place.upper()}{tag}",
        CodingSchemeVersion=canary(f"{place}VR{tag}", patient),
        CodeMeaning=canary(f"{place}MEANING{tag}", patient),
        CodingSchemeUID=patient_uid(patient, 60),
    )


def make_image(path: Path, patient: int, view: str, timepoint: str) -> dict[str, str]:
    """Write one DX image full of canaries; return {place: canary} for it."""
    specific, name, institution, referring = (
        s.format(n=patient) if i else s for i, s in enumerate(CHARSETS[patient])
    )
    tag = f"{view[0]}{timepoint[:-1]}"  # A6, L12 …: short enough for CS and SH values
    c = {
        place: canary(place + tag, patient)
        for place in [
            "pid",
            "otherid",
            "address",
            "studydesc",
            "seriesdesc",
            "comments",
            "accession",
            "station",
            "serial",
            "model",
            "manufacturer",
            "software",
            "bodypart",
            "itype3",
            "windowexpl",
            "voilutexpl",
            "modlutexpl",
            "calibdesc",
            "altbirth",
            "altdeath",
            "privcreator",
            "privvalue",
            "privnested",
            "privun",
            "metaae",
            "metaver",
            "metaprivate",
            "preamble",
            "protocol",
            "operator",
            "contexttext",
            "overlay",
            "curve",
            "icon",
            "contenttext",
            "padding",
            "patientcomments",
            "devproc",
            "viewlat",
            "viewpos",
            "presshape",
            "rescaletype",
        ]
    }
    ds = Dataset()
    ds.SpecificCharacterSet = specific
    ds.SOPClassUID = DX_CLASS
    ds.SOPInstanceUID = patient_uid(patient, 100 + zlib.crc32(tag.encode()) % 10_000)
    ds.StudyInstanceUID = patient_uid(patient, 1 if timepoint == "6m" else 2)
    ds.SeriesInstanceUID = patient_uid(patient, 11 if timepoint == "6m" else 12)
    ds.FrameOfReferenceUID = patient_uid(patient, 21)
    ds.Modality = "DX"
    ds.PatientName = name
    ds.PatientID = c["pid"]
    ds.OtherPatientIDs = c["otherid"]
    ds.PatientAddress = c["address"]
    ds.PatientComments = c["patientcomments"]
    ds.add_new(0x00100033, "LO", c["altbirth"])  # Patient's Birth Date in Alternative Calendar
    ds.add_new(0x00100034, "LO", c["altdeath"])  # Patient's Death Date in Alternative Calendar
    ds.add_new(0x00100035, "CS", "HEBREW")  # Patient's Alternative Calendar
    ds.InstitutionName = institution
    ds.ReferringPhysicianName = referring
    ds.StudyDescription = c["studydesc"]
    ds.SeriesDescription = c["seriesdesc"]
    ds.ImageComments = c["comments"]
    ds.AccessionNumber = c["accession"]
    ds.StationName = c["station"]
    ds.DeviceSerialNumber = c["serial"]
    ds.ManufacturerModelName = c["model"]
    ds.Manufacturer = c["manufacturer"]
    ds.SoftwareVersions = c["software"]
    ds.ProtocolName = c["protocol"]
    ds.AcquisitionDeviceProcessingDescription = c["devproc"]
    ds.BodyPartExamined = c["bodypart"]
    ds.ImageType = ["ORIGINAL", "PRIMARY", c["itype3"]]
    ds.StudyDate = "20210314" if timepoint == "6m" else "20210920"
    ds.ViewPosition = "AP" if view == "AP" else "LL"
    ds.ImageLaterality = "L"
    ds.BurnedInAnnotation = "NO"
    # Explanations beside the values the reader keeps.
    ds.WindowCenter = "2048"
    ds.WindowWidth = "4096"
    ds.WindowCenterWidthExplanation = c["windowexpl"]
    voi = text_item(LUTDescriptor=[4, 0, 16], LUTExplanation=c["voilutexpl"])
    voi.add_new(0x00283006, "US", [0, 1000, 3000, 4095])  # LUT Data
    ds.VOILUTSequence = [voi]
    modality_lut = text_item(LUTDescriptor=[4, 0, 16], LUTExplanation=c["modlutexpl"])
    modality_lut.ModalityLUTType = "US"
    modality_lut.add_new(0x00283006, "US", [0, 1, 2, 3])
    ds.ModalityLUTSequence = [modality_lut]
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.ImagerPixelSpacing = [0.2, 0.2]
    ds.PixelSpacingCalibrationType = "GEOMETRY"
    ds.PixelSpacingCalibrationDescription = c["calibdesc"]
    ds.PresentationLUTShape = "IDENTITY"
    # Values where only the standard's terms belong, carrying a canary instead.
    ds.RescaleType = c["rescaletype"]
    ds.ViewPosition = c["viewpos"]
    ds.Laterality = c["viewlat"]
    ds.PresentationIntentType = c["presshape"]
    # Local coding schemes, nested two deep.
    view_code = local_code(patient, "view", tag)
    view_code.ViewModifierCodeSequence = [local_code(patient, "vmod", tag)]
    ds.ViewCodeSequence = [view_code]
    ds.ProcedureCodeSequence = [local_code(patient, "proc", tag)]
    for place in ("view", "vmod", "proc", "req"):
        code = local_code(patient, place, tag)
        c[place + "value"] = str(code.CodeValue)
        c[place + "meaning"] = str(code.CodeMeaning)
        c[place + "scheme"] = str(code.CodingSchemeDesignator)
        c[place + "version"] = str(code.CodingSchemeVersion)
    ds.RequestAttributesSequence = [
        text_item(
            ScheduledPerformingPhysicianName=c["operator"],
            RequestedProcedureCodeSequence=[local_code(patient, "req", tag)],
        )
    ]
    ds.AcquisitionContextSequence = [text_item(ValueType="TEXT", TextValue=c["contexttext"])]
    ds.ContentSequence = [text_item(ValueType="TEXT", TextValue=c["contenttext"])]
    # Private blocks, a private sequence, UN bytes.
    block = ds.private_block(0x0009, c["privcreator"], create=True)
    block.add_new(0x01, "LO", c["privvalue"])
    block.add_new(0x02, "SQ", Sequence([text_item(PatientID=c["privnested"])]))
    block.add_new(0x03, "UN", c["privun"].encode("ascii").ljust(32, b"_"))
    # Overlay, curve, icon.
    ds.add_new(0x60000010, "US", 4)
    ds.add_new(0x60000011, "US", 4)
    ds.add_new(0x60000022, "LO", c["overlay"])
    ds.add_new(0x50002500, "LO", c["curve"])
    icon_bytes = c["icon"].encode("ascii")
    ds.IconImageSequence = [
        text_item(
            Rows=1,
            Columns=len(icon_bytes),
            SamplesPerPixel=1,
            PhotometricInterpretation="MONOCHROME2",
            BitsAllocated=8,
            BitsStored=8,
            HighBit=7,
            PixelRepresentation=0,
            PixelData=icon_bytes,
        )
    ]
    # Pixels: values below 4096, so no two printable bytes in a row occur by chance.
    rows, cols = 48, 40
    pixels = (np.arange(rows * cols, dtype=np.uint16) * 37 % 4096).reshape(rows, cols)
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    ds.add(
        DataElement(0xFFFCFFFC, "OB", c["padding"].encode("ascii").ljust(32, b"_"))
    )  # trailing padding

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX_CLASS
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.SourceApplicationEntityTitle = c["metaae"]
    meta.ImplementationVersionName = c["metaver"]
    meta.PrivateInformationCreatorUID = patient_uid(patient, 70)
    meta.PrivateInformation = c["metaprivate"].encode("ascii").ljust(32, b"_")
    ds.file_meta = meta
    ds.preamble = c["preamble"].encode("ascii").ljust(128, b"\0")
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)

    c["patientname"], c["institution"], c["referring"] = name, institution, referring
    for n in (1, 2, 11, 12, 21, 60, 70):
        c[f"uid{n}"] = patient_uid(patient, n)
    c["sopuid"] = str(ds.SOPInstanceUID)
    return c


def make_corpus(folder: Path) -> tuple[Path, dict[str, str]]:
    """Three patients × 2 time points × AP/LAT, one character set each; the manifest."""
    planted: dict[str, str] = {}
    rows = []
    for patient in range(3):
        site, number = canary("site", patient), canary("manifestpid", patient)
        planted |= {f"p{patient}-site": site, f"p{patient}-manifestpid": number}
        for timepoint in ("6m", "12m"):
            for view in ("AP", "LAT"):
                folder_name = canary(f"folder{view}{timepoint}", patient)
                file_name = canary(f"file{view}{timepoint}", patient)
                rel = f"{folder_name}/{file_name}.dcm"
                for place, value in make_image(folder / rel, patient, view, timepoint).items():
                    planted[f"p{patient}-{view}{timepoint}-{place}"] = value
                planted[f"p{patient}-{view}{timepoint}-folder"] = folder_name
                planted[f"p{patient}-{view}{timepoint}-file"] = file_name
                rows.append([rel, site, number, timepoint, view, "hip", "L"])
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["path", "site", "patient", "timepoint", "view", "joint", "side"])
        writer.writerows(rows)
    return manifest, planted


def variants(text: str) -> set[bytes]:
    """``text`` in every case and every encoding a file might hold it in."""
    out: set[bytes] = set()
    pieces = {text}
    # Person names: each component group and name part on its own, too.
    pieces |= {part for part in re.split(r"[=^ ]", text) if len(part) >= 4}
    for piece in list(pieces):
        pieces |= {piece.upper(), piece.lower(), piece.casefold()}
    for piece in pieces:
        for codec in ("utf_8", "latin_1", "gb18030", "iso2022_jp", "utf_16_le", "utf_16_be"):
            try:
                encoded = piece.encode(codec)
            except UnicodeEncodeError:
                continue
            out.add(encoded)
            out |= {p for p in re.split(rb"\x1b[$(][@A-Z]", encoded) if len(p) >= 4}
    return {v for v in out if len(v) >= 4}


def files_under(folder: Path) -> Iterator[Path]:
    yield from (path for path in sorted(folder.rglob("*")) if path.is_file())


def find_canaries(planted: dict[str, str], haystacks: dict[str, bytes]) -> list[tuple[str, str]]:
    """(place, where) for every canary found, in any case or encoding."""
    lowered = {where: data.lower() for where, data in haystacks.items()}
    found = []
    for place, text in planted.items():
        needles = variants(text)
        for where, data in haystacks.items():
            if any(n in data or n.lower() in lowered[where] for n in needles):
                found.append((place, where))
    return found


def test_the_corpus_is_what_it_claims(tmp_path: Path) -> None:
    manifest, planted = make_corpus(tmp_path / "source")
    source_bytes = {str(p): p.read_bytes() for p in files_under(manifest.parent)}
    source_bytes["(paths)"] = "\n".join(source_bytes).encode("utf-8")
    # Every canary really is in the source (else this test could not fail) …
    missing = {place for place, text in planted.items()} - {
        place for place, _ in find_canaries(planted, source_bytes)
    }
    assert missing == set()
    # … in at least 40 places per image, and the three character sets are really used.
    assert len({place.split("-", 2)[2] for place in planted if place.count("-") == 2}) >= 40
    charsets = {
        str(pydicom.dcmread(p).SpecificCharacterSet) for p in manifest.parent.rglob("*.dcm")
    }
    assert charsets == {"ISO_IR 100", "ISO_IR 192", "GB18030"}
    raw = next(manifest.parent.rglob("*.dcm")).read_bytes()
    assert raw[:3] == b"QZK"  # the preamble carries a canary


def test_no_canary_reaches_set_database_output_or_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest, planted = make_corpus(tmp_path / "source")
    setdir, key = tmp_path / "set", tmp_path / "key.json"
    report = prepare_reading_set(manifest, setdir, key, "A,B", seed=5)
    assert report.n_images == 12
    assert all(count > 40 for _, count in report.dropped.values())
    db = tmp_path / "reader-A.sqlite"
    assert main(["simulate-reads", str(setdir), "--reader", "A", "--db", str(db)]) == 0
    simulate_reads(setdir, reader_id="B", db_path=tmp_path / "reader-B.sqlite", seed=2)
    export = export_tidy(db, tmp_path / "export.csv")
    study = tmp_path / "study.sqlite"
    assert main(["merge", str(study), str(db), str(tmp_path / "reader-B.sqlite")]) == 0
    assert main(["export", str(study), "--out", str(tmp_path / "cli-export.csv")]) == 0
    output = capsys.readouterr()

    haystacks = {str(path): path.read_bytes() for path in files_under(setdir)}
    haystacks["(set paths)"] = "\n".join(str(p) for p in files_under(setdir)).encode()
    for path in (db, tmp_path / "reader-B.sqlite", study, export, tmp_path / "cli-export.csv"):
        haystacks[str(path)] = path.read_bytes()
    haystacks["(command output)"] = (output.out + output.err).encode("utf-8")
    assert len(haystacks) >= 12 + 5 + 5
    assert export.read_text().count("\n") > 10  # the export holds readings, not nothing
    assert find_canaries(planted, haystacks) == []
    # The key, which the study lead keeps, does hold the source's identity.
    key_bytes = key.read_bytes()
    assert PATIENT_NUMBERS[0].encode() in key_bytes
    assert canary("site", 0).encode() in key_bytes


@pytest.mark.parametrize(
    ("keyword", "within", "place"),
    [
        ("BodyPartExamined", None, "bodypart"),
        ("LUTExplanation", "VOILUTSequence", "voilutexpl"),
    ],
)
def test_widening_the_allow_list_by_one_attribute_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keyword: str, within: str | None, place: str
) -> None:
    allowed = deid_allowlist.ALLOW_LIST
    if within is not None:
        allowed = dict(allowed[int(Tag(within))].items)
        monkeypatch.setitem(
            deid_allowlist.ALLOW_LIST,
            int(Tag(within)),
            Rule(Keep.SEQUENCE, items={**allowed, int(Tag(keyword)): Rule(Keep.AS_IS)}),
        )
    else:
        monkeypatch.setitem(deid_allowlist.ALLOW_LIST, int(Tag(keyword)), Rule(Keep.AS_IS))
    manifest, planted = make_corpus(tmp_path / "source")
    setdir = tmp_path / "set"
    prepare_reading_set(manifest, setdir, tmp_path / "key.json", "A", seed=5)
    haystacks = {str(path): path.read_bytes() for path in files_under(setdir)}
    found = {found_place for found_place, _ in find_canaries(planted, haystacks)}
    assert found
    assert {name.split("-", 2)[2] for name in found} == {place}
