"""Velocity engine benchmark: batch replay vs pandas, online memory store, online Redis store.

One run, on ``--events`` events (default 1,000,000) over ``--entities`` entities
(default 100,000) with 10 window features (count / sum / mean over 1h, 24h, 7d and
max over 24h):

* batch replay throughput and its ratio against pandas ``groupby().rolling()``
  computing the same features (values checked identical to 1e-9);
* online per-event cost with the memory store (median, per window feature) and
  memory per tracked entity (tracemalloc);
* online per-event latency with the Redis store on loopback (p50 / p99), against
  ``$FRAUDSCORE_BENCH_REDIS_URL`` or a private ``redis-server`` started for the run.

Usage: ``python benchmarks/bench_velocity.py [--quick]``; writes
``benchmarks/results/bench_velocity.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import latencies_us, median_time, percentiles, result, write_results  # noqa: E402

from fraudscore.velocity import FeatureSet, FeatureSpec, MemoryStore, OnlineVelocity, RedisStore, replay  # noqa: E402

WINDOWS = ("1h", "24h", "7d")


def feature_set() -> FeatureSet:
    specs = []
    for w in WINDOWS:
        specs += [FeatureSpec("count", key="k", window=w), FeatureSpec("sum", key="k", field="amount", window=w),
                  FeatureSpec("mean", key="k", field="amount", window=w)]
    specs.append(FeatureSpec("max", key="k", field="amount", window="24h"))
    return FeatureSet(specs, allowed_lateness="1h")


def make_data(n: int, entities: int, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    span = 30 * 86_400_000
    ts = np.sort(rng.integers(1_780_000_000_000, 1_780_000_000_000 + span, n)).astype(np.int64)
    ts = (ts // 1000) * 1000  # second resolution: ties happen
    k = rng.integers(0, entities, n)  # uniform: ~n/entities events per entity over 30 days
    keys = np.array([f"p:{x:06d}" for x in range(entities)], dtype=object)[k]
    amount = np.round(rng.gamma(2.0, 800.0, n), 2)
    amount[rng.random(n) < 0.02] = np.nan
    return {"ts": ts, "k": keys, "amount": amount}


def pandas_features(cols: dict[str, np.ndarray]) -> np.ndarray:
    import pandas as pd

    n = len(cols["ts"])
    df = pd.DataFrame({"k": cols["k"], "amount": cols["amount"], "row": np.arange(n),
                       "t": pd.to_datetime(cols["ts"], unit="ms")})
    df = df.sort_values(["k", "t", "row"], kind="stable").set_index("t")
    g = df.groupby("k", sort=False)
    out = np.empty((n, 3 * len(WINDOWS) + 1))
    rows = df["row"].to_numpy()
    j = 0
    for w in WINDOWS:
        r = g["amount"].rolling(w.replace("d", "D"))
        out[rows, j] = g["row"].rolling(w.replace("d", "D")).count().to_numpy()
        out[rows, j + 1] = np.nan_to_num(r.sum().to_numpy(), nan=0.0)
        out[rows, j + 2] = r.mean().to_numpy()
        j += 3
    out[rows, j] = g["amount"].rolling("24h").max().to_numpy()
    return out


def bench_batch(cols: dict[str, np.ndarray], repeat: int, params: dict[str, Any]) -> list[dict[str, Any]]:
    fs = feature_set()
    n = len(cols["ts"])
    X = replay(fs, cols)
    P = pandas_features(cols)
    np.testing.assert_allclose(X, P, rtol=1e-12, atol=1e-9)  # identical values (up to float summation order)
    t_ours = median_time(lambda: replay(fs, cols), repeat=repeat, warmup=0)
    t_pd = median_time(lambda: pandas_features(cols), repeat=max(1, repeat // 2), warmup=0)
    print(f"batch replay {t_ours:.2f} s, pandas groupby().rolling() {t_pd:.2f} s (values identical)")
    return [result("batch_replay_throughput", n / t_ours, "rows/s", "pandas_groupby_rolling", n / t_pd,
                   params=params, higher_is_better=True)]


def bench_online_memory(cols: dict[str, np.ndarray], n_events: int, params: dict[str, Any]) -> list[dict[str, Any]]:
    fs = feature_set()
    recs = [{"application_id": str(i), "ts": int(cols["ts"][i]), "k": cols["k"][i],
             "amount": None if np.isnan(cols["amount"][i]) else float(cols["amount"][i])} for i in range(n_events)]
    online = OnlineVelocity(fs, MemoryStore())
    lat = latencies_us(lambda i: online.update_and_read(recs[i]), n_events, warmup=0)
    med = float(np.median(lat))
    per_feature = med / len(fs.names)
    # baseline: a bare dict update + list append per event (the floor of any Python store)
    state: dict[Any, list[int]] = {}
    base = latencies_us(lambda i: state.setdefault(recs[i]["k"], []).append(recs[i]["ts"]), n_events, warmup=0)
    # memory per tracked entity
    store = MemoryStore()
    ov = OnlineVelocity(fs, store)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for r in recs:
        ov.update_and_read(r)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    st = store.stats()
    per_entity = (after - before) / max(st["entities"], 1)
    print(f"online memory store: median {med:.1f} us/event = {per_feature:.2f} us per window feature; "
          f"{per_entity:.0f} B per entity ({st['events'] / max(st['entities'], 1):.1f} events each)")
    p = dict(params, events_online=n_events, features=len(fs.names))
    return [
        result("online_memory_us_per_window_feature", per_feature, "us", "dict_append_per_event",
               float(np.median(base)), params=p),
        result("online_memory_us_per_event_p50", med, "us", params=dict(p, **percentiles(lat))),
        result("memory_per_tracked_entity", per_entity, "bytes",
               params=dict(p, entities=st["entities"], events_kept=st["events"])),
    ]


def _redis_client() -> tuple[Any, Any]:
    """A client to the benchmark Redis, and the process we started (or None)."""
    import redis

    url = os.environ.get("FRAUDSCORE_BENCH_REDIS_URL")
    if url:
        return redis.Redis.from_url(url), None
    exe = shutil.which("redis-server")
    if exe is None:
        return None, None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(50):
        try:
            client.ping()
            return client, proc
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.terminate()
    return None, None


def bench_online_redis(cols: dict[str, np.ndarray], n_events: int, params: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        client, proc = _redis_client()
    except ImportError:
        client, proc = None, None
    if client is None:
        print("redis: no server available; skipped")
        return []
    try:
        fs = feature_set()
        prefix = f"fsbench:{os.getpid()}:"
        online = OnlineVelocity(fs, RedisStore(client, prefix=prefix))
        recs = [{"application_id": str(i), "ts": int(cols["ts"][i]), "k": cols["k"][i],
                 "amount": None if np.isnan(cols["amount"][i]) else float(cols["amount"][i])} for i in range(n_events)]
        lat = latencies_us(lambda i: online.update_and_read(recs[i]), n_events, warmup=0)
        ping = latencies_us(lambda i: client.ping(), min(n_events, 2000), warmup=50)
        pc = percentiles(lat)
        print(f"online redis store: p50 {pc['p50']:.0f} us, p99 {pc['p99']:.0f} us per event "
              f"(PING p50 {np.median(ping):.0f} us)")
        keys = list(client.scan_iter(match=prefix + "*", count=10_000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i:i + 1000])
        p = dict(params, events_online=n_events, features=len(fs.names), **pc)
        pp = percentiles(ping)
        print(f"  (loopback PING alone: p50 {pp['p50']:.0f} us, p99 {pp['p99']:.0f} us, same run)")
        return [result("online_redis_p50_us", pc["p50"], "us", "redis_ping_p50", pp["p50"], params=p),
                result("online_redis_p99_us", pc["p99"], "us", "redis_ping_p99", pp["p99"], params=p)]
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(5)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="velocity benchmark")
    ap.add_argument("--quick", action="store_true", help="small sizes (~20 s)")
    ap.add_argument("--events", type=int, default=None)
    ap.add_argument("--entities", type=int, default=None)
    args = ap.parse_args(argv)
    n = args.events or (100_000 if args.quick else 1_000_000)
    ents = args.entities or (10_000 if args.quick else 100_000)
    repeat = 3 if args.quick else 5
    n_online = 20_000 if args.quick else 200_000
    n_redis = 3_000 if args.quick else 30_000
    params = {"events": n, "entities": ents, "window_features": 10}
    cols = make_data(n, ents)
    results = bench_batch(cols, repeat, params)
    results += bench_online_memory(cols, min(n_online, n), params)
    results += bench_online_redis(cols, min(n_redis, n), params)
    write_results("bench_velocity", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
