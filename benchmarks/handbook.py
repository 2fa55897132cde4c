"""The Fraud Detection Handbook's published table, reproduced through fraudscore's public API.

Runs the handbook's chapter-3 protocol (one split) and chapter-5 prequential
protocol (4 test folds, mean) with :func:`fraudscore.train` on features from
fraudscore's FeatureSpecs over ``raw.csv.gz``, evaluates AUC, AP and CP@100 with
the handbook's removal rules, and prints our rows beside the published ones.
Two feature sets: ``handbook`` (the book's 15 inputs) and ``rich`` (plus more
velocity features, :func:`fraudscore.handbook.rich_feature_set`).

``--tune`` first searches a small LightGBM grid on the chapter-5 *validation*
folds (never on a test fold) and uses the best setting (by mean validation
AP); without it the settings in :data:`fraudscore.handbook.DEFAULT_MODEL`
(chosen that way earlier) are used.

Usage: ``python benchmarks/handbook.py [--fdh-dir DIR] [--quick] [--tune]
[--fast] [--features handbook,rich] [--suffix S]`` (``--quick``: chapter 3
only; ``--fast``: one feature replay per feature set, then the model step of
``train()`` per split, the same model on the same history). Writes
``benchmarks/results/handbook<S>.json``. Data directory: ``$FRAUDSCORE_FDH_DIR``
or ``<repo>/../shared/data/fdh``. Takes several minutes (each split replays
about 60 days of transactions through the batch pipeline).
"""

from __future__ import annotations

import argparse
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
GOALS = {"chapter3": {"auc": 0.89, "ap": 0.70, "cp100": 0.30}, "chapter5": {"auc": 0.89, "ap": 0.72, "cp100": 0.31}}
GRID: list[dict[str, Any]] = [
    {},
    {"valid_fraction": 0.15},
    {"learning_rate": 0.1, "num_boost_round": 200, "early_stopping_rounds": 30},
]


def feature_sets(which: list[str]) -> dict[str, Any]:
    """Named feature sets to run."""
    all_sets = {"handbook": hb.baseline_feature_set, "rich": hb.rich_feature_set}
    return {name: all_sets[name]() for name in which}


