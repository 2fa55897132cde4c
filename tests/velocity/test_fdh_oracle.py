"""The Fraud Detection Handbook's own engineered features, recomputed by the batch replay."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FDH_DIR = Path(os.environ.get("FRAUDSCORE_FDH_DIR", ROOT.parent / "shared" / "data" / "fdh"))
ORACLE = FDH_DIR / "transformed_2018-07-25_2018-08-14.csv.gz"

pytestmark = [pytest.mark.fdh, pytest.mark.slow]


def _script():
    spec = importlib.util.spec_from_file_location("fdh_oracle", ROOT / "benchmarks" / "fdh_oracle.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_legacy_argsort_sorts():
    import numpy as np

    mod = _script()
    rng = np.random.default_rng(0)
    for n in (0, 1, 5, 17, 200):
        v = rng.integers(0, 20, n)
        assert np.array_equal(v[mod.legacy_argsort(v)], np.sort(v))


@pytest.mark.skipif(not (ORACLE.exists() and (FDH_DIR / "raw.csv.gz").exists()),
                    reason=f"handbook data not found in {FDH_DIR} (set FRAUDSCORE_FDH_DIR)")
def test_handbook_features_equal_oracle():
    pytest.importorskip("pandas")
    res = _script().compare(FDH_DIR)
    assert res["rows"] == 201_295
    bad = {k: v for k, v in res["max_abs_diff"].items() if not v <= 1e-9}
    assert not bad, f"features differ from the handbook's: {bad}"
    assert len(res["max_abs_diff"]) == 14
