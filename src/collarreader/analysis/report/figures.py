"""The report's figures, requested while the sections are written and drawn together.

Part of :mod:`collarreader.analysis.report` (see its docstring for the rules).
"""

from __future__ import annotations

import gc
import multiprocessing
import re
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from collarreader.analysis import plots
from collarreader.analysis.report.html import _image
from collarreader.protocol import Field

# ---------------------------------------------------------------- figures

_FigureJob = tuple[Callable[..., str | None], tuple[Any, ...], str]

# The jobs of the drawing in progress, read by forked workers (which inherit this process's
# memory, so the data never has to be pickled); empty outside write_report.
_FORKED_JOBS: list[_FigureJob] = []


def _bland_altman_uri(points: pd.DataFrame, fld: Field, analysis: str) -> str | None:
    return plots.bland_altman_plot(points, fld, analysis)[0]


def _draw_job(index: int) -> str | None:
    function, args, _ = _FORKED_JOBS[index]
    return function(*args)


def _fork_is_safe() -> bool:
    """Whether worker processes may be forked from here.

    Only with the ``fork`` start method (a spawned worker would spend longer importing
    matplotlib than drawing), never from a process running a Qt application or other Python
    threads (a forked child inherits locks held by threads that do not exist in it).
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    if any(name in sys.modules for name in ("PySide6", "PyQt6", "PyQt5", "shiboken6")):
        return False
    return threading.active_count() == 1


class _Figures:
    """The report's figures: requested while the sections are written, drawn together.

    A request returns a placeholder for the ``<img>`` element; :meth:`draw` renders every
    figure — in worker processes when allowed — and :meth:`fill` puts them in place. The
    drawing is deterministic, so the report is the same byte for byte whatever the number of
    processes.
    """

    def __init__(self) -> None:
        self.jobs: list[_FigureJob] = []
        self.images: list[str] = []

    def request(self, function: Callable[..., str | None], *args: Any, alt: str) -> str:
        self.jobs.append((function, args, alt))
        return f"\x00figure {len(self.jobs) - 1}\x00"

    def draw(self, processes: int) -> None:
        uris: list[str | None] | None = None
        if processes > 1 and len(self.jobs) > 1 and _fork_is_safe():
            uris = self._draw_forked(min(processes, len(self.jobs)))
        if uris is None:
            uris = [function(*args) for function, args, _ in self.jobs]
        self.images = [_image(uri, alt) for uri, (_, _, alt) in zip(uris, self.jobs, strict=True)]

    def _cost(self, index: int) -> int:
        # Relative drawing time: the small-multiple figures have several axes, the rest one.
        function = self.jobs[index][0]
        return 3 if function in (_bland_altman_uri, plots.intra_by_reader_plot) else 1

    def _draw_forked(self, processes: int) -> list[str | None] | None:
        # This process draws a share too, so ``processes`` − 1 workers are forked; the shares
        # are balanced greedily by estimated cost, largest first.
        shares: list[list[int]] = [[] for _ in range(processes)]
        loads = [0] * processes
        for index in sorted(range(len(self.jobs)), key=self._cost, reverse=True):
            lightest = loads.index(min(loads))
            shares[lightest].append(index)
            loads[lightest] += self._cost(index)
        uris: list[str | None] = [None] * len(self.jobs)
        _FORKED_JOBS[:] = self.jobs
        # Objects that exist now are left out of the garbage collector's passes: a collection
        # in a worker would otherwise touch, and so copy, every page of this process's heap.
        # (A caller that froze the collector itself keeps its own setting.)
        freeze = gc.get_freeze_count() == 0
        if freeze:
            gc.freeze()
        try:
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=processes - 1, mp_context=context) as pool:
                futures = {
                    index: pool.submit(_draw_job, index) for share in shares[1:] for index in share
                }
                for index in shares[0]:
                    function, args, _ = self.jobs[index]
                    uris[index] = function(*args)
                for index, future in futures.items():
                    uris[index] = future.result()
        except (OSError, BrokenProcessPool):
            return None  # drawn in this process instead
        finally:
            if freeze:
                gc.unfreeze()
            _FORKED_JOBS.clear()
        return uris

    def fill(self, html_text: str) -> str:
        return re.sub(
            "\x00figure (\\d+)\x00", lambda match: self.images[int(match.group(1))], html_text
        )