def tune(df: Any, fs: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Pick LightGBM settings on the chapter-5 validation folds (mean AP); returns the best and all rows."""
    X, names = hb.features(df, fs, KEY)
    rows = []
    for cfg in GRID:
        res = [hb.fit_on_features(df, X, names, sp, cfg) for sp in hb.prequential_splits("valid")]
        row = {"config": cfg, **{k: float(np.mean([r[k] for r in res])) for k in METRICS}}
        print(f"  valid {cfg}: " + "  ".join(f"{k} {row[k]:.3f}" for k in METRICS), flush=True)
        rows.append(row)
    best = max(rows, key=lambda r: r["ap"])
    return dict(best["config"]), rows


def run_protocol(df: Any, splits: list[hb.Split], fs: Any, model: dict[str, Any],
                 cached: tuple[np.ndarray, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """Mean (and per-split) metrics over ``splits``: :func:`fraudscore.handbook.run_split` (``train()``),
    or :func:`fraudscore.handbook.fit_on_features` on ``cached`` features (``--fast``)."""
    per = []
    for sp in splits:
        t0 = time.perf_counter()
        if cached is not None:
            r = hb.fit_on_features(df, cached[0], cached[1], sp, model)
        else:
            r = hb.run_split(df, sp, fs, key=KEY, model=model)
        r["seconds"] = time.perf_counter() - t0
        print(f"    {r['split']}: n={r['n_test']:,} frauds={r['n_fraud']}  "
              + "  ".join(f"{k} {r[k]:.3f}" for k in METRICS) + f"  ({r['seconds']:.0f} s)", flush=True)
        per.append(r)
    return {**{k: float(np.mean([r[k] for r in per])) for k in METRICS}, "splits": per}


def print_table(ours: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Our rows beside the published best and the goal, per protocol."""
    for proto, label in (("chapter3", "Chapter 3 (one split)"), ("chapter5", "Chapter 5 (prequential, 4-fold mean)")):
        if not any(proto in v for v in ours.values()):
            continue
        print(f"\n{label}")
        print(f"  {'row':<34} {'AUC ROC':>8} {'AP':>8} {'CP@100':>8}")
        pub = PUBLISHED[proto]
        print(f"  {'published best (per metric)':<34} " + " ".join(f"{pub[k][0]:>8.3f}" for k in METRICS))
        print(f"  {'goal':<34} " + " ".join(f"{GOALS[proto][k]:>8.3f}" for k in METRICS))
        for name, res in ours.items():
            if proto in res:
                r = res[proto]
                marks = " ".join(f"{r[k]:>7.3f}{'*' if r[k] >= GOALS[proto][k] else ' '}" for k in METRICS)
                print(f"  {'fraudscore, ' + name + ' features':<34} {marks}")
    print("  (* = goal reached)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fdh-dir", type=Path, default=hb.fdh_dir())
    ap.add_argument("--quick", action="store_true", help="chapter 3 only")
    ap.add_argument("--tune", action="store_true", help="search the grid on the chapter-5 validation folds first")
    ap.add_argument("--features", default="handbook,rich", help="comma-separated: handbook, rich")
    ap.add_argument("--suffix", default="", help="results file name suffix (benchmarks/results/handbook<suffix>.json)")
    ap.add_argument("--fast", action="store_true",
                    help="one feature replay per feature set, then train_model per split (same features and model "
                         "step as train(); much faster than a train() call per split)")
    args = ap.parse_args(argv)
    if not (args.fdh_dir / "raw.csv.gz").exists():
        print(f"handbook data not found in {args.fdh_dir}; set FRAUDSCORE_FDH_DIR")
        return 2
    ch3, ch5 = hb.chapter3_split(), hb.prequential_splits("test")
    valid = hb.prequential_splits("valid")
    first = min(s.train_start for s in [ch3, *ch5, *valid]) - hb.WARMUP_DAYS
    end = max(s.end for s in [ch3] + ([] if args.quick else ch5))
    df = hb.load_transactions(args.fdh_dir, first_day=first, end_day=end)
    print(f"loaded {len(df):,} transactions ({hb.day_name(first)} .. {hb.day_name(end - 1)})")
    ours: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for name, fs in feature_sets(args.features.split(",")).items():
        model = dict(hb.DEFAULT_MODEL)
        entry: dict[str, Any] = {"n_velocity_features": len(fs)}
        if args.tune:
            print(f"[{name}] tuning on the chapter-5 validation folds")
            best, grid = tune(df[df["day"] < max(s.end for s in valid)].reset_index(drop=True), fs)
            model.update(best)
            entry["tuning"] = grid
        entry["model"] = model
        entry["path"] = "features() + fit_on_features()" if args.fast else "train() per split"
        cached = hb.features(df, fs, KEY) if args.fast else None
        print(f"[{name}] chapter 3")
        entry["chapter3"] = run_protocol(df, [ch3], fs, model, cached)
        if not args.quick:
            print(f"[{name}] chapter 5 test folds")
            entry["chapter5"] = run_protocol(df, ch5, fs, model, cached)
        ours[name] = entry
        for proto in ("chapter3", "chapter5"):
            if proto in entry:
                for k in METRICS:
                    results.append(result(f"{proto}_{name}_{k}", entry[proto][k], "score",
                                          baseline_name=f"published best ({PUBLISHED[proto][k][1]})",
                                          baseline_value=PUBLISHED[proto][k][0], higher_is_better=True,
                                          params={"goal": GOALS[proto][k], "features": name}))
    print_table(ours)
    write_results("handbook" + args.suffix, results, extra={"runs": ours, "published": PUBLISHED, "goals": GOALS})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
