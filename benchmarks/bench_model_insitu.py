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

Callgrind (``--measures callgrind``): instructions and simulated cache misses of the model step alone and in situ
(``--toggle-collect`` on the engine's C entry point; the last-level cache simulated as this machine's 4 MiB L2,
``--LL=4194304,16,64``), which load does not move.

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
ENTRY = {"lightgbm": "LGBM_BoosterPredictForMatSingleRowFast", "tables": "Forest_predict_one_tables",
         "layout": "Forest_predict_one"}


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
import sys, os
import numpy as np
engine, mode, n, cache, xs_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
from fraudscore.model import Model
path = os.path.join(cache, "large")
if mode == "alone":
    m = Model.load(path, compiled=engine != "lightgbm")
    cal, f = m.calibrator, getattr(m._compiled, "_forest", None)
    fn = {"lightgbm": lambda x: cal.apply_one(m._fast.predict_one(x)),
          "tables": lambda x: cal.apply_one(f.predict_one_tables(x)) if f is not None else None,
          "layout": m.predict_one}[engine]
    for x in np.load(xs_path)[:n]:
        fn(x)
else:
    sys.path.insert(0, os.path.dirname(xs_path))
    from fraudscore.bench.bundles import BenchContext, events_stream
    from fraudscore.bench.common import Settings
    from fraudscore.bench.single import StagedScorer
    from fraudscore.bundle import Bundle
    from fraudscore.scorer import Scorer
    ctx = BenchContext(Settings.full_settings(), cache_dir=cache)
    b = Bundle.load(path, key=ctx.keys)
    if engine != "lightgbm":
        cm = Model.from_files(b.model.to_files(), compiled=True)
        b.model._fast, b.model._compiled = cm._fast, cm._compiled
    sc = Scorer(b, ctx.keys, explain=False)
    cal, f = sc.model.calibrator, getattr(sc.model._compiled, "_forest", None)
    # the engine under test, as Model.predict_one's single-row engine (the LightGBM one: the FastPredictor)
    sc.model._one = sc.model._fast.predict_one if engine == "lightgbm" else \
        (f.predict_one_tables if engine == "tables" else f.predict_one)
    st = StagedScorer(sc)
    for ev in events_stream(int(sys.argv[6]) + n, seed=202).to_records():
        st.score(ev)
"""


def callgrind(args) -> list[dict]:
    out, n, warm = [], args.cg_rows, args.cg_warm
    params = {"bundle": "large", "rows": n, "LL": "4194304,16,64 (the L2)", "D1": "49152,12,64",
              "in_situ": f"StagedScorer, {warm} events before the {n} (all counted)"}
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        _b, _k, _e, xs, _f = setup(args.cache_dir, n)
        xs_path = os.path.join(tmp, "xs.npy")
        np.save(xs_path, np.array(xs))
        env = {**os.environ, "FRAUDSCORE_SHAP_TABLES_MB": "0"}
        for engine in ENGINES:
            for mode in ("alone", "in_situ"):
                f = os.path.join(tmp, f"cg.{engine}.{mode}")
                cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={f}", "--cache-sim=yes",
                       "--D1=49152,12,64", "--LL=4194304,16,64", f"--toggle-collect={ENTRY[engine]}",
                       sys.executable, "-c", CHILD, engine, mode, str(n), args.cache_dir, xs_path, str(warm)]
                subprocess.run(cmd, check=True, capture_output=True, env=env)
                text = subprocess.run(["callgrind_annotate", f], check=True, capture_output=True,
                                      text=True).stdout
                if args.keep:
                    subprocess.run(["cp", f, args.keep], check=False)
                names = re.search(r"Events shown:\s+(.*)", text).group(1).split()
                line = next(ln for ln in text.splitlines() if "PROGRAM TOTALS" in ln)
                vals = [int(v.replace(",", "")) for v in re.findall(r"([\d,]+) ", line)][:len(names)]
                tot = dict(zip(names, vals))
                rows = n if mode == "alone" else warm + n  # every prediction in the run is counted
                figures[(engine, mode)] = {"Ir": tot["Ir"] / rows,
                                           "D1miss": (tot["D1mr"] + tot.get("D1mw", 0)) / rows,
                                           "LLmiss": (tot["DLmr"] + tot.get("DLmw", 0)) / rows}
                print(engine, mode, {k: round(v) for k, v in figures[(engine, mode)].items()}, flush=True)
    for (engine, mode), fig in figures.items():
        alone = figures[(engine, "alone")]
        for k, v in fig.items():
            out.append(result(f"model_insitu/callgrind/{engine}/{mode}_{k}", v, "per row", f"{engine} alone {k}",
                              alone[k], params))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "fraudscore-insitu-cache"))
    ap.add_argument("--n", type=int, default=1500, help="rows (events) per wall-clock measurement")
    ap.add_argument("--cg-rows", type=int, default=100, help="rows (events) under callgrind")
    ap.add_argument("--cg-warm", type=int, default=100, help="events scored in situ before them (counted too)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--touch-mb", type=int, nargs="+", default=[0, 1, 4, 16])
    ap.add_argument("--measures", nargs="+", default=["wall"], choices=["wall", "callgrind"])
    ap.add_argument("--name", default="bench_model_insitu")
    ap.add_argument("--keep", default=None, help="copy the callgrind outputs into this directory")
    args = ap.parse_args()
    rows = []
    if "wall" in args.measures:
        rows += wall(args)
    if "callgrind" in args.measures:
        rows += callgrind(args)
    write_results(args.name, rows)


if __name__ == "__main__":
    main()
