"""Every keyboard shortcut of the reader, in one table, and the F1 overlay that lists it.

The main window makes one ``QAction`` per row (so menus, the overlay and the keys cannot
disagree). Tool keys are letters; the viewer's own letters that clashed moved to Shift
(invert Shift+I, reset Shift+R), so I and R belong to the interface and RLL tools.

Keys are the reader's to choose: :data:`SHORTCUTS` holds the defaults, the reader's changes
live in the settings file (:mod:`collarreader.ui.settings`) and :func:`effective_shortcuts`
merges the two; the overlay, the menus and the tool bar's labels all read the merged table.

Letters belong to the images only: while a text field, a dropdown or a spin box has the
keyboard focus, :class:`TypingGuard` hands every key without Ctrl/Alt to that widget (a
dropdown then selects the first label starting with the letters typed), so typing "n" for
"no" never runs *Next zone*.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from PySide6 import QtCore, QtGui, QtWidgets

from collarreader.errors import SettingsError


@dataclass(frozen=True)
class Shortcut:
    """One action and its keys.

    Attributes
    ----------
    action : the main window's action name
    keys : Qt key sequences (portable text, e.g. ``"Ctrl+Shift+Z"``); the first is shown
    text : what the action does
    group : heading in the overlay
    images_only : the keys act only while the images have keyboard focus (keys a text field
        or a list needs for itself: Return, Space)
    """

    action: str
    keys: tuple[str, ...]
    text: str
    group: str
    images_only: bool = False


SHORTCUTS: tuple[Shortcut, ...] = (
    # cases
    Shortcut("next_case", ("PgDown", "Ctrl+Right"), "Next case", "Cases"),
    Shortcut("previous_case", ("PgUp", "Ctrl+Left"), "Previous case", "Cases"),
    Shortcut("submit", ("Ctrl+Enter", "Ctrl+Return"), "Submit (lock) the case", "Cases"),
    Shortcut("reopen", ("Ctrl+Shift+O",), "Reopen a submitted case (asks a reason)", "Cases"),
    Shortcut("undo", ("Ctrl+Z",), "Undo", "Cases"),
    Shortcut("redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo", "Cases"),
    # tools
    Shortcut("tool_calibrate", ("C",), "Calibration line over a known size", "Tools"),
    Shortcut("tool_interface", ("I",), "Interface line of the current zone", "Tools"),
    Shortcut("tool_bridging", ("B",), "Bridged segment along the interface", "Tools"),
    Shortcut(
        "tool_rll",
        ("R",),
        "Radiolucent line: trace it (clicks, Return), then its width caliper",
        "Tools",
    ),
    Shortcut(
        "auto_width",
        ("W",),
        "RLL width from intensity profiles along the traced line (adjustable)",
        "Tools",
    ),
    Shortcut("tool_thickness", ("T",), "Cortical thickness caliper", "Tools"),
    Shortcut(
        "tool_migration",
        ("E",),
        "Migration: implant and bone landmarks and a known-size caliper on both films",
        "Tools",
    ),
    Shortcut("tool_none", ("Esc",), "Cancel the line drawn / no tool (pan)", "Tools"),
    Shortcut(
        "finish_line", ("Return",), "Finish a clicked polyline (else maximise)", "Tools", True
    ),
    Shortcut("next_zone", ("N",), "Next current zone (for new measurements)", "Tools"),
    Shortcut("relabel", ("Z",), "Move the selected measurement to the next zone", "Tools"),
    Shortcut("delete", ("Del", "Backspace"), "Delete the selected measurement", "Tools"),
    # viewer
    Shortcut("preset_header", ("F2",), "Window: header (file default)", "Viewer"),
    Shortcut("preset_full", ("F3",), "Window: full range", "Viewer"),
    Shortcut("preset_bone", ("F4",), "Window: bone", "Viewer"),
    Shortcut("preset_soft", ("F5",), "Window: soft tissue", "Viewer"),
    Shortcut("invert", ("Shift+I",), "Invert", "Viewer"),
    Shortcut("reset", ("Shift+R",), "Reset window, inversion and zoom", "Viewer"),
    Shortcut("fit", ("F",), "Zoom to fit", "Viewer"),
    Shortcut("one_to_one", ("1",), "One image pixel per screen pixel", "Viewer"),
    Shortcut("maximise", ("Space",), "Maximise / restore the focused image", "Viewer", True),
    Shortcut("link", ("L",), "Link pan/zoom within a row on/off", "Viewer"),
    Shortcut("magnifier", ("M",), "Magnifier on/off", "Viewer"),
    Shortcut("flicker", ("X",), "Flicker: the registered later film over the earlier", "Viewer"),
    Shortcut("difference", ("D",), "Difference later − earlier (matched on bone)", "Viewer"),
    Shortcut("focus_1", ("Ctrl+1",), "Focus image 1 (AP, first time point)", "Viewer"),
    Shortcut("focus_2", ("Ctrl+2",), "Focus image 2 (AP, second time point)", "Viewer"),
    Shortcut("focus_3", ("Ctrl+3",), "Focus image 3 (LAT, first time point)", "Viewer"),
    Shortcut("focus_4", ("Ctrl+4",), "Focus image 4 (LAT, second time point)", "Viewer"),
    Shortcut("help", ("F1", "?"), "This list", "Help"),
    Shortcut("customise_keys", (), "Customise keys…", "Help"),
    Shortcut("quit", ("Ctrl+Q",), "Quit (the open case's reading time is saved)", "Cases"),
)
"""The one table of shortcuts."""

MOUSE_HELP: tuple[tuple[str, str], ...] = (
    ("Left drag", "pan; with a tool: draw (drag = straight line, clicks = points)"),
    ("Double-click", "maximise; with a polyline tool: finish the line"),
    ("Drag a handle", "move a point of a measurement (one undo step)"),
    ("Right drag", "window/level (horizontal width, vertical centre)"),
    ("Wheel", "zoom about the cursor"),
)


def key_sequences(shortcut: Shortcut) -> list[QtGui.QKeySequence]:
    """The Qt key sequences of a table row."""
    return [QtGui.QKeySequence(key) for key in shortcut.keys]


def key_text(key: str) -> str:
    """A key as the reader's platform writes it (``Ctrl+Enter``, ``⌘↩`` on macOS)."""
    native = QtGui.QKeySequence(key).toString(QtGui.QKeySequence.SequenceFormat.NativeText)
    return native or key


