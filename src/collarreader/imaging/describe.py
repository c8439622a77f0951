"""``collarreader inspect FILE``: what the loader makes of a file, without identity.

The description holds technical facts only: no names, IDs, dates, UIDs, institution or
path, so it can be pasted into a bug report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import UID

from collarreader.imaging.decode import load_radiograph


def describe(path: str | Path, frame: int = 0) -> dict[str, Any]:
    """Load a file as the viewer would and summarise it, JSON-ready.

    Parameters
    ----------
    path : DICOM file
    frame : 0-based frame to decode

    Returns
    -------
    dict
        ``file_size_bytes``, ``modality``, ``rows``, ``columns``, ``n_frames``, ``frame``,
        ``photometric``, ``invert``, ``bits_stored``, ``dtype``, ``transfer_syntax``
        {``uid``, ``name``}, ``decoder``, ``spacing`` ({``row_mm``, ``col_mm``, ``source``}
        or None), ``spacing_note``, ``window`` {``center``, ``width``}, ``window_note``,
        ``pixel_min``, ``pixel_max``, ``notes`` (list of str).

    Raises
    ------
    DicomReadError
        As :func:`~collarreader.imaging.load_radiograph`.
    """
    path = Path(path)
    radiograph = load_radiograph(path, frame)
    pixels = radiograph.pixels
    finite = pixels[np.isfinite(pixels)] if pixels.dtype.kind == "f" else pixels
    rows, columns = radiograph.shape_px
    uid = UID(radiograph.transfer_syntax)
    spacing = radiograph.spacing
    return {
        "file_size_bytes": path.stat().st_size,
        "modality": radiograph.modality,
        "rows": rows,
        "columns": columns,
        "n_frames": radiograph.n_frames,
        "frame": radiograph.frame,
        "photometric": radiograph.photometric,
        "invert": radiograph.invert,
        "bits_stored": radiograph.bits_stored,
        "dtype": str(pixels.dtype),
        "transfer_syntax": {"uid": str(uid), "name": uid.name},
        "decoder": radiograph.decoder,
        "spacing": None
        if spacing is None
        else {
            "row_mm": spacing.row_mm,
            "col_mm": spacing.col_mm,
            "source": str(spacing.source),
        },
        "spacing_note": radiograph.spacing_note,
        "window": {"center": radiograph.window.center, "width": radiograph.window.width},
        "window_note": radiograph.window_note,
        "pixel_min": _scalar(finite.min()) if finite.size else None,
        "pixel_max": _scalar(finite.max()) if finite.size else None,
        "notes": list(radiograph.notes),
    }


def _scalar(value: Any) -> int | float:
    number = value.item() if hasattr(value, "item") else value
    return int(number) if isinstance(number, int | np.integer) else float(number)


def format_description(description: dict[str, Any]) -> str:
    """Render :func:`describe`'s dict as aligned lines for a terminal.

    Parameters
    ----------
    description : the dict returned by :func:`describe`

    Returns
    -------
    str
        One "label: value" line per fact, no trailing newline.
    """
    d = description
    spacing = d["spacing"]
    spacing_text = (
        "none (values in px)"
        if spacing is None
        else f"{spacing['row_mm']:.4g} × {spacing['col_mm']:.4g} mm (row × column), "
        f"source {spacing['source']}"
    )
    frames = f"{d['frame'] + 1} of {d['n_frames']}"
    lines = [
        ("size", f"{d['columns']} × {d['rows']} px (width × height), {d['dtype']}"),
        ("frames", frames),
        ("modality", d["modality"] or "—"),
        ("photometric", d["photometric"] + (" (shown inverted)" if d["invert"] else "")),
        ("bits stored", str(d["bits_stored"])),
        ("transfer syntax", f"{d['transfer_syntax']['name']} ({d['transfer_syntax']['uid']})"),
        ("decoder", d["decoder"]),
        ("spacing", spacing_text),
        ("spacing note", d["spacing_note"]),
        (
            "window",
            (
                f"center {d['window']['center']:g}, width {d['window']['width']:g} "
                f"({d['window_note']})"
            ),
        ),
        ("pixel range", f"{d['pixel_min']} … {d['pixel_max']}"),
        ("file size", f"{d['file_size_bytes']:,} bytes"),
    ]
    lines.extend(("note", note) for note in d["notes"])
    width = max(len(label) for label, _ in lines)
    return "\n".join(f"{label.ljust(width)} : {value}" for label, value in lines)
