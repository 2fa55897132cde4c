"""Training threads benchmark: fit time against the number of LightGBM threads, and whether the model changes.

Computes the point-in-time features of a synthetic history once, then fits the
same model (200 rounds, no early stopping) with 1, 2 and 4 threads and with
``num_threads="auto"`` (:func:`fraudscore.model.threads.free_cores`). Each
fit time is the median of ``--repeat`` fits; ratios are against 1 thread
measured in the same run (above 1 = faster than one thread). ``identical`` in
the params says whether the trees equal the 1-thread trees (they must: the
thread count never changes results with ``deterministic`` and ``force_row_wise``).

On a busy machine (more runnable processes than cores), extra LightGBM threads
wait for each other at every histogram step: that is what ``"auto"`` avoids.
The load average at the start is recorded with the results.

Usage::

    python benchmarks/bench_threads.py            # 21 days x 800 rows, 3 repeats
    python benchmarks/bench_threads.py --quick    # smaller, 2 repeats
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import result, write_results  # noqa: E402

from fraudscore.model import TrainConfig, train_model  # noqa: E402
from fraudscore.model.threads import free_cores  # noqa: E402
from fraudscore.synth import generate  # noqa: E402
from fraudscore.train import train  # noqa: E402

KEY = b"bench-threads-secret-0001"


def _trees(model) -> str:
    return re.sub(r"\nparameters:.*?end of parameters", "", model.booster.model_to_string(), flags=re.S)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=None)
    args = ap.parse_args()
    days, per_day, repeat = (14, 400, 2) if args.quick else (21, 800, 3)
    repeat = args.repeat or repeat
    load = os.getloadavg()[0]
    data = generate(n_days=days, per_day=per_day, seed=3)
    feats = train(data.columns, data.labels, key=KEY, config={"model": {"num_boost_round": 5, "num_threads": 1}})
    known = ~np.isnan(feats.y)
    X, y, ts = feats.X[known], feats.y[known].astype(int), feats.ts[known]
    names = list(feats.feature_names)
    settings = [1, 2, 4, "auto"]
    times: dict[object, list[float]] = {s: [] for s in settings}
    trees: dict[object, str] = {}
    for _ in range(repeat):
        for s in settings:  # interleaved, so a change in machine load hits every setting alike
            t0 = time.perf_counter()
            m = train_model(X, y, ts, names, TrainConfig(num_threads=s, num_boost_round=200,
                                                         early_stopping_rounds=400))
            times[s].append(time.perf_counter() - t0)
            trees[s] = _trees(m)
    base = statistics.median(times[1])
    results = []
    for s in settings:
        med = statistics.median(times[s])
        params = {"rows": int(len(y)), "rounds": 200, "repeat": repeat, "identical": trees[s] == trees[1],
                  "load_avg_1m": round(load, 2)}
        if s == "auto":
            params["auto_threads"] = free_cores()
        results.append(result(f"train/fit_s/threads_{s}", med, "s", "train/fit_s/threads_1", base, params))
    write_results("bench_threads", results)
    return 0 if all(r["params"]["identical"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
