"""Running the command line: the exit code and the one-line error of every command.

Part of :mod:`collarreader.cli` (see its docstring for the rules).
"""

from __future__ import annotations

import argparse
import sys

from collarreader.cli.commands import _check_paths
from collarreader.cli.parser import build_parser
from collarreader.errors import CollarReaderError


def error_prefix(args: argparse.Namespace) -> str:
    """``collarreader COMMAND`` (``collarreader clinical ACTION``): the prefix of every error line.

    The same prefix as ``collarreader read``'s refusals, so a script or a user searching a log
    finds every command's errors the same way.
    """
    words = ["collarreader", args.command]
    action = getattr(args, "clinical_command", None)
    if action:
        words.append(action)
    return " ".join(words)


def main(argv: list[str] | None = None) -> int:
    """Run the ``collarreader`` command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _check_paths(args)
        return int(args.handler(args))
    except CollarReaderError as error:
        print(f"{error_prefix(args)}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
