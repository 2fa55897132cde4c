"""One event with the Redis store on loopback (one node and a 3-primary cluster), and the suite's Redis helpers.

Servers: when ``redis-server`` is installed the group starts its own (one node,
and a 3-primary cluster with :class:`~fraudscore.bench.servers.LocalCluster`) so
``INFO commandstats`` holds only its own calls; otherwise it uses
``FRAUDSCORE_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``) and
``FRAUDSCORE_TEST_REDIS_CLUSTER`` (``host:port``) when set, under a unique
``fsbench:<uuid>:`` prefix deleted afterwards. Without a reachable server the
group is skipped with a note.

Figures (medians of repeated runs), each with its baseline measured in the same run:

* ``redis/default/e2e_*`` -- ``Scorer.score`` end to end vs the memory store;
* ``redis/default/features_*`` -- identity, fingerprint, link and velocity
  (``FeaturePipeline.online``), the part the store changes, vs the memory store;
* ``redis/default/round_trips_per_event`` -- sequential round trips per event
  (and requests, for the cluster: one per node touched);
* ``redis/default/server_us_per_event`` -- server CPU time per event from
  ``INFO commandstats`` (summed over nodes): the scripts' own lines, whose time includes the commands they
  run (until round 9 those commands were added a second time, about +25%);
* ``redis_cluster/default/*`` -- the same on the cluster, with the one-node
  figure as the baseline (goal: p99 <= 2x one node);
* ``redis/memory/bytes_per_*`` -- ``MEMORY USAGE`` per entity key, per
  idempotency record and per link key after the run.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..scorer import Scorer
from ..velocity import RedisStore
from .bundles import BenchContext, events_stream
from .common import latencies_us, median_percentiles, result

__all__ = ["run", "redis_url", "redis_client", "new_prefix", "cleanup", "servers", "cluster_client"]

GROUP = "redis"


def redis_url() -> str:
    """The Redis server the suite uses when it cannot start its own."""
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


def cluster_client(address: str | None = None) -> tuple[Any, str | None]:
    """A ``RedisCluster`` client on ``host:port`` (``FRAUDSCORE_TEST_REDIS_CLUSTER``), or ``(None, why)``."""
    address = address or os.environ.get("FRAUDSCORE_TEST_REDIS_CLUSTER", "")
    if not address:
        return None, "no Redis Cluster (set FRAUDSCORE_TEST_REDIS_CLUSTER or install redis-server)"
    try:
        from redis.cluster import RedisCluster

        host, port = address.rsplit(":", 1)
        client = RedisCluster(host=host, port=int(port), socket_timeout=5, socket_connect_timeout=1)
        client.ping()
        return client, None
    except Exception as exc:  # noqa: BLE001
        return None, f"no Redis Cluster reachable at {address} ({type(exc).__name__})"


def new_prefix() -> str:
    """A unique key prefix for one benchmark."""
    return f"fsbench:{uuid.uuid4().hex}:"


def cleanup(client: Any, prefix: str) -> int:
    """Delete every key under ``prefix`` (on every primary of a cluster); returns how many."""
    from .._redis import is_cluster

    conns = [client.get_redis_connection(n) for n in client.get_primaries()] if is_cluster(client) else [client]
    n = 0
    for c in conns:
        for key in c.scan_iter(match=prefix + "*", count=1000):
            n += int(c.delete(key))
    return n


@contextlib.contextmanager
def servers(ctx: BenchContext, cluster: bool = True) -> Iterator[dict[str, Any]]:
    """``{"single": (client, url or address, own), "cluster": ...}``: own servers when possible."""
    from .servers import LocalCluster, RedisServer, have_redis_server

    out: dict[str, Any] = {}
    started: list[Any] = []
    try:
        if have_redis_server():
            srv = RedisServer().start()
            started.append(srv)
            import redis

            out["single"] = (redis.Redis(port=srv.port, socket_timeout=5), f"redis://127.0.0.1:{srv.port}/0", True)
            if cluster:
                lc = LocalCluster(3).start()
                started.append(lc)
                out["cluster"] = (lc.client(), lc.address, True)
        else:
            client, why = redis_client()
            if client is None:
                ctx.note(f"redis: skipped, {why}")
            else:
                out["single"] = (client, redis_url(), False)
            if cluster:
                cc, why = cluster_client()
                if cc is None:
                    ctx.note(f"redis_cluster: skipped, {why}")
                else:
                    out["cluster"] = (cc, os.environ["FRAUDSCORE_TEST_REDIS_CLUSTER"], False)
        yield out
    finally:
        for s in reversed(started):
            s.stop()


def _nodes(client: Any) -> list[Any]:
    from .._redis import is_cluster

    return [client.get_redis_connection(n) for n in client.get_primaries()] if is_cluster(client) else [client]


#: commands whose time includes the commands they run (a script's ``redis.call`` is also counted on its own line)
_SCRIPTS = ("cmdstat_eval", "cmdstat_evalsha", "cmdstat_eval_ro", "cmdstat_evalsha_ro", "cmdstat_fcall",
            "cmdstat_fcall_ro")


def _server_usec(client: Any) -> tuple[float, int]:
    """Total usec and calls of the commands the clients sent, on every node since the last reset: the scripts'
    lines (whose time includes the commands they run: those are not added again) and any other command when no
    script ran (the store sends only scripts)."""
    usec, calls = 0.0, 0
    for c in _nodes(client):
        stats = c.info("commandstats")
        scripted = any(k in stats for k in _SCRIPTS)
        for k, v in stats.items():
            if k in _SCRIPTS or (not scripted and k.startswith("cmdstat_") and "config" not in k
                                 and "info" not in k):
                usec += float(v["usec"])
                calls += int(v["calls"])
    return usec, calls


def memory_usage(client: Any, prefix: str, sample: int = 300) -> dict[str, float]:
    """Mean ``MEMORY USAGE`` (bytes) of entity keys, idempotency records and link keys under ``prefix``."""
    kinds = {"v": "entity_key", "i": "idempotency_record", "r": "link_record", "x": "link_exact_entry",
             "b": "link_block"}
    got: dict[str, list[int]] = {k: [] for k in kinds.values()}
    for c in _nodes(client):
        for key in c.scan_iter(match=prefix + "*", count=1000):
            kind = kinds.get(key[len(prefix):len(prefix) + 1].decode())
            if kind is not None and len(got[kind]) < sample:
                got[kind].append(int(c.memory_usage(key, samples=0) or 0))
    return {k: float(np.mean(v)) for k, v in got.items() if v}


def _measure(ctx: BenchContext, client: Any, own: bool, label: str) -> dict[str, Any]:
    """Latencies (e2e, features) with Redis and with the memory store, round trips, server time."""
    s = ctx.settings
    bundle = ctx.bundle("default")
    n, reps, warm = max(100, s.n_latency // 2), s.repeats, min(200, s.n_latency)
    events = events_stream(warm + 2 * n * reps, seed=404).to_records()
    prefix = new_prefix()
    try:
        red = Scorer(bundle, ctx.keys, store=RedisStore(client, prefix=prefix), max_clock_skew=None)
        mem = Scorer(bundle, ctx.keys, max_clock_skew=None)
        for ev in events[:warm]:
            red.score(ev)
            mem.score(ev)
        runs, base, feats, feats_b = [], [], [], []
        usec = calls = 0.0
        red.store.round_trips.reset()
        for r in range(reps):
            chunk = events[warm + r * n: warm + (r + 1) * n]
            if own:
                for c in _nodes(client):
                    c.config_resetstat()
            runs.append(latencies_us(lambda i: red.score(chunk[i]), n, warmup=0))
            if own:
                u, k = _server_usec(client)
                usec += u
                calls += k
            base.append(latencies_us(lambda i: mem.score(chunk[i]), n, warmup=0))
        trips = red.store.round_trips.per_event()
        reqs = red.store.round_trips.requests_per_event()
        # the feature pipeline alone (what the store changes), on fresh applications of the same stream
        more = events[warm + n * reps:]
        for r in range(reps):
            chunk = [red.schema.validate(e) for e in more[r * n:(r + 1) * n]]
            feats.append(latencies_us(lambda i: red.pipeline.online(chunk[i], red.linker, red.velocity), n, warmup=0))
            feats_b.append(latencies_us(lambda i: mem.pipeline.online(chunk[i], mem.linker, mem.velocity), n,
                                        warmup=0))
        mem_use = memory_usage(client, prefix)
    finally:
        cleanup(client, prefix)
    return {"e2e": median_percentiles(runs), "e2e_base": median_percentiles(base),
            "features": median_percentiles(feats), "features_base": median_percentiles(feats_b),
            "round_trips": trips, "requests": reqs, "server_us": usec / (n * reps) if own else None,
            "memory": mem_use, "n": n, "reps": reps, "label": label}


def run(ctx: BenchContext) -> list[dict[str, Any]]:
    """Run the group; returns result rows (none, with a note, when Redis is unreachable)."""
    out: list[dict[str, Any]] = []
    with servers(ctx) as srv:
        single = None
        for kind in ("single", "cluster"):
            if kind not in srv:
                continue
            client, where, own = srv[kind]
            ctx.log(f"redis: {kind} ({where}) ...")
            m = _measure(ctx, client, own, kind)
            name = "redis" if kind == "single" else "redis_cluster"
            params = {"bundle": "default", "store": f"redis {kind} (loopback)", "events_per_run": m["n"],
                      "repeats": m["reps"], "own_server": own, "cpu_count": os.cpu_count()}
            for k in ("p50", "p99", "p99.9"):
                out.append(result(f"{name}/default/e2e_{k}", m["e2e"][k], "us", f"memory store {k}",
                                  m["e2e_base"][k], params))
            for k in ("p50", "p99"):
                out.append(result(f"{name}/default/features_{k}", m["features"][k], "us", f"memory store {k}",
                                  m["features_base"][k], params))
            if single is not None:
                for k in ("p50", "p99"):
                    out.append(result(f"{name}/default/features_{k}_vs_one_node", m["features"][k], "us",
                                      f"one node {k}", single["features"][k], params))
            out.append(result(f"{name}/default/round_trips_per_event", m["round_trips"], "round trips", None, None,
                              {**params, "requests_per_event": m["requests"]}))
            if m["server_us"] is not None:
                out.append(result(f"{name}/default/server_us_per_event", m["server_us"], "us", None, None, params))
            for k, v in m["memory"].items():
                out.append(result(f"{name}/memory/bytes_per_{k}", v, "bytes", None, None, params))
            if kind == "single":
                single = m
        for client, _w, _own in srv.values():
            client.close()
    return out
