"""``held-back.html``: the study lead's contact sheet of the images held back for text.

One thumbnail per held-back image, as the reader would see it, with the boxes where OCR found
text drawn over it, so the study lead can decide quickly whether to admit
(``--confirm-burned-in``) or redact (``--redact``) each. The page's own text holds no identity:
images are named by manifest row only (paths often carry patient names), and what OCR read is
never written. The thumbnails themselves may show identity, so the sheet is written beside the
key, never into the reading set.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from collarreader.study.screening import Screened

__all__ = ["CONTACT_SHEET_FILE", "write_contact_sheet"]

CONTACT_SHEET_FILE = "held-back.html"

_STYLE = """
body { font-family: sans-serif; margin: 1em; }
.sheet { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; }
.frame { position: relative; display: inline-block; }
.frame img { display: block; max-width: 256px; }
.box { position: absolute; border: 2px solid #e00; box-sizing: border-box; }
figcaption { font-size: 0.85em; max-width: 256px; }
"""


def write_contact_sheet(path: Path, images: Sequence[Screened]) -> Path:
    """Write the contact sheet of ``images`` to ``path`` (atomically); return ``path``."""
    figures = []
    for item in images:
        rows, cols = item.size_px
        boxes = "".join(
            '<div class="box" style="'
            f"left:{100 * box.x_px / cols:.2f}%;top:{100 * box.y_px / rows:.2f}%;"
            f"width:{100 * box.width_px / cols:.2f}%;height:{100 * box.height_px / rows:.2f}%"
            '"></div>'
            for box in item.text_boxes
            if rows and cols
        )
        picture = (
            f'<img alt="manifest row {item.row.row}" '
            f'src="data:image/png;base64,{item.thumbnail_png}">'
            if item.thumbnail_png
            else "<p>(no thumbnail: held back for its header)</p>"
        )
        found = (
            f"text found at {len(item.text_boxes)} place(s)"
            if item.text_boxes
            else "header says burned-in text"
        )
        figures.append(
            f'<figure><div class="frame">{picture}{boxes}</div>'
            f"<figcaption>manifest row {item.row.row}: {html.escape(found)}"
            f"{f', {cols}×{rows} px' if rows else ''}</figcaption></figure>"
        )
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>collarreader: images held back</title><style>{_STYLE}</style></head><body>"
        f"<h1>Images held back ({len(images)})</h1>"
        "<p>Admit an image with <code>prepare --confirm-burned-in</code>, or blank its text "
        "with <code>prepare --redact</code>; rows as in the manifest.</p>"
        f'<div class="sheet">{"".join(figures)}</div></body></html>\n'
    )
    handle, temporary = tempfile.mkstemp(prefix=".held-back-", suffix=".html", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(document)
        Path(temporary).replace(path)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return path
