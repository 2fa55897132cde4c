"""Model-lifecycle costs: a merged ensemble on the single-row path, a shadow challenger, monitoring throughput.

Measured in one run, each against a baseline from the same run:

* **ensemble single-row latency** (p50 / p99, microseconds): an ensemble of five
  boosters merged into one (``EnsembleModel.predict_one``) against calling the
  five members one by one through the C fast path and averaging their raw
  scores (what you would do without the merge), and against one booster with
  as many trees as the ensemble (the cost floor: the same tree count), and
  against the merged ensemble on compiled trees (``EnsembleModel(...,
  compiled=True)``; skipped with a note when no C compiler is available);
* **shadow challenger** (events/s of ``Scorer.score``): a bundle with a
  challenger against the same bundle without one;
* **monitoring** (rows/s of :func:`fraudscore.monitor.monitor` over scored rows
  with every feature column) against one ``numpy.histogram`` per feature and day
  (the bare binning cost).

Usage: ``python benchmarks/bench_lifecycle.py [--quick]``; writes
``benchmarks/results/bench_lifecycle.json``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import latencies_us, result, write_results  # noqa: E402

from fraudscore.model.ensemble import EnsembleModel  # noqa: E402
from fraudscore.model.fast import FastPredictor  # noqa: E402

KEY = b"bench-lifecycle-secret-00001"


def _data(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k))
    X[rng.random(X.shape) < 0.1] = np.nan
    logit = -3 + np.nan_to_num(X[:, :5]).sum(axis=1)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y, [f"f{i}" for i in range(k)]


def ensemble_latency(quick: bool, repeat: int) -> list[dict]:
    X, y, names = _data(3000 if quick else 20000, 40)
    trees = 60 if quick else 200
    params = {"objective": "binary", "num_leaves": 31, "learning_rate": 0.05, "verbose": -1, "num_threads": 1,
              "bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.8, "deterministic": True}
    ds = lgb.Dataset(X, y, feature_name=names, free_raw_data=False)
    members = [lgb.train({**params, "seed": s}, ds, trees) for s in range(5)]
    ens = EnsembleModel(members, names)
    ens_c = EnsembleModel(members, names, compiled=True)
    single = lgb.train({**params, "seed": 0}, ds, 5 * trees)
    one = FastPredictor(single)
    fps = [FastPredictor(b, kind="raw") for b in members]

    def by_member(x: np.ndarray) -> float:
        return 1.0 / (1.0 + math.exp(-sum(f.predict_one(x) for f in fps) / len(fps)))

    rows = X[: 1000 if quick else 5000].copy()
    assert all(abs(by_member(x) - ens.predict_one(x)) < 1e-12 for x in rows[:100])
    fns = {"members_one_by_one": by_member, "merged_ensemble": ens.predict_one, "one_booster_same_trees":
           one.predict_one}
    if ens_c.inference_path == "compiled":
        assert all(ens_c.predict_one(x) == ens.booster.predict(x[None, :])[0] for x in rows[:100])
        fns["merged_ensemble_compiled"] = ens_c.predict_one
    else:
        print("compiled trees unavailable here: no merged_ensemble_compiled row", flush=True)
    runs: dict[str, list[np.ndarray]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            runs[k].append(latencies_us(lambda i, fn=fn: fn(rows[i]), len(rows)))
    p = {k: {q: statistics.median(float(np.percentile(r, int(q[1:]))) for r in rs) for q in ("p50", "p99")}
         for k, rs in runs.items()}
    out = []
    info = {"members": 5, "trees_per_member": trees, "leaves": 31, "features": 40, "rows": len(rows),
            "repeat": repeat}
    for q in ("p50", "p99"):
        base = p["members_one_by_one"][q]
        out.append(result(f"ensemble5_members_one_by_one_{q}", base, "us", params=info))
        out.append(result(f"ensemble5_merged_{q}", p["merged_ensemble"][q], "us",
                          f"ensemble5_members_one_by_one_{q}", base, info))
        out.append(result(f"one_booster_{5 * trees}trees_{q}", p["one_booster_same_trees"][q], "us",
                          f"ensemble5_merged_{q}", p["merged_ensemble"][q], info))
        if "merged_ensemble_compiled" in p:
            out.append(result(f"ensemble5_merged_compiled_{q}", p["merged_ensemble_compiled"][q], "us",
                              f"ensemble5_merged_{q}", p["merged_ensemble"][q], info))
    return out


def challenger_overhead(quick: bool, repeat: int) -> list[dict]:
    import fraudscore as fs
    from fraudscore.challenger import with_challenger
    from fraudscore.synth import generate

    data = generate(n_days=10 if quick else 21, per_day=300 if quick else 1000, seed=2)
    cfg = {"model": {"num_boost_round": 100, "gap": "1d"}}
    live = fs.train(data.columns, data.labels, key=KEY, config=cfg).bundle
    cand = fs.train(data.columns, data.labels, key=KEY, config={"model": {**cfg["model"], "seed": 9}}).bundle
    both = with_challenger(live, cand)
    events = data.to_records()[: 2000 if quick else 10000]

    def rate(bundle: fs.Bundle) -> float:
        s = fs.Scorer(bundle, KEY, explain=False)
        t0 = time.perf_counter()
        for ev in events:
            s.score(ev)
        return len(events) / (time.perf_counter() - t0)

    rates: dict[str, list[float]] = {"without": [], "with": []}
    for _ in range(repeat):
        rates["without"].append(rate(live))
        rates["with"].append(rate(both))
    base, got = statistics.median(rates["without"]), statistics.median(rates["with"])
    info = {"events": len(events), "trees": live.model.booster.num_trees() + cand.model.booster.num_trees(),
            "repeat": repeat}
    return [result("score_without_challenger", base, "events/s", params=info),
            result("score_with_shadow_challenger", got, "events/s", "score_without_challenger", base, info)]


def monitor_throughput(quick: bool, repeat: int) -> list[dict]:
    from fraudscore.monitor import build_reference, monitor

    n, k, days = (50_000, 20, 10) if quick else (500_000, 50, 30)
    rng = np.random.default_rng(3)
    names = [f"f{i}" for i in range(k)]
    ref = build_reference(rng.normal(size=(20_000, k)), names, rng.integers(0, 1000, 5000),
                          thresholds={"review": 500, "decline": 800, "review_rate": 0.03, "decline_rate": 0.01})
    ts = np.sort(rng.integers(0, days * 86_400_000, n)) + 1_767_225_600_000
    cols = {"ts": ts, "probability": rng.random(n), "action": np.where(rng.random(n) < 0.95, "approve", "review"),
            **{f: rng.normal(size=n) for f in names}}

    def bare() -> None:
        day = ts // 86_400_000
        for d in np.unique(day):
            sel = day == d
            for f in names:
                np.histogram(cols[f][sel], bins=np.r_[-np.inf, ref["features"][f]["edges"], np.inf])

    t_mon = statistics.median(_time(lambda: monitor(cols, ref)) for _ in range(repeat))
    t_bare = statistics.median(_time(bare) for _ in range(repeat))
    info = {"rows": n, "features": k, "days": days, "repeat": repeat}
    return [result("histograms_per_feature_and_day", n / t_bare, "rows/s", params=info),
            result("monitor_rows", n / t_mon, "rows/s", "histograms_per_feature_and_day", n / t_bare, info)]


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    ap.add_argument("--repeat", type=int, default=None)
    args = ap.parse_args()
    repeat = args.repeat or (3 if args.quick else 5)
    results = []
    for name, fn in (("ensemble", ensemble_latency), ("challenger", challenger_overhead),
                     ("monitor", monitor_throughput)):
        t0 = time.perf_counter()
        results += fn(args.quick, repeat)
        print(f"[{name}] done in {time.perf_counter() - t0:.1f} s", flush=True)
    write_results("bench_lifecycle", results)


if __name__ == "__main__":
    main()
