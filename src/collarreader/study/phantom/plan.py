"""What a phantom study is made of: constants, sites, and the plans of patients and images.

Part of :mod:`collarreader.study.phantom` (see its docstring).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path

from collarreader.study.phantom_anatomy import Anatomy, Joint, Scene
from collarreader.study.phantom_dicom import Identity, ImageHeader, SiteEquipment

TRUTH_FORMAT = "collarreader-phantom-truth"
TRUTH_VERSION = 1
MANIFEST_COLUMNS = ("path", "site", "patient", "timepoint", "view", "joint", "side")
TIMEPOINTS = ("6m", "12m")
VIEWS = ("AP", "LAT")
ZONES_BY_VIEW = {"AP": ("medial", "lateral"), "LAT": ("anterior", "posterior")}
BALL_DIAMETER_MM = 25.0
FULL_ROWS, FULL_COLS = 2560, 2048
SMALL_FACTOR = 8
# The window written to the header shows soft tissue to metal (log-domain P 0.9–5.6).
_WINDOW_LOW_P, _WINDOW_HIGH_P = 0.9, 5.6


class Progression(StrEnum):
    """How a zone's radiolucent line changed from 6 to 12 months."""

    NONE = "none"
    NEW = "new"
    STABLE = "stable"
    PROGRESSED = "progressed"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class _Site:
    equipment: SiteEquipment
    imager_spacing_mm: float
    psf_sigma_px: float


_SITES = (
    _Site(
        SiteEquipment(
            site="SITE-A",
            institution_name="Universitätsklinikum Musterstadt",
            institution_address="Klinikstraße 1, 12345 Musterstadt",
            department="Radiologie Orthopädie",
            station_name="ORTHO-DR-2",
            manufacturer="Acme Medical",
            model="DRX Nova 43",
            device_serial="AN43-118522",
            software="4.2.1",
            referring_physician="Schröder^Anna^^Dr. med.",
            operator="Weiß^Tobias",
        ),
        0.139,
        0.75,
    ),
    _Site(
        SiteEquipment(
            site="SITE-B",
            institution_name="St. Elsewhere General Hospital",
            institution_address="1 Hospital Road, Springfield",
            department="Imaging",
            station_name="XR-ROOM-4",
            manufacturer="Borealis Imaging",
            model="FlatView 3543",
            device_serial="FV3543-0079",
            software="11.0.3",
            referring_physician="Okafor^Chidi^^Dr",
            operator="Nguyen^Linh",
        ),
        0.143,
        0.85,
    ),
    _Site(
        SiteEquipment(
            site="SITE-C",
            institution_name="Hôpital Saint-Exemple",
            institution_address="12 rue de l'Exemple, 69000 Lyon",
            department="Imagerie ostéo-articulaire",
            station_name="RADIO-3",
            manufacturer="Lumière Systèmes",
            model="Clarté DR",
            device_serial="CDR-55120",
            software="2.7",
            referring_physician="Lefèvre^Hélène^^Dr",
            operator="Dubois^Rémi",
        ),
        0.148,
        0.80,
    ),
)

# (name, character set): plain ASCII, Latin-1 (ISO_IR 100) and UTF-8 (ISO_IR 192) names.
_NAMES_LATIN1 = (
    "Müller^Jürgen",
    "Sørensen^Åse",
    "Lefèvre^Frédéric",
    "Groß^Björn",
    "Peña^José",
)
_NAMES_UTF8 = (
    "Yamada^Tarou=山田^太郎=やまだ^たろう",
    "Papadopoulos^Georgios=Παπαδόπουλος^Γεώργιος",
    "Ivanova^Olga=Иванова^Ольга",
)
_NAMES_ASCII = (
    "Smith^John",
    "Garcia^Maria",
    "Jansen^Pieter",
    "Rossi^Giulia",
    "Kowalski^Adam",
    "OBrien^Siobhan",
    "Haddad^Omar",
    "Lindqvist^Erik",
)


@dataclass(frozen=True)
class ZoneState:
    """A zone's true state at one time point."""

    rll_width_mm: float
    bridging_pct: float
    progression: Progression | None


@dataclass(frozen=True)
class PatientPlan:
    """One synthetic patient."""

    index: int
    code: str
    site_index: int
    joint: Joint
    side: str
    identity: Identity
    surgery_date: date
    anatomy: Anatomy
    # zone name → (6m state, 12m state); zone name → bridged from the outer end
    zones: dict[str, tuple[ZoneState, ZoneState]]
    bridged_from_outer: dict[str, bool]


@dataclass(frozen=True)
class ImagePlan:
    """One image to render and write; picklable so that worker processes can take it."""

    relpath: str
    patient: PatientPlan
    timepoint: str
    view: str
    scene: Scene
    header: ImageHeader
    seed: tuple[int, ...]
    transfer_syntax: str
    photometric: str


@dataclass(frozen=True)
class StudySummary:
    """What :func:`generate_study` wrote."""

    outdir: Path
    manifest: Path
    truth: Path
    patients: int
    images: int
    small: bool
    seed: int
    wall_seconds: float
    seconds_per_image: float
    workers: int
    zones_with_rll: int
    burned_in: int
    monochrome1: int
    transfer_syntaxes: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        syntaxes = ", ".join(
            f"{name} {count}" for name, count in sorted(self.transfer_syntaxes.items())
        )
        size = "small" if self.small else "full-size"
        lines = [
            (
                f"phantom study: {self.patients} patients, {self.images} {size} images "
                f"in {self.outdir}"
            ),
            f"  manifest: {self.manifest}",
            f"  truth:    {self.truth}",
            (
                f"  zones with a radiolucent line: {self.zones_with_rll}; MONOCHROME1 images: "
                f"{self.monochrome1}; burned-in annotation: {self.burned_in}"
            ),
            f"  transfer syntaxes: {syntaxes}",
            (
                f"  {self.wall_seconds:.1f} s with {self.workers} worker(s), "
                f"{self.seconds_per_image:.2f} s per image"
            ),
        ]
        return "\n".join(lines)
