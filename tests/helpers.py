"""Shared builders for scorer-level tests: a small trained bundle on synthetic data."""

from __future__ import annotations

import functools
import os
from contextlib import contextmanager

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


@contextmanager
def pure_python():
    """Run the block with the compiled core switched off (``FRAUDSCORE_PURE_PYTHON=1``), then restore the setting."""
    from fraudscore._core import PURE_PYTHON_ENV

    old = os.environ.get(PURE_PYTHON_ENV)
    os.environ[PURE_PYTHON_ENV] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ[PURE_PYTHON_ENV]
        else:
            os.environ[PURE_PYTHON_ENV] = old
