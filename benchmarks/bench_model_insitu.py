"""The model step alone and inside ``Scorer.score`` (#13, round 10): why it costs more in situ, per engine.

``Model.predict_one`` timed back to back (the suite's ``single/*/e2e_*`` baseline) keeps the forest in the L1/L2
caches; inside ``Scorer.score`` the other stages run between two predictions and evict it. This script measures
the same rows (real feature vectors of the large bundle, 500 trees) through each single-row engine:

* ``lightgbm``: LightGBM's single-row fast path (``FastPredictor``, ctypes), the default;
* ``tables``: the compiled forest walking its node tables tree by tree (the engine before round 10);
* ``layout``: the compiled forest's single-row layout (``_forest_row.h``: 16-byte depth-first nodes, 8 trees at
  once, branch-free splits), what ``predict_one`` uses since round 10.

Wall clock (``--measures wall``): medians of ``predict_one`` alone, alone after touching N MB between calls
(``--touch-mb``; a stand-in for the other stages), and the model stage of the ``single`` group's
``StagedScorer`` with each engine swapped in (``in_situ``; ``in_situ_e2e_but_model``: the sum of the other stages'
medians), every engine in turn per repeat; ``layout_touch1mb`` is the layout with 1 MB of memory written before each
prediction inside the scorer (what a larger model working set does to the *other* stages); ``no_model`` runs no
model at all (a constant probability), the other stages' floor.

Callgrind (``--measures callgrind``): instructions and simulated cache misses per row of each engine's raw
single-row call alone (a run minus the same run with a no-op; the last-level cache simulated as this machine's
4 MiB L2, ``--LL=4194304,16,64``), which load does not move.

    python benchmarks/bench_model_insitu.py [--cache-dir D] [--repeats 3] [--measures wall callgrind]

Writes ``benchmarks/results/bench_model_insitu.json`` (``--name`` to change).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import result, write_results  # noqa: E402

ENGINES = ("lightgbm", "tables", "layout")


def setup(cache: str, n: int, seed: int = 202):
    """(bundle, keys, events, feature vectors in model order, {engine: predict_one})."""
    from fraudscore.bench.bundles import BenchContext, events_stream
    from fraudscore.bench.common import Settings
    from fraudscore.bench.single import StagedScorer
    from fraudscore.bundle import Bundle
    from fraudscore.model import Model
    from fraudscore.scorer import Scorer

    ctx = BenchContext(Settings.full_settings(), cache_dir=cache)
    path = os.path.join(cache, "large")
    b = Bundle.load(path, key=ctx.keys) if os.path.isdir(path) else ctx.bundle("large")
    events = events_stream(500 + 2 * n, seed=seed).to_records()
    st = StagedScorer(Scorer(b, ctx.keys))
    xs = [st.score(ev)[2].copy() for ev in events[500:500 + n]]
    cm = Model.from_files(b.model.to_files(), compiled=True)
    assert cm.inference_path == "compiled", "compiled trees unavailable"
    forest = cm._compiled._forest
    cal = b.model.calibrator
    lgbm = b.model._fast  # LightGBM's fast path (Model.predict_one's engine before round 10)
    fns = {"lightgbm": lambda x: cal.apply_one(lgbm.predict_one(x)),
           "tables": lambda x: cal.apply_one(forest.predict_one_tables(x)),
           "layout": cm.predict_one}
    return b, ctx.keys, events, xs, fns


class _Engine:
    """A model whose ``predict_one`` is one engine's (swapped into a scorer)."""

    def __init__(self, model, fn):
        self._m, self.predict_one = model, fn

    def __getattr__(self, name):
        return getattr(self._m, name)


