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
