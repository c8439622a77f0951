"""The Qt undo stack as an adapter over session commands.

The session command is the change; the ``QUndoCommand`` only forwards: ``redo`` → ``apply``,
``undo`` → ``revert``. A command is applied *before* it is pushed (so a refused gesture never
enters the stack), and the stack's automatic first ``redo`` on push is skipped.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtGui

from collarreader.db.repository import Repository
from collarreader.errors import CollarReaderError
from collarreader.session import Command


class SessionUndoCommand(QtGui.QUndoCommand):
    """One session command on a ``QUndoStack``.

    Parameters
    ----------
    command : an *applied* session command
    repository : where it applies and reverts
    changed : called after every undo/redo (the UI redraws from the model)
    failed : called with the error when an undo/redo is refused (e.g. the case is locked)
    """

    def __init__(
        self,
        command: Command,
        repository: Repository,
        changed: Callable[[], None],
        failed: Callable[[CollarReaderError], None],
    ) -> None:
        super().__init__(command.text)
        self.command = command
        self._repository = repository
        self._changed = changed
        self._failed = failed
        self._pushed = False

    def redo(self) -> None:
        """Apply again (skipped on the push: the command was applied already)."""
        if not self._pushed:
            self._pushed = True
            return
        try:
            self.command.apply(self._repository)
        except CollarReaderError as error:
            self._failed(error)
        self._changed()

    def undo(self) -> None:
        """Revert the command (a new audited transaction)."""
        try:
            self.command.revert(self._repository)
        except CollarReaderError as error:
            self._failed(error)
        self._changed()


class UndoAdapter:
    """One ``QUndoStack`` per case, fed with session commands.

    Parameters
    ----------
    repository : the reader's database
    changed : called after every applied, undone or redone command
    failed : called with a refused command's error
    """

    def __init__(
        self,
        repository: Repository,
        changed: Callable[[], None],
        failed: Callable[[CollarReaderError], None],
    ) -> None:
        self.repository = repository
        self._changed = changed
        self._failed = failed
        self.group = QtGui.QUndoGroup()
        self._stacks: dict[str, QtGui.QUndoStack] = {}

    def set_case(self, case_code: str) -> QtGui.QUndoStack:
        """Make the case's stack the active one (undo acts on the case shown)."""
        stack = self._stacks.get(case_code)
        if stack is None:
            stack = QtGui.QUndoStack(self.group)
            self._stacks[case_code] = stack
        self.group.setActiveStack(stack)
        return stack

    @property
    def stack(self) -> QtGui.QUndoStack | None:
        """The active stack."""
        return self.group.activeStack()

    def execute(self, command: Command) -> bool:
        """Apply a command, then push it; False (and ``failed`` called) when it is refused."""
        try:
            command.apply(self.repository)
        except CollarReaderError as error:
            self._failed(error)
            return False
        stack = self.stack
        if stack is not None:
            stack.push(SessionUndoCommand(command, self.repository, self._changed, self._failed))
        self._changed()
        return True

    def undo(self) -> None:
        """Undo on the active stack."""
        self.group.undo()

    def redo(self) -> None:
        """Redo on the active stack."""
        self.group.redo()
