"""Shared builders for scorer-level tests: a small trained bundle on synthetic data."""

from __future__ import annotations

import functools
from typing import Any
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


def compiled_core(name: str, what: str, attr: str | None = None) -> Any:
    """The compiled module ``fraudscore._core.<name>`` (with ``attr``, when given), or the test module skipped
    where it is not built; in CI (``CI`` set, the compiled core not switched off) a missing module is an error.
    ``what`` names it in the messages ("<what> must be built in CI", "<what> is not built")."""
    import pytest

    from fraudscore._core import PURE_PYTHON_ENV, load

    core = load(name)
    if core is None or (attr is not None and getattr(core, attr, None) is None):  # pragma: no cover - no extension
        if os.environ.get("CI") and not os.environ.get(PURE_PYTHON_ENV):
            raise RuntimeError(f"{what} must be built in CI")
        pytest.skip(f"{what} is not built", allow_module_level=True)
    return core
