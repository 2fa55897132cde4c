"""Batch, end to end: ``Scorer.score_batch`` events/s against bare LightGBM predict.

For each batch size the group times ``score_batch`` (validation, the whole
feature pipeline replayed from empty state, rules, model, policy, reasons) and,
as the baseline, ``lightgbm.Booster.predict`` on the very feature matrix the
scorer built, with the same thread count. The ratio is fraudscore's events/s
over the bare model's rows/s (goal >= 1.0, floor 0.8). Sizes whose estimated
time exceeds the group budget are skipped and noted.

Per size it also reports the model alone with compiled trees
(``model_compiled_rows_per_s``: ``Model.predict_proba`` with ``compiled=True``
against ``Booster.predict``, same threads) and, from 10,000 rows up,
``score_batch`` with ``explain=False`` and with compiled trees, so the share of
explanations (TreeSHAP on the reviewed and declined rows) and of the model is
visible. Since round 13 the model reasons of a batch are computed on the first read
of ``DecisionBatch.reasons`` (``Scorer(lazy_reasons=True)``, the default), so
``events_per_s`` times the call and ``events_per_s_reasons`` (from 10,000 rows up)
the call with every reason read.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from ..scorer import Scorer
from .bundles import BenchContext, events_stream
from .common import median_time, result

__all__ = ["run"]

GROUP = "batch"


def _timed(fn: Any, n: int, repeats: int) -> float:
    """Median seconds per call of ``fn``; small calls are looped to about 20 ms per sample."""
    t0 = time.perf_counter()
    fn()
    first = max(time.perf_counter() - t0, 1e-7)
    loops = max(1, int(0.02 / first)) if first < 0.02 else 1

    def many() -> None:
        for _ in range(loops):
            fn()

    return median_time(many, repeat=repeats, warmup=0) / loops


def run(ctx: BenchContext) -> list[dict[str, Any]]:
    """Run the group; returns result rows."""
    s = ctx.settings
    bundles = ("default",) if s.quick else ("default", "large")
    threads = os.cpu_count() or 1
    out: list[dict[str, Any]] = []
    for name in bundles:
        bundle = ctx.bundle(name)
        scorer = Scorer(bundle, ctx.keys)
        booster = bundle.model.booster
        cbundle = ctx.compiled_bundle(name)
        cscorer = Scorer(cbundle, ctx.keys) if cbundle is not None else None
        rate, prev = None, 0
        spent = 0.0
        for n in s.batch_sizes:
            # small batches are dominated by fixed costs: extrapolate only from 1,000 rows up
            est = n / rate * (2 + min(s.repeats, 3)) if rate and prev >= 1000 else 0.0
            if est and spent + est > s.batch_budget_s:
                ctx.note(f"batch/{name}: size {n:,} skipped (estimated {est:,.0f} s > the {s.batch_budget_s:.0f} s "
                         f"budget at {rate:,.0f} events/s)")
                break
            ctx.log(f"batch {name}: {n:,} events ...")
            t_start = time.perf_counter()
            cols = events_stream(n, seed=303 + n % 97).columns
            res = scorer.score_batch(cols, return_features=True)
            names = list(scorer.pipeline.feature_names)
            X = np.column_stack([res.features[f] for f in bundle.model.feature_names]) if names else None
            reps = s.repeats if n < 10_000 else min(s.repeats, 3)
            t_fs = _timed(lambda: scorer.score_batch(cols), n, reps)
            t_lgb = _timed(lambda: booster.predict(X, num_threads=threads), n, reps)
            rate, prev = n / t_fs, n
            params = {"bundle": name, "batch_size": n, "threads": threads, "repeats": reps,
                      "rows_scored": len(res), "rejected": len(res.errors)}
            out.append(result(f"batch/{name}/events_per_s/{n}", n / t_fs, "events/s",
                              "lightgbm Booster.predict rows/s", n / t_lgb, params))
            if cbundle is not None:
                cm = cbundle.model
                t_cm = _timed(lambda: cm.predict_proba(X), n, reps)
                out.append(result(f"batch/{name}/model_compiled_rows_per_s/{n}", n / t_cm, "rows/s",
                                  "lightgbm Booster.predict rows/s", n / t_lgb,
                                  {**params, "inference": "compiled trees, bit-identical, calibrated"}))
            if n >= 10_000 or (s.quick and n == max(s.batch_sizes)):
                t_r = _timed(lambda: scorer.score_batch(cols).reasons, n, reps)
                out.append(result(f"batch/{name}/events_per_s_reasons/{n}", n / t_r, "events/s",
                                  "lightgbm Booster.predict rows/s", n / t_lgb, {**params, "reasons_read": True}))
                t_q = _timed(lambda: scorer.score_batch(cols, explain=False), n, reps)
                out.append(result(f"batch/{name}/events_per_s_noexplain/{n}", n / t_q, "events/s",
                                  "lightgbm Booster.predict rows/s", n / t_lgb, {**params, "explain": False}))
                if cscorer is not None:
                    t_c = _timed(lambda: cscorer.score_batch(cols), n, reps)
                    out.append(result(f"batch/{name}/events_per_s_compiled/{n}", n / t_c, "events/s",
                                      "lightgbm Booster.predict rows/s", n / t_lgb,
                                      {**params, "inference": "compiled trees"}))
            spent += time.perf_counter() - t_start
    return out
