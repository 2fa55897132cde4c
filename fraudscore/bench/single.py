"""Single event, end to end: latency of ``Scorer.score`` and a breakdown by stage.

For each reference bundle (memory store) the group measures, over ``repeats``
interleaved runs of ``n_latency`` events each (state keeps growing), the p50,
p99 and p99.9 of ``Scorer.score`` and the median per-stage latencies of the same
flow taken apart the way :meth:`FeaturePipeline.online` and :meth:`Scorer.score`
run it: schema, identity, fingerprint (+ device signals), link, velocity,
rules, model, policy. End-to-end figures are given with the default
``explain="auto"`` (reviewed and declined decisions carry model explanations)
and with ``explain=False``. The baseline is ``Model.predict_one`` alone on the very
feature vectors the scorer built. ``single/large/compiled/*`` rows compare each stage
with the compiled core (``fraudscore/_core``) against the same stage on the pure-Python
reference, interleaved in the same run.

Explanations are computed when ``Decision.reasons`` is first read; the
``e2e_reasons_*`` rows read it after every call, so they show what a caller
that returns every reason pays. The ``*_compiled_*`` rows repeat the model and
end-to-end figures with compiled trees (``Model(compiled=True)``, bit-identical):
``model_compiled_*`` against today's C fast path, ``e2e_compiled_*`` against the
compiled model alone.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from ..fingerprint import MIN_LINK_CONFIDENCE, device_signal_values
from ..model import score_scale
from ..pipeline import _ROW
from ..rules import combine
from ..scorer import Scorer
from .bundles import BenchContext, events_stream
from .common import latencies_us, median_percentiles, result

__all__ = ["run", "StagedScorer", "STAGES"]

GROUP = "single"
STAGES = ("schema", "identity", "fingerprint", "link", "velocity", "rules", "model", "policy")
_NAN = float("nan")


class StagedScorer:
    """``Scorer.score`` (without explanations) taken apart into timed stages.

    ``score(event)`` returns ``(probability, action, x_model)`` and appends each
    stage's nanoseconds to :attr:`times`.
    """

    def __init__(self, scorer: Scorer) -> None:
        self.sc = scorer
        pipe = scorer.pipeline
        self.n_static = len(pipe.feature_names) - len(pipe.feature_set.names)
        names = list(pipe.feature_names)
        self.model_cols = np.array([names.index(f) for f in scorer.model.feature_names], dtype=np.intp) \
            if scorer.model is not None else None
        self.times: dict[str, list[int]] = {s: [] for s in STAGES}

    def score(self, event: dict[str, Any]) -> tuple[float, str, np.ndarray]:
        sc, pipe, clock, t = self.sc, self.sc.pipeline, time.perf_counter_ns, self.times
        c0 = clock()
        ev = sc.schema.validate(event)
        c1 = clock()
        row = _ROW  # as FeaturePipeline.online: compiled, the record and the vector written in place
        x = np.empty(len(pipe.feature_names), dtype=np.float64)
        record = None if row is None else pipe._head(ev, x)  # identity inside the head: one compiled call
        static: list[float] | None = None
        if record is None:  # as FeaturePipeline._record_and_static
            pseudo, ident = pipe.identity.process(ev)
            record = dict(ev)
            record.pop("device", None)
            record.update(pseudo)
            static = [_NAN if ev.get(n) is None else float(ev.get(n)) for n in pipe.numeric_fields]
            static.extend(map(ident.__getitem__, pipe.identity.feature_names))
        c2 = clock()
        fp = None
        if pipe.has_device and static is None:  # as FeaturePipeline.online: one compiled device step
            fp = pipe._device_row(ev, record, x)
        elif pipe.has_device:
            fp = pipe.fingerprinter.fingerprint(ev.get("device"))
            sig = device_signal_values(fp, ev)
            if static is not None:
                static.extend(sig)
            else:
                pipe._row_signals(x, sig)
            record["device_fp"] = None if fp is None else fp.id
            record["device_hw"] = None if fp is None else fp.hardware
            record["device_canvas"] = None if fp is None else fp.canvas
        c3 = clock()
        conf = None
        if pipe.has_device:
            if fp is None:
                record["device_id"] = None
                conf = _NAN
            else:
                res = sc.linker.link(fp, record[sc.schema.time_field], record.get("ip_prefix"))
                record["device_id"] = res.device_id if res.link_confidence >= MIN_LINK_CONFIDENCE else None
                conf = float(res.link_confidence)
            if static is not None:
                static.append(conf)
        c4 = clock()
        vel = sc.velocity.update_and_read(record)
        if static is not None:
            x[: self.n_static] = static
            x[self.n_static:] = vel
        else:
            pipe._row_tail(x, conf, vel)
        c5 = clock()
        hits = sc.rules.evaluate_parts(record, x, pipe.feature_names)  # as Scorer.score: no merged dict unless needed
        rule_action, points = combine(hits)
        c6 = clock()
        xm = x if self.model_cols is None else x[self.model_cols]
        p = float(sc.model.predict_one(xm))
        model_score = score_scale(p)
        c7 = clock()
        _score, action = sc.policy.decide(model_score, rule_action, points)
        c8 = clock()
        for name, a, b in zip(STAGES, (c0, c1, c2, c3, c4, c5, c6, c7), (c1, c2, c3, c4, c5, c6, c7, c8)):
            t[name].append(b - a)
        return p, action, xm


def wall_and_cpu_us(fn: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-call wall-clock and thread-CPU latencies (microseconds) of ``fn(i)``, ``i`` in ``range(n)``.

    On a shared, oversubscribed machine the wall-clock tail is dominated by the
    scheduler preempting the process; the CPU time is the work the call did.
    """
    wall, cpu = np.empty(n), np.empty(n)
    clock, tclock = time.perf_counter_ns, time.thread_time_ns
    for i in range(n):
        t0, c0 = clock(), tclock()
        fn(i)
        cpu[i] = (tclock() - c0) / 1e3
        wall[i] = (clock() - t0) / 1e3
    return wall, cpu


