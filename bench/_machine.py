"""Describe the machine a benchmark ran on, so its figures can be compared."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def describe_machine() -> str:
    """One line: CPU model, cores, memory, Python."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB"
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}, Python {platform.python_version()} "
        f"on {platform.system()} {platform.release()}"
    )


def median_seconds(function: Callable[[], object], *, repeat: int = 7, warmup: int = 1) -> float:
    """Median wall time of ``function()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
