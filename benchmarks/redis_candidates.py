"""The Redis link state's candidate read alone, on a cold cache: the worker's CPU per block of candidates.

Round 14 (#15) found the Redis store's slowest events to be new devices whose candidate blocks name many records
(up to 64, a block's cap), read from the worker's cache of Python objects by the compiled ``link_candidates``
(``_core/redis_linkcache.h``) at ~1.1 k instructions a record but 1-2.5 µs of CPU: cache misses. This script
measures that read alone, without Redis: a worker cache (an ``OrderedDict`` as ``OptimisticLinkState`` keeps,
``--records`` device records in layout 1, parsed as ``decode_record`` gives, made among other allocations so
they lie scattered in memory) and blocks of ``--per-block`` device ids; each trial evicts the CPU caches (a
copy of 32 MiB), then reads one random block's candidates and times it (thread CPU time): ``cold``; the
same read again at once: ``warm``. Prints one JSON object (medians and p90s in µs, per call and per record).

Compare two checkouts in alternated runs: ``PYTHONPATH=<checkout> python benchmarks/redis_candidates.py``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections import OrderedDict
from typing import Any


def _record(rng: random.Random, did: str, t: int) -> dict[str, Any]:
    return {"id": did, "fp": f"fp{rng.getrandbits(60):015x}", "fam": "android|samsung|sm-a515f", "bf": "chrome",
            "ov": [13, rng.randrange(4)], "bv": [120, 0, rng.randrange(6000), 0], "av": None,
            "c": [rng.getrandbits(48) for _ in range(16)], "r": "adreno (tm) 618", "fs": [rng.getrandbits(48)] * 4,
            "fn": rng.randrange(40, 90), "lg": [rng.getrandbits(32), rng.getrandbits(32)], "ip": rng.getrandbits(40),
            "f": t, "t": t, "n": rng.randrange(1, 9)}


def build(n: int, per_block: int, seed: int) -> dict[str, Any]:
    """A worker cache of ``n`` records and its blocks (see the module doc)."""
    from fraudscore.fingerprint.linkstate_redis_ops import decode_record, encode_record

    rng = random.Random(seed)
    cache: OrderedDict[Any, Any] = OrderedDict()
    rkeys: dict[str, str] = {}
    junk: list[Any] = []
    dids = []
    now = 1_800_000_000_000
    for i in range(n):
        did = f"d_android|samsung|sm-a515f_{rng.getrandbits(64):016x}"
        rk = f"fs:r{{7}}:{did}"  # (one family: its records in its shard, the blocks' tag)
        raw = encode_record(rng.getrandbits(64).to_bytes(8, "little"), _record(rng, did, now - rng.randrange(10**9)))
        cache[rk] = (raw, decode_record(raw))
        rkeys[did] = rk
        dids.append(did)
        junk.append([object() for _ in range(rng.randrange(1, 6))])  # other allocations in between
        if len(junk) > 2000:
            del junk[: rng.randrange(1000, 2000)]
    blocks = []
    for b in range(max(1, n // per_block)):
        ids = rng.sample(dids, per_block)
        bk = f"fs:b{{7}}:blk{b}"
        cache[bk] = (rng.getrandbits(64).to_bytes(8, "little") + ",".join(ids).encode(), None)
        blocks.append(f"blk{b}")
    rng.shuffle(blocks)
    return {"cache": cache, "rkeys": rkeys, "blocks": blocks, "now": now}


def run(n: int, per_block: int, trials: int, seed: int) -> dict[str, Any]:
    """Time the candidate read over ``trials`` random blocks, cold and warm (see the module doc)."""
    from fraudscore._core import load as load_core

    cands = getattr(load_core("redis_calls"), "link_candidates", None)
    if cands is None:
        raise SystemExit("the compiled core is not built (link_candidates)")
    try:  # (round 15: the transaction's record key prefix and family; earlier builds take 9 arguments)
        cands(OrderedDict(), {}, {}, {}, "fs:b{7}:", (), None, 0, 1, "fs:r{7}:", "android|samsung|sm-a515f")
        extra: tuple[Any, ...] = ("fs:r{7}:", "android|samsung|sm-a515f")
    except TypeError:
        extra = ()
    w = build(n, per_block, seed)
    cache, rkeys, now = w["cache"], w["rkeys"], w["now"]
    big, other = bytearray(32 << 20), bytes(range(256)) * (128 << 10)
    cold: list[float] = []
    warm: list[float] = []
    got = 0
    rng = random.Random(seed + 1)
    for _ in range(trials):
        name = rng.choice(w["blocks"])
        big[:] = other  # evict the CPU caches
        for out in (cold, warm):
            reads: dict[str, bytes] = {}
            t0 = time.thread_time_ns()
            recs = cands(cache, rkeys, reads, {}, "fs:b{7}:", (name,), None, now, 10**10, *extra)
            out.append((time.thread_time_ns() - t0) / 1e3)
        got = len(recs)

    def q(xs: list[float], p: float) -> float:
        return round(sorted(xs)[min(len(xs) - 1, int(p * len(xs)))], 2)

    return {"records": n, "per_block": per_block, "family_keys": bool(extra), "trials": trials, "candidates": got,
            "cold_p50_us": round(statistics.median(cold), 2), "cold_p90_us": q(cold, 0.9),
            "warm_p50_us": round(statistics.median(warm), 2), "warm_p90_us": q(warm, 0.9),
            "cold_p50_us_per_record": round(statistics.median(cold) / per_block, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--per-block", type=int, default=64)
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--seed", type=int, default=15)
    a = ap.parse_args()
    print(json.dumps(run(a.records, a.per_block, a.trials, a.seed)))


if __name__ == "__main__":
    main()
