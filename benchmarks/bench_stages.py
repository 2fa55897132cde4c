"""Per-stage cost of the scorer's stages, this checkout against another build of the library, in one run.

Three measures, each run for both trees (``--base``: another checkout with its extensions built,
e.g. ``main``; the current checkout is the candidate), so every figure has its baseline from the
same run:

* ``callgrind``: instructions per event of each stage of :class:`~fraudscore.bench.single.StagedScorer`
  (schema, identity, fingerprint incl. device signals, rules, policy) and of the pipeline's velocity part
  (``FeaturePipeline.online``: record check, admission, store update; the link replayed from the second
  scorer, so the linker, another stage, is not counted) on the large bundle. A child
  process gives two scorers the same ``--warm`` events of history, then runs one stage's code (copied
  from ``StagedScorer.score``) over ``--events`` further events whose inputs the second scorer computed
  (the first has not seen them: caches miss as in a live stream), inside ``operator.call`` under
  ``valgrind --tool=callgrind --toggle-collect=_operator_call --dump-after=_operator_call``: only those
  loops are counted, one dump per stage. Stable on a loaded machine. ``link``: ``DeviceLinker.link`` as the
  pipeline calls it (fingerprint, event time, IP /24 token), the first scorer's linker linking each of the
  ``--events`` events once, in time order, after its ``--warm`` events of history (``--stages link --warm 2000
  --events 600``: the scorer stream's link calls 2,000-2,600 of ``docs/fingerprints.md``). ``score``: the
  whole ``Scorer.score`` (``explain=False``) of a third scorer with the same history, with the link replayed
  and the model replaced by a constant: everything the issue's "all but the model" goal counts but the linker.
* ``wall``: the per-stage medians of ``StagedScorer`` (µs) on the same event stream, and the median of the
  whole ``Scorer.score`` with the link replayed and a constant model (``score_but_link_and_model``, the
  callgrind ``score`` row's loop), the two trees' processes alternated ``--repeats`` times; medians of the
  run medians.
* ``batch``: ``Scorer.score_batch`` events/s at ``--rows`` rows (default and large bundle) against
  bare LightGBM ``Booster.predict`` on a matrix of the same shape, in the same process.

Usage::

    python benchmarks/bench_stages.py --base /path/to/main-checkout [--measures callgrind wall batch]
                                      [--stages fingerprint velocity]

(writes ``benchmarks/results/bench_stages.json``; ``callgrind`` needs valgrind; ``--cache DIR`` reuses built
bundles).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import result, write_results  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = ("schema", "identity", "fingerprint", "velocity", "rules", "policy", "link", "score")

PRELUDE = r"""
import json, os, sys, time
import numpy as np
from fraudscore.bench.bundles import BenchContext, events_stream
from fraudscore.bench.common import Settings
from fraudscore.scorer import Scorer
cache = sys.argv[1]
ctx = BenchContext(Settings.full_settings(), cache_dir=cache)
def bundle(name):
    from fraudscore.bundle import Bundle
    return Bundle.load(os.path.join(cache, name), key=ctx.keys)
"""

CHILD_STAGE = PRELUDE + f"STAGES = {STAGES!r}\n" + r"""
from _operator import call  # the measured loop runs inside operator.call: callgrind collects only there
from fraudscore.fingerprint import DEVICE_FEATURES, LinkResult, device_signals
try:  # the pipeline's list form of the device signals, where the tree has it
    from fraudscore.fingerprint import device_signal_values
except ImportError:
    device_signal_values = None
from fraudscore.rules import combine
m, warm = int(sys.argv[2]), int(sys.argv[3])
only = set(sys.argv[4].split(",")) if len(sys.argv) > 4 and sys.argv[4] else set(STAGES)
NAN = float("nan")
b = bundle("large")
events = events_stream(warm + 2 * m, seed=202).to_records()
A, B, C = Scorer(b, ctx.keys), Scorer(b, ctx.keys), Scorer(b, ctx.keys, explain=False)
scored = "score" in only
for ev in events[:warm]:  # the same history in all (the pipeline's state: links, velocity, caches)
    for s in ((A, B, C) if scored else (A, B)):
        s.pipeline.online(s.schema.validate(ev), s.linker, s.velocity)