def normalised_key(key: str) -> str:
    """One portable spelling per key (``ctrl+z`` → ``Ctrl+Z``); SettingsError when unknown."""
    sequence = QtGui.QKeySequence(key)
    text = sequence.toString(QtGui.QKeySequence.SequenceFormat.PortableText)
    if sequence.isEmpty() or sequence.count() != 1 or not text:
        message = f"{key!r} is not a key Qt knows (write it like 'N', 'Shift+I' or 'Ctrl+Enter')."
        raise SettingsError(message)
    return text


def effective_shortcuts(
    overrides: Mapping[str, Sequence[str]], table: Sequence[Shortcut] = SHORTCUTS
) -> tuple[Shortcut, ...]:
    """The table with the reader's keys in place of the defaults.

    Parameters
    ----------
    overrides : action name → keys, from the settings file
    table : the defaults

    Raises
    ------
    SettingsError
        An unknown action, an unknown key, or a key given to two actions (named both).
    """
    names = {row.action for row in table}
    unknown = sorted(set(overrides) - names)
    if unknown:
        message = f"unknown action(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
        raise SettingsError(message)
    rows = tuple(
        replace(row, keys=tuple(normalised_key(k) for k in overrides[row.action]))
        if row.action in overrides
        else row
        for row in table
    )
    owner: dict[str, Shortcut] = {}
    for row in rows:
        for key in row.keys:
            # Return and Enter differ for Qt; "Ctrl+Return" and "Ctrl+Enter" are both kept.
            other = owner.setdefault(key, row)
            if other is not row:
                message = (
                    f"the key {key_text(key)} is given to both '{other.text}' and "
                    f"'{row.text}'; give one of them another key."
                )
                raise SettingsError(message)
    return rows


_TYPING_WIDGETS = (
    QtWidgets.QLineEdit,
    QtWidgets.QAbstractSpinBox,
    QtWidgets.QComboBox,
    QtWidgets.QTextEdit,
    QtWidgets.QPlainTextEdit,
    QtWidgets.QKeySequenceEdit,
)
_EDITING_KEYS = frozenset(
    {
        QtCore.Qt.Key.Key_Backspace,
        QtCore.Qt.Key.Key_Delete,
        QtCore.Qt.Key.Key_Space,
        QtCore.Qt.Key.Key_Left,
        QtCore.Qt.Key.Key_Right,
        QtCore.Qt.Key.Key_Home,
        QtCore.Qt.Key.Key_End,
    }
)
_COMMAND_MODIFIERS = (
    QtCore.Qt.KeyboardModifier.ControlModifier
    | QtCore.Qt.KeyboardModifier.AltModifier
    | QtCore.Qt.KeyboardModifier.MetaModifier
)


def is_typing_key(event: QtGui.QKeyEvent) -> bool:
    """A key that writes or edits text: printable (Shift allowed) or an editing key, no Ctrl/Alt."""
    if event.modifiers() & _COMMAND_MODIFIERS:
        return False
    if event.key() in _EDITING_KEYS:
        return True
    text = event.text()
    return bool(text) and text.isprintable()


