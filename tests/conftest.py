"""Test-wide settings: hypothesis profiles, shared fixtures and markers.

Hypothesis runs without deadlines everywhere (the machines are noisy); in CI
(``CI=true``) the ``ci`` profile runs fewer examples so the suite stays fast.
Set ``HYPOTHESIS_PROFILE=thorough`` locally for a long run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", deadline=None, max_examples=30, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=1000,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") == "true" else "dev"))

REPO = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("FRAUDSCORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REDIS_CLUSTER = os.environ.get("FRAUDSCORE_TEST_REDIS_CLUSTER", "")
FDH_DIR = Path(os.environ.get("FRAUDSCORE_FDH_DIR", REPO.parent / "shared" / "data" / "fdh"))
TEST_SECRET = b"fraudscore-test-secret-0123456789"


@pytest.fixture(scope="session")
def keys():
    """The test suite's secret key."""
    from fraudscore.keys import Keys

    return Keys(TEST_SECRET)


@pytest.fixture(scope="session")
def fdh_dir() -> Path:
    """The Fraud Detection Handbook data folder; skips when absent."""
    if not (FDH_DIR / "raw.csv.gz").exists():
        pytest.skip(f"handbook data not found at {FDH_DIR} (set FRAUDSCORE_FDH_DIR)")
    return FDH_DIR


@pytest.fixture
def redis_client():
    """A client on a real redis-server at FRAUDSCORE_TEST_REDIS_URL.

    Skips with a clear message when none is reachable, except in CI
    (``CI=true``), where Redis tests must run and a missing server fails.
    """
    try:
        import redis
    except ImportError:  # pragma: no cover - the test extra installs it
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but redis-py is not installed (pip install 'fraudscore[redis]')")
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
    """A unique key prefix ending in ':'; every key under it is deleted afterwards."""
    import uuid

    prefix = f"fstest:{uuid.uuid4().hex[:12]}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def redis_cluster():
    """A ``RedisCluster`` client on FRAUDSCORE_TEST_REDIS_CLUSTER (``host:port`` of one node).

    Skips locally when the variable is unset; with ``CI=true`` (where ``.ci/run``
    starts a 3-primary cluster on loopback) a missing or unreachable cluster fails.
    """
    ci = os.environ.get("CI") == "true"
    if not REDIS_CLUSTER:
        if ci:
            pytest.fail("CI=true but FRAUDSCORE_TEST_REDIS_CLUSTER is not set (.ci/run starts a cluster)")
        pytest.skip("FRAUDSCORE_TEST_REDIS_CLUSTER is not set (host:port of a Redis Cluster node); "
                    "skipping Redis Cluster tests")
    try:
        from redis.cluster import RedisCluster

        host, port = REDIS_CLUSTER.rsplit(":", 1)
        client = RedisCluster(host=host, port=int(port), socket_timeout=5, socket_connect_timeout=2)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - ImportError, connection and cluster errors
        if ci:
            pytest.fail(f"CI=true but the Redis Cluster at {REDIS_CLUSTER} is not usable: {exc}")
        pytest.skip(f"no usable Redis Cluster at {REDIS_CLUSTER}: {exc}")
    yield client
    client.close()


@pytest.fixture
def redis_cluster_prefix(redis_cluster):
    """A unique key prefix on the cluster; every key under it is deleted afterwards (all primaries)."""
    import uuid

    prefix = f"fstest:{uuid.uuid4().hex[:12]}:"
    yield prefix
    for node in redis_cluster.get_primaries():
        conn = redis_cluster.get_redis_connection(node)
        for key in conn.scan_iter(match=prefix + "*", count=1000):
            conn.delete(key)
