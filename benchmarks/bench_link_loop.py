"""The batch link loop (``devicecolumns.link_rows``) and a ``web`` link-only replay, this checkout against
another build, in instructions (callgrind) and wall-clock seconds.

* ``batch``: ``Scorer.score_batch`` of ``events_stream(--rows, seed=404)`` (large bundle) records the link
  loop's own arguments; ``link_rows`` then runs on them again with a fresh linker and the collector paused, as
  ``score_batch`` runs it. Callgrind counts only that call (``--toggle-collect=_operator_call``); wall-clock
  takes the median of ``--repeats`` calls per process, the two builds' processes alternated ``--rounds`` times.
* ``web``: ``DeviceLinker.link`` over the throughput ``web`` stream (1,500 devices, 90 days, seed 3), events
  10,000 to 14,000 after the first 10,000 (callgrind only).

Usage::

    python benchmarks/bench_link_loop.py --base /work/main [--rows 10000] [--measures callgrind wall]

Prints; writes nothing (the figures are in docs/benchmarks.md, "The link stage (#13, round 9)").
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD_BATCH = r"""
import gc, json, os, sys, time
from _operator import call
from fraudscore.bench.bundles import BenchContext, events_stream
from fraudscore.bench.common import Settings
from fraudscore.bundle import Bundle
from fraudscore.scorer import Scorer
import fraudscore.devicecolumns as dc
cache, rows, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = BenchContext(Settings.full_settings(), cache_dir=cache)
b = Bundle.load(os.path.join(cache, "large"), key=ctx.keys)
cols = events_stream(rows, seed=404).columns
cap = {}
link_rows = dc.link_rows
def grab(fps, ts, r, ipp, linker, n):
    cap["a"] = (fps, ts, r, ipp, n)
    return link_rows(fps, ts, r, ipp, linker, n)
dc.link_rows = grab
sc = Scorer(b, ctx.keys, explain=False)
sc.score_batch(cols)
fps, ts, r, ipp, n = cap["a"]
gc.disable()  # as score_batch runs it (eventchecks.paused_gc)
if mode == "cg":
    call(link_rows, fps, ts, r, ipp, sc.pipeline.new_linker(), n)
    print(json.dumps({"rows": len(r)}))
else:
    out = []
    for _ in range(int(mode)):
        lk = sc.pipeline.new_linker()
        t0 = time.perf_counter()
        link_rows(fps, ts, r, ipp, lk, n)
        out.append(time.perf_counter() - t0)
    print(json.dumps({"rows": len(r), "seconds": out}))
"""

CHILD_WEB = r"""
import pickle, sys
from _operator import call
from fraudscore.fingerprint import DeviceLinker, MemoryLinkState
path, start, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "rb") as f:  # written by the parent process (this benchmark), never a user's file
    fps, ts, ips = pickle.load(f)
lk = DeviceLinker(MemoryLinkState())
def run(a, b):
    link = lk.link
    for fp, t, ip in zip(fps[a:b], ts[a:b], ips[a:b]):
        link(fp, t, ip)
run(0, start)
call(run, start, m)
"""


def child(tree: str, code: str, *args: str, cg: str | None = None) -> tuple[str, int]:
    env = {**os.environ, "PYTHONPATH": tree, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("FRAUDSCORE_PURE_PYTHON", None)
    cmd = [sys.executable, "-c", code, *args]
    if cg:
        cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=_operator_call",
               f"--callgrind-out-file={cg}", *cmd]
    out = subprocess.run(cmd, env=env, cwd=tree, check=True, capture_output=True, text=True)
    got = re.search(r"Collected : (\d+)", out.stderr) if cg else None
    return out.stdout, int(got.group(1)) if got else 0


def main() -> int:
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="checkout of the baseline (its extensions built in place)")
    ap.add_argument("--measures", nargs="+", default=["callgrind", "wall"], choices=["callgrind", "wall"])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cache", default=None, help="bundle cache directory (built on first use)")
    args = ap.parse_args()
    trees = {"base": os.path.abspath(args.base), "this": HERE}
    cache = args.cache or tempfile.mkdtemp(prefix="fraudscore-linkloop-")
    with tempfile.TemporaryDirectory() as tmp:
        if "callgrind" in args.measures:
            sys.path.insert(0, HERE)
            from fraudscore.fingerprint import Fingerprinter
            from fraudscore.fingerprint.simulate import simulate
            from fraudscore.keys import Keys

            s = simulate("web", n_devices=1500, days=90.0, seed=3)
            fpr = Fingerprinter(Keys(b"benchmark-secret-not-for-production"))  # bench_linking.KEYS
            web = os.path.join(tmp, "web.pkl")
            with open(web, "wb") as f:
                pickle.dump(([fpr.fingerprint(d) for d in s.devices], s.ts.tolist(), s.ip_prefix.tolist()), f)
            for label, tree in trees.items():
                out, ins = child(tree, CHILD_BATCH, cache, str(args.rows), "cg", cg=os.path.join(tmp, "b.out"))
                rows = json.loads(out.splitlines()[-1])["rows"]
                _, wins = child(tree, CHILD_WEB, web, "10000", "14000", cg=os.path.join(tmp, "w.out"))
                print(f"callgrind {label:4s} link_rows {ins / rows:10,.0f} instructions/row ({rows} rows)   "
                      f"web link {wins / 4000:8,.0f} instructions/event", flush=True)
        if "wall" in args.measures:
            got: dict[str, list[float]] = {"base": [], "this": []}
            for _ in range(args.rounds):
                for label, tree in trees.items():
                    out, _ = child(tree, CHILD_BATCH, cache, str(args.rows), str(args.repeats))
                    got[label].append(statistics.median(json.loads(out.splitlines()[-1])["seconds"]))
            b, t = statistics.median(got["base"]), statistics.median(got["this"])
            print(f"wall link_rows: base {got['base']} this {got['this']}  medians {b:.3f} / {t:.3f} s "
                  f"(ratio {t / b:.2f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
