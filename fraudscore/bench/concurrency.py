"""Concurrency: several processes sharing one Redis store (one node, and a 3-primary cluster), events/s.

Each worker process loads the cached bundle, opens its own Redis connection on
the same key prefix and scores its share of one interleaved event stream
(worker ``w`` takes rows ``w, w + P, ...``, so event times stay close across
workers and their link caches go stale, as in a real deployment). Workers start
together on a barrier; the aggregate rate is all events over the slowest
worker's time. The baseline is one process, in the same run. Servers as in
:mod:`fraudscore.bench.store` (own ones when ``redis-server`` is installed).
The machine's CPU count is reported with each row: P processes plus the server(s)
cannot scale past the cores there are. Each row's params also hold the p50 / p99 of
every event's own wall time over all workers (``p50_us``, ``p99_us``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from typing import Any

import numpy as np

from .bundles import BenchContext, events_stream
from .common import BENCH_SECRET, result
from .store import cleanup, new_prefix, servers

__all__ = ["run"]

GROUP = "concurrency"


def _connect(kind: str, where: str) -> Any:
    if kind == "cluster":
        from redis.cluster import RedisCluster

        host, port = where.rsplit(":", 1)
        return RedisCluster(host=host, port=int(port), socket_timeout=10, socket_connect_timeout=2)
    import redis

    return redis.Redis.from_url(where, socket_timeout=10, socket_connect_timeout=2)


def _worker(bundle_dir: str, kind: str, where: str, prefix: str, n_total: int, w: int, procs: int, barrier: Any,
            q: Any) -> None:
    from ..errors import EventError
    from ..scorer import load
    from ..velocity import RedisStore

    try:
        client = _connect(kind, where)
        store = RedisStore(client, prefix=prefix)
        scorer = load(bundle_dir, key=BENCH_SECRET, store=store, max_clock_skew=None)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        q.put((w, None, 0, 0, f"{type(exc).__name__}: {exc}"))
        barrier.abort()
        return
    events = events_stream(n_total, seed=505).to_records()[w::procs]
    barrier.wait()
    errors = 0
    lat: list[float] = []  # per event, microseconds (the event's own wall time in this process)
    clock = time.perf_counter
    c0 = time.process_time()
    t0 = clock()
    try:
        for ev in events:
            e0 = clock()
            try:
                scorer.score(ev)
            except EventError:
                errors += 1
            lat.append((clock() - e0) * 1e6)
    except Exception as exc:  # noqa: BLE001 - reported to the parent (which would otherwise wait for this worker)
        q.put((w, None, 0, 0, f"{type(exc).__name__}: {exc}"))
        client.close()
        return
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    q.put((w, wall, len(events), errors, store.round_trips.per_event(),
           {"conflicts": store.conflicts, "leases": store.leases, "lease_waits": store.lease_waits,
            "absorbed": getattr(store, "absorbed", 0),
            "client_cpu_us": cpu * 1e6, **{f"conflicts_{k}": v for k, v in store.conflict_causes.items()}}, lat))
    client.close()


def _server_cpu(client: Any) -> float | None:
    """CPU seconds the Redis server used so far (summed over a cluster's nodes), None when unreadable."""
    try:
        info = client.info("cpu")
    except Exception:  # noqa: BLE001 - a statistic only
        return None
    if isinstance(info, dict) and "used_cpu_sys" not in info:  # a cluster: one dict per node
        return sum(float(v["used_cpu_sys"]) + float(v["used_cpu_user"]) for v in info.values() if isinstance(v, dict))
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def _rate(ctx: BenchContext, kind: str, where: str, client: Any, procs: int
          ) -> tuple[float, int, float, dict[str, float], dict[str, float]]:
    s = ctx.settings
    spawn = mp.get_context("spawn")
    barrier, q = spawn.Barrier(procs), spawn.Queue()
    prefix = new_prefix()
    ps = [spawn.Process(target=_worker, args=(str(ctx.bundle_path("default")), kind, where, prefix,
                                               s.per_proc * procs, w, procs, barrier, q)) for w in range(procs)]
    try:
        for p in ps:
            p.start()
        cpu0 = _server_cpu(client)
        got = [q.get(timeout=900) for _ in ps]
        cpu1 = _server_cpu(client)
        for p in ps:
            p.join(timeout=60)
    finally:
        cleanup(client, prefix)
    bad = [g for g in got if g[1] is None]
    if bad:
        raise RuntimeError(str(bad[0][4]))
    slowest = max(g[1] for g in got)
    n = max(1, sum(g[2] for g in got))
    trips = sum(g[4] * g[2] for g in got) / n
    # per event: link decisions refused (stale link cache), events that took the link lease, waits for it
    contention = {k: sum(g[5].get(k, 0) for g in got) / n for k in got[0][5]}
    if cpu0 is not None and cpu1 is not None:  # the server's CPU time over the run (its own or a shared one)
        contention["server_cpu_us"] = (cpu1 - cpu0) * 1e6 / n
    # every event's own wall time (all workers): what a caller waits, with P workers sharing the cores and server
    lat = np.concatenate([np.asarray(g[6], dtype=np.float64) for g in got])
    pct = {"p50_us": float(np.percentile(lat, 50)), "p99_us": float(np.percentile(lat, 99))}
    return sum(g[2] for g in got) / slowest, sum(g[3] for g in got), trips, contention, pct


def run(ctx: BenchContext) -> list[dict[str, Any]]:
    """Run the group; returns result rows (none, with a note, when Redis is unreachable)."""
    s = ctx.settings
    ctx.bundle_path("default")
    out: list[dict[str, Any]] = []
    with servers(ctx) as srv:
        for kind in ("single", "cluster"):
            if kind not in srv:
                continue
            client, where, _own = srv[kind]
            name = "redis" if kind == "single" else "redis_cluster"
            base = None
            for procs in s.procs:
                ctx.log(f"concurrency: {procs} process(es) on Redis {kind} ...")
                runs = [_rate(ctx, kind, where, client, procs) for _ in range(max(1, s.repeats // 2))]
                runs.sort(key=lambda r: r[0])
                rate, errors, trips, contention, pct = runs[len(runs) // 2]
                if base is None:
                    base = rate
                out.append(result(f"concurrency/{name}/events_per_s/{procs}_procs", rate, "events/s",
                                  "1 process events/s", base,
                                  {"processes": procs, "events_per_process": s.per_proc, "late_rejected": errors,
                                   "round_trips_per_event": trips, "cpu_count": os.cpu_count(), "runs": len(runs),
                                   **pct,
                                   **{f"{k}_per_event": v for k, v in contention.items()}}))
            client.close()
    return out
