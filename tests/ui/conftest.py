"""Fixtures for the Qt tests: the application, small synthetic radiographs, mouse gestures.

Every widget goes through ``qtbot.addWidget``; gestures are real QMouseEvents sent to the
graphics view's viewport, so pyqtgraph's own drag and click detection is exercised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtCore, QtGui, QtWidgets
from pytestqt.qtbot import QtBot

from collarreader.imaging import Radiograph, Spacing, SpacingSource, Window
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.ui.app import create_application
from collarreader.ui.hanging import HangingGrid
from collarreader.ui.reader import Reader, open_reader
from collarreader.ui.viewport import Viewport


@pytest.fixture(autouse=True)
def reader_settings_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test's reader settings (keys, geometry) in its own folder, never the user's."""
    folder = tmp_path / "settings"
    monkeypatch.setenv("COLLARREADER_SETTINGS_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def qapp(qapp_args: list[str]) -> QtWidgets.QApplication:
    """The application exactly as the reader workstation creates it."""
    app = create_application(qapp_args)
    # Synthetic events arrive faster than pyqtgraph's 100 moves/s rate limit would pass.
    pg.setConfigOptions(mouseRateLimit=-1)
    return app


def _pattern(rows: int, cols: int, seed: int) -> np.ndarray:
    """A phantom-like image: graded background, a bright bone shaft and a brighter stem."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    image = 600.0 + 500.0 * yy / rows
    cx, cy = cols * 0.5, rows * 0.55
    bone = ((xx - cx) / (cols * 0.2)) ** 2 + ((yy - cy) / (rows * 0.6)) ** 2 < 1.0
    stem = (np.abs(xx - cx) < cols * 0.05) & (yy > rows * 0.25)
    image = image + 1400.0 * bone + 1500.0 * stem
    image += np.random.default_rng(seed).normal(0.0, 30.0, image.shape)
    return np.clip(image, 0, 4095).astype(np.uint16)


MakeRadiograph = Callable[..., Radiograph]


@pytest.fixture
def make_radiograph() -> MakeRadiograph:
    """Factory for small synthetic radiographs (200 rows × 160 columns by default)."""

    def make(
        rows: int = 200,
        cols: int = 160,
        *,
        spacing: Spacing | None = None,
        spacing_note: str = "",
        monochrome1: bool = False,
        window: tuple[float, float] = (2000.0, 3000.0),
        pixels: np.ndarray | None = None,
        seed: int = 0,
    ) -> Radiograph:
        data = _pattern(rows, cols, seed) if pixels is None else pixels
        if monochrome1:
            data = (4095 - data.astype(np.int32)).astype(np.uint16)
        data.flags.writeable = False
        return Radiograph(
            pixels=data,
            invert=monochrome1,
            window=Window(*window),
            spacing=spacing,
            spacing_note=spacing_note,
            sop_instance_uid=f"1.2.826.0.1.3680043.10.1.{seed}",
            photometric="MONOCHROME1" if monochrome1 else "MONOCHROME2",
            transfer_syntax="1.2.840.10008.1.2.1",
            bits_stored=12,
            n_frames=1,
            path=Path(f"synthetic-{seed}.dcm"),
        )

    return make


@pytest.fixture
def iso_spacing() -> Spacing:
    """0.15 mm square pixels from (0028,0030) Pixel Spacing."""
    return Spacing(0.15, 0.15, SpacingSource.pixel_spacing)


@pytest.fixture
def viewport(qtbot: QtBot, make_radiograph: MakeRadiograph) -> Viewport:
    """A shown 400 × 340 viewport holding a 200 × 160 MONOCHROME2 radiograph."""
    widget = Viewport()
    qtbot.addWidget(widget)
    widget.resize(400, 340)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_radiograph(make_radiograph(), title="AP · 6 m")
    return widget


@pytest.fixture
def grid(qtbot: QtBot) -> HangingGrid:
    """A shown, empty 2 × 2 hanging grid (AP/LAT × 6m/12m)."""
    widget = HangingGrid(labels=("6 m", "12 m"))
    qtbot.addWidget(widget)
    widget.resize(820, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


# ---------------------------------------------------------------- mouse gestures


Button = QtCore.Qt.MouseButton
Modifier = QtCore.Qt.KeyboardModifier


Press = QtCore.QEvent.Type.MouseButtonPress
Move = QtCore.QEvent.Type.MouseMove
Release = QtCore.QEvent.Type.MouseButtonRelease
DoubleClick = QtCore.QEvent.Type.MouseButtonDblClick


def send_mouse(
    viewport: Viewport,
    kind: QtCore.QEvent.Type,
    pos: QtCore.QPointF,
    buttons: tuple[Button, Button] = (Button.NoButton, Button.NoButton),
    modifiers: Modifier = Modifier.NoModifier,
) -> None:
    """Send one mouse event; ``buttons`` is (the button of the event, the buttons held)."""
    target = viewport.graphics_view.viewport()
    global_pos = QtCore.QPointF(target.mapToGlobal(pos))
    event = QtGui.QMouseEvent(kind, pos, global_pos, buttons[0], buttons[1], modifiers)
    QtWidgets.QApplication.sendEvent(target, event)


@dataclass
class Mouse:
    """Sends real mouse events to a viewport's graphics view, in its widget coordinates."""

    def point(self, viewport: Viewport, x_px: float, y_px: float) -> QtCore.QPointF:
        """Widget position of image pixel (x, y)."""
        return QtCore.QPointF(viewport.pixel_to_widget(x_px, y_px))

    def move(
        self, viewport: Viewport, pos: QtCore.QPointF, modifiers: Modifier = Modifier.NoModifier
    ) -> None:
        """Hover to ``pos`` (no button held)."""
        send_mouse(viewport, Move, pos, modifiers=modifiers)

    def drag(
        self,
        viewport: Viewport,
        start: QtCore.QPointF,
        end: QtCore.QPointF,
        button: Button = Button.LeftButton,
        *,
        modifiers: Modifier = Modifier.NoModifier,
        steps: int = 4,
    ) -> None:
        """Press at ``start``, move in ``steps`` to ``end`` and release there."""
        send_mouse(viewport, Press, start, (button, button), modifiers)
        for i in range(1, steps + 1):
            pos = start + (end - start) * (i / steps)
            send_mouse(viewport, Move, pos, (Button.NoButton, button), modifiers)
        send_mouse(viewport, Release, end, (button, Button.NoButton), modifiers)

    def click(
        self,
        viewport: Viewport,
        pos: QtCore.QPointF,
        button: Button = Button.LeftButton,
        modifiers: Modifier = Modifier.NoModifier,
    ) -> None:
        """Press and release at ``pos``."""
        send_mouse(viewport, Press, pos, (button, button), modifiers)
        send_mouse(viewport, Release, pos, (button, Button.NoButton), modifiers)

    def double_click(self, viewport: Viewport, pos: QtCore.QPointF) -> None:
        """A left double-click as Qt delivers it: press, release, double-click, release."""
        self.click(viewport, pos)
        left = Button.LeftButton
        send_mouse(viewport, DoubleClick, pos, (left, left))
        send_mouse(viewport, Release, pos, (left, Button.NoButton))


@pytest.fixture
def mouse() -> Mouse:
    """Mouse gestures on viewports."""
    return Mouse()


def phantom_set(root: Path, *, patients: int, seed: int) -> Path:
    """A small phantom study (no burned-in text) prepared into a set for reader "A", no repeats."""
    generate_study(root / "phantom", patients=patients, seed=seed, small=True, burned_in=0)
    prepare_reading_set(
        root / "phantom" / "manifest.csv",
        root / "set",
        root / "key.json",
        ["A"],
        seed=seed,
        repeat_fraction=0.0,
    )
    return root / "set"


OpenWindow = Callable[[], Reader]


@pytest.fixture
def open_window(qtbot: QtBot, setdir: Path, tmp_path: Path) -> Iterator[OpenWindow]:
    """Open the module's ``setdir`` as reader A (one database per test), shown and started."""
    opened: list[Reader] = []

    def make() -> Reader:
        reader = open_reader(setdir, "A", tmp_path / "A.sqlite", verify=False)
        qtbot.addWidget(reader.window)
        reader.window.show()
        qtbot.waitExposed(reader.window)
        reader.window.start()
        opened.append(reader)
        return reader

    yield make
    for reader in opened:
        reader.close()
