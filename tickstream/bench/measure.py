"""What the benchmarks read off a run: nearest-rank percentiles of latencies, and a process's CPU
time and resident memory as Linux's ``/proc`` reports them (a process's own cost, whatever else
the machine runs)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path


def percentiles(values: Iterable[float], *quantiles: float) -> tuple[float, ...]:
    """The value at each quantile (0.99 for p99) by nearest rank, NaN for each when there are no
    values; the values are sorted once for all quantiles."""
    ordered = sorted(values)
    if not ordered:
        return tuple(math.nan for _ in quantiles)
    return tuple(ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in quantiles)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads (``/proc/<pid>/stat`` fields 14
    and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """Resident memory of a process (``VmRSS``), in MiB; 0 for one that has exited."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
