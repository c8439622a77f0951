"""Command line: parse, call the core, print."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    """Run the ``collarreader`` command line; return the exit code."""
    parser = argparse.ArgumentParser(prog="collarreader")
    parser.parse_args(argv)
    return 0
