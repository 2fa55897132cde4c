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
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from fraudscore.bench.common import latencies_us, machine_info, median_time, percentiles, result
from fraudscore.bench.servers import RedisServer

__all__ = ["latencies_us", "machine_info", "median_time", "percentiles", "result", "write_results",
           "RESULTS_DIR", "callgrind_total", "server_instructions", "CommandServer"]

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


def callgrind_total(folder: str, prefix: str = "") -> int:
    """The summed ``totals:`` of the callgrind outputs in ``folder`` whose names start with ``prefix`` (one per
    dump: a server dumps on each toggle and at exit)."""
    total = 0
    for f in os.listdir(folder):
        if f.startswith(prefix):
            with open(os.path.join(folder, f), encoding="utf-8", errors="replace") as fh:
                m = re.search(r"^totals:\s+(\d+)", fh.read(), re.M)
            total += int(m.group(1)) if m else 0
    return total


class CommandServer(RedisServer):
    """A redis-server under callgrind counting only inside ``call()`` (command execution, scripts included):
    its idle loop and cron, whose counts grow with the wall time a slow client takes, are left out."""

    def argv(self) -> list[str]:
        args = super().argv()
        if args and args[0] == "valgrind":
            args.insert(1, "--toggle-collect=call")
        return args


def server_instructions(make: Callable[[Any], Callable[[Any], Any]], warm: list[Any], measured: list[Any]) -> float:
    """Instructions per event of a throwaway ``redis-server`` under callgrind (needs valgrind), counted inside
    command execution only (:class:`CommandServer`): ``make(client)`` gives the per-event function, applied to
    ``warm`` uninstrumented, then to ``measured`` with the instrumentation on."""
    import redis

    folder = tempfile.mkdtemp()
    try:
        srv = CommandServer(callgrind=os.path.join(folder, "cg.out")).start(timeout=120)
        try:
            fn = make(redis.Redis(port=srv.port, socket_timeout=120))
            for ev in warm:
                fn(ev)
            srv.callgrind(True)
            for ev in measured:
                fn(ev)
            srv.callgrind(False)
            time.sleep(0.5)
        finally:
            srv.stop()
        return callgrind_total(folder) / len(measured)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
