"""``benchmarks/redis_floor.py`` measures what it names: one request per event recorded, the same requests replayed
to a script that does nothing, and every figure present (its wall-clock values are not asserted)."""

from __future__ import annotations

import math
import os
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server is not installed (.ci/run installs it)")


def test_one_round_records_and_replays_the_event_requests():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        import redis_floor
    finally:
        sys.path.pop(0)
    from fraudscore.bench.servers import RedisServer

    with RedisServer() as srv:
        got = redis_floor.one_round(60, 20, srv.port, "t")
    assert got["requests_per_event"] == 1.0  # one EVALSHA per event, as the Redis store promises
    assert got["request_bytes_p50"] > 100
    assert got["noop_swapped_share"] == 1.0  # every replayed request names the no-op script
    for name in ("ping", "noop_script", "memory_store_e2e", "redis_store_e2e"):
        assert 0 < got[f"{name}_p50_us"] <= got[f"{name}_p99_us"]
    assert math.isfinite(got["server_script_p50_us"]) and got["server_script_p50_us"] > 0
