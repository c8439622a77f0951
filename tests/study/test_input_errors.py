"""Hostile inputs give clear errors naming the row or file, never a traceback.

A symbolic link that loops, a FIFO and a device given as images, a manifest cell longer than the
csv module's limit, and binary values of the wrong length (US of 3 bytes, FD of 5): ``prepare``
and ``inspect`` (:func:`~collarreader.imaging.describe`) agree on each: a binary value of the
wrong length is refused in any element, kept or not (pydicom would raise deep inside whatever
first reads it).
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from collarreader.cli import main
from collarreader.errors import CollarReaderError, DicomReadError
from collarreader.imaging import describe
from collarreader.study.prepare import prepare_reading_set

sys.path.insert(0, str(Path(__file__).parent))
from test_unreadable import good

HEADER = ["path", "site", "patient", "timepoint", "view", "joint", "side"]


def make_study(folder: Path, change: Callable[[Path, list[list[str]]], None]) -> Path:
    """Two patients, four good images each; ``change`` spoils rows or files (row 3: p0 6m LAT)."""
    rows = []
    for patient in range(2):
        for timepoint in ("6m", "12m"):
            for view in ("AP", "LAT"):
                rel = f"p{patient}/{timepoint}_{view}.dcm"
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                good().save_as(folder / rel, enforce_file_format=True)
                rows.append([rel, "S1", f"P{patient}", timepoint, view, "hip", "L"])
    change(folder, rows)
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return manifest


def symlink_loop(folder: Path, rows: list[list[str]]) -> None:
    (folder / "loop").symlink_to("loop")
    rows[1][0] = "loop/image.dcm"


def fifo(folder: Path, rows: list[list[str]]) -> None:
    os.mkfifo(folder / "pipe.dcm")
    rows[1][0] = "pipe.dcm"


def device(folder: Path, rows: list[list[str]]) -> None:
    rows[1][0] = os.devnull


def huge_cell(folder: Path, rows: list[list[str]]) -> None:
    rows[1][1] = "S" * 200_000  # over csv's field limit of 131,072


def three_byte_rows(folder: Path, rows: list[list[str]]) -> None:
    path = folder / rows[1][0]
    data = bytearray(path.read_bytes())
    at = data.index(b"\x28\x00\x10\x00US\x02\x00")  # (0028,0010) Rows, US, 2 bytes
    data[at + 6 : at + 10] = b"\x03\x00\x0c\x00"
    data.insert(at + 10, 0)  # a third byte: US of 3 bytes
    path.write_bytes(bytes(data))


def spoil_element(keyword_vr_value: tuple[int, str, object], size: int) -> Callable[..., None]:
    """Add an element, then shorten its value to ``size`` bytes in the file."""
    tag, vr, value = keyword_vr_value

    def change(folder: Path, rows: list[list[str]]) -> None:
        path = folder / rows[1][0]
        ds = pydicom.dcmread(path)
        if tag == 0x00283002:  # LUT Descriptor lives in a VOI LUT Sequence item
            item = Dataset()
            item.add(DataElement(tag, vr, value))
            item.add_new(0x00283006, "US", [0, 1, 2, 3])
            ds.VOILUTSequence = [item]
        else:
            ds.add(DataElement(tag, vr, value))
        ds.save_as(path, enforce_file_format=True)
        data = bytearray(path.read_bytes())
        group, element = tag >> 16, tag & 0xFFFF
        needle = group.to_bytes(2, "little") + element.to_bytes(2, "little") + vr.encode()
        at = data.index(needle)
        old = int.from_bytes(data[at + 6 : at + 8], "little")
        data[at + 6 : at + 8] = size.to_bytes(2, "little")
        del data[at + 8 + size : at + 8 + old]
        if tag == 0x00283002:  # keep the enclosing item and sequence lengths honest
            for length_at in _lengths_before(data, at):
                length = int.from_bytes(data[length_at : length_at + 4], "little")
                data[length_at : length_at + 4] = (length - (old - size)).to_bytes(4, "little")
        path.write_bytes(bytes(data))

    return change


def _lengths_before(data: bytearray, at: int) -> list[int]:
    """Offsets of the explicit lengths of the VOI LUT Sequence and its item before ``at``."""
    sequence = data.rindex(b"\x28\x00\x10\x30SQ\x00\x00", 0, at)
    item = data.index(b"\xfe\xff\x00\xe0", sequence)
    return [sequence + 8, item + 4]


CASES: dict[str, tuple[Callable[..., None], str]] = {
    "symlink loop": (symlink_loop, "symbolic link that loops"),
    "FIFO": (fifo, "FIFO (named pipe)"),
    "device": (device, "is a device, not a file"),
    "US of 3 bytes in Rows": (three_byte_rows, "header"),
    # (0018,9309) Table Speed: not on the allow-list, but a file this broken is refused.
    "FD of 5 bytes": (spoil_element((0x00189309, "FD", 1.5), 5), "FD value of 5 bytes"),
    # (0028,3002) LUT Descriptor, nested in the VOI LUT Sequence the window is read from.
    "US of 3 bytes, nested": (
        spoil_element((0x00283002, "US", [4, 0, 16]), 3),
        "(0028,3002) with a US value of 3 bytes",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_prepare_and_inspect_name_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    change, words = CASES[case]
    manifest = make_study(tmp_path / "source", change)
    args = ["prepare", "--manifest", str(manifest), "--out", str(tmp_path / "set")]
    args += ["--key", str(tmp_path / "key.json"), "--readers", "A"]
    assert main(args) != 0
    error = capsys.readouterr().err
    assert "row 3" in error
    assert words in error
    assert "Traceback" not in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source"]
    rows = list(csv.reader(manifest.open(encoding="utf-8")))[1:]
    path = Path(rows[1][0]) if Path(rows[1][0]).is_absolute() else manifest.parent / rows[1][0]
    with pytest.raises(DicomReadError) as inspected:
        describe(path)
    assert words in str(inspected.value)


def test_a_huge_manifest_cell_is_named_by_row(tmp_path: Path) -> None:
    manifest = make_study(tmp_path / "source", huge_cell)
    with pytest.raises(CollarReaderError, match=r"row 3 is 200,\d{3} characters long"):
        prepare_reading_set(manifest, tmp_path / "set", tmp_path / "key.json", "A")