inputs, links, link_calls = [], [], []
for ev in events[warm:]:  # each stage's inputs, computed by B (A has not seen these events)
    v = B.schema.validate(ev)
    rec, x, _d, _dup = B.pipeline.online(v, B.linker, B.velocity)
    inputs.append((ev, v, rec, x))
    # the velocity stage's inputs: the record before linking, the fingerprint, and B's link (replayed)
    fp = B.pipeline.fingerprinter.fingerprint(v.get("device")) if B.pipeline.has_device else None
    pre = {k: val for k, val in rec.items() if k != "device_id"} if B.pipeline.has_device else dict(rec)
    conf = x[len(B.pipeline.feature_names) - len(B.pipeline.feature_set.names) - 1]
    links.append((pre, v[B.schema.time_field], fp, LinkResult(rec.get("device_id") or "d_none", float(conf))))
    if fp is not None:  # the link stage's inputs: what the pipeline hands DeviceLinker.link
        link_calls.append((fp, v[B.schema.time_field], rec.get("ip_prefix")))
sc, pipe = A, A.pipeline


class Replay:  # the link stage's outcome for the velocity stage (the linker is another stage)
    res = None

    def link(self, fp, ts, ip=None):
        return self.res


replay = Replay()


class Constant:  # the model stage's stand-in for the whole-path row (the model is not counted)
    feature_names = C.model.feature_names

    def predict_one(self, x):
        return 0.25


if scored:
    C.linker, C.model = replay, Constant()


def run(stage, rows):
    if stage == "schema":
        for ev, v, rec, x in rows:
            sc.schema.validate(ev)
    elif stage == "identity":  # StagedScorer.score, identity stage: the record and the head of the vector
        head = getattr(pipe, "_head", None)  # round 11: one compiled call (identity kernel inside the head)
        row = getattr(sys.modules.get("fraudscore.pipeline"), "_ROW", None)
        n = len(pipe.feature_names)
        for _, ev, rec, x in rows:
            xx = np.empty(n)
            if head is not None:
                record = head(ev, xx)
            elif row is not None:  # as FeaturePipeline._record_and_row before round 11
                pseudo, ident = pipe.identity.process(ev)
                record = row.head(pipe._row_plan, ev, pseudo, ident, xx)
            else:
                pseudo, ident = pipe.identity.process(ev)
                record = {k: v for k, v in ev.items() if k != "device"}
                record.update(pseudo)
                static = [NAN if ev.get(n) is None else float(ev.get(n)) for n in pipe.numeric_fields]
                static.extend(ident[n] for n in pipe.identity.feature_names)
    elif stage == "fingerprint":  # StagedScorer.score, fingerprint stage
        device_row = getattr(pipe, "_device_row", None)  # round 11: the device step in one compiled call
        if device_row is not None and getattr(pipe, "_device_ctx", None) is not None:
            xx = np.empty(len(pipe.feature_names))  # the vector the identity stage allocated
            for _, ev, rec, x in rows:
                device_row(ev, {}, xx)
            return
        for _, ev, rec, x in rows:
            record, static = {}, []
            fp = pipe.fingerprinter.fingerprint(ev.get("device"))
            if device_signal_values is not None:
                static.extend(device_signal_values(fp, ev))
            else:
                sig = device_signals(fp, ev)
                static.extend(sig[n] for n in DEVICE_FEATURES)
            record["device_fp"] = None if fp is None else fp.id
            record["device_hw"] = None if fp is None else fp.hardware
            record["device_canvas"] = None if fp is None else fp.canvas
    elif stage == "velocity":  # FeaturePipeline.online's velocity part (validation, admission, store), link replayed
        for pre, ts, fp, res in rows:
            record = dict(pre)
            replay.res = res
            sc.velocity.plan.validate_record(record)
            pipe._apply_local(record, ts, fp, replay, sc.velocity).features
    elif stage == "rules":  # StagedScorer.score, rules stage (as Scorer.score: evaluate_parts)
        for _, ev, record, x in rows:
            hits = sc.rules.evaluate_parts(record, x, pipe.feature_names)
            rule_action, points = combine(hits)
    elif stage == "policy":
        for _ in rows:
            sc.policy.decide(500, None, 0)
    elif stage == "link":  # DeviceLinker.link as the pipeline calls it (A's linker: its warm history, then these)
        link = sc.linker.link
        for fp, ts, ip in rows:
            link(fp, ts, ip)
    elif stage == "score":  # Scorer.score end to end (explain=False) with the link replayed and a constant model
        for ev, res in rows:
            replay.res = res
            C.score(ev)


