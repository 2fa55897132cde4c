"""Categorical fields end to end: schema type, vocabulary, training, bundle, online == batch, explanations."""

from __future__ import annotations

import math
import os
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fraudscore as fs
from fraudscore.batch import to_columns
from fraudscore.categories import Categories, Vocabulary, category_feature
from fraudscore.errors import ConfigError, EventError
from fraudscore.model import explain_batch
from fraudscore.rules import RuleSet
from fraudscore.schema import Field, Schema
from fraudscore.velocity import FeatureSet, FeatureSpec

SECRET = b"fraudscore-test-secret-0123456789"
DAY = 86_400_000
T0 = 1_767_225_600_000
SCHEMA = Schema((
    Field("id", "str", required=True),
    Field("ts", "timestamp", required=True),
    Field("user", "str", identifier="generic", entity=True),
    Field("channel", "category"),
    Field("amount", "float", minimum=0),
), id_field="id", time_field="ts")
CHANNELS = np.array(["web", "app", "h5", "partner"], dtype=object)


def _table(n: int = 2400, seed: int = 0):
    """Fraud lives in one channel (h5) at high amounts; a rare channel ("kiosk") and missing values too."""
    rng = np.random.default_rng(seed)
    ts = T0 + np.sort(rng.integers(0, 30 * DAY, n))
    ch = CHANNELS[rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])].copy()
    ch[rng.random(n) < 0.01] = "kiosk"  # too rare for its own code: the "other" code
    ch[rng.random(n) < 0.03] = None
    amount = np.round(rng.lognormal(5.5, 0.8, n), 2)
    p = np.where((ch == "h5") & (amount > 250), 0.5, 0.01)
    y = (rng.random(n) < p).astype(int)
    events = {"id": np.array([f"A{i}" for i in range(n)], dtype=object), "ts": ts,
              "user": np.array([f"u{i}" for i in rng.integers(0, n // 3, n)], dtype=object),
              "channel": ch, "amount": amount}
    labels = {"application_id": events["id"], "is_fraud": y, "label_ts": ts + 2 * DAY}
    return events, labels


@pytest.fixture(scope="module")
def trained():
    events, labels = _table()
    fset = FeatureSet([FeatureSpec("count", key="user", window="7d"),
                       FeatureSpec("count", key="channel", window="1h")])
    res = fs.train(events, labels, key=SECRET, schema=SCHEMA, feature_set=fset, rules=RuleSet([]),
                   config={"model": {"num_boost_round": 40, "min_boost_rounds": 10, "early_stopping_rounds": 10,
                                     "learning_rate": 0.2, "num_leaves": 7, "min_data_in_leaf": 20,
                                     "gap": "1d", "category_min_count": 40, "num_threads": 1}})
    return events, labels, res


# -- schema ----------------------------------------------------------------------------------------------
def test_category_values_are_normalised_to_text():
    f = Field("state", "category")
    assert [f.check("state", v) for v in (" CA ", 12, 12.0, 2.5, True, np.int64(7))] == \
        ["CA", "12", "12", "2.5", "true", "7"]
    assert f.check("state", "  ") is None
    with pytest.raises(EventError, match="field 'state'"):
        f.check("state", [1])
    with pytest.raises(EventError, match="field 'state'"):
        f.check("state", float("inf"))
    # the input-hardening rules of str fields hold for categories too (clear errors, never echoing the value)
    for bad in (10**5000, "a\x00b", "x\ud800", "y" * 5000):
        with pytest.raises(EventError, match="field 'state'") as exc:
            f.check("state", bad)
        assert "\ud800" not in str(exc.value) and "yyyy" not in str(exc.value)


def test_identifier_fields_can_never_be_categories():
    with pytest.raises(ConfigError, match="never be kept in a vocabulary"):
        Field("phone", "category", identifier="phone")


def test_category_in_toml_schema():
    s = Schema.from_toml("""
id_field = "id"
time_field = "ts"
[[fields]]
name = "id"
type = "str"
required = true
[[fields]]
name = "ts"
type = "timestamp"
required = true
[[fields]]
name = "browser"
type = "category"
""")
    assert s["browser"].type == "category"
    assert Schema.from_dict(s.to_dict()) == s
    assert s.validate({"id": "A", "ts": T0, "browser": " Opera "})["browser"] == "Opera"


_VALUES = st.one_of(st.none(), st.sampled_from(["web", " app ", "", "h5"]), st.integers(-5, 5),
                    st.sampled_from([1.0, 2.5, float("nan")]), st.booleans())


@settings(deadline=None, max_examples=60)
@given(st.lists(_VALUES, min_size=1, max_size=12))
def test_batch_normalises_categories_as_single_events(values):
    events = [{"id": f"A{i}", "ts": T0 + i, "channel": v} for i, v in enumerate(values)]
    cb = to_columns(events, SCHEMA)
    assert not cb.errors
    single = [SCHEMA.validate(e)["channel"] for e in events]
    assert cb.columns["channel"].tolist() == single
    ints = to_columns({"id": np.array(["A", "B"], dtype=object), "ts": np.array([T0, T0 + 1]),
                       "channel": np.array([3, -1])}, SCHEMA)
    assert ints.columns["channel"].tolist() == ["3", "-1"]


# -- vocabulary --------------------------------------------------------------------------------------------
def test_vocabulary_fit_order_rare_values_and_size_cap():
    v = Vocabulary.fit(["b", "a", "b", "c", "a", "b", "d", None], min_count=2)
    assert v.values == ("b", "a") and v.other_code == 2
    assert Vocabulary.fit(["x", "y", "y", "x", "z"], min_count=1, max_size=2).values == ("x", "y")
    with pytest.raises(ConfigError):
        Vocabulary(["a", "a"])
    with pytest.raises(ConfigError):
        Categories.from_dict({"unseen": "error", "fields": {}})


@settings(deadline=None, max_examples=60)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "zz"])), max_size=30))
def test_vocabulary_encode_one_equals_encode(values):
    v = Vocabulary(["b", "a"])
    got = v.encode(np.array(values, dtype=object)) if values else np.empty(0)
    want = [v.encode_one(x) for x in values]
    assert all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(got.tolist(), want))
    assert all(v.decode(c) in ("b", "a", "(other)", "(missing)") for c in want)