def _measure(ctx: BenchContext, name: str) -> list[dict[str, Any]]:
    s = ctx.settings
    bundle = ctx.bundle(name)
    desc = ctx.describe(name)
    n, reps, warm = s.n_latency, s.repeats, min(500, s.n_latency)
    data = events_stream(warm + n * reps, seed=202)
    events = data.to_records()
    e2e = Scorer(bundle, ctx.keys)
    quiet = Scorer(bundle, ctx.keys, explain=False)
    staged = StagedScorer(Scorer(bundle, ctx.keys))
    model = e2e.model
    reader = Scorer(bundle, ctx.keys)
    cbundle = ctx.compiled_bundle(name)
    c_e2e = Scorer(cbundle, ctx.keys) if cbundle is not None else None
    c_quiet = Scorer(cbundle, ctx.keys, explain=False) if cbundle is not None else None
    cmodel = cbundle.model if cbundle is not None else None
    extra = [sc for sc in (reader, c_e2e, c_quiet) if sc is not None]
    for ev in events[:warm]:
        e2e.score(ev)
        quiet.score(ev)
        staged.score(ev)
        for sc in extra:
            sc.score(ev).reasons  # noqa: B018 - read, as a caller would
    for k in staged.times:
        staged.times[k].clear()
    runs, cpu_runs, quiet_runs, base_runs, stage_med = [], [], [], [], {k: [] for k in STAGES}
    read_runs: list[np.ndarray] = []
    c_runs: list[np.ndarray] = []
    c_quiet_runs: list[np.ndarray] = []
    c_base_runs: list[np.ndarray] = []
    lgb_runs: list[np.ndarray] = []  # LightGBM's fast path alone (Model.predict_one's engine before round 10)
    lgb_one = getattr(model, "_fast", None)
    lgb_one = lgb_one.predict_one if lgb_one is not None and getattr(lgb_one, "mode", "") == "fast" else None
    mismatch = 0
    for r in range(reps):
        chunk = events[warm + r * n: warm + (r + 1) * n]
        wall, cpu = wall_and_cpu_us(lambda i: e2e.score(chunk[i]), n)
        runs.append(wall)
        cpu_runs.append(cpu)
        quiet_runs.append(latencies_us(lambda i: quiet.score(chunk[i]), n, warmup=0))
        xs = []
        for ev in chunk:
            p, _a, xm = staged.score(ev)
            xs.append(xm)
        for k in STAGES:
            stage_med[k].append(float(np.median(staged.times[k][-n:])) / 1e3)
        base_runs.append(latencies_us(lambda i: model.predict_one(xs[i]), n, warmup=min(50, n)))
        if lgb_one is not None:
            cal = model.calibrator
            lgb_runs.append(latencies_us(lambda i: cal.apply_one(lgb_one(xs[i])), n, warmup=min(50, n)))
        read_runs.append(latencies_us(lambda i: reader.score(chunk[i]).reasons, n, warmup=0))
        if c_e2e is not None and c_quiet is not None and cmodel is not None:
            c_runs.append(latencies_us(lambda i: c_e2e.score(chunk[i]), n, warmup=0))
            c_quiet_runs.append(latencies_us(lambda i: c_quiet.score(chunk[i]), n, warmup=0))
            c_base_runs.append(latencies_us(lambda i: cmodel.predict_one(xs[i]), n, warmup=min(50, n)))
    # the staged flow must compute what score() computes (same state history, same events)
    check = Scorer(bundle, ctx.keys)
    check_staged = StagedScorer(Scorer(bundle, ctx.keys))
    for ev in events[:50]:
        d = check.score(ev)
        p, action, _ = check_staged.score(ev)
        mismatch += int(d.action != action or not np.isclose(d.probability, p, rtol=0, atol=1e-12))
    if mismatch:
        ctx.note(f"single/{name}: the staged breakdown disagrees with score() on {mismatch} of 50 events")
    q, qq, qb = median_percentiles(runs), median_percentiles(quiet_runs), median_percentiles(base_runs)
    params = {"bundle": name, "store": "memory", "events_per_run": n, "repeats": reps, **desc}
    out = []
    for key in ("p50", "p99", "p99.9"):
        out.append(result(f"single/{name}/e2e_{key}", q[key], "us", f"model.predict_one {key}", qb[key],
                          {**params, "explain": "auto (reviewed and declined decisions are explained)"}))
    qc = median_percentiles(cpu_runs)
    for key in ("p50", "p99", "p99.9"):
        out.append(result(f"single/{name}/e2e_cpu_{key}", qc[key], "us", f"model.predict_one {key} (wall)", qb[key],
                          {**params, "clock": "thread CPU time", "explain": "auto"}))
    for key in ("p50", "p99", "p99.9"):
        out.append(result(f"single/{name}/e2e_noexplain_{key}", qq[key], "us", f"model.predict_one {key}", qb[key],
                          {**params, "explain": False}))
    qr = median_percentiles(read_runs)
    for key in ("p50", "p99", "p99.9"):
        out.append(result(f"single/{name}/e2e_reasons_{key}", qr[key], "us", f"model.predict_one {key}", qb[key],
                          {**params, "explain": "auto, and Decision.reasons read after every call"}))
    if c_runs:
        qcb, qcq, qce = median_percentiles(c_base_runs), median_percentiles(c_quiet_runs), median_percentiles(c_runs)
        for key in ("p50", "p99"):
            out.append(result(f"single/{name}/model_compiled_{key}", qcb[key], "us",
                              f"model.predict_one {key} (LightGBM fast path)", qb[key],
                              {**params, "inference": "compiled trees, bit-identical"}))
            out.append(result(f"single/{name}/e2e_compiled_noexplain_{key}", qcq[key], "us",
                              f"compiled model.predict_one {key}", qcb[key], {**params, "explain": False}))
            out.append(result(f"single/{name}/e2e_compiled_{key}", qce[key], "us", f"compiled model.predict_one {key}",
                              qcb[key], {**params, "explain": "auto"}))
    if lgb_runs:
        ql = median_percentiles(lgb_runs)
        for key in ("p50", "p99"):
            out.append(result(f"single/{name}/model_lightgbm_{key}", ql[key], "us", f"model.predict_one {key}",
                              qb[key], {**params, "inference": "LightGBM's fast path (ctypes) + calibration",
                                        "single_row_path": model.single_row_path}))
    stages = {k: statistics.median(v) for k, v in stage_med.items()}
    base50 = qb["p50"]
    for k, v in stages.items():
        out.append(result(f"single/{name}/stage_{k}_p50", v, "us", "model.predict_one p50", base50, params))
    non_model = sum(v for k, v in stages.items() if k != "model")
    out.append(result(f"single/{name}/non_model_p50", non_model, "us", "model.predict_one p50", base50,
                      {**params, "note": "sum of the stage medians except model"}))
    return out


