"""Fixtures for the velocity tests: the parity feature set (Redis fixtures are in tests/conftest.py)."""

from __future__ import annotations

import os

import pytest

from fraudscore._core import PURE_PYTHON_ENV, load
from fraudscore.velocity import FeatureSet, FeatureSpec

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


DAY = 86_400_000


def calendar_feature_set() -> FeatureSet:
    """Calendar windows and exclude_same_day on every aggregation, with filters and delays; ratio_to_mean."""
    S = FeatureSpec
    return FeatureSet([
        S("count", key="a", window="1 calendar day"),
        S("count", key="a", window="2 calendar days", exclude_same_day=True),
        S("count", key="b", window="all", exclude_same_day=True),
        S("count", key="a", window="1 calendar day", delay=3000),
        S("sum", key="a", field="x", window="3 calendar days", filter={"ch": "web"}),
        S("mean", key="b", field="x", window="2d", exclude_same_day=True),
        S("ratio_to_mean", key="a", field="x", window="3 calendar days", exclude_same_day=True),
        S("ratio_to_mean", key=("a", "b"), field="x", window="1 calendar day", include_current=True),
        S("distinct", key="a", of="b", window="1 calendar day", exclude_same_day=True),
        S("min", key="a", field="x", window="2 calendar days"),
        S("max", key=("a", "b"), field="x", window="1 calendar day", exclude_same_day=True),
        S("first_seen_age", key="a", window="3 calendar days", exclude_same_day=True),
        S("time_since_last", key="b", window="1 calendar day"),
        S("fraud_count", key="a", window="3 calendar days", delay=0, exclude_same_day=True),
        S("fraud_rate", key="b", window="2 calendar days", delay=DAY // 2),
        S("fraud_count", key="b", window="all", delay=0, exclude_same_day=True, filter={"ch": "app"}),
        S("ratio_to_mean", key="a", field="x", window=5000),
        S("ratio_to_mean", key="b", field="x", window="all", filter={"ch": "web"}, include_current=True),
    ], allowed_lateness=2000)


@pytest.fixture(params=["compiled", "python"])
def engine(request, monkeypatch):
    """Run a test once per memory-store engine: the compiled store and the Python reference.

    ``python`` sets ``FRAUDSCORE_PURE_PYTHON=1``, so every store the test creates by default
    is the reference; ``compiled`` needs the C extension (skipped without it, except in CI).
    """
    if request.param == "python":
        monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    else:
        monkeypatch.delenv(PURE_PYTHON_ENV, raising=False)
        if load("velocity_store") is None:
            if os.environ.get("CI"):
                pytest.fail("the compiled velocity store is not built (CI must build the C extension)")
            pytest.skip("the compiled velocity store is not built")
    return request.param
