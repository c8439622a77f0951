"""The reader's own settings: chosen shortcuts, advance after submit, window geometry.

One JSON file per user, outside every reading set and database (a reader's key choice is not
study data and must not differ between two readers' sets):
``$COLLARREADER_SETTINGS_DIR/settings.json`` when that variable is set (tests, portable
installs), else Qt's per-user configuration folder
(``QStandardPaths.AppConfigLocation``: ``~/.config/collarreader`` on Linux).

A damaged file never stops reading: :meth:`ReaderSettings.load` falls back to the defaults
and keeps the reason in :attr:`ReaderSettings.problem` for the status bar; the file is
rewritten only when the reader changes a setting.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from collarreader.errors import SettingsError

SETTINGS_DIR_ENV = "COLLARREADER_SETTINGS_DIR"
SETTINGS_FILE = "settings.json"


def settings_path() -> Path:
    """Where this user's settings live (see the module docstring)."""
    folder = os.environ.get(SETTINGS_DIR_ENV)
    if folder:
        return Path(folder) / SETTINGS_FILE
    location = QtCore.QStandardPaths.StandardLocation.AppConfigLocation
    return Path(QtCore.QStandardPaths.writableLocation(location)) / SETTINGS_FILE


@dataclass
class ReaderSettings:
    """The settings of one user.

    Attributes
    ----------
    shortcuts : action name → its keys (portable text, ``"Ctrl+Shift+Z"``), only the rows
        the reader changed; every other action keeps the table's default
    advance_after_submit : after a submit, open the next case not yet submitted
    geometry : the main window's saved geometry (``QWidget.saveGeometry``, hex), or ""
    path : the file, or None for settings that are never written (tests, screenshots)
    problem : why the file was not used (damaged or unreadable), or ""
    """

    shortcuts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    advance_after_submit: bool = True
    geometry: str = ""
    path: Path | None = None
    problem: str = ""

    @classmethod
    def load(cls, path: Path | None = None) -> ReaderSettings:
        """Read the settings file; defaults when it is absent or damaged (see ``problem``)."""
        path = settings_path() if path is None else path
        if not path.is_file():
            return cls(path=path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            return cls._parse(document, path)
        except (OSError, ValueError, SettingsError) as error:
            return cls(
                path=path,
                problem=f"{path}: not used ({error}); default keys and options in force. "
                "Choose keys again (Help ▸ Customise keys…) to rewrite it.",
            )

    @classmethod
    def _parse(cls, document: Any, path: Path) -> ReaderSettings:
        if not isinstance(document, dict):
            raise SettingsError("expected a JSON object")
        raw = document.get("shortcuts", {})
        if not isinstance(raw, dict):
            raise SettingsError("'shortcuts' must map action names to lists of keys")
        shortcuts: dict[str, tuple[str, ...]] = {}
        for name, keys in raw.items():
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise SettingsError(f"shortcut {name!r}: expected a list of key texts")
            shortcuts[str(name)] = tuple(keys)
        advance = document.get("advance_after_submit", True)
        if not isinstance(advance, bool):
            raise SettingsError("'advance_after_submit' must be true or false")
        geometry = document.get("geometry", "")
        if not isinstance(geometry, str):
            raise SettingsError("'geometry' must be a string")
        return cls(shortcuts, advance, geometry, path)

    def save(self) -> None:
        """Write the file atomically (a crash leaves the old file or the new one, never half).

        Raises
        ------
        SettingsError
            When the folder cannot be created or written.
        """
        if self.path is None:
            return
        document = {
            "shortcuts": {name: list(keys) for name, keys in sorted(self.shortcuts.items())},
            "advance_after_submit": self.advance_after_submit,
            "geometry": self.geometry,
        }
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            temporary.replace(self.path)
        except OSError as error:
            message = (
                f"{self.path}: cannot save the settings ({error.strerror}). Check that the "
                f"folder is writable, or set {SETTINGS_DIR_ENV} to one that is."
            )
            raise SettingsError(message) from error
        self.problem = ""
