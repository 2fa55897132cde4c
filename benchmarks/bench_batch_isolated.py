"""The batch path's own stages without the link loop, one process per build (for A/B runs of two checkouts).

The link loop (``devicecolumns.link_rows``, another issue's) is replaced by "device id =
fingerprint id" so the velocity replay still sees device keys; the garbage collector is
off (as ``score_batch`` runs); each figure is the minimum over repeated calls (5 at 10k
rows, 2 at 100k), printed as one JSON line of seconds. Run it alternately against two
checkouts to compare them in one session::

    PYTHONPATH=/path/to/main python benchmarks/bench_batch_isolated.py --rows 10000 100000
    PYTHONPATH=.             python benchmarks/bench_batch_isolated.py --rows 10000 100000

Stages: ``schema`` (``to_columns``), ``identity`` (``process_columns``),
``batch_static_nolink`` (all stateless columns and device columns), ``velocity``
(``replay_rows``), ``score_batch_nolink_noexplain`` (the whole call, ``explain=False``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="+", type=int, default=[10_000, 100_000])
    ap.add_argument("--bundle-dir", default=os.environ.get("FRAUDSCORE_BENCH_BUNDLES", "/tmp/fraudscore-bench-bundles"))
    args = ap.parse_args(argv)

    import fraudscore.devicecolumns as dc
    from fraudscore.batch import to_columns
    from fraudscore.bench.bundles import BenchContext, events_stream
    from fraudscore.bench.common import Settings
    from fraudscore.bundle import Bundle
    from fraudscore.scorer import Scorer

    ctx = BenchContext(Settings.for_mode(False), cache_dir=args.bundle_dir)
    p = Path(args.bundle_dir) / "default"
    b = Bundle.load(str(p), key=ctx.keys) if (p / "manifest.json").exists() else ctx.bundle("default")
    gc.disable()
    sc = Scorer(b, ctx.keys)
    pl = sc.pipeline

    def fake_link(fps: Any, ts: Any, rows: Any, ip: Any, linker: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
        d = np.full(n, None, dtype=object)
        d[rows] = [fp.id for fp in fps.tolist()]
        return d, np.full(n, 0.9)

    dc.link_rows = fake_link
    sc.score_batch(events_stream(300, seed=1).columns, explain=False)
    out: dict[str, float] = {}

    def best(fn: Any, k: int) -> float:
        ts = []
        for _ in range(k):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return min(ts)

    for n in args.rows:
        k = 5 if n <= 10_000 else 2
        cols = events_stream(n, seed=303 + n % 97).columns
        cb = to_columns(cols, sc.schema)
        ts = np.asarray(cb.columns["ts"], dtype=np.int64)
        rec, _ = pl.batch_static(cb, pl.new_linker())
        out[f"schema/{n}"] = best(lambda: to_columns(cols, sc.schema), k)
        out[f"identity/{n}"] = best(lambda: pl.identity.process_columns(cb.columns, ts, cb.n), k)
        out[f"batch_static_nolink/{n}"] = best(lambda: pl.batch_static(cb, pl.new_linker()), k)
        out[f"velocity/{n}"] = best(lambda: pl.replay_rows(rec, cb.n, None, None), k)
        out[f"score_batch_nolink_noexplain/{n}"] = best(lambda: sc.score_batch(cols, explain=False), max(1, k - 2))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
