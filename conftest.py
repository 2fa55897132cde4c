"""Root pytest configuration: names available to doctests in modules, docs and the README."""

from __future__ import annotations

import numpy as np
import pytest

collect_ignore_glob = ["docs/examples/*/*.py", "benchmarks/*", ".venv/*", "build/*"]


@pytest.fixture(autouse=True)
def _doctest_names(request: pytest.FixtureRequest) -> None:
    """Give doctests ``np`` and a fresh ``tmp_path`` directory."""
    if "doctest_namespace" in request.fixturenames or hasattr(request.node, "dtest"):
        ns = request.getfixturevalue("doctest_namespace")
        ns["np"] = np
        ns["tmp_path"] = request.getfixturevalue("tmp_path")
