"""How many threads LightGBM should use: the cores that are free right now.

LightGBM's threads spin-wait for each other at every histogram step, so a
thread that has no core of its own slows every fit down instead of speeding it
up: on a 2-core machine shared with other work (load average about 6), fits
with ``num_threads=2`` ran 10-15 times slower than with one thread, for the
same model. :func:`free_cores` counts the cores this process may use (CPU
affinity and a cgroup quota) and subtracts the other work running (the
1-minute load average, less this process's own share).

Examples
--------
>>> 1 <= free_cores() <= (os.cpu_count() or 1)
True
>>> free_cores(cores=2, load=7.5), free_cores(cores=16, load=1.0), free_cores(cores=8, load=3.4)
(1, 16, 6)
"""

from __future__ import annotations

import math
import os

__all__ = ["free_cores", "usable_cores"]


def usable_cores() -> int:
    """Cores this process may run on: CPU affinity, capped by a cgroup v2 CPU quota when one is set."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as fh:
            quota, period = fh.read().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.floor(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def free_cores(*, cores: int | None = None, load: float | None = None) -> int:
    """Cores free for training now: usable cores minus the load of other processes, at least 1.

    Parameters
    ----------
    cores, load : optional
        Override the measured usable cores and 1-minute load average (for tests).
    """
    n = usable_cores() if cores is None else int(cores)
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # pragma: no cover - not Unix
            load = 0.0
    others = max(0.0, float(load) - 1.0)  # this process is running too
    return max(1, min(n, math.floor(n - others + 0.5)))
