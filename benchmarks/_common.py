"""Shared helpers for the benchmark scripts: timing, machine description, JSON results.

Every benchmark writes one JSON file ``benchmarks/results/<name>.json``::

    {"machine": {...}, "results": [{"name", "value", "unit", "baseline_name",
                                    "baseline_value", "ratio", "params"}]}

so runs can be compared over time. Absolute times are context; the ratios
against a baseline measured in the same run are the figures to compare.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_DIR = Path(os.environ.get("FRAUDSCORE_BENCH_DIR", Path(__file__).resolve().parent / "results"))


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, Python and library versions of this machine."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
    }
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


def write_results(name: str, results: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> Path:
    """Write ``benchmarks/results/<name>.json`` and print a one-line summary per result."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    doc = {"machine": machine_info(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "results": results}
    if extra:
        doc.update(extra)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=float), encoding="utf-8")
    tmp.replace(path)
    for r in results:
        ratio = f"  ratio {r['ratio']:.2f}x vs {r['baseline_name']}" if r["ratio"] is not None else ""
        print(f"  {r['name']:<48} {r['value']:>14,.2f} {r['unit']:<10}{ratio}")
    print(f"results -> {path}")
    return path
