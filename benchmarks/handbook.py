"""The Fraud Detection Handbook's published table, reproduced through fraudscore's public API, over several seeds.

Runs the handbook's chapter-3 protocol (one split) and chapter-5 prequential
protocol (4 test folds, mean) on features from fraudscore's FeatureSpecs over
``raw.csv.gz``, evaluates AUC, AP and CP@100 with the handbook's removal rules,
and prints, per protocol, the published best row, the goal, the previous
round's rows and ours as mean +- standard deviation [min .. max] over seeds.
Three rows of ours, measured in the same run:

* ``handbook``: the book's 15 inputs, the previous round's model
  (:data:`fraudscore.handbook.RICH_MODEL`, one booster);
* ``rich``: :func:`fraudscore.handbook.rich_feature_set`, the previous round's
  model (the previous round's row, now over several seeds);
* ``onset``: :func:`fraudscore.handbook.onset_feature_set` with
  :data:`fraudscore.handbook.DEFAULT_MODEL` (an ensemble of five boosters).

Every setting was chosen on the chapter-5 *validation* folds; the test folds
are used once, for this table. ``--tune`` re-runs a small grid on the
validation folds first (never on a test fold); ``--screen`` compares named
:data:`SCREEN` settings there and stops. Every split also reports the AUC
decomposition of :func:`fraudscore.handbook.evaluate_split`: the AUC without
the frauds no model can see (``auc_seen``), theirs alone (``auc_unseen``,
a coin flip) and the ceiling (:func:`fraudscore.handbook.auc_ceiling`).

Usage: ``python benchmarks/handbook.py [--fdh-dir DIR] [--seeds 0,1,2,3,4]
[--features handbook,rich,onset] [--quick] [--tune] [--slow] [--cache-dir DIR]
[--valid-seeds 0] [--suffix S] [--jobs N] [--screen NAMES] [--setting NAME]``.
``--quick``: chapter 3 only. ``--jobs``: fits in that many forked processes
(one thread each; the same results). By default one feature replay per
feature set over the whole period (cached as ``.npy`` under ``--cache-dir``,
default ``/tmp/fraudscore-handbook``), then the model step of ``train()`` per
split and seed (:func:`fraudscore.handbook.fit_on_features`; the chapter-3
split is the chapter-5 fold with test week 2018-08-08, computed once);
``--slow`` calls :func:`fraudscore.train` per split and seed instead (the same
model on the same history; ``tests/test_handbook.py`` checks they agree).
Writes ``benchmarks/results/handbook<S>.json``. Data directory:
``$FRAUDSCORE_FDH_DIR`` or ``<repo>/../shared/data/fdh``. Takes hours on two
busy cores: the ensemble trains 5 boosters x 4 splits x 5 seeds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import result, write_results  # noqa: E402

from fraudscore import handbook as hb  # noqa: E402

KEY = b"fraudscore-handbook-benchmark-key"
METRICS = ("auc", "ap", "cp100")
#: best published value per metric (and the model that reached it)
PUBLISHED = {
    "chapter3": {"auc": (0.871, "logistic regression"), "ap": (0.658, "random forest"),
                 "cp100": (0.291, "logistic regression")},
    "chapter5": {"auc": (0.879, "balanced bagging"), "ap": (0.687, "XGBoost"), "cp100": (0.305, "balanced bagging")},
}
#: goals: chapter 3 from the previous round, chapter 5 from issue #16 (above every published row, with margin)
GOALS = {"chapter3": {"auc": 0.89, "ap": 0.70, "cp100": 0.30}, "chapter5": {"auc": 0.885, "ap": 0.70, "cp100": 0.31}}
#: the previous round's rows (benchmarks/results/handbook_rich.json and docs/handbook.md, seed 0)
PREVIOUS = {
    "handbook": {"chapter3": {"auc": 0.884, "ap": 0.628, "cp100": 0.291},
                 "chapter5": {"auc": 0.865, "ap": 0.621, "cp100": 0.295}},
    "rich": {"chapter3": {"auc": 0.881, "ap": 0.701, "cp100": 0.296},
             "chapter5": {"auc": 0.871, "ap": 0.697, "cp100": 0.303}},
}
GRID: list[dict[str, Any]] = [
    {},
    {"num_leaves": 31, "min_data_in_leaf": 100},
    {"ensemble_size": 1},
]
#: round 4 (issue #16, AUC): model settings screened on the chapter-5 validation folds with ``--screen``
#: (single boosters, on top of :data:`fraudscore.handbook.DEFAULT_MODEL`; docs/handbook.md has the numbers)
SCREEN: dict[str, dict[str, Any]] = {
    "default": {},
    "early_stop_auc": {"metric": "auc"},
    "balanced_bagging_10": {"extra_params": {"pos_bagging_fraction": 1.0, "neg_bagging_fraction": 0.1,
                                             "bagging_freq": 1}},
    "balanced_bagging_30": {"extra_params": {"pos_bagging_fraction": 1.0, "neg_bagging_fraction": 0.3,
                                             "bagging_freq": 1}},
    "regularised": {"min_data_in_leaf": 200, "lambda_l2": 10.0, "extra_params": {"min_sum_hessian_in_leaf": 1.0}},
    "small_trees": {"num_leaves": 7, "min_data_in_leaf": 100},
    "sqrt_weights": {"imbalance": "sqrt"},
    "monotone_fraud": {"monotone": {"fraud_*": 1}},
    "monotone_fraud_amount": {"monotone": {"fraud_*": 1, "TX_AMOUNT": 1,
                                           "ratio_to_mean__TX_AMOUNT__by__CUSTOMER_ID__*": 1}},
}
SCREEN_KEYS = ("auc", "auc_seen", "auc_unseen", "ap", "cp100")


def feature_sets(which: list[str]) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Named feature sets to run, each with its LightGBM settings."""
    all_sets = {"handbook": (hb.baseline_feature_set, hb.RICH_MODEL), "rich": (hb.rich_feature_set, hb.RICH_MODEL),
                "onset": (hb.onset_feature_set, hb.DEFAULT_MODEL)}
    unknown = set(which) - set(all_sets)
    if unknown:
        raise SystemExit(f"unknown feature sets {sorted(unknown)}; known: {sorted(all_sets)}")
    return {name: (all_sets[name][0](), dict(all_sets[name][1])) for name in which}


