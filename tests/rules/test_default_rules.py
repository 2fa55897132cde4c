"""The shipped default loan rule set: compiles against the pipeline's names and catches the known patterns."""

from __future__ import annotations

import numpy as np
import pytest

from fraudscore.rules import RuleSet

from .conftest import IDENTIFIER_NAMES, PIPELINE_NAMES


@pytest.fixture(scope="module")
def default() -> RuleSet:
    return RuleSet.default()


def test_default_compiles_against_pipeline_names(default: RuleSet) -> None:
    crs = default.compile(PIPELINE_NAMES, list_transform=lambda k, v: f"p:{k}:{v}",
                          identifier_names=IDENTIFIER_NAMES)
    assert len(crs.codes) == len(default.rules) >= 15
    assert all(r.description and r.reason for r in default.rules)
    assert RuleSet.from_toml(default.to_toml()).version == default.version
    assert any(r.shadow for r in default.rules)


def _synthetic(n: int = 6000, seed: int = 7) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Feature columns for legit traffic plus the generator's fraud patterns (one pattern per fraud row)."""
    rng = np.random.default_rng(seed)
    cols = {name: np.zeros(n) for name in PIPELINE_NAMES if name not in ("channel", "product", "ip", "ip_prefix")}
    cols["distinct__applicant_id__by__device_id__24h"] = np.ones(n)
    cols["distinct__applicant_id__by__device_id__7d"] = rng.choice([1.0, 2.0], n, p=[0.9, 0.1])
    cols["distinct__device_id__by__applicant_id__24h"] = np.ones(n)
    cols["distinct__phone__by__applicant_id__7d"] = np.ones(n)
    cols["distinct__applicant_id__by__bank_card__30d"] = np.ones(n)
    cols["distinct__applicant_id__by__phone__30d"] = np.ones(n)
    cols["count__ip_prefix__10m"] = np.minimum(rng.poisson(0.5, n), 2).astype(float)
    cols["count__ip_prefix__1h"] = np.minimum(cols["count__ip_prefix__10m"] + rng.poisson(1.0, n), 4)
    cols["count__inviter_id__24h"] = np.where(rng.random(n) < 0.3, np.minimum(rng.poisson(0.5, n), 3), np.nan)
    cols["count__inviter_id__7d"] = np.nan_to_num(cols["count__inviter_id__24h"]) + rng.poisson(1.0, n)
    cols["applicant_id__checksum_ok"] = np.ones(n)
    cols["applicant_id__valid"] = np.ones(n)
    cols["applicant_id__age"] = rng.integers(20, 65, n).astype(float)
    cols["device__emulator"] = np.zeros(n)
    cols["device__rooted"] = (rng.random(n) < 0.02).astype(float)
    cols["amount"] = rng.lognormal(8.5, 0.8, n)
    cols["term_months"] = rng.choice([3.0, 6.0, 12.0], n)
    for name in ("channel", "product", "ip", "ip_prefix"):
        cols[name] = np.array([None] * n, dtype=object)
    cols["applicant_id__age"][rng.random(n) < 0.02] = np.nan  # unparseable IDs: missing age
    pattern = np.where(rng.random(n) < 0.1, rng.integers(1, 6, n), 0)
    idx = {p: np.flatnonzero(pattern == p) for p in range(1, 6)}
    cols["distinct__applicant_id__by__device_id__24h"][idx[1]] = rng.integers(3, 9, idx[1].size)   # device farm
    cols["distinct__device_id__by__applicant_id__24h"][idx[2]] = rng.integers(2, 6, idx[2].size)   # ID hopping
    cols["distinct__phone__by__applicant_id__7d"][idx[2]] = rng.integers(2, 5, idx[2].size)
    cols["applicant_id__checksum_ok"][idx[3]] = 0.0                                              # invented ID
    cols["applicant_id__valid"][idx[3]] = 0.0
    cols["count__ip_prefix__10m"][idx[4]] = rng.integers(8, 30, idx[4].size)                     # /24 burst
    cols["count__inviter_id__24h"][idx[5]] = rng.integers(5, 20, idx[5].size)                    # invite chain
    return cols, (pattern > 0).astype(int), pattern


def test_default_rules_catch_the_synthetic_patterns(default: RuleSet) -> None:
    cols, y, pattern = _synthetic()
    crs = default.compile(PIPELINE_NAMES)
    m = crs.evaluate_columns(cols, y.size)
    flagged = np.isin(m.actions(), ["decline", "review"])
    for p, code in [(1, "DEV_MANY_IDS_24H"), (2, "ID_MANY_DEVICES_24H"), (2, "ID_MANY_PHONES_7D"),
                    (3, "ID_BAD_CHECKSUM"), (4, "IP24_BURST_10M"), (5, "INVITER_CHAIN_24H")]:
        rows = pattern == p
        assert m.matrix[rows, m.codes.index(code)].all(), code
        assert flagged[rows].all()
    assert not flagged[pattern == 0].any()  # legit traffic in this construction stays below every threshold
    rep = default.backtest(cols, y, known_names=PIPELINE_NAMES)
    assert rep.flagged_recall == 1.0 and rep.flagged_precision == 1.0
    bad = next(s for s in rep.rules if s.code == "ID_BAD_CHECKSUM")
    assert bad.precision == 1.0 and bad.hits == (pattern == 3).sum()
    invalid = next(s for s in rep.rules if s.code == "ID_INVALID")
    assert invalid.hits == 0  # checksum failures are reported once, by ID_BAD_CHECKSUM
