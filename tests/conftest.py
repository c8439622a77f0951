"""Fixtures shared by every test folder.

Qt must never be told its platform after a QApplication exists, so the offscreen
platform is chosen here, before any test module is imported.
"""

from __future__ import annotations

import os
import tempfile

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests must not inherit a reader's display or a user's matplotlib backend.
os.environ.setdefault("MPLBACKEND", "Agg")
# Author keys (collarreader.db.signing) go to a throw-away folder, never the user's own.
os.environ.setdefault("COLLARREADER_KEY_DIR", tempfile.mkdtemp(prefix="collarreader-keys-"))


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare pytest-qt's ini options where pytest-qt is absent (the Qt-free run).

    The configuration is strict (unknown options fail), and the same ``pyproject.toml``
    serves the run with Qt and the run without it.
    """
    try:
        import pytestqt  # noqa: F401
    except ImportError:
        parser.addini("qt_api", "pytest-qt's Qt binding (unused without Qt)")
        parser.addini("qt_log_level_fail", "pytest-qt's log level (unused without Qt)")
        parser.addini(
            "qt_log_ignore", "pytest-qt's ignored messages (unused without Qt)", "linelist"
        )
