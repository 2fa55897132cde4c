"""Batch replay: against pandas rolling windows, chunking, late rows, bad values, column forms."""

from __future__ import annotations

import numpy as np
import pytest

import importlib
from fraudscore.errors import ConfigError, EventError
from fraudscore.velocity import FeatureSet, FeatureSpec, late_mask, replay

from .test_parity import FS, to_columns

replay_mod = importlib.import_module("fraudscore.velocity.replay")

S = FeatureSpec


def random_columns(n=5000, entities=300, seed=0):
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(10**12, 10**12 + 3 * 86_400_000, n)).astype(np.int64)
    ts[1::7] = ts[0::7][: len(ts[1::7])]  # plenty of ties
    ts = np.sort(ts)
    keys = np.array([f"e{k}" for k in rng.integers(0, entities, n)], dtype=object)
    amount = np.round(rng.gamma(2.0, 50.0, n), 2)
    amount[rng.random(n) < 0.05] = np.nan
    return {"ts": ts, "k": keys, "amount": amount}


def test_matches_pandas_groupby_rolling():
    pd = pytest.importorskip("pandas")
    cols = random_columns()
    fs = FeatureSet([S("count", key="k", window="1h"), S("sum", key="k", field="amount", window="6h"),
                     S("mean", key="k", field="amount", window="24h"), S("max", key="k", field="amount", window="24h")])
    X = replay(fs, cols)
    df = pd.DataFrame({"k": cols["k"], "amount": cols["amount"],
                       "t": pd.to_datetime(cols["ts"], unit="ms")}).reset_index()
    df = df.sort_values(["k", "t", "index"], kind="stable").set_index("t")
    g = df.groupby("k", sort=False)
    expect = {
        0: g["index"].rolling("1h").count(),
        1: g["amount"].rolling("6h").sum(),
        2: g["amount"].rolling("24h").mean(),
        3: g["amount"].rolling("24h").max(),
    }
    idx = df["index"].to_numpy()
    for j, ser in expect.items():
        want = ser.to_numpy()
        got = X[idx, j]
        if j == 1:  # pandas gives NaN-free 0 sums only where a value exists
            want = np.where(np.isnan(want), 0.0, want)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9, err_msg=fs.names[j])


def test_chunked_range_expansion_gives_same_result(monkeypatch):
    cols = random_columns(3000, 40, seed=3)
    cols["b"] = np.array([f"b{i % 13}" for i in range(3000)], dtype=object)
    fs = FeatureSet([S("distinct", key="k", of="b", window="24h"), S("min", key="k", field="amount", window="24h")])
    full = replay(fs, cols)
    monkeypatch.setattr(replay_mod, "_MAX_PAIRS", 97)
    np.testing.assert_array_equal(replay(fs, cols), full)


def test_late_rows_are_refused_and_reported():
    fs = FeatureSet([S("count", key="k", window="1h")], allowed_lateness="1m")
    ts = np.array([0, 120_000, 59_000, 60_000, 130_000], dtype=np.int64) + 10**12
    assert late_mask(fs, ts).tolist() == [False, False, True, False, False]
    cols = {"ts": ts, "k": np.array(["a"] * 5, dtype=object)}
    with pytest.raises(EventError) as err:
        replay(fs, cols)
    assert err.value.field == "ts" and err.value.row == 2
    keep = ~late_mask(fs, ts)
    out = replay(fs, {k: v[keep] for k, v in cols.items()})
    assert out[:, 0].tolist() == [1.0, 2.0, 2.0, 4.0]  # the 60 s row does not see the 120 s one
    assert late_mask(fs, np.array([], dtype=np.int64)).tolist() == []


def test_bad_values_and_columns():
    fs = FeatureSet([S("sum", key="k", field="x", window="1h")])
    ts = np.arange(3, dtype=np.int64) + 10**12
    k = np.array(["a", "a", "a"], dtype=object)
    with pytest.raises(EventError) as err:
        replay(fs, {"ts": ts, "k": k, "x": np.array([1.0, np.inf, 2.0])})
    assert err.value.field == "x" and err.value.row == 1
    with pytest.raises(ConfigError, match="'ts'"):
        replay(fs, {"k": k})
    with pytest.raises(ConfigError, match="int64"):
        replay(fs, {"ts": ts.astype(float), "k": k})
    with pytest.raises(ConfigError, match="length"):
        replay(fs, {"ts": ts, "k": k[:2]})
    # absent numeric column = all missing; numeric and float keys work like strings
    assert replay(fs, {"ts": ts, "k": k})[:, 0].tolist() == [0.0, 0.0, 0.0]
    out = replay(fs, {"ts": ts, "k": np.array([7, 7, 8]), "x": np.array([1.0, 2.0, 3.0])})
    assert out[:, 0].tolist() == [1.0, 3.0, 3.0]
    out = replay(fs, {"ts": ts, "k": np.array([7.0, np.nan, 7.0]), "x": np.array([1.0, 2.0, 3.0])})
    assert np.isnan(out[1, 0]) and out[2, 0] == 4.0


def test_empty_and_unlabelled():
    cols, lab = to_columns([{"ts": 10**12, "a": None, "b": None, "ch": None, "x": None}], [None])
    X = replay(FS, cols, lab)
    assert X.shape == (1, len(FS.names)) and np.isnan(X).all()
    cols, _ = to_columns([{"ts": 10**12, "a": "a", "b": "b", "ch": "app", "x": 1.0}], [None])
    X = replay(FS, cols, None)
    j = FS.names.index("fraud_rate__b__all__delay_1s")
    assert X[0, j] == 0.0
