"""Explanations: the compiled TreeSHAP against LightGBM's ``pred_contrib``, per row and in ``score_batch``.

On the suite's reference bundles (``fraudscore.bench.bundles``: ``default`` and
``large``, 500 trees of up to 63 leaves), on real feature vectors the scorer
built from a synthetic stream, one run measures, with interleaved repeats
(each repeat times every engine in turn; the figure is the median over repeats):

* **one row** (what a lazy ``Decision.reasons`` pays), p50 / p99 microseconds:
  - ``Booster.predict(x[None], pred_contrib=True)`` (the baseline) against
    ``CompiledForest.contributions(x[None])``;
  - ``explain_reasons(model, x)`` (contributions + reason codes) with the
    bundle's model (LightGBM TreeSHAP) against the compiled model;
* **many rows** (what ``score_batch`` pays per explained row), microseconds per
  row on one thread and on every core: ``pred_contrib`` against ``contributions``;
* **score_batch**, 10,000 events of the large bundle with every row explained
  (``explain=True``) and with the default ``"auto"``: before (compiled trees,
  explanations by LightGBM, as in the previous release) against after (compiled
  trees and compiled TreeSHAP), each also as a ratio to bare
  ``Booster.predict`` of the same rows (all cores) measured in the same run;
* **equality**: rows whose contributions equal ``pred_contrib`` bit for bit,
  the largest difference, and rows whose reason codes differ.

Usage::

    python benchmarks/bench_explain.py                 # full sizes (builds the bundles: ~2 min)
    python benchmarks/bench_explain.py --quick         # fewer rows and repeats, 100-tree large bundle
    python benchmarks/bench_explain.py --cache-dir D   # keep the built bundles in D between runs

Results: ``benchmarks/results/bench_explain.json`` (``--quick``: ``bench_explain_quick.json``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import result, write_results  # noqa: E402

from fraudscore.bench.bundles import BenchContext, events_stream  # noqa: E402
from fraudscore.bench.common import Settings  # noqa: E402
from fraudscore.model import Model, explain_batch, explain_reasons  # noqa: E402
from fraudscore.scorer import Scorer  # noqa: E402


def _per_call_us(fn: Any, rows: np.ndarray) -> np.ndarray:
    clock = time.perf_counter_ns
    out = np.empty(rows.shape[0])
    for i in range(rows.shape[0]):
        x = rows[i: i + 1]
        t0 = clock()
        fn(x)
        out[i] = (clock() - t0) / 1e3
    return out


def _median_over(repeats: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in repeats) for k in repeats[0]}


def _lgb_model(bundle: Any) -> Model:
    """The bundle's model with LightGBM predictions and LightGBM TreeSHAP (compiled trees off)."""
    return Model.from_files(bundle.model.to_files(), compiled=False)


def _compiled_lgb_shap(bundle: Any) -> Model:
    """Compiled trees, explanations by LightGBM: the engine before the compiled TreeSHAP."""
    m = Model.from_files(bundle.model.to_files(), compiled=True)
    m._explainer = None  # noqa: SLF001 - the previous behaviour, for the before/after comparison
    return m


