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
import time
from pathlib import Path
from typing import Any

from fraudscore.bench.common import latencies_us, machine_info, median_time, percentiles, result

__all__ = ["latencies_us", "machine_info", "median_time", "percentiles", "result", "write_results",
           "RESULTS_DIR"]

RESULTS_DIR = Path(os.environ.get("FRAUDSCORE_BENCH_DIR", Path(__file__).resolve().parent / "results"))


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