# -- training, bundle, parity ----------------------------------------------------------------------------
def test_training_builds_a_vocabulary_and_a_categorical_model(trained):
    _, _, res = trained
    model = res.bundle.model
    vocab = model.categories.get("channel")
    assert vocab is not None and set(vocab.values) == {"web", "app", "h5", "partner"}  # kiosk is too rare
    assert model.training["categorical_features"] == ["channel__category"]
    assert model.booster.dump_model()["feature_infos"]["channel__category"]["values"]  # a LightGBM categorical
    j = list(res.feature_names).index(category_feature("channel"))
    codes = res.X[:, j]
    assert set(np.unique(codes[~np.isnan(codes)]).tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    gain = dict(zip(model.feature_names, model.booster.feature_importance("gain")))
    assert max(gain, key=gain.get) in ("channel__category", "amount")


def test_bundle_round_trip_keeps_the_vocabulary(trained, tmp_path):
    _, _, res = trained
    path = res.save(tmp_path / "b")
    back = fs.load(str(path), SECRET)
    assert back.model.categories == res.bundle.model.categories
    meta = (path / "model.json").read_text()
    assert '"categories"' in meta and '"format_version": 2' in meta


def test_online_equals_batch_with_unseen_and_missing_categories(trained):
    events, labels, res = trained
    scorer = fs.Scorer(res.bundle, SECRET)
    rows = [{k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in events.items()} for i in range(150)]
    rows += [{"id": "N1", "ts": T0 + 40 * DAY, "user": "u1", "channel": "Edge", "amount": 900.0},
             {"id": "N2", "ts": T0 + 40 * DAY, "user": "u2", "channel": None, "amount": 900.0},
             {"id": "N3", "ts": T0 + 40 * DAY, "user": "u3", "channel": "h5", "amount": 900.0},
             {"id": "N4", "ts": T0 + 40 * DAY, "user": "u4", "channel": 7, "amount": 900.0}]
    online = [scorer.score(r, return_features=True, explain=True) for r in rows]
    batch = fs.Scorer(res.bundle, SECRET).score_batch(rows, return_features=True, explain=True)
    name = category_feature("channel")
    vocab = res.bundle.model.categories.get("channel")
    for i, d in enumerate(online):
        b = batch[i]
        fa, fb = d.features[name], b.features[name]
        assert (math.isnan(fa) and math.isnan(fb)) or fa == fb
        assert d.probability == b.probability and d.score == b.score
        assert [(r.code, r.message) for r in d.reasons] == [(r.code, r.message) for r in b.reasons]
    assert online[-4].features[name] == vocab.other_code  # unseen -> the other code
    assert math.isnan(online[-3].features[name])  # missing -> NaN
    assert online[-2].features[name] == vocab.values.index("h5")
    assert online[-1].features[name] == vocab.other_code  # 7 -> "7": unseen
    assert online[-2].probability > online[-4].probability  # h5 at a high amount is the risky cell
    from fraudscore.model import fast_path_available

    if fast_path_available() and not os.environ.get("FRAUDSCORE_NO_FAST_PREDICT"):
        assert scorer.model.inference_path == "fast"  # score() went through the single-row C path


def test_explanations_quote_the_category_value(trained):
    _, _, res = trained
    model = res.bundle.model
    j = [list(res.feature_names).index(f) for f in model.feature_names]
    reasons = [r for rs in explain_batch(model, res.X[:, j][:400]) for r in rs if r.code == "MODEL_CATEGORY"]
    assert reasons, "the channel should explain some scores"
    assert all(re.fullmatch(r"channel: (web|app|h5|partner|\(other\)|\(missing\))", r.message) for r in reasons)


def test_training_without_categories_writes_format_version_1(tmp_path):
    from fraudscore.model import Model

    import lightgbm as lgb

    X = np.random.default_rng(0).normal(size=(200, 2))
    b = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, (X[:, 0] > 0).astype(int),
                                                                        feature_name=["a", "b"]), 2)
    assert b'"format_version": 1' in Model(b, ["a", "b"]).to_files()["model.json"]
    with pytest.raises(ConfigError, match="categories"):
        Model(b, ["a", "b"], categories={"fields": {"browser": ["x"]}})
