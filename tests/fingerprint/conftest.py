"""Fixtures for the fingerprint tests: an optional Redis client with a private key prefix."""

from __future__ import annotations

import os
import uuid

import pytest



@pytest.fixture
def redis_client():
    """A Redis client on FRAUDSCORE_TEST_REDIS_URL; skips (fails under CI=true) when unreachable."""
    url = os.environ.get("FRAUDSCORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2)
        client.ping()
    except Exception as exc:  # ImportError, ConnectionError...
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis required in CI but not reachable at {url}: {exc}")
        pytest.skip(f"no Redis server reachable at {url} (set FRAUDSCORE_TEST_REDIS_URL)")
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client):
    """A unique key prefix, flushed after the test."""
    prefix = f"fstest:fp:{uuid.uuid4().hex}"
    yield prefix
    for key in redis_client.scan_iter(match=f"{prefix}:*", count=1000):
        redis_client.delete(key)
