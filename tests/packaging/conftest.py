"""The packaging tests run once, in the run with Qt (the bundle and the wheel carry Qt).

The suite's second run, without Qt, is about the core; building a wheel venv or starting the
bundle there again would only repeat the first run.
"""

from __future__ import annotations

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("PySide6") else ["test_*.py"]
