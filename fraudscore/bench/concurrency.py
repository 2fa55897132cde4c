"""Concurrency: several processes sharing one Redis store, aggregate events/s.

Each worker process loads the cached bundle, opens its own Redis connection on
the same key prefix and scores its share of one interleaved event stream
(worker ``w`` takes rows ``w, w + P, ...``, so event times stay close across
workers). Workers start together on a barrier; the aggregate rate is all events
over the slowest worker's time. The baseline is one process, in the same run.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Any

from .bundles import BenchContext, events_stream
from .common import BENCH_SECRET, result
from .store import cleanup, new_prefix, redis_client, redis_url

__all__ = ["run"]

GROUP = "concurrency"


def _worker(bundle_dir: str, url: str, prefix: str, n_total: int, w: int, procs: int, barrier: Any, q: Any) -> None:
    from ..errors import EventError
    from ..scorer import load
    from ..velocity import RedisStore

    client, why = redis_client(url)
    if client is None:
        q.put((w, None, 0, why))
        return
    scorer = load(bundle_dir, key=BENCH_SECRET, store=RedisStore(client, prefix=prefix))
    events = events_stream(n_total, seed=505).to_records()[w::procs]
    barrier.wait()
    errors = 0
    t0 = time.perf_counter()
    for ev in events:
        try:
            scorer.score(ev)
        except EventError:
            errors += 1
    q.put((w, time.perf_counter() - t0, len(events), errors))
    client.close()


def _rate(ctx: BenchContext, procs: int, client: Any) -> tuple[float, int]:
    s = ctx.settings
    spawn = mp.get_context("spawn")
    barrier, q = spawn.Barrier(procs), spawn.Queue()
    prefix = new_prefix()
    ps = [spawn.Process(target=_worker, args=(str(ctx.bundle_path("default")), redis_url(), prefix,
                                               s.per_proc * procs, w, procs, barrier, q)) for w in range(procs)]
    try:
        for p in ps:
            p.start()
        got = [q.get(timeout=600) for _ in ps]
        for p in ps:
            p.join(timeout=60)
    finally:
        cleanup(client, prefix)
    if any(g[1] is None for g in got):
        raise RuntimeError(str(got[0][3]))
    slowest = max(g[1] for g in got)
    return sum(g[2] for g in got) / slowest, sum(g[3] for g in got)


def run(ctx: BenchContext) -> list[dict[str, Any]]:
    """Run the group; returns result rows (none, with a note, when Redis is unreachable)."""
    client, why = redis_client()
    if client is None:
        ctx.note(f"concurrency: skipped, {why}")
        return []
    s = ctx.settings
    ctx.bundle_path("default")
    out: list[dict[str, Any]] = []
    try:
        base = None
        for procs in s.procs:
            ctx.log(f"concurrency: {procs} process(es) on one Redis store ...")
            runs = [_rate(ctx, procs, client) for _ in range(max(1, s.repeats // 2))]
            rate = sorted(r[0] for r in runs)[len(runs) // 2]
            errors = max(r[1] for r in runs)
            if base is None:
                base = rate
            out.append(result(f"concurrency/redis/events_per_s/{procs}_procs", rate, "events/s",
                              "1 process events/s", base,
                              {"processes": procs, "events_per_process": s.per_proc, "late_rejected": errors,
                               "cpu_count": __import__("os").cpu_count(), "runs": len(runs)}))
    finally:
        client.close()
    return out
