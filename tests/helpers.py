"""Shared builders for scorer-level tests: a small trained bundle on synthetic data."""

from __future__ import annotations

import functools

from fraudscore.synth import generate

SECRET = b"fraudscore-test-secret-0123456789"


@functools.lru_cache(maxsize=None)
def synthetic(n_days: int = 14, per_day: int = 300, seed: int = 11):
    """A small synthetic stream (cached per process)."""
    return generate(n_days=n_days, per_day=per_day, seed=seed)


@functools.lru_cache(maxsize=None)
def small_bundle():
    """A bundle trained on :func:`synthetic` with a few boosting rounds (cached per process)."""
    import fraudscore as fs

    data = synthetic()
    return fs.train(data.columns, data.labels, key=SECRET,
                    config={"model": {"num_boost_round": 60, "early_stopping_rounds": 20, "seed": 3}}).bundle