def measure_rows(name: str, bundle: Any, X: np.ndarray, repeat: int, n_single: int, n_batch: int,
                 threads: int) -> list[dict[str, Any]]:
    lgbm = _lgb_model(bundle)
    comp = Model.from_files(bundle.model.to_files(), compiled=True)
    if comp.explain_path != "compiled":
        raise SystemExit(f"{name}: the compiled TreeSHAP is not available here")
    booster, forest = lgbm.booster, comp._explainer  # noqa: SLF001
    trees = booster.num_trees()
    params = {"bundle": name, "trees": trees, "features": X.shape[1], "repeats": repeat}
    rng = np.random.default_rng(7)
    single = X[rng.choice(X.shape[0], size=min(n_single, X.shape[0]), replace=False)]
    batch = X[:n_batch]

    # equality first (every row of the batch)
    ref = booster.predict(batch, pred_contrib=True)
    got = forest.contributions(batch)
    same = int(np.all(ref.view(np.int64) == got.view(np.int64), axis=1).sum())
    maxdiff = float(np.max(np.abs(ref - got))) if ref.size else 0.0
    margin = booster.predict(batch, raw_score=True)
    sum_err = float(np.max(np.abs(got.sum(axis=1) - margin)))
    def key(lists: list) -> list:  # the reasons without their contribution floats (equal to rounding)
        return [[(r.code, r.message, r.feature) for r in rs] for rs in lists]
    codes_diff = sum(a != b for a, b in zip(key(explain_batch(lgbm, batch[:2000])),
                                             key(explain_batch(comp, batch[:2000]))))

    reps_single: list[dict[str, float]] = []
    reps_batch: list[dict[str, float]] = []
    for _ in range(repeat):
        r: dict[str, float] = {}
        for key, fn in (("lgb", lambda x: booster.predict(x, pred_contrib=True, num_threads=1)),
                        ("ours", lambda x: forest.contributions(x, threads=1)),
                        ("reasons_lgb", lambda x: explain_reasons(lgbm, x[0])),
                        ("reasons_ours", lambda x: explain_reasons(comp, x[0]))):
            lat = _per_call_us(fn, single)
            r[f"{key}_p50"], r[f"{key}_p99"] = float(np.percentile(lat, 50)), float(np.percentile(lat, 99))
        reps_single.append(r)
        b: dict[str, float] = {}
        for key, fn in (("lgb_1", lambda: booster.predict(batch, pred_contrib=True, num_threads=1)),
                        ("ours_1", lambda: forest.contributions(batch, threads=1)),
                        ("lgb_all", lambda: booster.predict(batch, pred_contrib=True, num_threads=threads)),
                        ("ours_all", lambda: forest.contributions(batch, threads=threads))):
            t0 = time.perf_counter()
            fn()
            b[key] = (time.perf_counter() - t0) / batch.shape[0] * 1e6
        reps_batch.append(b)
    s, b = _median_over(reps_single), _median_over(reps_batch)
    out = []
    for q in ("p50", "p99"):
        out.append(result(f"explain/{name}/one_row_{q}/compiled", s[f"ours_{q}"], "us",
                          f"Booster.predict(pred_contrib=True) one row {q}", s[f"lgb_{q}"],
                          {**params, "rows": single.shape[0]}))
        out.append(result(f"explain/{name}/explain_reasons_{q}/compiled", s[f"reasons_ours_{q}"], "us",
                          f"explain_reasons with LightGBM TreeSHAP {q}", s[f"reasons_lgb_{q}"],
                          {**params, "rows": single.shape[0]}))
    out.append(result(f"explain/{name}/batch_us_per_row_1thread/compiled", b["ours_1"], "us",
                      "pred_contrib 1 thread us/row", b["lgb_1"], {**params, "rows": batch.shape[0]}))
    out.append(result(f"explain/{name}/batch_us_per_row_all_threads/compiled", b["ours_all"], "us",
                      f"pred_contrib {threads} threads us/row", b["lgb_all"],
                      {**params, "rows": batch.shape[0], "threads": threads}))
    out.append(result(f"explain/{name}/us_per_tree_per_row_1thread/compiled", b["ours_1"] / trees, "us",
                      "pred_contrib 1 thread us/tree/row", b["lgb_1"] / trees, params))
    out.append(result(f"explain/{name}/bit_identical_rows", same / batch.shape[0], "share", None, None,
                      {**params, "rows": batch.shape[0], "max_abs_diff": maxdiff,
                       "max_abs_sum_minus_margin": sum_err}))
    out.append(result(f"explain/{name}/reason_lists_differing", float(codes_diff), "rows", None, None,
                      {**params, "rows": min(2000, batch.shape[0])}))
    return out


