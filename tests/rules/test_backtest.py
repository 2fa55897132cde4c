"""Backtests: per-rule statistics against a plain-Python oracle, overlap, marginal effect, version diffs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fraudscore.errors import ConfigError
from fraudscore.rules import Rule, RuleSet, combine


def _data(seed: int = 0, n: int = 400) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 10, n).astype(float)
    x[rng.random(n) < 0.1] = np.nan
    ch = rng.choice(np.array(["web", "app", "h5", None], dtype=object), n)
    y = (np.nan_to_num(x) >= 6) & (rng.random(n) < 0.8) | (rng.random(n) < 0.05)
    return {"x": x, "channel": ch}, y.astype(int)


RULES = RuleSet([
    Rule("X_HIGH", "x >= 7", action="decline", score=100),
    Rule("X_MID", "x >= 5", action="review", score=50),
    Rule("WEB_OK", "channel == 'web' and x < 2", action="approve", score=-20),
    Rule("APP_TAG", "channel == 'app'", action="tag", score=5),
    Rule("SHADOW_X", "x >= 4", action="decline", shadow=True),
])


def test_per_rule_statistics_match_oracle() -> None:
    cols, y = _data()
    rep = RULES.backtest(cols, y)
    crs = RULES.compile(cols.keys())
    rows = [{k: v[i] for k, v in cols.items()} for i in range(len(y))]
    hits = [crs.evaluate(r) for r in rows]
    base = [combine(h)[0] for h in hits]
    assert rep.n == len(y) and rep.n_positive == int(y.sum())
    for j, st in enumerate(rep.rules):
        fired = [any(h.code == st.code for h in hs) for hs in hits]
        tp = sum(f and bool(t) for f, t in zip(fired, y))
        assert st.hits == sum(fired) and st.true_positives == tp
        assert st.hit_rate == pytest.approx(sum(fired) / len(y))
        assert st.precision == pytest.approx(tp / sum(fired)) if sum(fired) else math.isnan(st.precision)
        assert st.recall == pytest.approx(tp / y.sum())
        without = [combine([h for h in hs if h.code != st.code])[0] for hs in hits]
        assert st.marginal_changed == (0 if st.shadow else sum(a != b for a, b in zip(base, without)))
        flagged = [a in ("decline", "review") for a in base]
        unflag = [f and b not in ("decline", "review") for f, b in zip(flagged, without)]
        assert st.marginal_lost_fraud == (0 if st.shadow else sum(u and bool(t) for u, t in zip(unflag, y)))
    m = np.array([[any(h.code == c for h in hs) for c in crs.codes] for hs in hits], dtype=int)
    assert (rep.overlap == m.T @ m).all()
    assert rep.actions == {k: base.count(None if k == "none" else k) for k in rep.actions}
    assert sum(rep.actions.values()) == len(y)
    # X_MID only matters where X_HIGH does not fire: its marginal effect is on x in {5, 6}
    mid = next(s for s in rep.rules if s.code == "X_MID")
    assert mid.marginal_changed == int(np.isin(cols["x"], [5.0, 6.0]).sum())
    assert "X_HIGH" in rep.to_text() and rep.to_dict()["codes"][0] == "X_HIGH"


def test_backtest_accepts_a_hit_matrix_and_checks_labels() -> None:
    cols, y = _data(1)
    m = RULES.compile(cols.keys()).evaluate_columns(cols, len(y))
    assert [s.hits for s in RULES.backtest(m, y).rules] == [s.hits for s in RULES.backtest(cols, y).rules]
    with pytest.raises(ConfigError, match="shape"):
        RULES.backtest(cols, y[:-1])


def test_diff_between_versions() -> None:
    cols, _ = _data(2)
    new = RuleSet([Rule("X_HIGH", "x >= 8", action="decline", score=100),
                   Rule("X_MID", "x >= 5", action="review", score=50)])
    d = RULES.diff(new, cols)
    a = RULES.compile(cols.keys()).evaluate_columns(cols, len(cols["x"]))
    b = new.compile(cols.keys()).evaluate_columns(cols, len(cols["x"]))
    moved = a.actions() != b.actions()
    assert sum(d.transitions.values()) == int(moved.sum())
    assert d.transitions.get(("decline", "review"), 0) == int((cols["x"] == 7).sum())
    assert set(d.changed_rows.tolist()) == set(np.flatnonzero(moved | (a.points != b.points)).tolist())
    assert d.version_a == RULES.version and d.version_b == new.version
    assert "->" in d.to_text()
    same = RULES.diff(RULES, cols)
    assert same.changed_rows.size == 0 and same.transitions == {}