for stage in STAGES:  # callgrind dumps the counts of each call() apart: one part file per stage
    if stage not in only:
        call(run, "policy", [])  # an empty dump keeps the part files numbered by stage
        continue
    if stage == "velocity":  # state: A sees each event once, in time order (its history warmed the code)
        call(run, stage, links[:m])
        continue
    if stage == "score":  # C, a third scorer with the same history, sees each event once, in time order
        call(run, stage, [(inp[0], lk[3]) for inp, lk in zip(inputs[:m], links[:m])])
        continue
    if stage == "link":  # the same: A's linker links each event once, in time order
        call(run, stage, link_calls[:m])
        continue
    run(stage, inputs[m:])  # warm the code paths on other events (lazy imports, first-use caches)
    call(run, stage, inputs[:m])
"""

CHILD_WALL = PRELUDE + r"""
from fraudscore.bench.single import STAGES, StagedScorer
n, warm = int(sys.argv[2]), int(sys.argv[3])
b = bundle("large")
events = events_stream(warm + n, seed=202).to_records()
st = StagedScorer(Scorer(b, ctx.keys))
for ev in events[:warm]:
    st.score(ev)
for k in st.times:
    st.times[k].clear()
for ev in events[warm:]:
    st.score(ev)
out = {k: float(np.median(st.times[k])) / 1e3 for k in STAGES}
# the whole Scorer.score (explain=False) but the link (replayed from st's scorer) and the model (a constant)
from fraudscore.fingerprint import LinkResult
ref, whole = Scorer(b, ctx.keys, explain=False), Scorer(b, ctx.keys, explain=False)
for ev in events[:warm]:
    ref.score(ev)
    whole.score(ev)
links = []
for ev in events[warm:]:
    d = ref.score(ev, return_features=True)
    links.append(LinkResult(d.device_id or "d_none", d.features.get("device__link_confidence", float("nan"))))


class Replay:
    res = None

    def link(self, fp, ts, ip=None):
        return self.res


class Constant:
    feature_names = whole.model.feature_names

    def predict_one(self, x):
        return 0.25


whole.linker, whole.model = Replay(), Constant()
times = []
for ev, res in zip(events[warm:], links):
    whole.linker.res = res
    t0 = time.perf_counter_ns()
    whole.score(ev)
    times.append(time.perf_counter_ns() - t0)
out["score_but_link_and_model"] = float(np.median(times)) / 1e3
print(json.dumps(out))
"""

CHILD_BATCH = PRELUDE + r"""
import statistics
name, rows, reps = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
b = bundle(name)
cols = events_stream(rows, seed=404).columns
Scorer(b, ctx.keys, explain=False).score_batch(events_stream(300, seed=1).columns)  # warm imports
ts, tb = [], []
X = np.random.default_rng(0).random((rows, len(b.model.feature_names)))
for _ in range(reps):
    sc = Scorer(b, ctx.keys, explain=False)
    t0 = time.perf_counter(); sc.score_batch(cols); ts.append(time.perf_counter() - t0)
    t0 = time.perf_counter(); b.model.booster.predict(X); tb.append(time.perf_counter() - t0)
