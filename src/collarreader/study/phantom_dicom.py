"""Writing phantom radiographs as DX DICOM files, with the identity a real export carries.

The files are Digital X-Ray Image Storage – For Presentation (1.2.840.10008.5.1.4.1.1.1.1),
12 bits stored in 16, with (0018,1164) *Imager Pixel Spacing* and (0018,1114) *Estimated
Radiographic Magnification Factor* but no (0028,0030) *Pixel Spacing* — as most projection
radiographs come. The headers carry a fake patient's identity everywhere a site's export
would (names, IDs, dates, institution, devices, descriptions, comments, a private block), so
that de-identification has something to remove.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

from collarreader.errors import PhantomError

DX_FOR_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.1")
PRIVATE_GROUP = 0x0009
PRIVATE_CREATOR = "COLLARREADER PHANTOM 1"
SUPPORTED_TRANSFER_SYNTAXES = (ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless)

# SNOMED CT codes for (0008,2218) Anatomic Region Sequence.
_REGION_CODES = {"hip": ("24136001", "Hip joint"), "knee": ("72696002", "Knee")}


@dataclass(frozen=True)
class Identity:
    """A fake patient as a site's PACS knows them."""

    patient_name: str
    patient_id: str
    other_patient_id: str
    birth_date: str
    sex: str
    character_set: str | None
    address: str


@dataclass(frozen=True)
class SiteEquipment:
    """What a site's exports say about the site and its detector."""

    site: str
    institution_name: str
    institution_address: str
    department: str
    station_name: str
    manufacturer: str
    model: str
    device_serial: str
    software: str
    referring_physician: str
    operator: str


@dataclass(frozen=True)
class ImageHeader:
    """Everything the header of one phantom image says."""

    identity: Identity
    equipment: SiteEquipment
    study_uid: str
    series_uid: str
    sop_uid: str
    study_id: str
    accession_number: str
    study_date: str
    study_time: str
    acquisition_time: str
    study_description: str
    series_description: str
    series_number: int
    instance_number: int
    view: str
    joint: str
    side: str
    photometric: str
    transfer_syntax: str
    imager_spacing_mm: float
    magnification: float
    source_to_detector_mm: float
    window_center: float
    window_width: float
    burned_in: bool
    kvp: float
    exposure_mas: float
    comment: str


