"""The packaging tests run once, in the run with Qt (the bundle and the wheel carry Qt)."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6", reason="packaging tests run in the run with Qt")
