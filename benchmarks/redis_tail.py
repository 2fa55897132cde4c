"""What sets the Redis store's tail latency per event: the worker's CPU, its garbage collections, the server.

One process scores the benchmark stream (default bundle, learned linker, seed 404) on a fresh
``redis-server`` it starts (nothing else on it), ``--warm`` events, then ``--events`` measured ones,
and reports, per event:

* ``e2e``: wall clock of ``Scorer.score`` (p50 / p99);
* ``cpu``: the worker's CPU (thread time, user and system) of ``Scorer.score`` (p50 / p99), and the same
  over the events during which no garbage collection ran (``cpu_nogc``): the gap between the two p99s is
  what the collector adds to the tail;
* ``gc``: collections per 1,000 events by generation, their mean and longest CPU time (``gc.callbacks``);
* ``kept``: objects the cyclic garbage collector tracks that an event leaves behind (a count before and
  after the measured events, with the collector off, over the events; caches that grow with new entities
  make collections of the youngest generation more frequent);
* ``server``: ``EVALSHA`` p50 / p99 / p99.9 inside the server (``INFO latencystats``, Redis 7+) and its
  mean (``INFO commandstats``).

Run: ``PYTHONPATH=<checkout> python benchmarks/redis_tail.py [--events 2000] [--warm 300]
[--store redis|memory]``; prints one JSON object. Wall-clock figures follow the load of the machine: on
a shared one compare two checkouts in alternated runs (``redis_ab.py``); CPU and counts move less.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] if xs else 0.0


def _latencystats(client: Any) -> dict[str, float]:
    """``EVALSHA`` percentiles inside the server (µs), from ``INFO latencystats`` (empty before Redis 7)."""
    try:
        got = client.info("latencystats").get("latency_percentiles_usec_evalsha", {})
    except Exception:  # noqa: BLE001 - an older server
        return {}
    if isinstance(got, dict):
        return {str(k): float(v) for k, v in got.items()}
    return {k: float(v) for k, v in (kv.split("=") for kv in str(got).split(","))}


def run(events_n: int, warm: int, store: str) -> dict[str, Any]:
    """Score the stream and measure (see the module doc)."""
    import redis

    from fraudscore.bench.bundles import BenchContext, events_stream
    from fraudscore.bench.common import BENCH_SECRET, Settings
    from fraudscore.bench.servers import RedisServer
    from fraudscore.scorer import Scorer
    from fraudscore.velocity import RedisStore

    ctx = BenchContext(Settings.quick_settings(), log=lambda *a: None)
    try:
        bundle = ctx.bundle("default")
        events = events_stream(warm + events_n, seed=404).to_records()
        with RedisServer() as srv:
            client = redis.Redis(port=srv.port, socket_timeout=60)
            sc = (Scorer(bundle, BENCH_SECRET, store=RedisStore(client, prefix="tail:"), max_clock_skew=None)
                  if store == "redis" else Scorer(bundle, BENCH_SECRET, max_clock_skew=None))
            for ev in events[:warm]:
                sc.score(ev)
            # objects left behind per event (collector off, so nothing is untracked or freed by it meanwhile)
            gc.collect()
            gc.disable()
            probe = events[warm:warm + min(300, events_n)]
            side = (Scorer(bundle, BENCH_SECRET, store=RedisStore(client, prefix="tailp:"), max_clock_skew=None)
                    if store == "redis" else Scorer(bundle, BENCH_SECRET, max_clock_skew=None))
            for ev in events[:warm]:
                side.score(ev)
            before = len(gc.get_objects())
            for ev in probe:
                side.score(ev)
            kept = (len(gc.get_objects()) - before) / len(probe)
            del side
            gc.enable()
            gc.collect()
            client.config_resetstat()
            pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
            t0 = [0.0]

            def cb(phase: str, info: dict[str, Any]) -> None:
                if phase == "start":
                    t0[0] = time.thread_time()
                else:
                    pauses[info["generation"]].append(time.thread_time() - t0[0])

            e2e: list[float] = []
            cpu: list[float] = []
            flagged: list[bool] = []
            gc.callbacks.append(cb)
            try:
                for ev in events[warm:]:
                    n0 = len(pauses[0]) + len(pauses[1]) + len(pauses[2])
                    c = time.thread_time()
                    w = time.perf_counter()
                    sc.score(ev)
                    e2e.append(time.perf_counter() - w)
                    cpu.append(time.thread_time() - c)
                    flagged.append(len(pauses[0]) + len(pauses[1]) + len(pauses[2]) > n0)
            finally:
                gc.callbacks.remove(cb)
            nogc = [x for x, f in zip(cpu, flagged) if not f]
            us = 1e6
            out: dict[str, Any] = {
                "store": store, "events": events_n, "warm": warm,
                "e2e_p50_us": _pct(e2e, 0.5) * us, "e2e_p99_us": _pct(e2e, 0.99) * us,
                "cpu_p50_us": _pct(cpu, 0.5) * us, "cpu_p99_us": _pct(cpu, 0.99) * us,
                "cpu_nogc_p50_us": _pct(nogc, 0.5) * us, "cpu_nogc_p99_us": _pct(nogc, 0.99) * us,
                "events_with_gc_share": 1.0 - len(nogc) / len(cpu),
                "kept_tracked_per_event": kept,
            }
            for g, xs in pauses.items():
                out[f"gc{g}_per_1000_events"] = 1000.0 * len(xs) / events_n
                out[f"gc{g}_mean_us"] = (sum(xs) / len(xs) * us) if xs else 0.0
                out[f"gc{g}_max_us"] = max(xs, default=0.0) * us
            if store == "redis":
                lat = _latencystats(client)
                out.update({f"server_evalsha_{k}_us": v for k, v in lat.items()})
                st = client.info("commandstats").get("cmdstat_evalsha", {})
                out["server_evalsha_mean_us"] = float(st.get("usec_per_call", 0.0))
            return out
    finally:
        ctx.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--warm", type=int, default=300)
    ap.add_argument("--store", choices=("redis", "memory"), default="redis")
    args = ap.parse_args()
    print(json.dumps(run(args.events, args.warm, args.store), indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
