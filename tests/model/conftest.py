"""Fixtures for the model tests: a synthetic matrix with a known signal and one trained model."""

from __future__ import annotations

import numpy as np
import pytest

from fraudscore.model import Model, TrainConfig, train_model

FEATURES = [
    "count__device_id__24h",
    "distinct__applicant_id__by__device_id__24h",
    "distinct__device_id__by__applicant_id__24h",
    "sum__amount__by__applicant_id__30d",
    "time_since_last__applicant_id",
    "fraud_rate__device_id__30d__delay7d",
    "applicant_id__checksum_ok",
    "applicant_id__age",
    "phone__cn_mobile",
    "email__disposable",
    "device__emulator",
    "amount",
    "term_months",
    "count__ip_prefix__1h",
] + [f"noise__{i}" for i in range(6)]
HOUR_MS = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01


def make_data(n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic matrix (n, 20) with NaNs, labels with a known signal, times and entities."""
    rng = np.random.default_rng(seed)
    k = len(FEATURES)
    X = rng.normal(size=(n, k))
    X[:, 1] = rng.poisson(1.0, n)  # identities per device
    X[:, 6] = (rng.random(n) > 0.02).astype(float)  # checksum ok
    X[:, 9] = (rng.random(n) < 0.1).astype(float)  # disposable email
    X[:, 11] = rng.lognormal(8, 1, n)  # amount
    logit = -4.5 + 1.2 * X[:, 1] + 1.5 * X[:, 9] + 2.0 * (1 - X[:, 6]) + 0.8 * X[:, 0]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    X[rng.random((n, k)) < 0.05] = np.nan  # missing values everywhere
    ts = T0 + np.sort(rng.integers(0, 120 * 24 * HOUR_MS, n)).astype(np.int64)
    perm = rng.permutation(n)  # rows need not be sorted
    entity = np.array([f"e{i}" for i in rng.integers(0, n // 4, n)], dtype=object)
    return X[perm], y[perm], ts[perm], entity[perm]


@pytest.fixture(scope="session")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return make_data()


@pytest.fixture(scope="session")
def config() -> TrainConfig:
    return TrainConfig(seed=0, num_boost_round=120, early_stopping_rounds=20, learning_rate=0.1, num_leaves=15)


@pytest.fixture(scope="session")
def model(data: tuple, config: TrainConfig) -> Model:
    X, y, ts, entity = data
    return train_model(X, y, ts, FEATURES, config, entity=entity)
