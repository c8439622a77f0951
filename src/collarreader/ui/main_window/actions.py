"""Actions, keys, menus and the tool bar of the reading window.

Part of :mod:`collarreader.ui.main_window` (see its docstring).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from collarreader.errors import SettingsError
from collarreader.ui.main_window.base import _TOOL_ACTIONS, _TOOLBAR_WORDS
from collarreader.ui.main_window.drawing import _Drawing
from collarreader.ui.shortcuts import (
    KeyDialog,
    Shortcut,
    effective_shortcuts,
    key_sequences,
    key_text,
)
from collarreader.ui.windowing import WindowPreset


class _Actions(_Drawing):
    """Actions and their keys, menus and the tool bar."""

    # ---------------------------------------------------------------- actions

    def _handlers(self) -> dict[str, Callable[[], Any]]:
        grid = self.grid
        handlers: dict[str, Callable[[], Any]] = {
            "next_case": lambda: self.step_case(1),
            "previous_case": lambda: self.step_case(-1),
            "submit": self.submit,
            "reopen": self.reopen,
            "undo": self.undo,
            "redo": self.redo,
            "tool_none": self.escape,
            "tool_migration": lambda: self.migration.toggle(),  # noqa: PLW0108 - made later
            "finish_line": self._finish_or_maximise,
            "next_zone": self.next_zone,
            "relabel": self.relabel_selected,
            "auto_width": self.auto_width,
            "delete": self.delete_selected,
            "preset_header": lambda: self._preset(WindowPreset.header),
            "preset_full": lambda: self._preset(WindowPreset.full_range),
            "preset_bone": lambda: self._preset(WindowPreset.bone),
            "preset_soft": lambda: self._preset(WindowPreset.soft_tissue),
            "invert": grid.focused_viewport.toggle_invert,
            "reset": self._reset_view,
            "fit": lambda: grid.zoom_to_fit(grid.focused_index),
            "one_to_one": grid.focused_viewport.one_to_one,
            "maximise": grid.toggle_maximise,
            "link": grid.toggle_linked,
            "magnifier": self._toggle_magnifier,
            "help": self.show_shortcuts,
            "customise_keys": self.customise_keys,
            "quit": self.close,
            "flicker": self.series.toggle_flicker,
            "difference": self.series.toggle_difference,
        }
        for name, tool in _TOOL_ACTIONS.items():
            handlers[name] = functools.partial(self.set_tool, tool)
        for i in range(4):
            handlers[f"focus_{i + 1}"] = functools.partial(self._focus, i)
        return handlers

    def _build_actions(self) -> None:
        handlers = self._handlers()
        tool_group = QtGui.QActionGroup(self)
        for shortcut in self.shortcut_table:
            action = QtGui.QAction(shortcut.text, self)
            action.setObjectName(shortcut.action)
            if shortcut.action == "quit":
                action.setMenuRole(QtGui.QAction.MenuRole.QuitRole)
            if shortcut.images_only:
                action.setShortcutContext(QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut)
                self.grid.addAction(action)
            else:
                action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
                self.addAction(action)
            if shortcut.action in _TOOL_ACTIONS:
                action.setCheckable(True)
                tool_group.addAction(action)
            # triggered(bool) would fill a handler's first parameter: call it bare.
            action.triggered.connect(lambda _checked=False, h=handlers[shortcut.action]: h())
            self.actions_by_name[shortcut.action] = action
            self._apply_keys(shortcut)
        self.actions_by_name["link"].setCheckable(True)
        self.actions_by_name["link"].setChecked(self.grid.linked)
        self.grid.link_changed.connect(self.actions_by_name["link"].setChecked)

    def action(self, name: str) -> QtGui.QAction:
        """The action of a :data:`~collarreader.ui.shortcuts.SHORTCUTS` row."""
        return self.actions_by_name[name]

    def _apply_keys(self, shortcut: Shortcut) -> None:
        """Give an action its keys, and its tool tip and tool-bar label the first of them."""
        action = self.actions_by_name[shortcut.action]
        action.setShortcuts(key_sequences(shortcut))
        shown = key_text(shortcut.keys[0]) if shortcut.keys else ""
        action.setToolTip(f"{shortcut.text} ({shown})" if shown else shortcut.text)
        word = _TOOLBAR_WORDS.get(shortcut.action)
        if word is not None:
            action.setIconText(f"{word} {shown}".strip())

    def set_shortcut_keys(self, overrides: Mapping[str, Sequence[str]]) -> None:
        """Change the keys of some actions, apply them at once and save them for next time.

        Parameters
        ----------
        overrides : action name → its new keys (an empty list leaves the action without key)

        Raises
        ------
        SettingsError
            An unknown action or key, a key given to two actions, or a settings file that
            cannot be written; nothing is changed then.
        """
        merged = {**self.settings.shortcuts, **{k: tuple(v) for k, v in overrides.items()}}
        table = effective_shortcuts(merged)
        previous = self.settings.shortcuts
        self.settings.shortcuts = merged
        try:
            self.settings.save()
        except SettingsError:
            self.settings.shortcuts = previous
            raise
        self.shortcut_table = table
        for shortcut in table:
            self._apply_keys(shortcut)
        if self.overlay_help is not None:
            self.overlay_help.set_table(table)

    def customise_keys(self) -> KeyDialog:
        """Open the dialog where the reader chooses the keys (saved in the settings file)."""
        dialog = KeyDialog(self.shortcut_table, self.set_shortcut_keys, self)
        dialog.open()
        return dialog

    def _build_menus_and_toolbar(self) -> None:
        menus: dict[str, QtWidgets.QMenu] = {}
        titles = {"Cases": "&Case", "Tools": "&Tools", "Viewer": "&View", "Help": "&Help"}
        for shortcut in self.shortcut_table:
            menu = menus.get(shortcut.group)
            if menu is None:
                menu = self.menuBar().addMenu(titles.get(shortcut.group, shortcut.group))
                menus[shortcut.group] = menu
            menu.addAction(self.actions_by_name[shortcut.action])
        advance = QtGui.QAction("Open the next case after submitting", self)
        advance.setObjectName("advance_after_submit")
        advance.setCheckable(True)
        advance.setChecked(self.settings.advance_after_submit)
        advance.toggled.connect(self.set_advance_after_submit)
        self.actions_by_name["advance_after_submit"] = advance
        menus["Cases"].insertAction(self.actions_by_name["quit"], advance)
        menus["Cases"].insertSeparator(self.actions_by_name["quit"])
        bar = QtWidgets.QToolBar("Reading", self)
        bar.setObjectName("toolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        for group in (
            ("previous_case", "next_case"),
            ("tool_calibrate", "tool_interface", "tool_bridging", "tool_rll", "tool_thickness"),
        ):
            for name in group:
                bar.addAction(self.actions_by_name[name])
            bar.addSeparator()
        bar.addWidget(QtWidgets.QLabel(" Zone "))
        self.zone_box = QtWidgets.QComboBox(self)
        self.zone_box.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.zone_box.setMinimumWidth(130)
        self.zone_box.setToolTip("Current zone for new measurements (N: next zone)")
        self.zone_box.activated.connect(self._zone_chosen)
        bar.addWidget(self.zone_box)
        bar.addSeparator()
        for name in ("undo", "redo", "submit", "reopen", "help"):
            bar.addAction(self.actions_by_name[name])
        self.addToolBar(bar)
        self.toolbar = bar
