"""The link model's trees alone (``Forest.predict_best``, ``fraudscore/model/_forest_best.h``) on the candidate rows
the scorer stream's link calls score, this checkout against another build, in instructions (callgrind).

The rows: ``events_stream(4000, seed=202)`` scored with the ``large`` bench bundle (the single-event benchmark's
stream, as ``bench_linking.py --stream``), its link calls replayed through a fresh ``DeviceLinker`` whose selection
is spied on: every model-scored call's candidate rows (float64, 24 per row), in order. Each build then runs
``predict_best`` over all of them once, under ``valgrind --tool=callgrind --toggle-collect=_operator_call`` (only
that loop is counted; the first call builds the model's tables). Also checks, outside valgrind, that every row's
output is ``predict``'s probability bit for bit or ``-1.0`` below the best.

Usage::

    python benchmarks/bench_link_trees.py --base /path/to/main-checkout [--cache DIR]

Prints; writes nothing (the figures are in docs/compiled.md, "Round 11: the link stage").
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CAPTURE = r"""
import pickle, sys
sys.path.insert(0, sys.argv[3])
from bench_linking import single_link_calls
from fraudscore.fingerprint import DeviceLinker, MemoryLinkState
fps, ts, ips = single_link_calls(4000, "large", sys.argv[2])
lk = DeviceLinker(MemoryLinkState())
real, rows = lk._select, []
def spy(*a):  # an instance attribute: best_candidate takes its Python path, with the same selection
    got = real(*a)
    if got is not None and got[1]:
        rows.append(bytes(got[2]))
    return got
lk._select = spy
for fp, t, ip in zip(fps, ts, ips):
    lk.link(fp, t, ip)
with open(sys.argv[1], "wb") as f:
    pickle.dump(rows, f)
"""

RUN = r"""
import pickle, sys
import numpy as np
from _operator import call
from fraudscore.fingerprint.linkmodel import default_link_model
f = default_link_model()._compiled._forest
with open(sys.argv[1], "rb") as fh:  # written by this benchmark, never a user's file
    Xs = [np.frombuffer(r, dtype=np.float64).reshape(-1, 24).copy() for r in pickle.load(fh)]
outs = [np.zeros(len(X)) for X in Xs]
if sys.argv[2] == "check":
    for X, o in zip(Xs, outs):
        full = np.zeros(len(X))
        f.predict_best(X, o)
        f.predict(X, full, False, 1)
        assert o.max() == full.max() and all(a == -1.0 or a.tobytes() == b.tobytes() for a, b in zip(o, full))
    print(len(Xs), sum(map(len, Xs)))
else:
    pb = f.predict_best
    def run():
        for X, o in zip(Xs, outs):
            pb(X, o)
    call(run)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="checkout of the baseline (its extensions built in place)")
    ap.add_argument("--cache", default=None, help="bundle cache directory (built on first use)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = os.path.join(tmp, "rows.pkl")
        env = {**os.environ, "PYTHONPATH": HERE, "PYTHONHASHSEED": "0"}
        subprocess.run([sys.executable, "-c", CAPTURE, rows, args.cache or os.path.join(tmp, "bundles"),
                        os.path.join(HERE, "benchmarks")], env=env, check=True, cwd=HERE)
        got = {}
        for who, tree in (("base", os.path.abspath(args.base)), ("this", HERE)):
            env = {**os.environ, "PYTHONPATH": tree, "PYTHONHASHSEED": "0"}
            # cwd=tree: "-c" puts the working directory first on sys.path
            calls, n_rows = map(int, subprocess.run([sys.executable, "-c", RUN, rows, "check"], env=env, check=True,
                                                    capture_output=True, text=True, cwd=tree).stdout.split())
            out = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg-{who}.out",
                                  "--toggle-collect=_operator_call", sys.executable, "-c", RUN, rows, "cg"],
                                 env=env, check=True, capture_output=True, text=True, cwd=tree)
            got[who] = int(re.search(r"Collected : (\d+)", out.stderr).group(1)) / calls
        print(f"predict_best over the scorer stream's {calls:,} model-scored link calls ({n_rows:,} rows): "
              f"{got['this']:,.0f} instructions per call vs {got['base']:,.0f} at {args.base} "
              f"({got['base'] / got['this']:.2f}x fewer)")


if __name__ == "__main__":
    main()
