"""The floor under the Redis store's latency per event on this machine: what no client or script change can cut.

Issue #15 asks for an e2e p99 <= 250 µs per event on one Redis node. This measures, in one process and
alternated round by round (so every figure shares the machine's state), the parts that bound it from below:

* ``ping``: a ``PING`` round trip to a fresh loopback ``redis-server`` (the transport, no work);
* ``noop_script``: the very requests the Redis store sends for the benchmark stream (recorded from a scored
  pass: the same bytes, keys and arguments), sent to a script that only ``return 1`` -- the wire and Redis'
  command dispatch with the event's size, none of the script's work;
* ``memory_store``: ``Scorer.score`` with the embedded memory store (the worker's own work, no Redis);
* ``redis_store``: ``Scorer.score`` with the Redis store (one ``EVALSHA`` per event), and the script's time
  inside the server (``INFO latencystats``: p50 / p99, Redis 7+).

Each round scores ``--events`` events after ``--warm`` (default bundle, learned linker, the seed-404 stream,
as ``redis_tail.py``); every figure is the median over ``--rounds`` rounds of that round's percentile.

Run: ``PYTHONPATH=<checkout> python benchmarks/redis_floor.py [--events 3000] [--rounds 3]
[--out results.json]``; prints (and writes) one JSON object. It needs ``redis-server`` on the PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from redis_tail import _latencystats, _pct  # noqa: E402

NOOP = "return 1"


def _timed(fn: Any, items: list[Any]) -> list[float]:
    out = []
    for it in items:
        t = time.perf_counter_ns()
        fn(it)
        out.append((time.perf_counter_ns() - t) / 1000.0)
    return out


def one_round(events_n: int, warm: int, port: int, tag: str = "0") -> dict[str, float]:
    """One round of every measure (see the module doc), on the server at ``port`` (keys under ``floor<tag>:``)."""
    import redis

    from fraudscore import _redis as fr
    from fraudscore.bench.bundles import BenchContext, events_stream
    from fraudscore.bench.common import BENCH_SECRET, Settings
    from fraudscore.scorer import Scorer
    from fraudscore.velocity import RedisStore

    ctx = BenchContext(Settings.quick_settings(), log=lambda *a: None)
    try:
        bundle = ctx.bundle("default")
        events = events_stream(warm + events_n, seed=404).to_records()
        client = redis.Redis(port=port, socket_timeout=60)
        out: dict[str, float] = {}

        # the Redis store, recording the requests it sends (single node: DirectConnection.send)
        sent: list[bytes] = []
        orig = fr.DirectConnection.send

        def spy(self: Any, cl: Any, packed: bytes) -> Any:
            sent.append(packed)
            return orig(self, cl, packed)

        sc = Scorer(bundle, BENCH_SECRET, store=RedisStore(client, prefix=f"floor{tag}:"), max_clock_skew=None)
        for ev in events[:warm]:
            sc.score(ev)
        client.config_resetstat()
        fr.DirectConnection.send = spy  # type: ignore[method-assign]
        try:
            e2e = _timed(sc.score, events[warm:])
        finally:
            fr.DirectConnection.send = orig  # type: ignore[method-assign]
        out["redis_store_e2e_p50_us"], out["redis_store_e2e_p99_us"] = _pct(e2e, 0.5), _pct(e2e, 0.99)
        lat = _latencystats(client)
        out["server_script_p50_us"] = lat.get("p50", float("nan"))
        out["server_script_p99_us"] = lat.get("p99", float("nan"))
        out["requests_per_event"] = len(sent) / events_n
        calls = [p for p in sent if b"EVALSHA" in p[:40]]
        out["request_bytes_p50"] = _pct([float(len(p)) for p in calls], 0.5)

        # the same requests to a script that does nothing (both SHAs are 40 hex digits: same lengths)
        noop_sha = client.script_load(NOOP).encode("ascii")
        real_sha = bytes(calls[0].split(b"\r\n")[4]) if calls else b""
        replay = [p.replace(real_sha, noop_sha, 1) for p in calls]
        out["noop_swapped_share"] = sum(noop_sha in p for p in replay) / max(1, len(replay))
        direct = fr.DirectConnection()
        for p in replay[:200]:
            direct.send(client, p)
        noop = _timed(lambda p: direct.send(client, p), replay)
        out["noop_script_p50_us"], out["noop_script_p99_us"] = _pct(noop, 0.5), _pct(noop, 0.99)
        ping_req = fr.command(["PING"])
        pings = _timed(lambda p: direct.send(client, p), [ping_req] * events_n)
        out["ping_p50_us"], out["ping_p99_us"] = _pct(pings, 0.5), _pct(pings, 0.99)
        direct.close()

        # the memory store: the worker's own work
        mem = Scorer(bundle, BENCH_SECRET, max_clock_skew=None)
        for ev in events[:warm]:
            mem.score(ev)
        m = _timed(mem.score, events[warm:])
        out["memory_store_e2e_p50_us"], out["memory_store_e2e_p99_us"] = _pct(m, 0.5), _pct(m, 0.99)
        client.close()
        return out
    finally:
        ctx.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--warm", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()
    from fraudscore.bench.servers import RedisServer

    rounds = []
    with RedisServer() as srv:
        for r in range(args.rounds):
            rounds.append(one_round(args.events, args.warm, srv.port, str(r)))
    keys = sorted(rounds[0])
    res: dict[str, Any] = {
        "benchmark": "redis_floor", "events": args.events, "warm": args.warm, "rounds": args.rounds,
        "load_avg_1m": os.getloadavg()[0], "cpu_count": os.cpu_count(),
        "median": {k: round(statistics.median(r[k] for r in rounds), 1) for k in keys},
        "per_round": [{k: round(r[k], 1) for k in keys} for r in rounds],
        "goal_p99_us": 250.0,
    }
    text = json.dumps(res, indent=1, sort_keys=True)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
