"""Every keyboard shortcut of the reader, in one table, and the F1 overlay that lists it.

The main window makes one ``QAction`` per row (so menus, the overlay and the keys cannot
disagree). Tool keys are letters; the viewer's own letters that clashed moved to Shift
(invert Shift+I, reset Shift+R), so I and R belong to the interface and RLL tools.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6 import QtCore, QtGui, QtWidgets


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
    Shortcut("submit", ("Ctrl+Return", "Ctrl+Enter"), "Submit (lock) the case", "Cases"),
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


def shortcut_html() -> str:
    """The overlay's text: every row of :data:`SHORTCUTS` grouped, then the mouse."""
    parts = ["<h2>Keyboard and mouse</h2>"]
    groups: dict[str, list[Shortcut]] = {}
    for shortcut in SHORTCUTS:
        groups.setdefault(shortcut.group, []).append(shortcut)
    for group, rows in groups.items():
        parts.append(f"<h3>{group}</h3><table cellspacing='0' cellpadding='3'>")
        for row in rows:
            native = QtGui.QKeySequence.SequenceFormat.NativeText
            keys = " / ".join(
                f"<b>{QtGui.QKeySequence(k).toString(native) or k}</b>" for k in row.keys
            )
            parts.append(f"<tr><td width='170'>{keys}</td><td>{row.text}</td></tr>")
        parts.append("</table>")
    parts.append("<h3>Mouse</h3><table cellspacing='0' cellpadding='3'>")
    for gesture, text in MOUSE_HELP:
        parts.append(f"<tr><td width='170'><b>{gesture}</b></td><td>{text}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


class ShortcutOverlay(QtWidgets.QDialog):
    """A frameless panel over the window listing every shortcut; any key or click closes it."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Shortcuts")
        self.setModal(False)
        layout = QtWidgets.QVBoxLayout(self)
        self.browser = QtWidgets.QTextBrowser(self)
        self.browser.setHtml(shortcut_html())
        self.browser.setStyleSheet("font-size: 13px; background: #1b1b1b; border: none;")
        layout.addWidget(self.browser)
        close = QtWidgets.QPushButton("Close (Esc)", self)
        close.clicked.connect(self.accept)
        layout.addWidget(close, alignment=QtCore.Qt.AlignmentFlag.AlignRight)
        self.resize(640, 720)
