"""Shared pieces of the benchmark suite: settings, timing helpers, memory readings.

The timing and result helpers here are also the ones the scripts in
``benchmarks/`` use (``benchmarks/_common.py`` re-exports them), so every
benchmark in the repository writes the same result rows.

Every result row is ``{"group", "name", "value", "unit", "baseline_name",
"baseline_value", "ratio", "params"}``; ``ratio`` is value/baseline for rates and
baseline/value for times, so a ratio above 1 always means fraudscore is faster.

Examples
--------
>>> r = result("x", 2.0, "us", "model alone", 1.0)
>>> r["ratio"]
0.5
>>> sorted(percentiles(np.arange(100.0)))
['p50', 'p90', 'p99', 'p99.9']
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Settings", "result", "latencies_us", "percentiles", "median_time", "machine_info", "rss_kib",
           "peak_rss_kib", "median_percentiles", "BENCH_SECRET"]

BENCH_SECRET = "fraudscore-bench-secret-not-for-production"


def median_time(fn: Callable[[], Any], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs, after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def latencies_us(fn: Callable[[int], Any], n: int, warmup: int = 200) -> np.ndarray:
    """Per-call latencies in microseconds of ``fn(i)`` for ``i`` in ``range(n)``."""
    for i in range(min(warmup, n)):
        fn(i)
    out = np.empty(n)
    clock = time.perf_counter_ns
    for i in range(n):
        t0 = clock()
        fn(i)
        out[i] = (clock() - t0) / 1e3
    return out


def percentiles(lat_us: np.ndarray) -> dict[str, float]:
    """p50 / p90 / p99 / p99.9 of latencies (microseconds)."""
    return {f"p{q:g}": float(np.percentile(lat_us, q)) for q in (50, 90, 99, 99.9)}


def result(name: str, value: float, unit: str, baseline_name: str | None = None,
           baseline_value: float | None = None, params: dict[str, Any] | None = None,
           higher_is_better: bool | None = None) -> dict[str, Any]:
    """One result row. ``ratio`` is value/baseline for rates and baseline/value for times
    (so a ratio above 1 always means fraudscore is faster), when a baseline is given."""
    ratio = None
    if baseline_value:
        if higher_is_better is None:
            higher_is_better = unit.endswith("/s")
        ratio = value / baseline_value if higher_is_better else baseline_value / value
    return {"name": name, "value": float(value), "unit": unit, "baseline_name": baseline_name,
            "baseline_value": None if baseline_value is None else float(baseline_value),
            "ratio": None if ratio is None else float(ratio), "params": params or {}}


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, Python and library versions of this machine."""
    import platform
    import sys

    info: dict[str, Any] = {"platform": platform.platform(), "machine": platform.machine(),
                            "python": sys.version.split()[0], "cpu_count": os.cpu_count(), "numpy": np.__version__}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            info["mem_total_gib"] = round(int(fh.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    for mod in ("lightgbm", "pandas", "redis", "fraudscore"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - optional
            pass
    return info


def median_percentiles(runs: list[np.ndarray]) -> dict[str, float]:
    """Median over repeated runs of each run's p50 / p90 / p99 / p99.9 (microseconds).

    Examples
    --------
    >>> median_percentiles([np.arange(10.0), np.arange(10.0) + 1])["p50"]
    5.0
    """
    per = [percentiles(r) for r in runs]
    return {k: float(statistics.median(p[k] for p in per)) for k in per[0]}


def _status_kib(field: str) -> int:
    try:
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_kib() -> int:
    """Resident memory of this process in KiB (0 where /proc is unavailable)."""
    return _status_kib("VmRSS")


def peak_rss_kib() -> int:
    """Peak resident memory of this process in KiB (``ru_maxrss``)."""
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    except (ImportError, OSError):  # pragma: no cover - non-POSIX
        return _status_kib("VmHWM")


@dataclass(frozen=True)
class Settings:
    """Sizes of one suite run (:meth:`quick` for CI, :meth:`full` for the committed report).

    Examples
    --------
    >>> Settings.for_mode(True).large_trees < Settings.for_mode(False).large_trees
    True
    """

    quick: bool
    train_days: int
    train_per_day: int
    n_latency: int
    repeats: int
    large_trees: int
    large_rules: int
    batch_sizes: tuple[int, ...]
    batch_budget_s: float
    entities: tuple[int, ...]
    entity_budget_s: float
    history: tuple[int, ...]
    rules: tuple[int, ...]
    trees: tuple[int, ...]
    rescore_rows: tuple[int, ...]
    procs: tuple[int, ...]
    per_proc: int

    @classmethod
    def quick_settings(cls) -> Settings:
        """CI sizes: about a minute in all."""
        return cls(quick=True, train_days=10, train_per_day=400, n_latency=300, repeats=3, large_trees=100,
                   large_rules=50, batch_sizes=(1, 100, 2000), batch_budget_s=10.0, entities=(1000, 5000),
                   entity_budget_s=5.0, history=(10, 100), rules=(10, 50, 100), trees=(50, 100),
                   rescore_rows=(2000,), procs=(1, 2), per_proc=200)

    @classmethod
    def full_settings(cls) -> Settings:
        """Full sizes; groups skip the sizes whose estimated time exceeds their budget."""
        return cls(quick=False, train_days=14, train_per_day=1000, n_latency=1500, repeats=5, large_trees=500,
                   large_rules=50, batch_sizes=(1, 10, 100, 1000, 10_000, 100_000, 1_000_000), batch_budget_s=150.0,
                   entities=(10_000, 100_000, 1_000_000, 10_000_000), entity_budget_s=600.0,
                   history=(10, 100, 1000), rules=(10, 20, 50, 100, 200), trees=(50, 100, 250, 500),
                   rescore_rows=(10_000, 50_000), procs=(1, 2, 4), per_proc=600)

    @staticmethod
    def for_mode(quick: bool) -> Settings:
        """The quick or the full settings."""
        return Settings.quick_settings() if quick else Settings.full_settings()
