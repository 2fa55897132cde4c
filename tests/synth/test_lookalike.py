"""Look-alike tables: the shapes the robustness benchmark relies on."""

from __future__ import annotations

import numpy as np

from fraudscore.batch import to_columns
from fraudscore.synth.lookalike import CARD_EPISODES, card_transactions, ecommerce, time_split_rows


def test_card_table_shape():
    t = card_transactions(n_days=60, n_cards=1000, seed=3)
    y = t.labels["is_fraud"]
    assert int(y.sum()) == sum(CARD_EPISODES) == 206
    assert sorted(set(t.truth["episode"][y == 1].tolist())) == list(range(len(CARD_EPISODES)))
    assert bool((t.columns["ts"] % 86_400_000 == 0).all()) and bool(np.all(np.diff(t.columns["ts"]) >= 0))
    assert bool((t.labels["label_ts"] > t.columns["ts"]).all())
    assert set(t.columns["tx_type"]) <= {"pos", "online", "recurring", "atm", "transfer"}
    cb = to_columns(t.columns, t.schema)
    assert not cb.errors and cb.n == t.n
    t.feature_set.validate(t.schema.names)
    again = card_transactions(n_days=60, n_cards=1000, seed=3)
    assert all(np.array_equal(again.columns[k], t.columns[k]) for k in t.columns)


def test_default_split_of_the_card_table_leaves_a_thin_validation_period():
    t = card_transactions(seed=0)
    train, test = time_split_rows(t.columns["ts"], 0.7)
    ts, y = t.columns["ts"][train], t.labels["is_fraud"][train]
    t_valid = np.sort(ts)[int(0.75 * len(ts))]  # the default holdout: the last quarter of the training part
    assert 1 <= int(y[ts >= t_valid].sum()) <= 10 < int(t.labels["is_fraud"][test].sum())


def test_ecommerce_table_shape():
    e = ecommerce(n=5000, seed=1)
    y = e.labels["is_fraud"]
    assert abs(float(y.mean()) - 0.09) < 0.002
    bots = e.truth["kind"] == "bot"
    assert bool((e.columns["signup_age_s"][bots] == 1).all()) and 0.4 < bots.sum() / y.sum() < 0.6
    share = {b: float(np.mean(e.columns["browser"] == b)) for b in ("Chrome", "IE", "Opera")}
    assert 0.36 < share["Chrome"] < 0.46 and 0.19 < share["IE"] < 0.29 and share["Opera"] < 0.05
    assert len(set(e.columns["user_id"])) == e.n
    assert not to_columns(e.columns, e.schema).errors
