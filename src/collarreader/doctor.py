"""``collarreader doctor``: what this workstation has, and what to do about what it lacks.

Each check returns a :class:`Check` — a status (``ok``, ``warn``, ``fail``), what was found,
and, unless all is well, what to do. The Qt checks need Qt and so live in
:mod:`collarreader.ui.platform_check`; the command line adds them when Qt is installed and
reports its absence otherwise. Nothing here changes the machine: the write check creates and
removes one temporary file.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from importlib import metadata
from pathlib import Path

import platformdirs

from collarreader import __version__

__all__ = ["Check", "Status", "core_checks", "format_checks"]

APPLICATION = "collarreader"
LOW_DISK_BYTES = 2 * 1024**3
"""Below this much free space where the database lives, warn (a set's images and WAL)."""


class Status(StrEnum):
    """Outcome of one check."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    status: Status
    found: str
    todo: str = ""


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def check_python() -> Check:
    """The interpreter and this program (a frozen bundle says so)."""
    frozen = " (bundled application)" if getattr(sys, "frozen", False) else ""
    return Check(
        "collarreader",
        Status.OK,
        f"{__version__}{frozen}, Python {platform.python_version()} on {platform.platform()}",
    )


def check_display() -> Check:
    """Whether a window can appear: Windows and macOS always, Linux needs X11 or Wayland."""
    if sys.platform.startswith(("win", "darwin")):
        return Check("display", Status.OK, f"{sys.platform} desktop")
    forced = os.environ.get("QT_QPA_PLATFORM", "")
    if forced.startswith("offscreen"):
        return Check(
            "display",
            Status.WARN,
            "QT_QPA_PLATFORM=offscreen: windows are rendered off screen",
            "Unset QT_QPA_PLATFORM to read on the screen; demo --screenshot works as it is.",
        )
    names = [name for name in ("WAYLAND_DISPLAY", "DISPLAY") if os.environ.get(name)]
    if names:
        return Check("display", Status.OK, ", ".join(f"{n}={os.environ[n]}" for n in names))
    return Check(
        "display",
        Status.WARN,
        "no DISPLAY or WAYLAND_DISPLAY: no screen to show the reader on",
        "Log in to a desktop session (or use ssh -X); without one, `demo --screenshot` still "
        "renders off screen.",
    )


def check_decoders() -> list[Check]:
    """The pixel-data plugins of pydicom, with their versions and the syntaxes they cover."""
    checks = [Check("pydicom", Status.OK, _version("pydicom") or "?")]
    plugins = {
        "pylibjpeg-libjpeg": "JPEG baseline/extended/lossless, JPEG-LS",
        "pylibjpeg-openjpeg": "JPEG 2000",
        "pylibjpeg-rle": "RLE Lossless",
        "python-gdcm": "JPEG, JPEG-LS, JPEG 2000 (fast, threaded)",
    }
    for name, covers in plugins.items():
        version = _version(name)
        if version is None:
            checks.append(
                Check(
                    f"decoder {name}",
                    Status.WARN,
                    f"missing: {covers} may not decode",
                    f"Install it: pip install {name} (the wheel and the bundle include it).",
                )
            )
        else:
            checks.append(Check(f"decoder {name}", Status.OK, f"{version} ({covers})"))
    from pydicom.pixels.decoders import JPEG2000Decoder, JPEGBaseline8BitDecoder

    for label, decoder in (
        ("JPEG 2000", JPEG2000Decoder),
        ("JPEG baseline", JPEGBaseline8BitDecoder),
    ):
        available = sorted(decoder.available_plugins)
        checks.append(
            Check(
                f"pydicom {label}",
                Status.OK if available else Status.FAIL,
                ", ".join(available) if available else "no plugin can decode it",
                "" if available else "Install pylibjpeg-openjpeg and python-gdcm.",
            )
        )
    from collarreader.imaging.j2k import library_version

    openjpeg = library_version()
    checks.append(
        Check(
            "OpenJPEG (threaded)",
            Status.OK if openjpeg else Status.WARN,
            openjpeg or "not found: JPEG 2000 decodes on one core through the plugins",
            "" if openjpeg else "Debian: apt-get install libopenjp2-7 (the bundle ships it).",
        )
    )
    return checks


def check_ocr() -> Check:
    """Tesseract, which searches images for burned-in text when a set is prepared."""
    binary = shutil.which("tesseract")
    if binary is None:
        return Check(
            "OCR (tesseract)",
            Status.WARN,
            "not found: prepare cannot search images for burned-in text",
            "Only the study lead's machine needs it. Debian: apt-get install tesseract-ocr; "
            "Windows: install Tesseract and add it to PATH.",
        )
    result = subprocess.run(  # noqa: S603 - the tesseract found on PATH, fixed arguments
        [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    first = (result.stdout or result.stderr).splitlines()
    return Check("OCR (tesseract)", Status.OK, first[0] if first else binary)


def check_folder(folder: Path) -> list[Check]:
    """Free space and write access where the database lives."""
    folder = folder.absolute()
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    space = Check(
        "disk space",
        Status.OK if free >= LOW_DISK_BYTES else Status.WARN,
        f"{free / 1024**3:.1f} GB free at {probe}",
        ""
        if free >= LOW_DISK_BYTES
        else "Free some space: a reading set and the database's journal need room to grow.",
    )
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".collarreader-doctor-"):
            pass
    except OSError as error:
        write = Check(
            "write access",
            Status.FAIL,
            f"cannot create a file in {probe} ({error.strerror or error})",
            "Choose a folder you may write to for the database (--db), or ask IT for access.",
        )
    else:
        write = Check("write access", Status.OK, f"{probe} is writable")
    return [space, write]


def check_user_data() -> Check:
    """The per-user data folder (signing keys and settings live there) can be written."""
    folder = Path(platformdirs.user_data_dir(APPLICATION, appauthor=False))
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".collarreader-doctor-"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
    else:
        return Check("user data folder", Status.OK, f"{folder} (writable)")
    return Check(
        "user data folder",
        Status.FAIL,
        f"{folder} cannot be created or written ({probe}: {reason})",
        "Ask IT to allow writing to the user profile, or set the profile folder (HOME / "
        "APPDATA) to a writable place.",
    )


def core_checks(folder: Path) -> list[Check]:
    """Every check that does not need Qt, for a database in ``folder``."""
    return [
        check_python(),
        check_display(),
        *check_decoders(),
        check_ocr(),
        *check_folder(folder),
        check_user_data(),
    ]


def format_checks(checks: list[Check]) -> str:
    """One line per check, then an indented 'what to do' line where needed."""
    lines = []
    width = max(len(check.name) for check in checks)
    for check in checks:
        lines.append(f"[{check.status.value:>4}] {check.name:<{width}}  {check.found}")
        if check.todo:
            lines.append(f"{'':>7} {'':<{width}}  → {check.todo}")
    return "\n".join(lines)
