"""Before/after of the Redis path: two checkouts, interleaved runs, medians.

For each checkout (a folder with its own ``.venv``, else this Python; ``PYTHONPATH`` set to the
checkout, so a built worktree imports its own code), this runs a child under that
checkout's Python, alternating A, B, A, B, ... ``--repeats`` times, and reports the
median of each figure:

* ``lat``: p50 / p99 of ``Scorer.score`` per event with the Redis store (one node) and
  with the memory store, on the same events (after a warm-up), on the Redis server at
  ``FRAUDSCORE_TEST_REDIS_URL`` (a fresh key prefix, deleted afterwards), the worker's CPU per event
  (``redis_cpu_us`` / ``memory_cpu_us``: thread time, user and system), with the
  server microseconds per ``EVALSHA`` (``INFO commandstats`` deltas: other clients of
  a shared server add to them) and round trips per event; with
  ``FRAUDSCORE_TEST_REDIS_CLUSTER`` set, also p50 / p99 on that cluster;
* ``server_cg`` (needs valgrind): the server's instructions per event, a throwaway
  ``redis-server`` under callgrind counting the measured events only, inside command execution
  (``_common.CommandServer``: not its idle loop, whose count grows with a slow client's wall time);
* ``client_cg`` (needs valgrind, with ``--callgrind``): the worker's instructions per event,
  ``Scorer.score`` with the Redis store and with the memory store on the same events
  (``bench_redis.py --client-callgrind``'s method, run under that checkout's Python).

Run: ``python benchmarks/redis_ab.py /work/main /work/mybranch [--repeats 3] [--events 400]
[--callgrind]``; prints one JSON object (figures per checkout, medians, and the median of the per-repeat
ratios of the second checkout's figures over the first's).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any


def _scorers(bundle: Any, client: Any, prefix: str) -> tuple[Any, Any, Any]:
    from fraudscore.bench.common import BENCH_SECRET
    from fraudscore.scorer import Scorer
    from fraudscore.velocity import RedisStore

    store = RedisStore(client, prefix=prefix)
    return (store, Scorer(bundle, BENCH_SECRET, store=store, max_clock_skew=None),
            Scorer(bundle, BENCH_SECRET, max_clock_skew=None))


def _pct(lat: list[float]) -> tuple[float, float]:
    lat = sorted(lat)
    return lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]


def _clean(client: Any, prefix: str) -> None:
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i:i + 500])


def child_lat(n: int, warm: int) -> dict[str, float]:
    import redis

    from fraudscore.bench.bundles import BenchContext, events_stream
    from fraudscore.bench.common import Settings

    ctx = BenchContext(Settings.quick_settings(), log=lambda *a: None)
    out: dict[str, float] = {}
    try:
        bundle = ctx.bundle("default")
        events = events_stream(warm + n, seed=404).to_records()
        url = os.environ.get("FRAUDSCORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
        client = redis.Redis.from_url(url, socket_timeout=30)
        prefix = f"ab{uuid.uuid4().hex[:8]}:"
        try:
            store, red, mem = _scorers(bundle, client, prefix)
            for ev in events[:warm]:
                red.score(ev)
                mem.score(ev)
            st0 = client.info("commandstats").get("cmdstat_evalsha", {"usec": 0, "calls": 0})
            store.round_trips.reset()
            for name, sc in (("redis", red), ("memory", mem)):
                lat = []
                cpu0 = time.thread_time()
                for ev in events[warm:]:
                    t = time.perf_counter()
                    sc.score(ev)
                    lat.append((time.perf_counter() - t) * 1e6)
                out[f"{name}_cpu_us"] = (time.thread_time() - cpu0) / len(lat) * 1e6  # the worker's CPU per event
                out[f"{name}_p50_us"], out[f"{name}_p99_us"] = _pct(lat)
                if name == "redis":
                    st = client.info("commandstats").get("cmdstat_evalsha", {"usec": 0, "calls": 0})
                    out["server_us_per_evalsha"] = (st["usec"] - st0["usec"]) / max(1, st["calls"] - st0["calls"])
                    out["round_trips_per_event"] = store.round_trips.per_event()
        finally:
            _clean(client, prefix)
        where = os.environ.get("FRAUDSCORE_TEST_REDIS_CLUSTER")
        if where:
            from redis.cluster import RedisCluster

            host, port = where.rsplit(":", 1)
            cc = RedisCluster(host=host, port=int(port), socket_timeout=30)
            prefix = f"ab{uuid.uuid4().hex[:8]}:"
            try:
                _store, red, _mem = _scorers(bundle, cc, prefix)
                for ev in events[:warm]:
                    red.score(ev)
                lat = []
                for ev in events[warm:]:
                    t = time.perf_counter()
                    red.score(ev)
                    lat.append((time.perf_counter() - t) * 1e6)
                out["cluster_p50_us"], out["cluster_p99_us"] = _pct(lat)
            finally:
                _clean(cc, prefix)
    finally:
        ctx.close()
    out["redis_to_memory_p50"] = out["redis_p50_us"] / out["memory_p50_us"]
    return out


def child_server_cg(n: int, warm: int) -> dict[str, float]:
    from _common import server_instructions

    from fraudscore.bench.bundles import BenchContext, events_stream
    from fraudscore.bench.common import Settings

    ctx = BenchContext(Settings.quick_settings(), log=lambda *a: None)
    try:
        bundle = ctx.bundle("default")
        events = events_stream(warm + n, seed=404).to_records()
        per = server_instructions(lambda c: _scorers(bundle, c, "c:")[1].score, events[:warm], events[warm:])
    finally:
        ctx.close()
    return {"server_instructions_per_event": per}


def child_client_cg(n: int, warm: int) -> dict[str, float]:
    from bench_redis import client_callgrind

    got = client_callgrind(n, warm)
    return {"worker_instructions_per_event": got["redis"], "worker_memory_instructions_per_event": got["memory"],
            "worker_redis_adds_per_event": got["redis"] - got["memory"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkouts", nargs="*", help="two checkout folders (each with a .venv)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--events", type=int, default=400)
    ap.add_argument("--warm", type=int, default=300)
    ap.add_argument("--callgrind", action="store_true", help="also the server's instructions per event")
    ap.add_argument("--child", choices=("lat", "server_cg", "client_cg"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        fn = {"lat": child_lat, "server_cg": child_server_cg, "client_cg": child_client_cg}[args.child]
        print(json.dumps(fn(args.events, args.warm if args.child == "lat" else 300)))
        return
    if len(args.checkouts) != 2:
        ap.error("give two checkouts")
    kinds = ["lat"] + (["server_cg", "client_cg"] if args.callgrind else [])
    runs: dict[str, list[dict[str, float]]] = {c: [] for c in args.checkouts}
    for _ in range(args.repeats):
        for c in args.checkouts:
            got: dict[str, float] = {}
            for kind in kinds:
                n = args.events if kind == "lat" else min(args.events, 200)
                # each child imports its own checkout (a worktree without a venv of its own: this Python)
                venv = os.path.join(c, ".venv", "bin", "python")
                r = subprocess.run([venv if os.path.exists(venv) else sys.executable, os.path.abspath(__file__),
                                    "--child", kind, "--events", str(n), "--warm", str(args.warm)],
                                   cwd=c, check=True, capture_output=True, text=True,
                                   env={**os.environ, "PYTHONPATH": os.path.abspath(c)})
                got.update(json.loads(r.stdout.strip().splitlines()[-1]))
            runs[c].append(got)
            print(c, json.dumps({k: round(v, 3) for k, v in got.items()}), file=sys.stderr)
    med = {c: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for c, rs in runs.items()}
    a, b = args.checkouts
    # per repeat, B over A (runs next to each other, so under the same load), then the median of those
    ratios = {k: statistics.median(rb[k] / ra[k] for ra, rb in zip(runs[a], runs[b]) if ra.get(k) and k in rb)
              for k in runs[a][0] if any(ra.get(k) and k in rb for ra, rb in zip(runs[a], runs[b]))}
    print(json.dumps({"repeats": args.repeats, "events": args.events, "cpu_count": os.cpu_count(),
                      "load_avg": os.getloadavg(), "medians": med, "ratios_b_over_a": ratios}, indent=1))


if __name__ == "__main__":
    main()
