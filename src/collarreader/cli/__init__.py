"""Command line: parse, call the core, print.

Each subcommand imports its core module only when it runs, so ``collarreader --help`` and
the Qt-free commands start quickly and never load Qt. Every :class:`CollarReaderError` is
printed as one ``collarreader COMMAND: …`` line (it already names the file or row and what
to do) with exit code 1 (``read`` exits 2, see :func:`collarreader.ui.reader.run_reader`);
anything else escaping is a bug and keeps its traceback.

Modules
-------
:mod:`~collarreader.cli.common`
    Defaults shown by ``--help``; the progress bar.
:mod:`~collarreader.cli.commands`
    The handlers of the subcommands (``clinical`` aside).
:mod:`~collarreader.cli.clinical_commands`
    ``collarreader clinical``: handler and sub-parser.
:mod:`~collarreader.cli.parser`
    :func:`build_parser`, the whole command line.
:mod:`~collarreader.cli.run`
    :func:`main` (the ``collarreader`` console script and ``python -m collarreader``).
"""

from __future__ import annotations

from collarreader.cli.common import DEFAULT_PROTOCOL, DEFAULT_REPEAT_FRACTION, progress_bar
from collarreader.cli.parser import build_parser
from collarreader.cli.run import error_prefix, main

__all__ = [
    "DEFAULT_PROTOCOL",
    "DEFAULT_REPEAT_FRACTION",
    "build_parser",
    "error_prefix",
    "main",
    "progress_bar",
]
