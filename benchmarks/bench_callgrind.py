"""Per-stage instruction counts (valgrind callgrind): the compiled core against its Python reference.

Wall-clock timings on a shared, oversubscribed machine are noise; instruction counts
are not. For each stage and engine, a child process runs the stage's workload twice
under ``valgrind --tool=callgrind`` (with ``m`` events and with none, after the same
set-up), and the difference divided by ``m`` is the cost of one event in instructions.
The baseline of each compiled figure is the Python reference in the same run.

Stages:

* ``velocity``: ``OnlineVelocity.update_and_read`` with the 22 default features over a
  store prefilled with ``--entities`` entities (validation included), memory store engine
  ``python`` vs ``compiled``;
* ``velocity_fill``: the same with every event a new entity in every key group.

Usage: ``python benchmarks/bench_callgrind.py [--events 2000] [--entities 5000]``
(writes ``benchmarks/results/bench_callgrind.json``; needs valgrind).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import result, write_results  # noqa: E402

CHILD = r"""
import os, sys
os.environ.pop("FRAUDSCORE_PURE_PYTHON", None)
from fraudscore.velocity import MemoryStore, OnlineVelocity
from fraudscore.velocity.defaults import default_feature_set
stage, engine, m, n_ent = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
keys = ["device_id", "applicant_id", "phone", "email", "bank_card", "ip", "ip_prefix", "inviter_id", "device_hw",
        "device_canvas"]
ov = OnlineVelocity(default_feature_set(), MemoryStore(engine=engine))
def rec(i, pool, t):
    tag = "%030x" % ((i % pool) * 2654435761 % (1 << 120))
    r = {k: "p:" + ("%02x" % j) + tag for j, k in enumerate(keys)}
    r["application_id"] = "A%d" % i; r["amount"] = 100.0 + i % 7; r["ts"] = t
    return r
t0 = 10**12
for i in range(n_ent):  # set-up: the same in both runs
    ov.update_and_read(rec(i, 10**9, t0 + i * 10))
pool = 10**9 if stage == "velocity_fill" else max(1, n_ent // 2)
events = [rec(n_ent + i if stage == "velocity_fill" else i, pool, t0 + (n_ent + i) * 10) for i in range(m)]
for r in events:
    ov.update_and_read(r)
"""


def instructions(stage: str, engine: str, m: int, n_ent: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c", CHILD,
                        stage, engine, str(m), str(n_ent)], check=True, capture_output=True, text=True)
        with open(out, encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("summary:") or line.startswith("totals:"):
                    return int(re.split(r"\s+", line.strip())[1])
    raise RuntimeError("no callgrind summary")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--entities", type=int, default=5000)
    ap.add_argument("--stages", nargs="+", default=["velocity", "velocity_fill"])
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed")
        return 1
    rows = []
    for stage in args.stages:
        per = {}
        for engine in ("python", "compiled"):
            full = instructions(stage, engine, args.events, args.entities)
            empty = instructions(stage, engine, 0, args.entities)
            per[engine] = (full - empty) / args.events
        params = {"events": args.events, "entities": args.entities, "features": 22}
        rows.append(result(f"callgrind/{stage}/python_ir_per_event", per["python"], "instructions", None, None, params))
        rows.append(result(f"callgrind/{stage}/compiled_ir_per_event", per["compiled"], "instructions",
                           f"callgrind/{stage}/python_ir_per_event", per["python"], params, higher_is_better=False))
    write_results("bench_callgrind", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
