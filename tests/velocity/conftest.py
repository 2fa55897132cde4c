"""Fixtures for the velocity tests: a random feature set and a real Redis when reachable."""

from __future__ import annotations

import os
import uuid

import pytest

from fraudscore.velocity import FeatureSet, FeatureSpec

REDIS_URL = os.environ.get("FRAUDSCORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def parity_feature_set() -> FeatureSet:
    """Every aggregation, filters, composite keys and include_current variants."""
    S = FeatureSpec
    return FeatureSet([
        S("count", key="a", window=3000),
        S("count", key="a", window="all"),
        S("count", key=("a", "b"), window=5000, filter={"ch": "web"}, include_current=False),
        S("sum", key="a", field="x", window=5000),
        S("mean", key="b", field="x", window=3000, filter={"ch": ["web", "app"]}),
        S("min", key="a", field="x", window=5000),
        S("max", key=("a", "b"), field="x", window="all"),
        S("distinct", key="a", of="b", window=5000),
        S("distinct", key="b", of="a", window="all", include_current=False),
        S("first_seen_age", key="a"),
        S("first_seen_age", key="b", window=5000, filter={"ch": "web"}),
        S("time_since_last", key="a", window=3000),
        S("time_since_last", key="b", include_current=True),
        S("fraud_count", key="a", window=5000, delay=2000),
        S("fraud_rate", key="b", window="all", delay=1000),
        S("fraud_rate", key="a", window=3000, delay=0),
        S("fraud_count", key=("a", "b"), window=4000, delay=500, filter={"ch": "app"}),
        S("count", key="b", window=3000, delay=1000),
        S("distinct", key="a", of="b", window=4000, delay=500),
        S("max", key="a", field="x", window="all", delay=1500),
    ], allowed_lateness=2000)


@pytest.fixture
def redis_client():
    """A client on a real redis-server; skip locally (fail in CI) when none is reachable."""
    try:
        import redis
    except ImportError:  # pragma: no cover
        if os.environ.get("CI") == "true":
            pytest.fail("redis-py is required in CI")
        pytest.skip("redis-py is not installed (pip install 'fraudscore[redis]')")
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but no redis-server is reachable at {REDIS_URL}: {exc}")
        pytest.skip(f"no redis-server reachable at {REDIS_URL} (set FRAUDSCORE_TEST_REDIS_URL); skipping Redis tests")
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client):
    """A unique key prefix; its keys are deleted afterwards."""
    prefix = f"fstest:{uuid.uuid4().hex[:12]}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        redis_client.delete(*keys)
