"""The reader's main window: worklist, hanging grid, tools, scoring panel, measurement list.

Data flows one way: a gesture (mouse on an image, an edit in the form, a key) becomes a
session command, applied (one transaction + audit event) before anything is redrawn; then
:meth:`MainWindow.refresh` redraws overlays, form and lists from the database. Undo and redo
go through :class:`collarreader.ui.undo.UndoAdapter` (one stack per case).

:class:`MainWindow` is one class built in layers, each a module, each layer using only the
ones below it (so a call upwards fails the type check):

Modules
-------
:mod:`~collarreader.ui.main_window.base`
    The signals and the attributes every layer shares; constants and helpers.
:mod:`~collarreader.ui.main_window.display`
    Model → screen: redrawing from the database; what the viewports show.
:mod:`~collarreader.ui.main_window.navigation`
    Case navigation: opening a case, loading and prefetching images, the integrity check.
:mod:`~collarreader.ui.main_window.editing`
    Form edits, undo and redo, submit and reopen as session commands.
:mod:`~collarreader.ui.main_window.drawing`
    Tools, pointer events, the annotation context menu, zones.
:mod:`~collarreader.ui.main_window.actions`
    Actions and keys, menus, the tool bar.
:mod:`~collarreader.ui.main_window.window`
    :class:`MainWindow`: the layout, reading time, the window's geometry.
:mod:`~collarreader.ui.main_window.dialogs`
    The injectable dialogs (known size of a calibration line, reason to reopen).
"""

from __future__ import annotations

from collarreader.session import timepoint_label
from collarreader.ui.main_window.base import worklist_codes
from collarreader.ui.main_window.dialogs import (
    AskReason,
    AskSize,
    KnownSizeDialog,
    ask_known_size,
    ask_reopen_reason,
)
from collarreader.ui.main_window.window import MainWindow
from collarreader.ui.startup import last_open_case

__all__ = [
    "AskReason",
    "AskSize",
    "KnownSizeDialog",
    "MainWindow",
    "ask_known_size",
    "ask_reopen_reason",
    "last_open_case",
    "timepoint_label",
    "worklist_codes",
]