def measure_batch(ctx: BenchContext, name: str, n: int, repeat: int, threads: int) -> list[dict[str, Any]]:
    bundle = ctx.bundle(name)
    cbundle = ctx.compiled_bundle(name)
    if cbundle is None or cbundle.model.explain_path != "compiled":
        raise SystemExit(f"{name}: compiled trees or the compiled TreeSHAP are not available here")
    after = Scorer(cbundle, ctx.keys)
    before = Scorer(cbundle, ctx.keys)
    before.model = _compiled_lgb_shap(bundle)  # same trees, explanations by LightGBM
    assert before.model.explain_path == "lightgbm" and after.model.explain_path == "compiled"
    cols = events_stream(n, seed=303 + n % 97).columns
    res = after.score_batch(cols, return_features=True, explain=False)
    X = np.column_stack([res.features[f] for f in bundle.model.feature_names])
    booster = bundle.model.booster
    chk_a, chk_b = after.score_batch(cols, explain=True), before.score_batch(cols, explain=True)
    same = all(a == b for a, b in zip(chk_a.reasons, chk_b.reasons)) and len(chk_a.reasons) == len(chk_b.reasons)
    reps = []
    for _ in range(repeat):
        r = {}
        for key, fn in (("lgb", lambda: booster.predict(X, num_threads=threads)),
                        ("before_all", lambda: before.score_batch(cols, explain=True)),
                        ("after_all", lambda: after.score_batch(cols, explain=True)),
                        ("before_auto", lambda: before.score_batch(cols)),
                        ("after_auto", lambda: after.score_batch(cols)),
                        ("noexplain", lambda: after.score_batch(cols, explain=False))):
            t0 = time.perf_counter()
            fn()
            r[key] = n / (time.perf_counter() - t0)
        reps.append(r)
    m = _median_over(reps)
    params = {"bundle": name, "batch_size": n, "threads": threads, "repeats": repeat,
              "trees": booster.num_trees(), "reasons_identical": same,
              "explained_auto": int(np.sum(chk_a.action != "approve"))}
    out = []
    for w in ("all", "auto"):
        out.append(result(f"explain/{name}/score_batch_{w}/{n}/after", m[f"after_{w}"], "events/s",
                          f"score_batch explain={w!r} with LightGBM TreeSHAP (before)", m[f"before_{w}"],
                          {**params, "explain": True if w == "all" else "auto"}))
        for k in ("before", "after"):
            out.append(result(f"explain/{name}/score_batch_{w}/{n}/{k}_vs_lightgbm_predict", m[f"{k}_{w}"],
                              "events/s", "Booster.predict rows/s (all cores)", m["lgb"], params))
    out.append(result(f"explain/{name}/score_batch_noexplain/{n}_vs_lightgbm_predict", m["noexplain"], "events/s",
                      "Booster.predict rows/s (all cores)", m["lgb"], {**params, "explain": False}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--cache-dir", default=None, help="where the reference bundles are built and kept")
    ap.add_argument("--batch-events", type=int, default=10_000)
    args = ap.parse_args()
    repeat = args.repeat or (3 if args.quick else 5)
    n_single, n_batch = (200, 600) if args.quick else (400, 1500)
    threads = os.cpu_count() or 1
    ctx = BenchContext(Settings.for_mode(args.quick), cache_dir=args.cache_dir, log=print)
    results: list[dict[str, Any]] = []
    try:
        for name in ("default", "large"):
            bundle = ctx.bundle(name)
            X = ctx.feature_matrix(name)
            print(f"{name}: {bundle.model.booster.num_trees()} trees, rows ...", flush=True)
            results.extend(measure_rows(name, bundle, X, repeat, n_single, n_batch, threads))
        print(f"large: score_batch {args.batch_events:,} events ...", flush=True)
        results.extend(measure_batch(ctx, "large", args.batch_events, 3, threads))
    finally:
        ctx.close()
    write_results("bench_explain_quick" if args.quick else "bench_explain", results,
                  {"quick": args.quick, "threads": threads})


if __name__ == "__main__":
    main()
