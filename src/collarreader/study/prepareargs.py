"""The arguments and preconditions of ``prepare``: reader IDs, path lists, where to write."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from collarreader.errors import KeyFileError, ReadingSetError
from collarreader.study.deid import burned_in_status, needs_burned_in_review
from collarreader.study.manifest import Manifest, ManifestRow
from collarreader.study.ocr import TextBox
from collarreader.study.readingset import READINGSET_FILE, valid_reader_id

# --------------------------------------------------------------------------- argument helpers


def parse_readers(text: str | Iterable[str]) -> tuple[str, ...]:
    """Reader IDs from ``"A,B,C"`` (or an iterable), validated.

    Raises
    ------
    ReadingSetError
        When the list is empty, an ID is malformed, or an ID repeats.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    readers = tuple(item.strip() for item in items if item.strip())
    if not readers:
        raise ReadingSetError("--readers: give at least one reader ID, e.g. --readers A,B.")
    for reader in readers:
        if not valid_reader_id(reader):
            raise ReadingSetError(
                f"--readers: {reader!r} is not a usable reader ID; use 1–64 letters, digits, "
                "'_', '.' or '-', starting with a letter or digit."
            )
    repeated = sorted({reader for reader in readers if readers.count(reader) > 1})
    if repeated:
        raise ReadingSetError(f"--readers: {', '.join(repeated)} listed more than once.")
    return readers


def parse_path_list(argument: str) -> tuple[str, ...]:
    """Manifest paths from ``--confirm-burned-in``: comma-separated, or a text file listing them.

    A file is one path per line; blank lines and lines starting with ``#`` are ignored. An
    argument naming an existing file that is not DICOM is read as such a list.
    """
    candidate = Path(argument)
    if candidate.is_file() and not _looks_like_dicom(candidate):
        lines = candidate.read_text(encoding="utf-8-sig").splitlines()
        return tuple(
            line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")
        )
    return tuple(item.strip() for item in argument.split(",") if item.strip())


def _looks_like_dicom(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(132)[128:132] == b"DICM"


# --------------------------------------------------------------------------- checks


def boxes_text(boxes: Sequence[TextBox]) -> str:
    """Where text was found, for the report (at most four boxes spelled out)."""
    shown = ", ".join(f"x {b.x_px} y {b.y_px} {b.width_px}×{b.height_px} px" for b in boxes[:4])
    return shown + (f" and {len(boxes) - 4} more" if len(boxes) > 4 else "")


def check_output(setdir: Path, force: bool) -> None:
    """Refuse an ``--out`` that exists (unless ``force`` and it is a reading set or empty)."""
    if not setdir.exists():
        if not setdir.parent.is_dir():
            raise ReadingSetError(
                f"{setdir}: the folder {setdir.parent} does not exist; create it first."
            )
        return
    if not setdir.is_dir():
        raise ReadingSetError(f"{setdir}: exists and is not a folder; choose another --out.")
    if not force:
        raise ReadingSetError(
            f"{setdir}: already exists. Choose a new --out folder, or pass --force to replace "
            "the reading set in it."
        )
    # --force replaces a reading set, never an arbitrary folder (a mistyped --out must not
    # delete someone's data).
    if not (setdir / READINGSET_FILE).is_file() and any(setdir.iterdir()):
        raise ReadingSetError(
            f"{setdir}: exists and is not a reading set (no {READINGSET_FILE}); --force only "
            "replaces a reading set or an empty folder. Choose another --out."
        )


def check_sources_apart(manifest: Manifest, setdir: Path, key_path: Path) -> None:
    """Refuse a set folder or key that would overlap the manifest's source files."""
    folder = setdir.resolve()
    key = key_path.resolve()
    protected = [manifest.path.resolve(), *(row.file for row in manifest.rows)]
    for path in protected:
        if path == folder or path.is_relative_to(folder):
            raise ReadingSetError(
                f"{setdir}: contains source file {path}; the reading set must be a new folder "
                "apart from the sites' exports."
            )
        if path == key:
            raise KeyFileError(
                f"{key_path}: is a source file of the manifest; choose another --key."
            )


def burned_in_reason(row: ManifestRow) -> str | None:
    """Why the header holds ``row``'s image back for burned-in text (None: it does not)."""
    if not needs_burned_in_review(row.header):
        return None
    if burned_in_status(row.header) == "yes":
        return "(0028,0301) Burned In Annotation is YES"
    modality = str(row.header.get("Modality", "") or "").strip().upper() or "(none)"
    return (
        f"(0028,0301) Burned In Annotation is absent and modality {modality} may carry "
        "burned-in text"
    )
