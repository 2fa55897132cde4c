"""Where ``Scorer.score_batch`` spends its time, stage by stage (wall or CPU clock, medians of repeats).

Each stage's function is wrapped with a timer (the wrappers add a few microseconds
per call; every stage here is called a handful of times per batch, except
``fingerprint_many``'s per-device work, which is timed as one call). The link loop
(``devicecolumns.link_rows``) and TreeSHAP (``explain_batch``) are reported as stages
of their own so the rest can be judged apart from them. Bare ``Booster.predict`` on
the batch's feature matrix (all threads) is measured in the same run.

    python benchmarks/bench_batch_stages.py [--rows 10000 100000] [--bundles default large] [--repeats 3]
        [--explain auto no] [--clock wall|cpu] [--glue] [--read-reasons] [--bundle-dir DIR] [--out benchmarks/results/bench_batch_stages.json]

``--clock cpu`` times every stage, the whole call and bare ``Booster.predict`` in CPU seconds of this process
(all its threads; ``time.process_time``): steadier than the wall clock on a shared machine, and the measure of
work, not of waiting (threads that run together count twice).

Every wrapper times its function exclusive of the wrapped stages it calls, so nested stages add up. ``--glue``
also wraps the functions around the stages (``_features_batch``, which frees the batch's link state,
``batch_admitted``, ``batch_static``, ``device_columns``, ``decide_batch``...), splitting "other".

With ``--clock cpu`` (round 18) each bundle's line ends with a bound (``fraudscore.bench.bounds``): the least wall
time any schedule of the measured CPU work could take on this machine's cores, the link loop on one core (each row
links against the devices earlier rows made) and everything else split perfectly, against bare ``Booster.predict``'s
wall time in the same run; and how far that least wall time must fall for #13's goal (default bundle 0.5x, large
1.0x). Run it with ``FRAUDSCORE_BATCH_OVERLAP=0`` so no stage's work is done twice.

``--clock callgrind`` (round 15) counts instructions instead: the script re-runs itself under ``valgrind
--tool=callgrind --instr-atstart=no`` once per bundle and size, switches instrumentation on (``callgrind_control
-i on``) just before one ``score_batch`` call, and every stage wrapper calls ``operator.call(int)`` as it enters
and as it leaves its stage, after which callgrind dumps (``--dump-after``): each dump closes an interval that
belongs to the innermost open stage, so the stages are exclusive and add up, as with the clocks. Instructions per row;
the whole process (every thread). Bare ``Booster.predict`` is not counted (its OpenMP threads are another
measure).

Bundles are the suite's reference bundles (built once into ``--bundle-dir``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, result  # noqa: E402

STAGES = [  # (label, module path, attribute path)
    ("schema (to_columns)", "fraudscore.scorer", "to_columns"),
    ("device screen", "fraudscore.pipeline", "FeaturePipeline.screen"),
    ("admission", "fraudscore.velocity.admission", "Admission.judge"),
    ("identity", "fraudscore.identity", "Identity.process_columns"),
    ("fingerprint", "fraudscore.fingerprint.sections", "Fingerprinter.fingerprint_many"),
    ("fingerprint", "fraudscore.devicecolumns", "fingerprint_distinct"),  # round 14: the batch's builder loop
    ("device signals", "fraudscore.devicecolumns", "device_signal_matrix"),
    ("device signals", "fraudscore.devicecolumns", "device_signal_rows"),  # round 14: the batch's rows
    ("link loop (not this work)", "fraudscore.devicecolumns", "link_rows"),
    ("velocity replay", "fraudscore.pipeline_batch", "replay_with_context"),
    ("rules", "fraudscore.rules.ruleset", "CompiledRuleSet.evaluate_columns"),
    ("rules combine", "fraudscore.rules.combine", "HitMatrix.combine"),
    ("rule reasons", "fraudscore.rules.combine", "HitMatrix.hits_for_row"),
    ("model", "fraudscore.model.model", "Model.predict_proba"),
    ("policy", "fraudscore.policy", "Policy.decide_array"),
    ("explanations (TreeSHAP)", "fraudscore.scorer", "explain_batch"),  # up to round 12 (eager)
    ("explanations (TreeSHAP)", "fraudscore.batchreasons", "PendingBatchReasons.resolve"),  # round 13: on first read
    ("output (DecisionBatch)", "fraudscore.decision", "DecisionBatch.__init__"),
    # glue: each wrapper times its function *exclusive* of the stages above called inside it (--glue)
]
GLUE = [
    ("glue: _features_batch (+ link state freed)", "fraudscore.scorer", "Scorer._features_batch"),
    ("glue: batch_admitted, take", "fraudscore.pipeline_batch", "BatchSteps.batch_admitted"),
    ("glue: batch", "fraudscore.pipeline_batch", "BatchSteps.batch"),
    ("glue: batch_static", "fraudscore.pipeline_batch", "BatchSteps.batch_static"),
    ("glue: category codes", "fraudscore.pipeline_batch", "BatchSteps.category_codes"),
    ("glue: device_columns", "fraudscore.pipeline_batch", "device_columns"),
    ("glue: decide_batch", "fraudscore.scorer", "Scorer.decide_batch"),
]

_acc: dict[str, float] = defaultdict(float)
_cg_labels: list[str] | None = None  # --clock callgrind: the label of each interval a dump closes, in order
_cg_stack: list[str] = []
_clock = time.perf_counter
_inner: list[float] = [0.0]  # per open wrapper: time of the wrapped stages called inside it


def _wrap(label: str, fn: Any) -> Any:
    if _cg_labels is not None:
        import operator

        mark = operator.call  # type: ignore[attr-defined]

        def counted(*a: Any, **k: Any) -> Any:
            assert _cg_labels is not None
            _cg_labels.append(_cg_stack[-1] if _cg_stack else "other")  # the interval the next dump closes
            mark(int)  # callgrind dumps after each operator.call (never nested: nested dumps are skipped)
            _cg_stack.append(label)
            try:
                return fn(*a, **k)
            finally:
                _cg_labels.append(_cg_stack.pop())
                mark(int)

        counted.__wrapped__ = fn  # type: ignore[attr-defined]
        return counted

    def timed(*a: Any, **k: Any) -> Any:
        _inner.append(0.0)
        t0 = _clock()
        try:
            return fn(*a, **k)
        finally:
            dt = _clock() - t0
            _acc[label] += dt - _inner.pop()  # exclusive of nested stages, so the stages add up
            _inner[-1] += dt

    timed.__wrapped__ = fn  # type: ignore[attr-defined]
    return timed


def install(glue: bool = False) -> None:
    import importlib

    for label, mod, attr in STAGES + (GLUE if glue else []):
        try:
            obj = importlib.import_module(mod)
            *owner, name = attr.split(".")
            for o in owner:
                obj = getattr(obj, o)
            fn = getattr(obj, name)
        except (ImportError, AttributeError):  # a stage of another version of the library (base runs)
            continue
        setattr(obj, name, _wrap(label, fn))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="+", type=int, default=[10_000, 100_000])
    ap.add_argument("--bundles", nargs="+", default=["default", "large"])
    ap.add_argument("--explain", nargs="+", default=["auto", "no"], choices=["auto", "no"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clock", choices=["wall", "cpu", "callgrind"], default="wall")
    ap.add_argument("--cg-child", nargs=3, metavar=("BUNDLE", "ROWS", "EXPLAIN"), help=argparse.SUPPRESS)
    ap.add_argument("--bundle-dir", default=os.environ.get("FRAUDSCORE_BENCH_BUNDLES", "/tmp/fraudscore-bench-bundles"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--read-reasons", action="store_true",
                    help="read the result's reasons inside the timed call (since round 13 the model reasons of a batch "
                         "are computed on their first read)")
    ap.add_argument("--glue", action="store_true", help="also time the glue functions around the stages")
    args = ap.parse_args(argv)
    if args.cg_child:
        return _cg_child(args)
    if args.clock == "callgrind":
        return _cg_parent(args)
    global _clock
    _clock = time.process_time if args.clock == "cpu" else time.perf_counter

    from fraudscore.bench.bundles import BenchContext, events_stream
    from fraudscore.bench.common import Settings
    from fraudscore.scorer import Scorer

    ctx = BenchContext(Settings.for_mode(False), cache_dir=args.bundle_dir)
    bundles = {}
    for name in args.bundles:  # built (and saved) before the timers go in
        p = Path(args.bundle_dir) / name
        if (p / "manifest.json").exists():
            from fraudscore.bundle import Bundle

            bundles[name] = Bundle.load(str(p), key=ctx.keys)
        else:
            bundles[name] = ctx.bundle(name)
    install(args.glue)
    labels = list(dict.fromkeys(lab for lab, _, _ in STAGES + (GLUE if args.glue else [])))
    threads = os.cpu_count() or 1
    rows_out = []
    for name, bundle in bundles.items():
        scorer = Scorer(bundle, ctx.keys)
        scorer.score_batch(events_stream(300, seed=1).columns)  # warm imports and memos
        for n in args.rows:
            cols = events_stream(n, seed=303 + n % 97).columns
            res = scorer.score_batch(cols, return_features=True, explain=False)
            X = np.column_stack([res.features[f] for f in bundle.model.feature_names])
            tb, tbw = [], []
            for _ in range(args.repeats):
                t0, w0 = _clock(), time.perf_counter()
                bundle.model.booster.predict(X, num_threads=threads)
                tb.append(_clock() - t0)
                tbw.append(time.perf_counter() - w0)
            t_lgb, t_lgb_wall = statistics.median(tb), statistics.median(tbw)
            for ex in args.explain:
                runs = []
                for _ in range(args.repeats):
                    _acc.clear()
                    t0, w0 = _clock(), time.perf_counter()
                    out = scorer.score_batch(cols, explain=None if ex == "auto" else False)
                    if args.read_reasons:
                        out.reasons  # noqa: B018 - computes pending model reasons
                    total = _clock() - t0
                    runs.append((total, dict(_acc), time.perf_counter() - w0))
                total = statistics.median(r[0] for r in runs)
                wall = statistics.median(r[2] for r in runs)
                stages = {lab: statistics.median(r[1].get(lab, 0.0) for r in runs) for lab in labels}
                stages["other"] = max(0.0, total - sum(stages.values()))
                print(f"\n{name} bundle, {n:,} rows, explain={ex} ({args.clock} clock): {n / total:,.0f} events/s, "
                      f"bare LightGBM {n / t_lgb:,.0f} rows/s, ratio {t_lgb / total:.4f}", flush=True)
                link = stages["link loop (not this work)"]
                for lab, v in stages.items():
                    share_nl = "" if lab.startswith("link") else f"  {100 * v / max(total - link, 1e-12):5.1f} % of non-link"
                    print(f"  {lab:28s} {v * 1000:9.1f} ms  {100 * v / total:5.1f} %{share_nl}")
                params = {"bundle": name, "batch_size": n, "explain": ex, "threads": threads, "repeats": args.repeats,
                          "clock": args.clock, "read_reasons": args.read_reasons, "stages_s": {k: round(v, 6) for k, v in stages.items()},
                          "wall_s": round(wall, 6), "lightgbm_wall_s": round(t_lgb_wall, 6)}
                if args.clock == "cpu":
                    params["bound"] = _print_bound(name, n, stages, threads, t_lgb_wall, wall)
                suffix = "" if args.clock == "wall" else "/cpu"
                rows_out.append(result(f"batch_stages/{name}/{ex}/events_per_s/{n}{suffix}", n / total, "events/s",
                                       "lightgbm Booster.predict rows/s", n / t_lgb, params))
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": machine_info(), "results": rows_out}, indent=1))
    return 0


GOAL_RATIO = {"default": 0.5, "large": 1.0}  # #13's batch goals at 100k rows: events/s against bare Booster.predict
SEQUENTIAL = ("link loop (not this work)",)  # each row links against the devices earlier rows made: one core


def _print_bound(name: str, n: int, stages: dict[str, float], cores: int, lgb_wall: float,
                 wall: float) -> dict[str, Any]:
    """``--clock cpu``: the least wall time of this CPU work on ``cores`` cores (``fraudscore.bench.bounds``)."""
    from fraudscore.bench.bounds import wall_bound

    b = wall_bound(stages, SEQUENTIAL, cores, lgb_wall, GOAL_RATIO.get(name, 1.0))
    print(f"  bound on {cores} cores: CPU {b.total_s:.3f} s, of it sequential (link loop) {b.sequential_s:.3f} s; "
          f"least wall {b.least_wall_s:.3f} s ({n / b.least_wall_s:,.0f} events/s) against bare LightGBM "
          f"{lgb_wall:.3f} s wall ({n / lgb_wall:,.0f} rows/s, all cores): best ratio {b.best_ratio:.3f} "
          f"(this call's wall {wall:.3f} s, ratio {lgb_wall / wall:.3f}); goal {b.goal_ratio:g} needs the least "
          f"wall {b.shrink_needed:.2f}x {'lower' if b.shrink_needed > 1 else 'as low (met by a perfect schedule)'}; "
          f"the link loop alone is {b.sequential_s * b.goal_ratio / lgb_wall:.2f}x the goal's whole wall budget",
          flush=True)
    return b.as_dict()


def _load(bundle_dir: str, name: str) -> tuple[Any, Any]:
    from fraudscore.bench.bundles import BenchContext
    from fraudscore.bench.common import Settings
    from fraudscore.bundle import Bundle

    ctx = BenchContext(Settings.for_mode(False), cache_dir=bundle_dir)
    p = Path(bundle_dir) / name
    return ctx, (Bundle.load(str(p), key=ctx.keys) if (p / "manifest.json").exists() else ctx.bundle(name))


def _cg_child(args: argparse.Namespace) -> int:
    """Under callgrind: set up uninstrumented, then one ``score_batch`` with instrumentation on; prints the labels."""
    import subprocess

    global _cg_labels
    name, n, ex = args.cg_child[0], int(args.cg_child[1]), args.cg_child[2]
    from fraudscore.bench.bundles import events_stream
    from fraudscore.scorer import Scorer

    ctx, bundle = _load(args.bundle_dir, name)
    scorer = Scorer(bundle, ctx.keys)
    scorer.score_batch(events_stream(300, seed=1).columns)  # warm imports, memos and compiled forests
    cols = events_stream(n, seed=303 + n % 97).columns
    _cg_labels = []
    install(args.glue)
    Scorer.score_batch = _wrap("other", Scorer.score_batch)  # type: ignore[method-assign]
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True, capture_output=True)
    scorer.score_batch(cols, explain=None if ex == "auto" else False)
    print("CG_LABELS " + json.dumps(_cg_labels), flush=True)
    return 0


def _cg_parent(args: argparse.Namespace) -> int:
    """``--clock callgrind``: one child per bundle and size (see the module docstring); instructions per row."""
    import re
    import subprocess
    import tempfile

    rows_out = []
    for name in args.bundles:
        _load(args.bundle_dir, name)  # built (and saved) outside valgrind
        for n in args.rows:
            for ex in args.explain:
                with tempfile.TemporaryDirectory() as tmp:
                    out = os.path.join(tmp, "cg.out")
                    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                           "--dump-after=_operator_call", sys.executable,
                           __file__, "--bundle-dir", args.bundle_dir, "--cg-child", name, str(n), ex]
                    if args.glue:
                        cmd.append("--glue")
                    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
                    labels = json.loads(proc.stdout.split("CG_LABELS ", 1)[1].splitlines()[0])
                    stages: dict[str, float] = defaultdict(float)
                    for i, lab in enumerate(labels, start=1):
                        text = Path(f"{out}.{i}").read_text()
                        m = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
                        stages[lab] += int(m.group(1)) if m else 0
                total = sum(stages.values())
                link = stages.get("link loop (not this work)", 0.0)
                print(f"\n{name} bundle, {n:,} rows, explain={ex} (callgrind): {total / n:,.0f} instructions a row, "
                      f"{(total - link) / n:,.0f} without the link loop", flush=True)
                for lab, v in sorted(stages.items(), key=lambda kv: -kv[1]):
                    print(f"  {lab:44s} {v / n:12,.0f} /row  {100 * v / max(total, 1):5.1f} %")
                params = {"bundle": name, "batch_size": n, "explain": ex, "clock": "callgrind",
                          "instructions_per_row": {k: round(v / n, 1) for k, v in stages.items()}}
                rows_out.append(result(f"batch_stages/{name}/{ex}/instructions_per_row/{n}", total / n,
                                       "instructions/row", "without the link loop", (total - link) / n, params))
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": machine_info(), "results": rows_out}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
