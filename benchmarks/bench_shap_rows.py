"""TreeSHAP per explained row: the compiled FastTreeSHAP tables against ``pred_contrib``, this tree against another.

The rows are the ones ``score_batch(explain="auto")`` explains (reviewed and declined) in the suite's
10,000-event stream (``events_stream(10000, seed=303 + 10000 % 97)``), on the reference bundles (``default``:
81 trees; ``large``: 500 trees of up to 63 leaves). Per bundle it times, on ONE thread and in CPU seconds
(``time.process_time``, steady on a shared machine), the explanation forest's ``contrib`` over those rows and
LightGBM's ``Booster.predict(pred_contrib=True, num_threads=1)``, and prints microseconds per row, the sha256 of
the contributions (equal across two trees means the same bits) and the largest difference from ``pred_contrib``
relative to the row's scale (1 + sum of absolute contributions).

    python benchmarks/bench_shap_rows.py [--bundles default large] [--repeats 5]
        [--base /tmp/base_checkout] [--rounds 2] [--bundle-dir DIR] [--out benchmarks/results/NAME.json]

With ``--base`` each round runs the base checkout's process, then this one's (alternated, same rows), and the
figures are the medians over rounds of each process's median.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _measure(bundles: list[str], repeats: int, bundle_dir: str) -> dict[str, Any]:
    import numpy as np

    from fraudscore.bench.bundles import BenchContext, events_stream
    from fraudscore.bench.common import Settings
    from fraudscore.bundle import Bundle
    from fraudscore.scorer import Scorer

    ctx = BenchContext(Settings.for_mode(False), cache_dir=bundle_dir)
    out: dict[str, Any] = {}
    for name in bundles:
        p = Path(bundle_dir) / name
        bundle = Bundle.load(str(p), key=ctx.keys) if (p / "manifest.json").exists() else ctx.bundle(name)
        scorer = Scorer(bundle, ctx.keys)
        res = scorer.score_batch(events_stream(10_000, seed=303 + 10_000 % 97).columns, return_features=True,
                                 explain=False)
        m = bundle.model
        X = np.column_stack([res.features[f] for f in m.feature_names])
        Xe = np.ascontiguousarray(X[np.flatnonzero(res.action != "approve")])
        m.prepare_explanations()
        eng = m._explain_engine()
        forest = getattr(eng, "_forest", eng)
        got = np.empty((Xe.shape[0], Xe.shape[1] + 1))
        ours, lgb = [], []
        for _ in range(repeats):
            t0 = time.process_time()
            forest.contrib(Xe, got, threads=1)
            ours.append(time.process_time() - t0)
            t0 = time.process_time()
            ref = m.booster.predict(Xe, pred_contrib=True, num_threads=1)
            lgb.append(time.process_time() - t0)
        scale = 1.0 + np.abs(ref).sum(axis=1, keepdims=True)
        out[name] = {"rows": int(Xe.shape[0]), "us_per_row": statistics.median(ours) * 1e6 / Xe.shape[0],
                     "pred_contrib_us_per_row": statistics.median(lgb) * 1e6 / Xe.shape[0],
                     "sha256": hashlib.sha256(got.tobytes()).hexdigest()[:16],
                     "max_rel_diff": float(np.max(np.abs(got - ref) / scale)),
                     "shap_lanes": int(getattr(forest, "shap_lanes", 1))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundles", nargs="+", default=["default", "large"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--base", default=None, help="another checkout (built in place) to alternate with")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--bundle-dir", default=os.environ.get("FRAUDSCORE_BENCH_BUNDLES", "/tmp/fraudscore-bench-bundles"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_measure(args.bundles, args.repeats, args.bundle_dir)))
        return 0
    trees = {"this": str(HERE.parent)}
    if args.base:
        trees = {"base": args.base, **trees}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in trees}
    for _ in range(args.rounds if args.base else 1):
        for label, root in trees.items():
            env = {**os.environ, "PYTHONPATH": root}
            cmd = [sys.executable, str(HERE / "bench_shap_rows.py"), "--child", "--repeats", str(args.repeats),
                   "--bundle-dir", args.bundle_dir, "--bundles", *args.bundles]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=root)
            runs[label].append(json.loads(done.stdout.strip().splitlines()[-1]))
    results = []
    for name in args.bundles:
        line = [f"{name}:"]
        for label, rs in runs.items():
            us = statistics.median(r[name]["us_per_row"] for r in rs)
            lg = statistics.median(r[name]["pred_contrib_us_per_row"] for r in rs)
            r0 = rs[0][name]
            line.append(f"{label} {us:.1f} us/row (pred_contrib {lg:.1f}, {lg / us:.1f}x; rows {r0['rows']}, "
                        f"lanes {r0['shap_lanes']}, sha {r0['sha256']}, max diff {r0['max_rel_diff']:.1e})")
            results.append({"name": f"shap_rows/{name}/{label}/us_per_row", "value": us, "unit": "us/row",
                            "baseline_name": "lightgbm pred_contrib us/row (one thread)", "baseline_value": lg,
                            "ratio": lg / us, "params": {"tree": trees[label], **r0}})
        print("  ".join(line), flush=True)
    if args.out:
        from _common import machine_info

        Path(args.out).write_text(json.dumps({"machine": machine_info(), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
