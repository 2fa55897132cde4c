"""Which events set the Redis store's tail: the worker's CPU per event by link outcome, and the slowest events' parts.

One process scores the benchmark stream (default bundle, learned linker, seed 404) on a fresh ``redis-server``
it starts, ``--warm`` events, then ``--events`` measured ones, with the worker's CPU (thread time) of each
``Scorer.score`` and of its parts, taken by wrapping (each wrapper adds ~1 µs to what it wraps):

* ``link``: ``RedisStore._decide`` (read from the worker's cache -> decide -> buffered write);
* ``read``: ``LinkReads._view`` (the view the decision sees), of which ``cands``: the compiled candidate read
  (``link_candidates``, ``_core/redis_linkcache.h``) and ``n``: the candidate records it returned;
* ``decide``: ``DeviceLinker.decide`` (the decision over the view: popularity, the candidates scored);
* ``wire``: ``RedisStore._execute`` (building the arguments, packing, ``sendall`` / ``recv_into``, hiredis).

Prints, per link outcome (``how``: new / shared / exact / model; ``-`` without a fingerprint), the events and
their median CPU, then the parts of the slowest ``--top`` share of events (whether a garbage collection ran
during each). Round 14 (#15) found the p99 events to be new devices with the most candidates (64, a block's
cap): their candidate read alone ~70-150 µs of CPU on the shared machine (~1.1k instructions a record, the rest
cache misses over the worker's cache of Python objects).

Run: ``PYTHONPATH=<checkout> python benchmarks/redis_slowest.py [--events 2000] [--warm 300] [--top 0.02]``.
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def run(n: int, warm: int, top: float) -> None:
    """Score the stream and print (see the module doc)."""
    import redis

    from fraudscore.bench.bundles import BenchContext, events_stream
    from fraudscore.bench.common import BENCH_SECRET, Settings
    from fraudscore.bench.servers import RedisServer
    from fraudscore.fingerprint import linker as lk
    from fraudscore.fingerprint import linkstate_redis_view as lv
    from fraudscore.scorer import Scorer
    from fraudscore.velocity import RedisStore
    from fraudscore.velocity import redis_store as rs

    tt = time.thread_time_ns
    info: dict[str, Any] = {}

    def timed(owner: Any, name: str, label: str, note: Any = None) -> None:
        f = getattr(owner, name)

        def w(*a: Any, **k: Any) -> Any:
            t0 = tt()
            out = f(*a, **k)
            info[label] = info.get(label, 0) + tt() - t0
            if note is not None:
                note(out)
            return out

        setattr(owner, name, w)

    def note_decide(out: Any) -> None:
        info["how"] = out[0].how

    def note_cands(out: Any) -> None:
        info["n"] = None if out is None else len(out)

    ctx = BenchContext(Settings.quick_settings(), log=lambda *a: None)
    events = events_stream(warm + n, seed=404).to_records()
    gcs = [0]
    gc.callbacks.append(lambda phase, _i: gcs.__setitem__(0, gcs[0] + (phase == "start")))
    rows: list[tuple[float, int, dict[str, Any]]] = []
    try:
        with RedisServer() as srv:
            sc = Scorer(ctx.bundle("default"), BENCH_SECRET, store=RedisStore(redis.Redis(port=srv.port), prefix="s:"),
                        max_clock_skew=None)
            for ev in events[:warm]:
                sc.score(ev)
            timed(rs.RedisStore, "_decide", "link")
            timed(rs.RedisStore, "_execute", "wire")
            timed(lv.LinkReads, "_view", "read")
            timed(lk.DeviceLinker, "decide", "decide", note_decide)
            if lv._CANDIDATES is not None:
                timed(lv, "_CANDIDATES", "cands", note_cands)
            for ev in events[warm:]:
                info.clear()
                g0 = gcs[0]
                t0 = tt()
                sc.score(ev)
                rows.append(((tt() - t0) / 1000, gcs[0] - g0, dict(info)))
    finally:
        ctx.close()
    rows.sort(key=lambda r: r[0])
    print(f"worker CPU per event: p50 {rows[len(rows) // 2][0]:.0f} µs, p99 {rows[int(len(rows) * 0.99)][0]:.0f} µs")
    by: dict[str, list[float]] = collections.defaultdict(list)
    for cpu, _g, i in rows:
        by[i.get("how", "-")].append(cpu)
    for how, v in sorted(by.items(), key=lambda kv: -len(kv[1])):
        print(f"  {how:7s} {len(v):5d} events, median {sorted(v)[len(v) // 2]:.0f} µs")
    k = max(1, int(len(rows) * top))
    print(f"slowest {k} events (µs of CPU):")
    for cpu, g, i in rows[-k:]:
        us = {p: i.get(p, 0) / 1000 for p in ("link", "read", "cands", "decide", "wire")}
        print(f"  {cpu:6.0f} gc={g} how={i.get('how', '-'):6s} candidates={i.get('n')} " +
              " ".join(f"{p}={v:.0f}" for p, v in us.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--warm", type=int, default=300)
    ap.add_argument("--top", type=float, default=0.02, help="share of the slowest events to list")
    a = ap.parse_args()
    run(a.events, a.warm, a.top)


if __name__ == "__main__":
    main()
