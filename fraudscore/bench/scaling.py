"""Scaling: throughput and memory against entities in state, history length, rules, trees; rescoring.

Scorers here run with ``explain=False``, so the figures isolate state and rules.

* **entities**: the velocity store is filled with N distinct entities (every
  identifier of a real record replaced by a fresh pseudonym-like value, times
  spread over one day before the scored events), then ``score()`` throughput is
  measured; resident memory growth gives bytes per entity (extrapolated to
  sizes the budget skips). Baseline: the smallest N.
* **history**: one device/applicant with H prior events in its windows; score latency.
* **rules**: ``CompiledRuleSet.evaluate`` latency with K generated rules.
* **trees**: ``Model.predict_one`` with the large model cut to T trees,
  against bare ``Booster.predict`` on one row.
* **rescore**: ``score_batch`` over R rows in a fresh child process; peak RSS.
* **limits**: the physical floors: one keyed BLAKE2b pseudonym (compiled, against
  hashlib), one DRAM miss (a pointer chase) and one miss per key group per event.
* **memory**: bytes per entity-window (one entity in one key group) of the memory store
  at the largest size filled, against the Python reference store in the same run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import numpy as np

from ..pipeline import RECORD_EXTRA_FIELDS
from ..rules import RuleSet
from ..scorer import Scorer
from .bundles import BenchContext, events_stream, extra_rules_toml
from .common import latencies_us, median_percentiles, median_time, result, rss_kib

__all__ = ["run"]

GROUP = "scaling"
DAY_MS = 86_400_000


def _interleaved_eps(scorers: list[Scorer], events: list[dict[str, Any]], repeats: int) -> list[float]:
    """Events/s of each scorer: the events in ``repeats`` chunks, every scorer scoring chunk
    ``r`` before any scores chunk ``r + 1`` (the order rotated per round), the median per scorer.

    Interleaving puts every size under the same background load, so the ratios between sizes
    hold on a busy machine where back-to-back runs would not.
    """
    chunks = np.array_split(np.arange(len(events)), repeats)
    rates: list[list[float]] = [[] for _ in scorers]
    clock = time.perf_counter
    for r, idx in enumerate(chunks):
        order = list(range(len(scorers)))
        order = order[r % len(order):] + order[:r % len(order)]
        for j in order:
            score = scorers[j].score
            t0 = clock()
            for i in idx:
                score(events[i])
            rates[j].append(len(idx) / (clock() - t0))
    return [float(np.median(x)) for x in rates]


def _fill(sc: Scorer, record: dict[str, Any], n: int, t_start: int, step: int, deadline: float) -> int:
    """Put ``n`` fresh entities (one event each, in every key group the record touches) into the store.

    The fill calls the store directly with one reused record (no validation, no copies): it
    prepares the state, it is not what is measured. Returns how many were added before ``deadline``.
    """
    store, plan = sc.velocity.store, sc.velocity.plan
    upd = store.update_and_read
    ids = [k for k in (*sc.pipeline.identifier_fields, *RECORD_EXTRA_FIELDS) if record.get(k) is not None]
    prefixes = [(k, "e" + k[:2]) for k in ids]
    tf, idf = sc.schema.time_field, sc.schema.id_field
    rec = dict(record)
    clock = time.perf_counter
    for i in range(n):
        if i % 4096 == 0 and clock() > deadline:
            return i
        tag = f"{i:012x}"
        for k, pre in prefixes:
            rec[k] = pre + tag
        ts = t_start + i * step
        rec[tf] = ts
        rec[idf] = "fill" + tag
        upd(plan, rec, ts)
    return n


def _entities(ctx: BenchContext) -> list[dict[str, Any]]:
    """Fill one store per size, then measure ``score()`` on all of them in interleaved rounds."""
    s = ctx.settings
    bundle = ctx.bundle("default")
    events = events_stream(200 * s.repeats, seed=606).to_records()
    fill_rate, per_entity = None, None
    per_window: dict[int, float] = {}
    core_per_window: dict[int, float] = {}
    engine = None
    filled: list[tuple[int, Scorer, dict[str, Any]]] = []
    from ..velocity import MemoryStore

    for n in s.entities:
        est = n / fill_rate if fill_rate else 0.0
        if fill_rate and est > s.entity_budget_s:
            extra = f"; memory extrapolated at {per_entity:,.0f} B/entity: {per_entity * n / 2**30:,.2f} GiB" \
                if per_entity else ""
            ctx.note(f"scaling/entities: {n:,} skipped (fill estimated {est:,.0f} s > {s.entity_budget_s:.0f} s){extra}")
            continue
        ctx.log(f"scaling: {n:,} entities in state ...")
        sc = Scorer(bundle, ctx.keys)
        record = sc.pipeline.online(sc.schema.validate(events[0]), sc.linker, sc.velocity)[0]
        t_start = int(events[0]["ts"]) - DAY_MS
        step = max(1, (DAY_MS - 60_000) // n)

        # entity state only: the fill's idempotency records (one per event, ~300 B) are not kept
        sc2 = Scorer(bundle, ctx.keys, explain=False, store=MemoryStore(max_results=1))
        engine = getattr(sc2.store, "engine", None)
        before = rss_kib()
        t0 = time.perf_counter()
        got = _fill(sc2, record, n, t_start, step, t0 + 2 * s.entity_budget_s)
        if got < n:
            ctx.note(f"scaling/entities: fill of {n:,} stopped at {got:,} entities after {2 * s.entity_budget_s:.0f} s")
            n = got
        fill_s = time.perf_counter() - t0
        fill_rate = n / fill_s
        grown = max(0, rss_kib() - before) * 1024
        per_entity = grown / n if grown else per_entity
        windows = sc2.store.stats()["entities"]  # live (entity, key group) states
        if grown and windows:
            per_window[n] = grown / windows
        if hasattr(sc2.store, "memory_bytes") and windows:
            core_per_window[n] = sc2.store.memory_bytes() / windows
        filled.append((n, sc2, {"entities": n, "store": engine, "fill_updates_per_s": round(fill_rate),
                                "fill_s": round(fill_s, 1), "rss_growth_mib": round(grown / 2**20, 1),
                                "entity_windows": windows,
                                "bytes_per_entity": round(grown / n) if grown else None}))
    out: list[dict[str, Any]] = []
    if filled:
        ctx.log(f"scaling: score() on {len(filled)} sizes, {s.repeats} interleaved rounds ...")
        eps = _interleaved_eps([f[1] for f in filled], events, s.repeats)
        base = eps[0]
        for (n, _, params), e in zip(filled, eps):
            out.append(result(f"scaling/entities/events_per_s/{n}", e, "events/s", f"{filled[0][0]:,} entities", base,
                              {**params, "measure": "interleaved rounds, median"}))
    del filled
    if per_window or core_per_window:
        out.extend(_memory_per_window(ctx, per_window, core_per_window, engine))
    return out


def _memory_per_window(ctx: BenchContext, per_window: dict[int, float], core: dict[int, float],
                       engine: str | None) -> list[dict[str, Any]]:
    """Bytes per entity-window (one entity in one key group) at the largest size, against the
    Python reference store filled with the smallest size in the same run."""
    from ..velocity import MemoryStore

    import tracemalloc

    measured = per_window or core  # resident growth; allocated bytes where the fill was too small to move RSS
    n0 = min(measured)
    bundle = ctx.bundle("default")
    events = events_stream(1, seed=606).to_records()
    probe = Scorer(bundle, ctx.keys)
    record = probe.pipeline.online(probe.schema.validate(events[0]), probe.linker, probe.velocity)[0]
    # entity state only: the fill's idempotency records (one per event, ~300 B) are not kept
    sc = Scorer(bundle, ctx.keys, store=MemoryStore(engine="python", max_results=1))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    _fill(sc, record, n0, int(events[0]["ts"]) - DAY_MS, max(1, (DAY_MS - 60_000) // n0), time.perf_counter() + 600)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    windows = sc.store.stats()["entities"]
    ref = grown / windows if windows else None
    del sc
    n = max(measured)
    return [result("scaling/memory/bytes_per_entity_window", measured[n], "B",
                   f"Python reference MemoryStore at {n0:,} entities (tracemalloc)", ref,
                   {"entities": n, "store": engine, "goal_max": 128,
                    "by_entities": {str(k): round(v, 1) for k, v in sorted(per_window.items())},
                    "allocated_by_entities": {str(k): round(v, 1) for k, v in sorted(core.items())},
                    "measure": "resident growth" if per_window else "allocated bytes",
                    "note": "resident memory growth of the fill / live (entity, key group) states; "
                            "allocated_by_entities: bytes the compiled store allocated per state"})]


def _history(ctx: BenchContext) -> list[dict[str, Any]]:
    s = ctx.settings
    bundle = ctx.bundle("default")
    proto = events_stream(1, seed=707).to_records()[0]
    out, base = [], None
    for h in s.history:
        ctx.log(f"scaling: history length {h:,} ...")
        sc = Scorer(bundle, ctx.keys, explain=False)
        t0 = int(proto["ts"])
        step = max(1, min(60_000, (DAY_MS // 2) // max(h, 1)))
        for i in range(h):
            sc.score({**proto, "application_id": f"h{i}", "ts": t0 + i * step})
        k = [h]

        def one(i: int) -> None:
            k[0] += 1
            sc.score({**proto, "application_id": f"h{k[0]}", "ts": t0 + k[0] * step})

        runs = [latencies_us(one, 200, warmup=0) for _ in range(s.repeats)]
        p50 = median_percentiles(runs)["p50"]
        base = base or p50
        out.append(result(f"scaling/history/e2e_p50/{h}", p50, "us", f"history {s.history[0]}", base,
                          {"history": h, "spacing_ms": step}))
    return out


def _rules(ctx: BenchContext) -> list[dict[str, Any]]:
    s = ctx.settings
    bundle = ctx.bundle("default")
    sc = Scorer(bundle, ctx.keys)
    names = list(sc.pipeline.feature_names)
    res = sc.score_batch(events_stream(500, seed=808).columns, return_features=True)
    X = np.column_stack([res.features[f] for f in names])
    rows = [dict(zip(names, X[i].tolist())) for i in range(len(X))]
    out, base = [], None
    for k in s.rules:
        crs = RuleSet.from_toml(extra_rules_toml(names, X, k)).compile(names)
        runs = [latencies_us(lambda i: crs.evaluate(rows[i % len(rows)]), len(rows), warmup=50) for _ in range(s.repeats)]
        p50 = median_percentiles(runs)["p50"]
        base = base or p50
        out.append(result(f"scaling/rules/evaluate_p50/{k}", p50, "us", f"{s.rules[0]} rules", base, {"rules": k}))
    return out


def _trees(ctx: BenchContext) -> list[dict[str, Any]]:
    import lightgbm as lgb

    from ..model import Model

    s = ctx.settings
    m = ctx.bundle("large").model
    rng = np.random.default_rng(0)
    X = ctx.train_X
    names = list(ctx._feature_names)
    cols = [names.index(f) for f in m.feature_names]
    rows = X[rng.integers(0, len(X), 500)][:, cols] if X is not None else rng.normal(size=(500, m.num_features))
    out = []
    for t in s.trees:
        if t > m.booster.num_trees():
            continue
        b = lgb.Booster(model_str=m.booster.model_to_string(num_iteration=t))
        mt = Model(b, m.feature_names, calibrator=m.calibrator, thresholds=m.thresholds)
        fs = [latencies_us(lambda i: mt.predict_one(rows[i]), len(rows), warmup=50) for _ in range(s.repeats)]
        bl = [latencies_us(lambda i: b.predict(rows[i:i + 1], num_threads=1), len(rows), warmup=50)
              for _ in range(s.repeats)]
        out.append(result(f"scaling/trees/predict_one_p50/{t}", median_percentiles(fs)["p50"], "us",
                          "Booster.predict 1 row p50", median_percentiles(bl)["p50"], {"trees": t, "leaves_max": 63}))
    return out


_CHILD = """
import json, resource, sys, time
from fraudscore.scorer import load
from fraudscore.bench.bundles import events_stream
from fraudscore.bench.common import BENCH_SECRET
n = int(sys.argv[2]); sc = load(sys.argv[1], key=BENCH_SECRET)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cols = events_stream(n, seed=909).columns
t0 = time.perf_counter(); res = sc.score_batch(cols); dt = time.perf_counter() - t0
print(json.dumps({"rows": len(res), "seconds": dt, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "before_kib": before}))
"""


def _rescore(ctx: BenchContext) -> list[dict[str, Any]]:
    s = ctx.settings
    path = str(ctx.bundle_path("default"))
    out, base = [], None
    for n in s.rescore_rows:
        ctx.log(f"scaling: rescoring {n:,} rows in a child process ...")
        proc = subprocess.run([sys.executable, "-c", _CHILD, path, str(n)], capture_output=True, text=True,
                              timeout=900, check=True)
        doc = json.loads(proc.stdout.strip().splitlines()[-1])
        eps = doc["rows"] / doc["seconds"]
        base = base or eps
        per_row = (doc["peak_kib"] - doc["before_kib"]) * 1024 / max(1, n)
        out.append(result(f"scaling/rescore/events_per_s/{n}", eps, "events/s", f"rescore {s.rescore_rows[0]:,} rows",
                          base, {"rows": n, "peak_rss_mib": round(doc["peak_kib"] / 1024, 1),
                                 "peak_growth_bytes_per_row": round(per_row),
                                 "extrapolated_peak_gib_10m_rows": round(per_row * 1e7 / 2**30, 2)}))
    return out


def _limits(ctx: BenchContext) -> list[dict[str, Any]]:
    """Physical floors of the per-event work: one keyed hash, one DRAM miss, one miss per key group."""
    import hashlib

    from .._core import load
    from ..velocity.defaults import default_feature_set
    from ..velocity.plan import Plan

    out: list[dict[str, Any]] = []
    key = ctx.keys.pseudonym
    value = "+8613800138000"
    ref = hashlib.blake2b(key=key, digest_size=16, person=b"phone")

    values = [f"+86138{i:08d}" for i in range(20_000)]  # distinct, 14 bytes each

    def py_all() -> None:
        for v in values:
            h = ref.copy()
            h.update(v.encode())
            h.hexdigest()

    py = median_time(py_all, repeat=ctx.settings.repeats) / len(values) * 1e6
    core = load("pseudonym")
    if core is not None:
        hx = core.Hasher(key, b"phone")
        c = median_time(lambda: hx.many(values), repeat=ctx.settings.repeats) / len(values) * 1e6
        out.append(result("limits/pseudonym_one_hash", c, "us", "hashlib copy+update+hexdigest per value", py,
                          {"hash": "keyed BLAKE2b-128 + hex", "value_bytes": len(value), "values": len(values),
                           "note": "per value of one many() call over distinct values (no per-call overhead)"}))
    vs = load("velocity_store")
    if vs is not None:
        lat = sorted(vs.memory_latency_ns(256, 2_000_000)[0] for _ in range(3))[1]
        hit = sorted(vs.memory_latency_ns(1, 2_000_000)[0] for _ in range(3))[1]
        out.append(result("limits/dram_miss_ns", lat, "ns", "cache-resident load (1 MiB cycle)", hit,
                          {"method": "dependent loads over a random cycle of 256 MiB (median of 3)"}))
        fs = default_feature_set()
        groups = len(Plan(fs).groups)
        from ..velocity import MemoryStore, OnlineVelocity

        online = OnlineVelocity(fs, MemoryStore(engine="compiled"))
        fields = sorted({k for spec in fs.specs for k in spec.check()["key"]} | {"applicant_id", "device_id", "phone"})
        rng = np.random.default_rng(7)
        n_fill, n_time = (5_000, 2_000) if ctx.settings.quick else (200_000, 20_000)
        pool = n_fill * 2
        recs = []
        for i in range(n_fill + n_time):
            rec = {f: f"p:{f[:2]}{int(rng.integers(0, pool)):030x}" for f in fields}
            rec.update(application_id=f"L{i}", ts=10**12 + i * 1000, amount=100.0)
            recs.append(rec)
        for r in recs[:n_fill]:
            online.update_and_read(r)
        tail = recs[n_fill:]
        upd = float(np.median(latencies_us(lambda i: online.update_and_read(tail[i]), len(tail), warmup=0)))
        out.append(result("limits/velocity_update_p50", upd, "us", "one DRAM miss per key group", lat * groups / 1e3,
                          {"key_groups": groups, "features": len(fs.specs), "distinct_values_per_field": pool,
                           "note": "compiled OnlineVelocity.update_and_read (validation included) against the floor "
                                   "of one DRAM miss per key group; ratio = fraction of the floor reached"}))
    return out


def run(ctx: BenchContext) -> list[dict[str, Any]]:
    """Run the group; returns result rows."""
    out: list[dict[str, Any]] = []
    for part in (_limits, _entities, _history, _rules, _trees, _rescore):
        out.extend(part(ctx))
    return out
