"""``score_batch`` with the model overlapped (``overlap=True``) against without, alternated in one process.

Each repeat times bare ``Booster.predict`` (all cores) on the batch's own feature matrix, then ``score_batch`` of the
same rows once per mode, so every mode shares the machine's state; prints, per mode, the median wall time per row,
events/s, the ratio to bare predict, CPU per row (all threads) and the main thread's CPU per row. Modes: ``off``,
``on``, or ``on:<splits>[:<early threads>[:<last threads>|n]]`` (``on:-`` one range; ``on:0.5/0.8`` two cuts).

Run: ``PYTHONPATH=<checkout> python benchmarks/bench_batch_overlap.py large 100000 5 off,on [--cache DIR]``
(docs/compiled.md, "Round 16: the model on a second core"). Bundles are built on first use and kept in ``--cache``
(default ``/tmp/fraudscore-bench-bundles``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def setmode(bo, m: str) -> bool:
    """Apply mode ``m`` to the module's settings; whether the overlap is on."""
    if m == "off":
        return False
    parts = m.split(":")
    if len(parts) > 1:
        bo.SPLITS = tuple(float(x) for x in parts[1].split("/")) if parts[1] != "-" else ()
    if len(parts) > 2:
        bo.EARLY_THREADS = int(parts[2])
    if len(parts) > 3:
        bo.LAST_THREADS = None if parts[3] == "n" else int(parts[3])
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bundle", choices=("default", "large"))
    ap.add_argument("rows", type=int)
    ap.add_argument("repeats", type=int)
    ap.add_argument("modes", nargs="?", default="off,on")
    ap.add_argument("--cache", default="/tmp/fraudscore-bench-bundles")
    args = ap.parse_args()
    import fraudscore.batchoverlap as bo
    from fraudscore.bench.bundles import BenchContext, events_stream
    from fraudscore.bench.common import Settings
    from fraudscore.scorer import Scorer

    ctx = BenchContext(Settings.for_mode(False), cache_dir=args.cache)
    b = ctx.bundle(args.bundle)
    s = Scorer(b, ctx.keys)
    n = args.rows
    s.score_batch(events_stream(300, seed=1).columns)
    cols = events_stream(n, seed=303 + n % 97).columns
    res = s.score_batch(cols, return_features=True, overlap=False)
    X = np.column_stack([res.features[f] for f in b.model.feature_names])
    threads = os.cpu_count()
    modes = args.modes.split(",")
    out: dict[str, list[tuple[float, float, float]]] = {m: [] for m in modes}
    bare = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        b.model.booster.predict(X, num_threads=threads)
        bare.append(time.perf_counter() - t0)
        for m in modes:
            ov = setmode(bo, m)
            w0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
            s.score_batch(cols, overlap=ov)
            out[m].append((time.perf_counter() - w0, time.process_time() - c0, time.thread_time() - m0))
    tl = statistics.median(bare)
    print(f"{args.bundle} {n} repeats={args.repeats} load={os.getloadavg()[0]:.2f} bare predict {n / tl:,.0f} rows/s")
    for m, v in out.items():
        w = statistics.median(x[0] for x in v)
        c = statistics.median(x[1] for x in v)
        mt = statistics.median(x[2] for x in v)
        print(f"  {m:14s} wall {w * 1e6 / n:6.1f} us/row ({n / w:8,.0f} ev/s, ratio {tl / w:.3f})  cpu {c * 1e6 / n:6.1f}"
              f"  main-thread cpu {mt * 1e6 / n:6.1f}  walls {[round(x[0] * 1e6 / n, 1) for x in v]}")
    ctx.close()


if __name__ == "__main__":
    main()