def cached_features(df: Any, fs: Any, cache_dir: Path | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """:func:`fraudscore.handbook.features`, cached on disk by feature set, rows and key."""
    if cache_dir is None:
        return hb.features(df, fs, KEY)
    sig = hashlib.sha256(json.dumps([fs.to_dict(), len(df), int(df["ts"].iloc[0]), int(df["ts"].iloc[-1]),
                                     KEY.hex()], sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir / f"X_{sig}.npy"
    names_path = cache_dir / f"X_{sig}.names.json"
    if path.exists() and names_path.exists():
        return np.load(path), tuple(json.loads(names_path.read_text()))
    X, names = hb.features(df, fs, KEY)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, X)
    names_path.write_text(json.dumps(list(names)))
    return X, names


def tune(df: Any, X: np.ndarray, names: tuple[str, ...], base: dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
    """Pick settings on the chapter-5 validation folds (mean AP, seed 0); returns the best and all rows."""
    rows = []
    for cfg in GRID:
        model = {**base, **cfg}
        res = [hb.fit_on_features(df, X, names, sp, model) for sp in hb.prequential_splits("valid")]
        row = {"config": cfg, **{k: float(np.mean([r[k] for r in res])) for k in METRICS}}
        print(f"  valid {cfg}: " + "  ".join(f"{k} {row[k]:.4f}" for k in METRICS), flush=True)
        rows.append(row)
    best = max(rows, key=lambda r: r["ap"])
    return {**base, **best["config"]}, rows


def screen(df: Any, X: np.ndarray, names: tuple[str, ...], base: dict[str, Any], which: list[str],
           seeds: list[int], ensemble_size: int, jobs: int) -> list[dict[str, Any]]:
    """Named :data:`SCREEN` settings on the chapter-5 validation folds: mean over folds per seed, with the AUC
    decomposition (``auc_seen`` is the part a model can change; ``auc_unseen`` is a coin flip for any model)."""
    unknown = set(which) - set(SCREEN)
    if unknown:
        raise SystemExit(f"unknown --screen settings {sorted(unknown)}; known: {sorted(SCREEN)}")
    valid = hb.prequential_splits("valid")
    rows = []
    for name in which:
        model = {**base, "ensemble_size": ensemble_size, **SCREEN[name]}
        res = run_all(df, [(sp, s) for s in seeds for sp in valid], None, model, (X, names), jobs, name)
        for seed in seeds:
            rs = [res[(sp.train_start, seed)] for sp in valid]
            row = {"name": name, "config": SCREEN[name], "ensemble_size": ensemble_size, "seed": seed,
                   **{k: float(np.mean([r[k] for r in rs])) for k in SCREEN_KEYS}, "folds": rs}
            print(f"  valid {name} seed {seed}: " + "  ".join(f"{k} {row[k]:.4f}" for k in SCREEN_KEYS), flush=True)
            rows.append(row)
    return rows


def run_split(df: Any, split: hb.Split, fs: Any, model: dict[str, Any], seed: int,
              cached: tuple[np.ndarray, tuple[str, ...]] | None) -> dict[str, Any]:
    """One split, one seed: :func:`fit_on_features` on cached features, or :func:`run_split` (``--slow``)."""
    t0 = time.perf_counter()
    if cached is not None:
        r = hb.fit_on_features(df, cached[0], cached[1], split, model, seed=seed)
    else:
        r = hb.run_split(df, split, fs, key=KEY, model=model, seed=seed)
    r["seconds"] = time.perf_counter() - t0
    r["seed"] = seed
    extra = f"  auc_seen {r['auc_seen']:.4f} (ceiling {r['auc_ceiling']:.4f})" if "auc_seen" in r else ""
    print(f"    seed {seed} {r['split']}: n={r['n_test']:,} frauds={r['n_fraud']}  "
          + "  ".join(f"{k} {r[k]:.4f}" for k in METRICS) + extra + f"  ({r['seconds']:.0f} s)", flush=True)
    return r


_POOL_ARGS: tuple[Any, ...] = ()


def _pool_task(i: int) -> dict[str, Any]:
    df, tasks, fs, model, cached = _POOL_ARGS
    sp, seed = tasks[i]
    return run_split(df, sp, fs, model, seed, cached)


def run_all(df: Any, tasks: list[tuple[hb.Split, int]], fs: Any, model: dict[str, Any],
            cached: tuple[np.ndarray, tuple[str, ...]] | None, jobs: int, name: str
            ) -> dict[tuple[int, int], dict[str, Any]]:
    """:func:`run_split` for every ``(split, seed)``, in ``jobs`` forked processes (each fit is single-threaded
    and deterministic, so the results do not depend on ``jobs``); keyed by ``(train_start, seed)``."""
    global _POOL_ARGS
    if jobs <= 1 or len(tasks) <= 1:
        out = {}
        for sp, seed in tasks:
            out[(sp.train_start, seed)] = run_split(df, sp, fs, model, seed, cached)
        return out
    import multiprocessing as mp

    print(f"[{name}] {len(tasks)} fits in {jobs} processes", flush=True)
    _POOL_ARGS = (df, tasks, fs, model, cached)  # inherited by the forked workers (the feature matrix is shared)
    try:
        with mp.get_context("fork").Pool(jobs) as pool:
            rows = pool.map(_pool_task, range(len(tasks)), chunksize=1)
    finally:
        _POOL_ARGS = ()
    return {(sp.train_start, seed): r for (sp, seed), r in zip(tasks, rows)}


def decomposition(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Mean over ``rows`` (splits x seeds) of the AUC decomposition of :func:`fraudscore.handbook.evaluate_split`."""
    keys = ("auc_seen", "auc_unseen", "auc_ceiling", "n_unseen")
    return {k: float(np.nanmean([r[k] for r in rows])) for k in keys if all(k in r for r in rows)}


def summarise(per_seed: list[dict[str, float]]) -> dict[str, Any]:
    """Mean, sample standard deviation, min and max over seeds of each metric."""
    out: dict[str, Any] = {"seeds": len(per_seed), "per_seed": per_seed}
    for k in METRICS:
        v = np.array([p[k] for p in per_seed], dtype=np.float64)
        out[k] = float(v.mean())
        out[k + "_sd"] = float(v.std(ddof=1)) if v.size > 1 else 0.0
        out[k + "_min"], out[k + "_max"] = float(v.min()), float(v.max())
    return out


def print_table(ours: dict[str, dict[str, Any]]) -> None:
    """Our rows beside the published best, the goal and the previous round, per protocol."""
    for name, res in ours.items():
        if "validation" in res:
            v = res["validation"]
            print(f"\n{name}: chapter-5 validation folds ({v['seeds']} seed(s)): "
                  + "  ".join(f"{k} {v[k]:.4f}" for k in METRICS)
                  + (f"  auc_seen {v['auc_seen']:.4f} (ceiling {v['auc_ceiling']:.4f})" if "auc_seen" in v else ""))
    for proto, label in (("chapter3", "Chapter 3 (one split)"), ("chapter5", "Chapter 5 (prequential, 4-fold mean)")):
        if not any(proto in v for v in ours.values()):
            continue
        print(f"\n{label}: mean +- sd over seeds [min .. max]; * = every seed reaches the goal")
        print(f"  {'row':<36} " + " ".join(f"{h:>24}" for h in ("AUC ROC", "AP", "CP@100")))
        pub = PUBLISHED[proto]
        print(f"  {'published best (per metric)':<36} " + " ".join(f"{pub[k][0]:>24.3f}" for k in METRICS))
        print(f"  {'goal':<36} " + " ".join(f"{GOALS[proto][k]:>24.3f}" for k in METRICS))
        for name, prev in PREVIOUS.items():
            print(f"  {'previous round, ' + name + ' (seed 0)':<36} " + " ".join(f"{prev[proto][k]:>24.3f}"
                                                                             for k in METRICS))
        for name, res in ours.items():
            if proto in res:
                r = res[proto]
                cells = []
                for k in METRICS:
                    star = "*" if r[k + "_min"] >= GOALS[proto][k] else " "
                    cells.append(f"{r[k]:.4f}+-{r[k + '_sd']:.4f}{star}[{r[k + '_min']:.3f}..{r[k + '_max']:.3f}]")
                print(f"  {'fraudscore, ' + name:<36} " + " ".join(f"{c:>24}" for c in cells))
                if "auc_ceiling" in r:
                    print(f"    AUC without the unseen frauds {r['auc_seen']:.4f}; unseen frauds alone "
                          f"{r['auc_unseen']:.4f} (a coin flip for any model); AUC ceiling {r['auc_ceiling']:.4f} "
                          f"({r['n_unseen']:.0f} unseen frauds per week)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fdh-dir", type=Path, default=hb.fdh_dir())
    ap.add_argument("--quick", action="store_true", help="chapter 3 only")
    ap.add_argument("--tune", action="store_true", help="search the grid on the chapter-5 validation folds first")
    ap.add_argument("--features", default="handbook,rich,onset", help="comma-separated: handbook, rich, onset")
    ap.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default: 0,1,2,3,4)")
    ap.add_argument("--suffix", default="", help="results file name suffix (benchmarks/results/handbook<suffix>.json)")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/fraudscore-handbook"),
                    help="where feature matrices are cached (default: /tmp/fraudscore-handbook; 'none' to disable)")
    ap.add_argument("--slow", action="store_true",
                    help="call fraudscore.train() per split and seed instead of one cached feature replay")
    ap.add_argument("--valid-seeds", default="",
                    help="also report the chosen settings on the chapter-5 validation folds for these seeds "
                         "(comma-separated, e.g. 0; the figures the settings were chosen on)")
    ap.add_argument("--screen", default="",
                    help="comma-separated SCREEN settings to compare on the chapter-5 validation folds (seeds: "
                         "--valid-seeds, default 0), then stop; e.g. default,regularised")
    ap.add_argument("--screen-ensemble", type=int, default=1, help="boosters per model in --screen (default 1)")
    ap.add_argument("--setting", default="", help="a SCREEN setting applied on top of each feature set's model "
                                                   "(to run the test folds once with the setting chosen on validation)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="fit (split, seed) pairs in this many forked processes (one thread each; same results)")
    args = ap.parse_args(argv)
    if not (args.fdh_dir / "raw.csv.gz").exists():
        print(f"handbook data not found in {args.fdh_dir}; set FRAUDSCORE_FDH_DIR")
        return 2
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    cache_dir = None if str(args.cache_dir).lower() == "none" else args.cache_dir
    ch3, ch5 = hb.chapter3_split(), hb.prequential_splits("test")
    valid = hb.prequential_splits("valid")
    first = min(s.train_start for s in [ch3, *ch5, *valid]) - hb.WARMUP_DAYS
    end = max(s.end for s in [ch3] + ([] if args.quick else ch5))
    df = hb.load_transactions(args.fdh_dir, first_day=first, end_day=end)
    print(f"loaded {len(df):,} transactions ({hb.day_name(first)} .. {hb.day_name(end - 1)}); seeds {seeds}")
    ours: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for name, (fs, model) in feature_sets(args.features.split(",")).items():
        entry: dict[str, Any] = {"n_velocity_features": len(fs)}
        t0 = time.perf_counter()
        cached = None if args.slow else cached_features(df, fs, cache_dir)
        entry["feature_seconds"] = time.perf_counter() - t0
        if args.tune:
            print(f"[{name}] tuning on the chapter-5 validation folds")
            X, names = cached or cached_features(df, fs, cache_dir)
            vdf_rows = int((df["day"] < max(s.end for s in valid)).sum())  # rows are in time order
            model, entry["tuning"] = tune(df.iloc[:vdf_rows].reset_index(drop=True), X[:vdf_rows], names, model)
        if args.screen:
            X, names = cached or cached_features(df, fs, cache_dir)
            vdf_rows = int((df["day"] < max(s.end for s in valid)).sum())  # rows are in time order
            vseeds = [int(v) for v in (args.valid_seeds or "0").split(",") if v.strip()]
            rows = screen(df.iloc[:vdf_rows].reset_index(drop=True), X[:vdf_rows], names, model,
                          args.screen.split(","), vseeds, args.screen_ensemble, args.jobs)
            write_results("handbook" + args.suffix, [], extra={"screen": rows, "features": name, "base_model": model})
            return 0
        if args.setting:
            if args.setting not in SCREEN:
                raise SystemExit(f"unknown --setting {args.setting!r}; known: {sorted(SCREEN)}")
            model = {**model, **SCREEN[args.setting]}
            entry["setting"] = args.setting
        entry["model"] = model
        entry["path"] = "train() per split and seed" if args.slow else "features() once + fit_on_features()"
        vseeds = [int(v) for v in args.valid_seeds.split(",") if v.strip()]
        if vseeds:
            print(f"[{name}] validation folds (where the settings were chosen)", flush=True)
            vrun = run_all(df, [(sp, s) for s in vseeds for sp in valid], fs, model, cached, args.jobs, name)
            vres = {s: [vrun[(sp.train_start, s)] for sp in valid] for s in vseeds}
            entry["validation"] = {**summarise([{k: float(np.mean([r[k] for r in rs])) for k in METRICS}
                                                for rs in vres.values()]),
                                   **decomposition([r for rs in vres.values() for r in rs]),
                                   "splits": [r for rs in vres.values() for r in rs]}
        splits = [ch3] if args.quick else ch5
        by_split = run_all(df, [(sp, seed) for seed in seeds for sp in splits], fs, model, cached, args.jobs, name)
        per_seed3 = [{k: by_split[(ch3.train_start, s)][k] for k in METRICS} for s in seeds]
        entry["chapter3"] = {**summarise(per_seed3), **decomposition([by_split[(ch3.train_start, s)] for s in seeds]),
                             "splits": [by_split[(ch3.train_start, s)] for s in seeds]}
        if not args.quick:
            per_seed5 = [{k: float(np.mean([by_split[(sp.train_start, s)][k] for sp in ch5])) for k in METRICS}
                         for s in seeds]
            rows5 = [by_split[(sp.train_start, s)] for s in seeds for sp in ch5]
            entry["chapter5"] = {**summarise(per_seed5), **decomposition(rows5), "splits": rows5}
        ours[name] = entry
        for proto in ("chapter3", "chapter5"):
            if proto in entry:
                e = entry[proto]
                for k in METRICS:
                    results.append(result(f"{proto}_{name}_{k}", e[k], "score",
                                          baseline_name=f"published best ({PUBLISHED[proto][k][1]})",
                                          baseline_value=PUBLISHED[proto][k][0], higher_is_better=True,
                                          params={"goal": GOALS[proto][k], "features": name, "seeds": seeds,
                                                  "sd": e[k + "_sd"], "min": e[k + "_min"], "max": e[k + "_max"],
                                                  "previous_round": PREVIOUS.get(name, {}).get(proto, {}).get(k)}))
        print_table({name: entry})
    print_table(ours)
    write_results("handbook" + args.suffix, results,
                  extra={"runs": ours, "published": PUBLISHED, "goals": GOALS, "previous_round": PREVIOUS})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
