"""Single event with the Redis store on loopback, and the Redis helpers of the suite.

The server is ``FRAUDSCORE_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``);
every key lives under a unique ``fsbench:<uuid>:`` prefix and is deleted
afterwards. Without a reachable server the group is skipped with a note. The
baseline is the same bundle and events on the memory store, measured in the
same run.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from ..scorer import Scorer
from ..velocity import RedisStore
from .bundles import BenchContext, events_stream
from .common import latencies_us, median_percentiles, result

__all__ = ["run", "redis_url", "redis_client", "new_prefix", "cleanup"]

GROUP = "redis"


def redis_url() -> str:
    """The Redis server the suite uses."""
    return os.environ.get("FRAUDSCORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_client(url: str | None = None) -> tuple[Any, str | None]:
    """``(client, None)`` or ``(None, why)`` when no server is reachable."""
    url = url or redis_url()
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=5)
        client.ping()
        return client, None
    except Exception as exc:  # noqa: BLE001 - ImportError, ConnectionError, ...
        return None, f"no Redis server reachable at {url} ({type(exc).__name__})"


def new_prefix() -> str:
    """A unique key prefix for one benchmark."""
    return f"fsbench:{uuid.uuid4().hex}:"


def cleanup(client: Any, prefix: str) -> int:
    """Delete every key under ``prefix``; returns how many."""
    n = 0
    for key in client.scan_iter(match=prefix + "*", count=1000):
        n += int(client.delete(key))
    return n


def run(ctx: BenchContext) -> list[dict[str, Any]]:
    """Run the group; returns result rows (none, with a note, when Redis is unreachable)."""
    client, why = redis_client()
    if client is None:
        ctx.note(f"redis: skipped, {why}")
        return []
    s = ctx.settings
    bundle = ctx.bundle("default")
    n, reps, warm = max(100, s.n_latency // 2), s.repeats, min(200, s.n_latency)
    events = events_stream(warm + n * reps, seed=404).to_records()
    prefix = new_prefix()
    try:
        red = Scorer(bundle, ctx.keys, store=RedisStore(client, prefix=prefix))
        mem = Scorer(bundle, ctx.keys)
        for ev in events[:warm]:
            red.score(ev)
            mem.score(ev)
        runs, base = [], []
        for r in range(reps):
            chunk = events[warm + r * n: warm + (r + 1) * n]
            runs.append(latencies_us(lambda i: red.score(chunk[i]), n, warmup=0))
            base.append(latencies_us(lambda i: mem.score(chunk[i]), n, warmup=0))
    finally:
        cleanup(client, prefix)
        client.close()
    q, qb = median_percentiles(runs), median_percentiles(base)
    params = {"bundle": "default", "store": "redis (loopback)", "events_per_run": n, "repeats": reps}
    return [result(f"redis/default/e2e_{k}", q[k], "us", f"memory store {k}", qb[k], params)
            for k in ("p50", "p99", "p99.9")]