def _reference_scorer(ctx: BenchContext, bundle: Any) -> Scorer:
    """A scorer on the pure-Python reference implementations (``FRAUDSCORE_PURE_PYTHON=1`` while built)."""
    import os

    from .._core import PURE_PYTHON_ENV

    old = os.environ.get(PURE_PYTHON_ENV)
    os.environ[PURE_PYTHON_ENV] = "1"
    try:
        return Scorer(bundle, ctx.keys)
    finally:
        if old is None:
            del os.environ[PURE_PYTHON_ENV]
        else:
            os.environ[PURE_PYTHON_ENV] = old


def _compiled_vs_reference(ctx: BenchContext, name: str) -> list[dict[str, Any]]:
    """Per-stage medians of the compiled core against the Python reference, interleaved in one run."""
    from .._core import available

    if not any(available().values()):
        ctx.note("single: the compiled core is not in use; no compiled-vs-reference rows")
        return []
    s = ctx.settings
    bundle = ctx.bundle(name)
    n, reps, warm = s.n_latency, s.repeats, min(500, s.n_latency)
    events = events_stream(warm + n * reps, seed=303).to_records()
    comp, ref = StagedScorer(Scorer(bundle, ctx.keys)), StagedScorer(_reference_scorer(ctx, bundle))
    for ev in events[:warm]:
        comp.score(ev)
        ref.score(ev)
    for st in (comp, ref):
        for k in st.times:
            st.times[k].clear()
    med: dict[str, dict[str, list[float]]] = {"c": {k: [] for k in STAGES}, "r": {k: [] for k in STAGES}}
    for r in range(reps):
        chunk = events[warm + r * n: warm + (r + 1) * n]
        for ev in chunk:  # interleaved: both see the same load
            comp.score(ev)
            ref.score(ev)
        for key, st in (("c", comp), ("r", ref)):
            for k in STAGES:
                med[key][k].append(float(np.median(st.times[k][-n:])) / 1e3)
    params = {"bundle": name, "store": "memory", "events_per_run": n, "repeats": reps, "available": available()}
    out = []
    for k in STAGES:
        c, rf = statistics.median(med["c"][k]), statistics.median(med["r"][k])
        out.append(result(f"single/{name}/compiled/stage_{k}_p50", c, "us", f"reference stage_{k}_p50", rf, params))
    c = sum(statistics.median(med["c"][k]) for k in STAGES if k != "model")
    rf = sum(statistics.median(med["r"][k]) for k in STAGES if k != "model")
    out.append(result(f"single/{name}/compiled/non_model_p50", c, "us", "reference non_model_p50", rf, params))
    return out


def run(ctx: BenchContext) -> list[dict[str, Any]]:
    """Run the group; returns result rows."""
    out: list[dict[str, Any]] = []
    for name in ("default", "large"):
        ctx.log(f"single event, {name} bundle ...")
        out.extend(_measure(ctx, name))
    ctx.log("single event: compiled core vs Python reference, stage by stage ...")
    out.extend(_compiled_vs_reference(ctx, "large"))
    return out
