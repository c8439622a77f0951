"""What the subcommands share: defaults shown by ``--help`` and the progress bar.

Part of :mod:`collarreader.cli` (see its docstring for the rules).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from collarreader.model import ProgressCallback

# Defaults repeated here so that `--help` does not import the heavy core modules;
# tests/test_cli.py checks they equal the core's own.
DEFAULT_PROTOCOL = "collar-default"
DEFAULT_REPEAT_FRACTION = 0.2


@contextmanager
def progress_bar(description: str) -> Iterator[ProgressCallback]:
    """Yield a ``progress(done, total)`` callback drawing a rich bar on a terminal.

    Off a terminal (CI, pipes) it prints nothing, so logs stay readable.
    """
    if not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
