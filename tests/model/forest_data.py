"""Shared data and boosters of the compiled-trees and TreeSHAP tests (``test_compiled``, ``test_treeshap``)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two float arrays are equal bit for bit (NaN payloads and signed zeros included)."""
    return np.array_equal(np.asarray(a, np.float64).view(np.int64), np.asarray(b, np.float64).view(np.int64))


def train_booster(params: dict, X: np.ndarray, y: np.ndarray, rounds: int = 25, **ds: object) -> lgb.Booster:
    """A small binary booster, reloaded from its text as a bundle loads it."""
    base = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5, "num_leaves": 15}
    b = lgb.train({**base, **params}, lgb.Dataset(X, y, **ds), rounds)
    return lgb.Booster(model_str=b.model_to_string())


def forest_data(seed: int = 0, n: int = 1500, k: int = 5, nan: float = 0.15,
                zeros: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Rows with zeros, NaN and a small-integer last column (usable as a categorical), and labels."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k))
    X[rng.random(X.shape) < zeros] = 0.0
    X[rng.random(X.shape) < nan] = np.nan
    X[:, -1] = rng.integers(-2, 40, n)
    y = ((np.nan_to_num(X[:, 0]) + (X[:, -1] % 3 == 0) + rng.normal(size=n) * 0.5) > 0.8).astype(int)
    return X, y


def booster_zoo(*, deep: bool = False) -> dict[str, lgb.Booster]:
    """One booster per missing-value type, categorical splits, a one-leaf forest, a non-default sigmoid and,
    with ``deep``, deep trees on two features (features repeat on a path)."""
    X, y = forest_data()
    Xz = np.nan_to_num(X)
    zoo = {
        "nan": train_booster({}, X, y),
        "none": train_booster({"use_missing": False}, X, y),
        "zero": train_booster({"zero_as_missing": True}, Xz, y),
        "categorical": train_booster({"max_cat_to_onehot": 1, "cat_smooth": 1, "min_data_per_group": 5}, X, y,
                                     categorical_feature=[X.shape[1] - 1]),
    }
    if deep:
        zoo["deep"] = train_booster({"num_leaves": 63, "min_data_in_leaf": 2, "max_depth": -1}, X[:, :2], y, rounds=10)
    zoo["one_leaf"] = train_booster({"min_data_in_leaf": 10_000}, X, y, rounds=3)
    zoo["sigmoid"] = train_booster({"sigmoid": 0.7}, X, y)
    return zoo
