"""Callgrind instructions of the batch link row and the online link call, base against this tree (round 17).

The inputs are captured once, natively, in this tree: what ``devicecolumns.link_rows`` gets in ``score_batch`` of
``events_stream(ROWS, seed=404)`` (large bundle), and the link calls the scorer's pipeline makes for
``events_stream(600, seed=202)``'s events 0-400. Under valgrind (``--collect-atstart=no
--toggle-collect=_operator_call``) each tree then runs only ``call(link_rows, ...)`` on a fresh ``new_linker()``
(per row), or links events 0-200 uncollected and ``call``s the link calls of events 200-400 (per event, 200).
The collector is off in both. Lighter than ``bench_link_loop.py``'s batch child and ``bench_stages.py``'s link
stage, which run ``score_batch`` / three scorers under valgrind.

    python benchmarks/bench_link_calls.py --base /tmp/linkbatch_base [--rows 3000] [--cache /tmp/linkflat_cache]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CAPTURE = r"""
import os, sys, pickle
from fraudscore.bench.bundles import BenchContext, events_stream
from fraudscore.bench.common import Settings
from fraudscore.bundle import Bundle
from fraudscore.scorer import Scorer
import fraudscore.devicecolumns as dc
cache, rows, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = BenchContext(Settings.full_settings(), cache_dir=cache)
b = ctx.bundle("large")
cap = {}
lr = dc.link_rows
def grab(fps, ts, r, ipp, linker, n):
    cap["a"] = (fps.tolist(), ts, r, ipp, n)
    return lr(fps, ts, r, ipp, linker, n)
dc.link_rows = grab
Scorer(b, ctx.keys, explain=False).score_batch(events_stream(rows, seed=404).columns)
B, calls = Scorer(b, ctx.keys), []
for j, ev in enumerate(events_stream(600, seed=202).to_records()[:400]):
    v = B.schema.validate(ev)
    rec = B.pipeline.online(v, B.linker, B.velocity)[0]
    fp = B.pipeline.fingerprinter.fingerprint(v.get("device")) if B.pipeline.has_device else None
    if fp is not None:
        calls.append((j, fp, v[B.schema.time_field], rec.get("ip_prefix")))
with open(out, "wb") as f:  # this benchmark's own file, read back only by its own children
    pickle.dump((cap["a"], calls), f)
"""

CHILD = r"""
import gc, sys, pickle, json
import numpy as np
from _operator import call
from fraudscore.bench.bundles import BenchContext
from fraudscore.bench.common import Settings
from fraudscore.scorer import Scorer
import fraudscore.devicecolumns as dc
cache, path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = BenchContext(Settings.full_settings(), cache_dir=cache)
sc = Scorer(ctx.bundle("large"), ctx.keys, explain=False)
with open(path, "rb") as f:  # written by the parent process (this benchmark), never a user's file
    (fps, ts, r, ipp, n), calls = pickle.load(f)
gc.disable()
if mode == "batch":
    fa = np.empty(len(fps), dtype=object)
    fa[:] = fps
    call(dc.link_rows, fa, ts, r, ipp, sc.pipeline.new_linker(), n)
    print(json.dumps({"per": len(r)}))
else:
    link = sc.linker.link
    for j, fp, t, ip in calls:
        if j < 200:
            link(fp, t, ip)
    def run(rows):
        for fp, t, ip in rows:
            link(fp, t, ip)
    call(run, [(fp, t, ip) for j, fp, t, ip in calls if j >= 200])
    print(json.dumps({"per": 200}))
"""


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_link_loop import child as run  # noqa: E402  (one child runner: env, valgrind options, the count)


def main() -> int:
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="checkout of the baseline (its extensions built in place)")
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--cache", default=None, help="bundle cache directory (built on first use)")
    args = ap.parse_args()
    cache = args.cache or tempfile.mkdtemp(prefix="fraudscore-linkcalls-")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "inputs.pkl")
        run(HERE, CAPTURE, cache, str(args.rows), path)
        for label, tree in (("base", os.path.abspath(args.base)), ("this", HERE)):
            for mode in ("batch", "online"):
                out, ins = run(tree, CHILD, cache, path, mode, cg=os.path.join(tmp, f"{label}.{mode}.out"))
                per = json.loads(out.splitlines()[-1])["per"]
                what = "instructions/row" if mode == "batch" else "instructions/event"
                print(f"callgrind {label:4s} {mode:6s} {ins / per:10,.0f} {what}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
