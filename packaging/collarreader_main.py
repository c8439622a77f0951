"""Entry point of the PyInstaller bundle: the ``collarreader`` command line, frozen.

Before the program starts it points the JPEG 2000 decoder at the OpenJPEG library shipped
inside the bundle (``collarreader.imaging.j2k`` honours ``COLLARREADER_LIBOPENJP2``), so a
workstation without it still decodes on every core.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path


def _bundled_openjpeg() -> None:
    base = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
    for name in ("libopenjp2.so.7", "openjp2.dll", "libopenjp2.7.dylib"):
        candidate = base / name
        if candidate.is_file():
            os.environ.setdefault("COLLARREADER_LIBOPENJP2", str(candidate))
            return


if __name__ == "__main__":
    multiprocessing.freeze_support()  # Windows: worker processes re-enter here
    _bundled_openjpeg()
    from collarreader.cli import main

    sys.exit(main())