def build_dataset(pixels_mono2: npt.NDArray[np.uint16], header: ImageHeader) -> Dataset:
    """The DX dataset for a 12-bit image given in the MONOCHROME2 sense (uncompressed).

    For MONOCHROME1 the stored values and the window centre are inverted (4095 − value).
    """
    rows, cols = pixels_mono2.shape
    identity, equipment = header.identity, header.equipment
    ds = Dataset()
    if identity.character_set:
        ds.SpecificCharacterSet = identity.character_set
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.InstanceCreationDate = header.study_date
    ds.InstanceCreationTime = header.acquisition_time
    ds.SOPClassUID = DX_FOR_PRESENTATION
    ds.SOPInstanceUID = header.sop_uid
    ds.StudyDate = header.study_date
    ds.SeriesDate = header.study_date
    ds.AcquisitionDate = header.study_date
    ds.ContentDate = header.study_date
    ds.StudyTime = header.study_time
    ds.SeriesTime = header.acquisition_time
    ds.AcquisitionTime = header.acquisition_time
    ds.ContentTime = header.acquisition_time
    ds.AccessionNumber = header.accession_number
    ds.Modality = "DX"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.Manufacturer = equipment.manufacturer
    ds.InstitutionName = equipment.institution_name
    ds.InstitutionAddress = equipment.institution_address
    ds.ReferringPhysicianName = equipment.referring_physician
    ds.StationName = equipment.station_name
    ds.StudyDescription = header.study_description
    ds.SeriesDescription = header.series_description
    ds.InstitutionalDepartmentName = equipment.department
    ds.OperatorsName = equipment.operator
    ds.ManufacturerModelName = equipment.model
    region = Dataset()
    region.CodeValue, region.CodeMeaning = _REGION_CODES[header.joint]
    region.CodingSchemeDesignator = "SCT"
    ds.AnatomicRegionSequence = Sequence([region])
    ds.PatientName = identity.patient_name
    ds.PatientID = identity.patient_id
    ds.IssuerOfPatientID = equipment.institution_name
    ds.PatientBirthDate = identity.birth_date
    ds.PatientSex = identity.sex
    ds.OtherPatientIDs = identity.other_patient_id
    ds.PatientAddress = identity.address
    ds.BodyPartExamined = header.joint.upper()
    ds.KVP = f"{header.kvp:.0f}"
    ds.DeviceSerialNumber = equipment.device_serial
    ds.SoftwareVersions = equipment.software
    ds.ProtocolName = f"{header.joint.upper()} {header.view}"
    ds.DistanceSourceToDetector = f"{header.source_to_detector_mm:.1f}"
    ds.DistanceSourceToPatient = f"{header.source_to_detector_mm / header.magnification:.1f}"
    ds.ExposureTime = "20"
    ds.XRayTubeCurrent = f"{header.exposure_mas * 50:.0f}"
    ds.Exposure = f"{header.exposure_mas:.0f}"
    ds.ImagerPixelSpacing = [f"{header.imager_spacing_mm:.4f}"] * 2
    ds.EstimatedRadiographicMagnificationFactor = f"{header.magnification:.4f}"
    ds.DetectorType = "SCINTILLATOR"
    ds.ViewPosition = "AP" if header.view == "AP" else "LL"
    ds.StudyInstanceUID = header.study_uid
    ds.SeriesInstanceUID = header.series_uid
    ds.StudyID = header.study_id
    ds.SeriesNumber = header.series_number
    ds.InstanceNumber = header.instance_number
    ds.PatientOrientation = ["R", "H"] if header.view == "AP" else ["A", "H"]
    ds.ImageLaterality = header.side
    ds.ImageComments = header.comment
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = header.photometric
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "YES" if header.burned_in else "NO"
    ds.PixelIntensityRelationship = "LOG"
    inverted = header.photometric == "MONOCHROME1"
    # (0028,1041): −1 when higher values mean less beam intensity (bone bright, MONOCHROME2).
    ds.PixelIntensityRelationshipSign = 1 if inverted else -1
    center = 4095.0 - header.window_center if inverted else header.window_center
    ds.WindowCenter = f"{center:.0f}"
    ds.WindowWidth = f"{header.window_width:.0f}"
    ds.WindowCenterWidthExplanation = "BONE"
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "INVERSE" if inverted else "IDENTITY"
    stored = (4095 - pixels_mono2) if inverted else pixels_mono2
    ds.PixelData = np.ascontiguousarray(stored, dtype="<u2").tobytes()
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", identity.patient_name.split("=")[0][:64])
    block.add_new(0x02, "LO", identity.patient_id)
    block.add_new(0x03, "LO", equipment.station_name)
    block.add_new(0x10, "LT", f"Exported for {identity.patient_name} on {header.study_date}")

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX_FOR_PRESENTATION
    meta.MediaStorageSOPInstanceUID = UID(header.sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "COLLARREADER"
    ds.file_meta = meta
    return ds


def write_dataset(ds: Dataset, path: Path, transfer_syntax: str) -> None:
    """Write ``ds`` (uncompressed, Explicit VR Little Endian) to ``path`` in ``transfer_syntax``.

    Raises
    ------
    PhantomError
        For a transfer syntax the phantom does not write, or an encoder that is missing.
    """
    syntax = UID(transfer_syntax)
    if syntax not in SUPPORTED_TRANSFER_SYNTAXES:
        names = ", ".join(f"{uid.name} ({uid})" for uid in SUPPORTED_TRANSFER_SYNTAXES)
        message = f"{path}: the phantom cannot write transfer syntax {syntax}; use one of {names}."
        raise PhantomError(message)
    if syntax != ExplicitVRLittleEndian:
        try:
            ds.compress(syntax, encoding_plugin="pylibjpeg", generate_instance_uid=False)
        except (RuntimeError, ValueError) as error:
            message = (
                f"{path}: could not encode {syntax.name} ({error}). Install the pylibjpeg "
                "plugins (pylibjpeg-openjpeg, pylibjpeg-rle) or choose an uncompressed image."
            )
            raise PhantomError(message) from error
    ds.save_as(path, enforce_file_format=True)