class TypingGuard(QtCore.QObject):
    """Gives typing keys to the focused text field, dropdown or spin box instead of shortcuts.

    Installed on the application; Qt asks the focus widget with a ``ShortcutOverride`` event
    before it runs a shortcut, and an accepted override sends the key to the widget instead.
    """

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        """Accept the shortcut override of a typing key aimed at a typing widget."""
        if (
            event.type() == QtCore.QEvent.Type.ShortcutOverride
            and isinstance(event, QtGui.QKeyEvent)
            and isinstance(watched, _TYPING_WIDGETS)
            and watched.isEnabled()
            and is_typing_key(event)
        ):
            event.accept()
            return True
        return False


def shortcut_html(table: Sequence[Shortcut] = SHORTCUTS) -> str:
    """The overlay's text: every row of the table (keys in force) grouped, then the mouse."""
    parts = ["<h2>Keyboard and mouse</h2>"]
    groups: dict[str, list[Shortcut]] = {}
    for shortcut in table:
        groups.setdefault(shortcut.group, []).append(shortcut)
    for group, rows in groups.items():
        parts.append(f"<h3>{group}</h3><table cellspacing='0' cellpadding='3'>")
        for row in rows:
            keys = " / ".join(f"<b>{key_text(k)}</b>" for k in row.keys) or "—"
            parts.append(f"<tr><td width='170'>{keys}</td><td>{row.text}</td></tr>")
        parts.append("</table>")
    parts.append("<h3>Mouse</h3><table cellspacing='0' cellpadding='3'>")
    for gesture, text in MOUSE_HELP:
        parts.append(f"<tr><td width='170'><b>{gesture}</b></td><td>{text}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


class ShortcutOverlay(QtWidgets.QDialog):
    """A frameless panel over the window listing every shortcut; any key or click closes it."""

    def __init__(
        self, parent: QtWidgets.QWidget | None = None, table: Sequence[Shortcut] = SHORTCUTS
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Shortcuts")
        self.setModal(False)
        layout = QtWidgets.QVBoxLayout(self)
        self.browser = QtWidgets.QTextBrowser(self)
        self.set_table(table)
        self.browser.setStyleSheet("font-size: 13px; background: #1b1b1b; border: none;")
        layout.addWidget(self.browser)
        close = QtWidgets.QPushButton("Close (Esc)", self)
        close.clicked.connect(self.accept)
        layout.addWidget(close, alignment=QtCore.Qt.AlignmentFlag.AlignRight)
        self.resize(640, 720)

    def set_table(self, table: Sequence[Shortcut]) -> None:
        """Show the keys in force (after the reader changed one)."""
        self.html = shortcut_html(table)
        self.browser.setHtml(self.html)


class KeyDialog(QtWidgets.QDialog):
    """Choose the keys: one row per action, its first key editable (press the new key).

    ``apply`` receives the changed rows (action → keys) when the reader presses Save; a
    refusal (a key already taken, a settings file that cannot be written) is shown in the
    dialog, which stays open.
    """

    def __init__(
        self,
        table: Sequence[Shortcut],
        apply: Callable[[Mapping[str, Sequence[str]]], None],
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Customise keys")
        self._table = tuple(table)
        self._apply = apply
        layout = QtWidgets.QVBoxLayout(self)
        form = QtWidgets.QFormLayout()
        self.editors: dict[str, QtWidgets.QKeySequenceEdit] = {}
        for row in self._table:
            edit = QtWidgets.QKeySequenceEdit(self)
            edit.setMaximumSequenceLength(1)
            if row.keys:
                edit.setKeySequence(QtGui.QKeySequence(row.keys[0]))
            form.addRow(row.text, edit)
            self.editors[row.action] = edit
        inner = QtWidgets.QWidget(self)
        inner.setLayout(form)
        scroll = QtWidgets.QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        layout.addWidget(scroll, 1)
        self.problem = QtWidgets.QLabel("", self)
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #e57373;")
        layout.addWidget(self.problem)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Save
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel,
            self,
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(520, 640)

    def changes(self) -> dict[str, tuple[str, ...]]:
        """The rows whose first key the reader changed (their other keys are kept)."""
        portable = QtGui.QKeySequence.SequenceFormat.PortableText
        changed: dict[str, tuple[str, ...]] = {}
        for row in self._table:
            key = self.editors[row.action].keySequence().toString(portable)
            first = row.keys[0] if row.keys else ""
            if key != first:
                changed[row.action] = ((key,) if key else ()) + row.keys[1:]
        return changed

    def save(self) -> None:
        """Apply and save the changes; stay open with the reason when they are refused."""
        try:
            self._apply(self.changes())
        except SettingsError as error:
            self.problem.setText(str(error))
            return
        self.accept()
