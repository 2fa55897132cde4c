"""Hot-path cost of a change: the same single-event workload under two source trees, interleaved.

Usage (the baseline tree is any checkout of fraudscore, e.g. ``git worktree add /tmp/base main``
or ``git archive main | tar -x -C /tmp/base``)::

    nice -n 10 python benchmarks/compare_trees.py --base /tmp/base --rounds 7 --out benchmarks/results/hotpath.json

Each round runs, in a fresh process per tree (baseline first, then this tree, alternating),
``Schema.validate`` over 5,000 synthetic applications and ``Scorer.score`` (memory store,
``explain=False``) over 2,000 of them after 500 warm-up events; each figure is the median
per-event time of its process. The report gives the median over rounds per tree and the
ratio this tree / baseline per workload (1.00 = no change), the JSON layout of the
benchmark suite (``value`` = this tree, ``baseline_value`` = the baseline tree).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

_CHILD = r'''
import json, sys, time, statistics, gc
import fraudscore as fs
from fraudscore.synth import generate
from fraudscore.keys import Keys
secret = b"compare-trees-secret-0123456789"
data = generate(n_days=14, per_day=300, seed=11)
events = data.to_records()
bundle = fs.train(data.columns, data.labels, key=secret,
                  config={"model": {"num_boost_round": 60, "early_stopping_rounds": 20, "seed": 3}}).bundle
schema = bundle and fs.Scorer(bundle, secret).schema
out = {}
clock = time.perf_counter_ns
for _ in range(2):
    for ev in events[:2000]:
        schema.validate(ev)
ts = []
for ev in events[:5000] * 1:
    t0 = clock(); schema.validate(ev); ts.append(clock() - t0)
out["validate_us"] = statistics.median(ts) / 1e3
sc = fs.Scorer(bundle, secret, explain=False)
for ev in events[:500]:
    sc.score(ev)
ts = []
gc.disable()
for ev in events[500:2500]:
    t0 = clock(); sc.score(ev); ts.append(clock() - t0)
gc.enable()
out["score_us"] = statistics.median(ts) / 1e3
print(json.dumps(out))
'''


def _run(tree: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True,
                         cwd=str(tree))
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="baseline source tree (holds fraudscore/)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    here = Path(__file__).resolve().parent.parent
    base = Path(args.base).resolve()
    runs: dict[str, list[dict[str, float]]] = {"base": [], "this": []}
    for i in range(args.rounds):
        runs["base"].append(_run(base))
        runs["this"].append(_run(here))
        print(f"round {i + 1}: base {runs['base'][-1]}  this {runs['this'][-1]}", flush=True)
    results = []
    for key, label in (("validate_us", "Schema.validate per event"), ("score_us", "Scorer.score per event")):
        b = statistics.median(r[key] for r in runs["base"])
        t = statistics.median(r[key] for r in runs["this"])
        results.append({"name": f"hotpath/{key[:-3]}_p50", "value": round(t, 3), "unit": "us",
                        "baseline_name": f"{label}, baseline tree", "baseline_value": round(b, 3),
                        "ratio": round(t / b, 3), "params": {"rounds": args.rounds, "base": str(base),
                                                             "explain": False, "store": "memory"}})
    report = {"machine": {"python": platform.python_version(), "platform": platform.platform(),
                          "cpus": os.cpu_count()}, "results": results, "runs": runs}
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    for r in results:
        print(f"{r['name']}: {r['value']} us vs {r['baseline_value']} us baseline -> ratio {r['ratio']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
