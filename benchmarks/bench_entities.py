"""Entities in state: ``score()`` throughput and bytes per entity-window, compiled store vs Python reference.

Runs the suite's ``scaling/entities`` measurement (``fraudscore/bench/scaling.py``) for the
given sizes, once on the compiled core and once on the pure-Python reference
(``FRAUDSCORE_PURE_PYTHON=1``) in the same process, and writes
``benchmarks/results/bench_entities.json``: every row of both runs (renamed
``.../compiled/...`` and ``.../reference/...``) plus, per size, the compiled throughput
with the reference's as its baseline.

Usage: ``python benchmarks/bench_entities.py --sizes 10000 100000 1000000 10000000 [--reference-sizes 10000 100000]``
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import result, write_results  # noqa: E402

from fraudscore._core import PURE_PYTHON_ENV  # noqa: E402
from fraudscore.bench.bundles import BenchContext  # noqa: E402
from fraudscore.bench.common import Settings  # noqa: E402
from fraudscore.bench.scaling import _entities  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 10_000_000])
    ap.add_argument("--reference-sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--budget", type=float, default=600.0, help="fill budget per size (s)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    base = Settings.quick_settings()
    rows, eps = [], {}
    ctx = BenchContext(base, log=print)
    try:
        for engine, sizes in (("reference", args.reference_sizes), ("compiled", args.sizes)):
            if engine == "reference":
                os.environ[PURE_PYTHON_ENV] = "1"
            else:
                os.environ.pop(PURE_PYTHON_ENV, None)
            ctx.settings = dataclasses.replace(base, entities=tuple(sizes), entity_budget_s=args.budget,
                                               repeats=args.repeats)
            for r in _entities(ctx):
                r["name"] = r["name"].replace("scaling/", f"scaling/{engine}/", 1)
                rows.append(r)
                if "/events_per_s/" in r["name"]:
                    eps[(engine, r["params"]["entities"])] = r["value"]
        for (engine, n), v in sorted(eps.items()):
            if engine == "compiled" and ("reference", n) in eps:
                rows.append(result(f"entities/compiled_vs_reference/events_per_s/{n}", v, "events/s",
                                   "reference MemoryStore, same size", eps[("reference", n)], {"entities": n}))
        write_results("bench_entities", rows, {"notes": ctx.notes})
    finally:
        ctx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