def wall(args) -> list[dict]:
    from fraudscore.bench.single import StagedScorer
    from fraudscore.scorer import Scorer

    b, keys, events, xs, fns = setup(args.cache_dir, args.n)
    ref = [fns["lightgbm"](x) for x in xs]
    for e in ENGINES:  # bit for bit, on every row
        got = [fns[e](x) for x in xs]
        assert np.array_equal(np.array(got).view(np.int64), np.array(ref).view(np.int64)), e
    junk = np.zeros((max(args.touch_mb) << 20) // 8 + 8)
    clock = time.perf_counter_ns
    med: dict[str, list[float]] = {}

    def alone(fn, mb):
        lat = np.empty(len(xs))
        step = (mb << 20) // 8
        for i, x in enumerate(xs):
            if mb:
                junk[:step:8] += 1.0  # one write per 64-byte line
            t0 = clock()
            fn(x)
            lat[i] = clock() - t0
        return float(np.median(lat)) / 1e3

    def touched(x, _lay=fns["layout"], _n=(1 << 20) // 8):  # the layout after 1 MB touched: pollution alone
        junk[:_n:8] += 1.0
        return _lay(x)

    variants = {**{e: fns[e] for e in ENGINES}, "layout_touch1mb": touched,
                "no_model": lambda x: 0.5}  # no model at all: what the other stages cost with nothing between
    stagers = {}
    for e, fn in variants.items():
        sc = Scorer(b, keys, explain=False)
        sc.model = _Engine(sc.model, fn)
        st = StagedScorer(sc)
        for ev in events[:500]:
            st.score(ev)
        stagers[e] = st
    for r in range(args.repeats):
        chunk = events[500 + r * args.n // args.repeats: 500 + (r + 1) * args.n // args.repeats]
        for e in variants:
            if e in fns:
                for mb in args.touch_mb:
                    med.setdefault(f"{e}/alone_{mb}mb", []).append(alone(fns[e], mb))
            st = stagers[e]
            for k in st.times:
                st.times[k].clear()
            for ev in chunk:
                st.score(ev)
            med.setdefault(f"{e}/in_situ", []).append(float(np.median(st.times["model"])) / 1e3)
            med.setdefault(f"{e}/in_situ_e2e_but_model", []).append(
                sum(float(np.median(v)) for k, v in st.times.items() if k != "model") / 1e3)
    out = []
    base = {k: statistics.median(v) for k, v in med.items()}
    params = {"bundle": "large", "rows": len(xs), "repeats": args.repeats, "clock": "wall, median of repeats"}
    for key, v in base.items():
        e, what = key.split("/")
        ref_key = f"{e if e in fns else 'layout'}/alone_0mb"
        out.append(result(f"model_insitu/{e}/{what}_p50", v, "us", f"{ref_key.split('/')[0]} predict_one alone p50",
                          base[ref_key], params))
    for e in ("tables", "layout"):
        for what in ("alone_0mb", "in_situ"):
            out.append(result(f"model_insitu/{e}_vs_lightgbm/{what}_p50", base[f"{e}/{what}"], "us",
                              f"lightgbm {what} p50", base[f"lightgbm/{what}"], params))
    return out


CHILD = r"""
import sys
import numpy as np
import lightgbm as lgb
from fraudscore.model.compiled import CompiledForest, forest_tables
from fraudscore.model.fast import FastPredictor
engine, model_txt, xs_path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
text = open(model_txt).read()
booster = lgb.Booster(model_str=text)
forest = CompiledForest(forest_tables(text), shap_tables_mb=0)._forest
fast = FastPredictor(booster)
fn = {"none": lambda x: 0.0, "lightgbm": fast.predict_one, "tables": forest.predict_one_tables,
      "layout": forest.predict_one}[engine]
X = np.load(xs_path)
for i in range(n):
    fn(X[i % len(X)])
"""


def callgrind(args) -> list[dict]:
    """Instructions and simulated cache misses per row of each engine's raw single-row call, alone (callgrind,
    ``--cache-sim``, the last level simulated as the 4 MiB L2): the run minus the same run with a no-op in its
    place, over ``--cg-rows`` rows (model loading cancels out)."""
    out, n = [], args.cg_rows
    params = {"bundle": "large", "rows": n, "D1": "49152,12,64", "LL": "4194304,16,64 (the L2)",
              "how": "engine run minus a no-op run, per row"}
    tot: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        _b, _k, _e, xs, _f = setup(args.cache_dir, min(n, 1500))
        xs_path = os.path.join(tmp, "xs.npy")
        np.save(xs_path, np.array(xs))
        model_txt = os.path.join(args.cache_dir, "large", "model.txt")
        for engine in ("none", *ENGINES):
            f = os.path.join(tmp, f"cg.{engine}")
            cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={f}", "--cache-sim=yes",
                   "--D1=49152,12,64", "--LL=4194304,16,64", sys.executable, "-c", CHILD, engine, model_txt, xs_path,
                   str(n)]
            subprocess.run(cmd, check=True, capture_output=True)
            text = open(f).read()
            names = re.search(r"^events: (.*)$", text, re.M).group(1).split()
            vals = [int(v) for v in re.search(r"^summary: (.*)$", text, re.M).group(1).split()]
            tot[engine] = dict(zip(names, vals))
            print(engine, tot[engine], flush=True)
    per = {e: {"Ir": (tot[e]["Ir"] - tot["none"]["Ir"]) / n,
               "D1miss": (tot[e]["D1mr"] + tot[e]["D1mw"] - tot["none"]["D1mr"] - tot["none"]["D1mw"]) / n,
               "LLmiss": (tot[e]["DLmr"] + tot[e]["DLmw"] - tot["none"]["DLmr"] - tot["none"]["DLmw"]) / n}
           for e in ENGINES}
    for e in ENGINES:
        for k, v in per[e].items():
            out.append(result(f"model_insitu/callgrind/{e}/{k}_per_row", v, "per row", f"lightgbm {k} per row",
                              per["lightgbm"][k], params))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "fraudscore-insitu-cache"))
    ap.add_argument("--n", type=int, default=1500, help="rows (events) per wall-clock measurement")
    ap.add_argument("--cg-rows", type=int, default=1000, help="rows under callgrind")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--touch-mb", type=int, nargs="+", default=[0, 1, 4, 16])
    ap.add_argument("--measures", nargs="+", default=["wall"], choices=["wall", "callgrind"])
    ap.add_argument("--name", default="bench_model_insitu")
    args = ap.parse_args()
    rows = []
    if "wall" in args.measures:
        rows += wall(args)
    if "callgrind" in args.measures:
        rows += callgrind(args)
    write_results(args.name, rows)


if __name__ == "__main__":
    main()
