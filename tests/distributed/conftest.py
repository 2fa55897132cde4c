"""Fixtures of the distributed tests: a small labelled history, bundles, and (for the cluster tests) a cluster."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_SECRET

pytest.importorskip("distributed", reason="the dask extra is not installed (pip install 'fraudscore[dask]')")


@pytest.fixture(scope="session")
def history():
    """Four days of synthetic applications with labels (events, labels DataFrames; devices flattened)."""
    from fraudscore.synth import generate

    data = generate(n_days=4, per_day=150, seed=11)
    return data.to_pandas(flatten_device=True)


@pytest.fixture(scope="session")
def featureless_bundle():
    """A bundle without a model: the default schema, velocity features and rules (fast to build)."""
    from fraudscore.bundle import Bundle
    from fraudscore.keys import Keys
    from fraudscore.policy import Policy
    from fraudscore.rules import RuleSet
    from fraudscore.schema import DEFAULT_SCHEMA
    from fraudscore.train import _scheme_version
    from fraudscore.velocity.defaults import default_feature_set

    return Bundle(model=None, schema=DEFAULT_SCHEMA.to_dict(), features=default_feature_set().to_dict(),
                  rules_toml=RuleSet.default().to_toml(), lists={},
                  fingerprint={"scheme_version": _scheme_version(), "key_id": Keys(TEST_SECRET).key_id},
                  policy=Policy().to_dict(), training={}, metadata={})
