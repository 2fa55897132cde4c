"""Metrics: sklearn-backed ones, recall at FPR / budget, and Card Precision@k against a pandas reference."""

from __future__ import annotations

import builtins
import math

import numpy as np
import pandas as pd
import pytest

from fraudscore.errors import MissingDependencyError
from fraudscore.model import metrics as M


def _reference_cp_at_k(df: pd.DataFrame, k: int, known: dict[int, set] | None = None) -> float:
    """The Fraud Detection Handbook's card_precision_top_k, rewritten with pandas."""
    detected: list = []
    per_day = []
    for day in sorted(df.day.unique()):
        d = df[(df.day == day) & ~df.entity.isin(detected)]
        if known is not None:
            d = d[~d.entity.isin(known.get(day, set()))]
        g = d.groupby("entity").agg(score=("score", "max"), fraud=("y", "max")).sort_values("score", ascending=False)
        top = g.head(k)
        hit = top[top.fraud == 1].index.tolist()
        per_day.append(len(hit) / k)
        detected.extend(hit)
    return float(np.mean(per_day))


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 6000
    entity = rng.integers(0, 700, n)
    y = (rng.random(n) < 0.02 + 0.2 * (entity % 17 == 0)).astype(int)
    score = rng.random(n) + 0.5 * y  # continuous: no ties
    day = rng.integers(0, 7, n)
    return pd.DataFrame({"entity": entity, "y": y, "score": score, "day": day})


def test_entity_precision_matches_reference(frame):
    got = M.entity_precision_at_k(frame.y, frame.score, frame.entity, frame.day, k=100)
    assert got == pytest.approx(_reference_cp_at_k(frame, 100), abs=1e-12)
    got10 = M.entity_precision_at_k(frame.y, frame.score, frame.entity, frame.day, k=10)
    assert got10 == pytest.approx(_reference_cp_at_k(frame, 10), abs=1e-12)


def test_entity_precision_with_label_delayed_known_cards(frame):
    known = M.known_compromised_by_day(frame.entity, frame.y, frame.day, range(7), delay_days=2)
    assert known[0] == set() and known[1] == set()
    assert known[3] == set(frame.entity[(frame.y == 1) & (frame.day <= 0)])
    got = M.entity_precision_at_k(frame.y, frame.score, frame.entity, frame.day, k=50, known_compromised=known)
    assert got == pytest.approx(_reference_cp_at_k(frame, 50, known), abs=1e-12)
    # an iterable drops the same entities every day
    always = set(frame.entity[frame.y == 1][:5])
    got2 = M.entity_precision_at_k(frame.y, frame.score, frame.entity, frame.day, k=50, known_compromised=always)
    assert got2 == pytest.approx(_reference_cp_at_k(frame, 50, {d: always for d in range(7)}), abs=1e-12)


def test_recall_at_fpr_by_brute_force():
    rng = np.random.default_rng(1)
    y = (rng.random(3000) < 0.1).astype(int)
    s = rng.random(3000) + 0.7 * y
    for f in (0.01, 0.05, 0.2):
        best = 0.0
        for c in np.unique(s):
            flagged = s >= c
            if flagged[y == 0].mean() <= f:
                best = max(best, flagged[y == 1].mean())
        assert M.recall_at_fpr(y, s, f) == pytest.approx(best)


def test_recall_at_budget():
    y = np.array([0] * 90 + [1] * 10)
    s = np.arange(100.0)  # frauds score highest
    assert M.recall_at_budget(y, s, 0.05) == 0.5
    assert M.recall_at_budget(y, s, 0.10) == 1.0
    assert math.isnan(M.recall_at_budget(np.zeros(4), np.arange(4.0), 0.5))


def test_evaluate_keys_and_undefined_metrics():
    m = M.evaluate([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], entity=["a", "b", "a", "c"], day=[0, 0, 1, 1], k=1)
    assert set(m) >= {"roc_auc", "average_precision", "recall_at_fpr_1pct", "recall_at_fpr_5pct",
                      "recall_at_top_1pct", "recall_at_top_5pct", "entity_precision_at_1"}
    assert m["roc_auc"] == 0.75
    one_class = M.evaluate([0, 0], [0.1, 0.2])
    assert math.isnan(one_class["roc_auc"]) and math.isnan(one_class["average_precision"])


def test_missing_sklearn_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("no sklearn")
        return real_import(name, *args, **kwargs)

    import importlib
    import sys

    for mod in [m for m in sys.modules if m.startswith("sklearn")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(importlib, "import_module", lambda name, package=None: fake_import(name))
    with pytest.raises(MissingDependencyError, match=r"fraudscore\[train\]"):
        M.roc_auc([0, 1], [0.1, 0.9])
