"""The QApplication, created once with the defaults a reading workstation needs.

- no display (a server, CI, a headless test run) → the ``offscreen`` platform, chosen
  before Qt starts because it cannot be changed afterwards;
- high-DPI scale factors passed through unrounded (a 150 % display gets 1.5, not 2), so
  "one image pixel per screen pixel" can be honoured;
- pyqtgraph told that arrays are (row, column) and to draw without antialiasing (a
  radiograph's pixels must not be smoothed);
- a dark Fusion style: a reading room is dim and a bright frame around a radiograph hurts
  the reader's contrast perception;
- a Qt message handler that drops exactly one harmless message of the offscreen platform
  ("This plugin does not support propagateSizeHints()", printed for every window shown
  offscreen) and passes every other message on unchanged.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence

from PySide6 import QtCore, QtGui, QtWidgets

APPLICATION_NAME = "collarreader"

_DARK_COLOURS = {
    QtGui.QPalette.ColorRole.Window: "#1e1e1e",
    QtGui.QPalette.ColorRole.WindowText: "#dcdcdc",
    QtGui.QPalette.ColorRole.Base: "#141414",
    QtGui.QPalette.ColorRole.AlternateBase: "#232323",
    QtGui.QPalette.ColorRole.ToolTipBase: "#2a2a2a",
    QtGui.QPalette.ColorRole.ToolTipText: "#e6e6e6",
    QtGui.QPalette.ColorRole.PlaceholderText: "#7a7a7a",
    QtGui.QPalette.ColorRole.Text: "#dcdcdc",
    QtGui.QPalette.ColorRole.Button: "#2b2b2b",
    QtGui.QPalette.ColorRole.ButtonText: "#dcdcdc",
    QtGui.QPalette.ColorRole.BrightText: "#ff6b6b",
    QtGui.QPalette.ColorRole.Link: "#5ea2ef",
    QtGui.QPalette.ColorRole.Highlight: "#2f6fb8",
    QtGui.QPalette.ColorRole.HighlightedText: "#ffffff",
    QtGui.QPalette.ColorRole.Light: "#3a3a3a",
    QtGui.QPalette.ColorRole.Midlight: "#303030",
    QtGui.QPalette.ColorRole.Mid: "#262626",
    QtGui.QPalette.ColorRole.Dark: "#121212",
    QtGui.QPalette.ColorRole.Shadow: "#000000",
}
_DISABLED_COLOURS = {
    QtGui.QPalette.ColorRole.WindowText: "#6e6e6e",
    QtGui.QPalette.ColorRole.Text: "#6e6e6e",
    QtGui.QPalette.ColorRole.ButtonText: "#6e6e6e",
    QtGui.QPalette.ColorRole.HighlightedText: "#9a9a9a",
}


DROPPED_MESSAGES = frozenset({"This plugin does not support propagateSizeHints()"})
"""Qt messages that say nothing to a user (the offscreen platform's size-hint notice)."""

MessageHandler = Callable[[QtCore.QtMsgType, QtCore.QMessageLogContext, str], None]
_previous_handler: MessageHandler | None = None
_handler_installed = False


def _message_handler(
    kind: QtCore.QtMsgType, context: QtCore.QMessageLogContext, message: str
) -> None:
    if message in DROPPED_MESSAGES:
        return
    if _previous_handler is not None:
        _previous_handler(kind, context, message)
    else:  # Qt's default handler: the message on stderr
        print(message, file=sys.stderr, flush=True)  # noqa: T201


def install_message_filter() -> None:
    """Drop :data:`DROPPED_MESSAGES`, passing every other Qt message to the previous handler.

    Installed once; test frameworks that install their own handler later (pytest-qt)
    still see every message.
    """
    global _previous_handler, _handler_installed  # noqa: PLW0603 - one process-wide handler
    if _handler_installed:
        return
    _previous_handler = QtCore.qInstallMessageHandler(_message_handler)
    _handler_installed = True


def needs_offscreen(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """True when Qt would find no display and no platform was chosen explicitly.

    Parameters
    ----------
    environ : environment to inspect (``os.environ`` by default)
    platform : ``sys.platform`` by default; only Linux and other X11/Wayland systems can
        lack a display (Windows and macOS always have one)
    """
    env = os.environ if environ is None else environ
    system = sys.platform if platform is None else platform
    if env.get("QT_QPA_PLATFORM"):
        return False
    if system.startswith(("win", "darwin")):
        return False
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def configure_pyqtgraph() -> None:
    """Global pyqtgraph options: row-major arrays, no antialiasing, black background."""
    import pyqtgraph as pg  # here: the launch shows its light frame before pyqtgraph loads

    pg.setConfigOptions(
        imageAxisOrder="row-major", antialias=False, background="k", foreground="#dcdcdc"
    )


def dark_palette() -> QtGui.QPalette:
    """The dark palette used by the reading workstation."""
    palette = QtGui.QPalette()
    for role, colour in _DARK_COLOURS.items():
        palette.setColor(role, QtGui.QColor(colour))
    for role, colour in _DISABLED_COLOURS.items():
        palette.setColor(QtGui.QPalette.ColorGroup.Disabled, role, QtGui.QColor(colour))
    return palette


def apply_dark_style(app: QtWidgets.QApplication) -> None:
    """Fusion style with the dark palette (Fusion honours palettes on every platform)."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette())


def create_application(
    argv: Sequence[str] | None = None, *, plots: bool = True
) -> QtWidgets.QApplication:
    """Return the QApplication, creating and configuring it the first time.

    Parameters
    ----------
    argv : command-line arguments for Qt (``sys.argv[:1]`` by default)
    plots : also import and configure pyqtgraph (:func:`configure_pyqtgraph`); the reader's
        launch passes False, shows its light frame, and configures pyqtgraph afterwards

    Returns
    -------
    QApplication
        An existing instance is reused (styled and configured again, which is harmless).
    """
    existing = QtWidgets.QApplication.instance()
    if existing is not None and not isinstance(existing, QtWidgets.QApplication):
        raise RuntimeError(
            "A QCoreApplication without widgets already exists; create the collarreader "
            "application before any other Qt application object."
        )
    app = existing
    if app is None:
        if needs_offscreen():
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
        # Only allowed before the application exists; Qt warns otherwise.
        QtGui.QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            QtCore.Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
        install_message_filter()
        app = QtWidgets.QApplication(list(argv) if argv is not None else sys.argv[:1])
        app.setApplicationName(APPLICATION_NAME)
        app.setOrganizationName(APPLICATION_NAME)
    if plots:
        configure_pyqtgraph()
    apply_dark_style(app)
    return app


class LightFrame(QtWidgets.QWidget):
    """The reader's first window: plain Qt, shown before the heavy imports.

    Shown before pyqtgraph, SQLAlchemy and the window's own modules are imported (about a
    second on the reference machine). It takes the place and size the main window will take
    (its saved geometry, else
    maximised) and says what is happening, so the reader sees the program answer at once;
    the main window replaces it (:meth:`close`) when it is shown.

    Parameters
    ----------
    geometry_hex : the main window's saved geometry (``QWidget.saveGeometry`` as hex, as
        :class:`~collarreader.ui.settings.ReaderSettings` keeps it), or ""
    text : what the frame says
    """

    def __init__(self, geometry_hex: str = "", text: str = "Opening the reading set…") -> None:
        super().__init__()
        self.setWindowTitle(APPLICATION_NAME)
        self.label = QtWidgets.QLabel(text, self)
        self.label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.label)
        self._geometry_hex = geometry_hex

    def show_like_main_window(self) -> None:
        """Show with the main window's saved geometry, or maximised the first time."""
        restored = False
        if self._geometry_hex:
            try:
                data = QtCore.QByteArray.fromHex(self._geometry_hex.encode("ascii"))
            except UnicodeEncodeError:
                data = None
            restored = data is not None and self.restoreGeometry(data)
        if restored:
            self.show()
        else:
            self.showMaximized()