print(json.dumps({"score_batch": rows / statistics.median(ts), "lightgbm": rows / statistics.median(tb)}))
"""


#: ``--no-gc``: the children run with the cyclic garbage collector off, so that a collection (~5.5k instructions an
#: event when it falls in a stage's window) lands in no stage; a change in allocations moves it between stages.
NO_GC = False


def child(tree: str, code: str, *args: str, valgrind: str | None = None) -> str:
    env = {**os.environ, "PYTHONPATH": tree, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("FRAUDSCORE_PURE_PYTHON", None)
    cmd = [sys.executable, "-c", ("import gc\ngc.disable()\n" if NO_GC else "") + code, *args]
    if valgrind:
        cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=_operator_call",
               "--dump-after=_operator_call", f"--callgrind-out-file={valgrind}", *cmd]
    out = subprocess.run(cmd, env=env, cwd=tree, check=True, capture_output=True, text=True)
    return out.stdout


def instructions(tree: str, cache: str, m: int, warm: int, stages: tuple[str, ...] = STAGES) -> dict[str, int]:
    """Instructions of each stage's loop over ``m`` events (collected inside ``operator.call`` only, one dump each)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cg.out")
        child(tree, CHILD_STAGE, cache, str(m), str(warm), ",".join(stages), valgrind=path)
        out = {}
        for j, stage in enumerate(STAGES, start=1):
            if stage not in stages:
                continue
            with open(f"{path}.{j}", encoding="utf-8") as fh:
                out[stage] = next(int(line.split()[1]) for line in fh if line.startswith("summary:"))
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="checkout of the baseline (its extensions built in place)")
    ap.add_argument("--measures", nargs="+", default=["callgrind", "wall", "batch"])
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES, help="callgrind: these stages only")
    ap.add_argument("--cache", default=None, help="bundle cache directory (built on first use)")
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--warm", type=int, default=200)
    ap.add_argument("--wall-events", type=int, default=1500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--name", default="bench_stages", help="results file name (benchmarks/results/<name>.json)")
    ap.add_argument("--no-gc", action="store_true", help="children with the cyclic garbage collector off")
    args = ap.parse_args()
    global NO_GC
    NO_GC = bool(args.no_gc)
    base, cand = os.path.abspath(args.base), HERE
    cache = args.cache or tempfile.mkdtemp(prefix="fraudscore-stages-")
    if not os.path.isdir(os.path.join(cache, "large")):
        child(cand, PRELUDE + "ctx.bundle('default'); ctx.bundle('large')", cache)
    rows = []
    params = {"bundle": "large", "base": base, "candidate": cand, "gc": not NO_GC}
    if "callgrind" in args.measures:
        if shutil.which("valgrind") is None:
            print("valgrind is not installed; skipping callgrind")
        else:
            stages = tuple(st for st in STAGES if st in args.stages)
            counts = {label: instructions(tree, cache, args.events, args.warm, stages)
                      for label, tree in (("base", base), ("candidate", cand))}
            for stage in stages:
                b, c = counts["base"][stage] / args.events, counts["candidate"][stage] / args.events
                rows.append(result(f"stages/callgrind/{stage}", c, "instructions/event",
                                   f"{stage} on the base build", b,
                                   {**params, "events": args.events, "warm": args.warm}))
                print(f"callgrind {stage:12s} base {b:10.0f}  candidate {c:10.0f}  ratio {c / b:.3f}", flush=True)
    if "wall" in args.measures:
        runs: dict[str, list[dict[str, float]]] = {"base": [], "candidate": []}
        for _ in range(args.repeats):
            for label, tree in (("base", base), ("candidate", cand)):
                runs[label].append(json.loads(child(tree, CHILD_WALL, cache, str(args.wall_events), "500")))
        for stage in runs["base"][0]:
            b = statistics.median(r[stage] for r in runs["base"])
            c = statistics.median(r[stage] for r in runs["candidate"])
            rows.append(result(f"stages/wall/{stage}_p50", c, "us", f"{stage} p50 on the base build", b,
                               {**params, "events": args.wall_events, "repeats": args.repeats}))
            print(f"wall {stage:12s} base {b:7.1f} us  candidate {c:7.1f} us  ratio {c / b:.3f}", flush=True)
    if "batch" in args.measures:
        for name in ("default", "large"):
            for label, tree in (("base", base), ("candidate", cand)):
                r = json.loads(child(tree, CHILD_BATCH, cache, name, str(args.rows), str(args.repeats)))
                rows.append(result(f"stages/batch/{name}/{label}", r["score_batch"], "events/s",
                                   "lightgbm Booster.predict", r["lightgbm"],
                                   {"bundle": name, "rows": args.rows, "tree": tree}))
                print(f"batch {name:8s} {label:9s} score_batch {r['score_batch']:9.0f}/s  lightgbm "
                      f"{r['lightgbm']:9.0f}/s  ratio {r['score_batch'] / r['lightgbm']:.4f}", flush=True)
    write_results(args.name, rows, {"cache": cache})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
