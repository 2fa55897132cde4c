"""Model inference benchmark: single-row latency per path and batch throughput.

Trains binary LightGBM models with 100 and 500 trees (63 leaves, 40 features)
on random data with a signal, then measures in one run:

* single-row latency p50 / p99 (microseconds) of
  - ``Booster.predict(x[None, :])``                       (baseline)
  - ``FastPredictor.predict_one`` -- the C fast path, raw probability
  - ``Model.predict_one`` -- fast path + isotonic calibration
  - ``Model.predict_one`` with the fast path disabled (the fallback)
* batch throughput (rows/s) of ``Model.predict_proba`` against bare
  ``Booster.predict`` on the same matrix.

Latencies are the median over ``--repeat`` runs of each percentile; ratios
above 1 mean the fraudscore path is faster than the baseline.

Usage::

    python benchmarks/bench_model.py            # full run
    python benchmarks/bench_model.py --quick    # ~20 s
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import latencies_us, result, write_results  # noqa: E402

from fraudscore.model import Model, fit_isotonic  # noqa: E402
from fraudscore.model.fast import FastPredictor  # noqa: E402


def make_model(n_trees: int, n_rows: int, n_features: int, seed: int = 0, max_bin: int = 255) -> tuple[Model, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, n_features))
    X[rng.random(X.shape) < 0.1] = np.nan
    logit = -3 + np.nan_to_num(X[:, :5]).sum(axis=1) + 0.5 * np.nan_to_num(X[:, 5]) ** 2
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)
    names = [f"f{i}" for i in range(n_features)]
    params = {"objective": "binary", "num_leaves": 63, "min_data_in_leaf": 5, "learning_rate": 0.05,
              "verbose": -1, "num_threads": 2, "seed": seed, "deterministic": True, "force_row_wise": True,
              "max_bin": max_bin}
    booster = lgb.train(params, lgb.Dataset(X, y, feature_name=names), n_trees)
    cal = fit_isotonic(booster.predict(X), y)
    return Model(booster, names, calibrator=cal), X


def latency(fns: dict, rows: np.ndarray, repeat: int) -> dict[str, dict[str, float]]:
    """p50 / p99 per path; paths are interleaved within each repeat so load drifts hit all alike."""
    runs: dict[str, list[np.ndarray]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            runs[name].append(latencies_us(lambda i: fn(rows[i]), len(rows)))
    return {
        name: {
            "p50": statistics.median(float(np.percentile(r, 50)) for r in rs),
            "p99": statistics.median(float(np.percentile(r, 99)) for r in rs),
        }
        for name, rs in runs.items()
    }


def throughput(fns: dict, X: np.ndarray, repeat: int) -> dict[str, float]:
    """Rows per second per path (median over interleaved repeats)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for name, fn in fns.items():
        fn(X)  # warm up
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(X)
            times[name].append(time.perf_counter() - t0)
    return {name: len(X) / statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (~20 s)")
    ap.add_argument("--repeat", type=int, default=None)
    args = ap.parse_args()
    quick = args.quick
    n_features = 40
    n_train = 1500 if quick else 20000
    n_lat = 1500 if quick else 5000
    n_batch = 10000 if quick else 200000
    repeat = args.repeat or (3 if quick else 5)
    results = []
    for n_trees in (100, 500):
        t0 = time.perf_counter()
        model, X = make_model(n_trees, n_train, n_features, max_bin=31 if quick else 255)
        booster = model.booster
        rows = X[:n_lat].copy()
        fast_raw = FastPredictor(booster)
        slow = Model(booster, model.feature_names, calibrator=model.calibrator, fast=False)
        assert fast_raw.mode == "fast" and model.inference_path == "fast"
        # exactness check before timing
        assert np.array_equal([model.predict_raw_one(x) for x in rows[:200]], booster.predict(rows[:200]))
        params = {"trees": booster.num_trees(), "leaves": 63, "features": n_features, "rows": n_lat,
                  "repeat": repeat, "fast_path": model.inference_path}
        lat = latency({
            "booster_predict": lambda x: booster.predict(x[None, :]),
            "fast_raw": fast_raw.predict_one,
            "model_predict_one": model.predict_one,
            "model_predict_one_fallback": slow.predict_one,
        }, rows, repeat)
        base = lat.pop("booster_predict")
        for q in ("p50", "p99"):
            results.append(result(f"single_row_booster_predict_{q}_{n_trees}trees", base[q], "us", params=params))
            for name, v in lat.items():
                results.append(result(f"single_row_{name}_{q}_{n_trees}trees", v[q], "us",
                                      f"single_row_booster_predict_{q}_{n_trees}trees", base[q], params))
        rng = np.random.default_rng(1)
        Xb = rng.normal(size=(n_batch, n_features))
        Xb[rng.random(Xb.shape) < 0.1] = np.nan
        tp = throughput({"booster_predict": booster.predict, "model_predict_proba": model.predict_proba,
                         "model_score": model.score}, Xb, repeat)
        bparams = {"trees": booster.num_trees(), "features": n_features, "rows": n_batch, "repeat": repeat}
        b_name = f"batch_booster_predict_{n_trees}trees"
        results.append(result(b_name, tp["booster_predict"], "rows/s", params=bparams))
        for name in ("model_predict_proba", "model_score"):
            results.append(result(f"batch_{name}_{n_trees}trees", tp[name], "rows/s", b_name, tp["booster_predict"], bparams))
        print(f"[{n_trees} trees] done in {time.perf_counter() - t0:.1f} s")
    write_results("bench_model", results)


if __name__ == "__main__":
    main()
