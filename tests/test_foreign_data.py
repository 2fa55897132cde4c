"""Bringing your own table: plain device ids, second timestamps, protected fields, defaults from the schema,
labels keyed by the schema's id field, Schema.infer and the e-commerce look-alike end to end."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import fraudscore as fs
from fraudscore.errors import ConfigError, EventError
from fraudscore.pipeline import FeaturePipeline
from fraudscore.schema import Field, Schema
from fraudscore.velocity import FeatureSet, FeatureSpec

KEY = b"foreign-data-secret-0123456789"
DAY = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01


def _shop_schema(**kw):
    return Schema((Field("order_id", "str", required=True), Field("at", "timestamp", required=True),
                   Field("signup", "timestamp"), Field("buyer", "str", identifier="generic", entity=True),
                   Field("device_id", "str", identifier="device_id", entity=True), Field("value", "float"),
                   Field("age", "int"), Field("sex", "str"), Field("browser", "str")),
                  id_field="order_id", time_field="at", **kw)


def _shop_rows(n=400, seed=0):
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for i in range(n):
        fraud = rng.random() < 0.15
        dev = f"farm{i % 3}" if fraud else f"dev{i}"
        t = T0 + i * 600_000
        rows.append({"order_id": f"o{i}", "at": t, "signup": t - (1_000 if fraud else int(rng.integers(DAY, 90 * DAY))),
                     "buyer": f"u{i}", "device_id": dev, "value": float(rng.integers(10, 150)),
                     "age": int(rng.integers(18, 70)), "sex": "MF"[i % 2], "browser": "Chrome"})
        labels.append(int(fraud))
    return rows, {"order_id": [r["order_id"] for r in rows], "is_fraud": labels}


def test_a_plain_device_id_keys_device_velocity_without_linking():
    pipe = FeaturePipeline(_shop_schema(), fs.Keys(KEY), FeatureSet([FeatureSpec("count", key="device_id",
                                                                                   window="24h")]))
    assert not pipe.has_device and "device_id" in pipe.record_fields
    assert not any(n.startswith("device__") for n in pipe.feature_names)  # no fingerprint features
    rows, _ = _shop_rows(12)
    cb = fs.to_columns(rows, pipe.schema)
    rec, X = pipe.batch(cb)
    assert rec["device_id"][0].startswith("p:") and rec["device_id"][0] != "dev0"  # pseudonymised
    assert X[:, -1].tolist()[:4] == [1.0, 1.0, 1.0, 1.0]
    farm = [i for i, r in enumerate(rows) if r["device_id"] == "farm0"]
    assert all(X[i, -1] >= 1 for i in farm)


def test_a_renamed_device_id_field_still_keys_device_features():
    s = Schema((Field("id", "str", required=True), Field("t", "timestamp", required=True),
                Field("dev", "str", identifier="device_id", entity=True)), id_field="id", time_field="t")
    pipe = FeaturePipeline(s, fs.Keys(KEY), FeatureSet([FeatureSpec("count", key="device_id", window="1h")]))
    rec, X = pipe.batch(fs.to_columns([{"id": "a", "t": T0, "dev": "x"}, {"id": "b", "t": T0 + 1, "dev": "x"}], s))
    assert X[:, -1].tolist() == [1.0, 2.0] and rec["device_id"][0] == rec["dev"][0]


def test_schema_refuses_two_devices():
    with pytest.raises(ConfigError, match="at most one device"):
        Schema((Field("id", "str", required=True), Field("ts", "timestamp", required=True),
                Field("device", "mapping"), Field("dev", "str", identifier="device_id")), id_field="id")


def test_an_all_unknown_device_mapping_is_refused_in_both_paths(keys):
    from tests.helpers import small_bundle

    scorer = fs.Scorer(small_bundle(), b"fraudscore-test-secret-0123456789")
    ev = {"application_id": "X1", "ts": T0, "device": {"id": "QVPSPJUOCKZAR"}}
    with pytest.raises(EventError, match="no known device attribute.*identifier = \"device_id\"") as info:
        scorer.score(ev)
    assert info.value.field == "device" and "QVPSPJUOCKZAR" not in str(info.value)
    assert scorer.store.latest_time() is None  # nothing changed
    batch = scorer.score_batch([ev, {"application_id": "X2", "ts": T0 + 1, "device": {"os": "android", "id": "q"}}])
    assert len(batch) == 1 and [(e.row, e.field) for e in batch.errors] == [(0, "device")]


def test_second_timestamp_gives_an_age_in_seconds_in_both_paths():
    s = _shop_schema()
    pipe = FeaturePipeline(s, fs.Keys(KEY), FeatureSet([]))
    assert "signup__age_s" in pipe.feature_names
    rows = [{"order_id": "a", "at": T0, "signup": T0 - 90_500}, {"order_id": "b", "at": T0 + 5}]
    rec, X = pipe.batch(fs.to_columns(rows, s))
    j = pipe.feature_names.index("signup__age_s")
    assert X[0, j] == 90.5 and np.isnan(X[1, j])
    from fraudscore.fingerprint import DeviceLinker
    from fraudscore.velocity import OnlineVelocity

    _, x, _, _ = pipe.online(s.validate(rows[0]), DeviceLinker(), OnlineVelocity(FeatureSet([])))
    assert x[j] == 90.5


def test_protected_fields_never_reach_the_model():
    rows, labels = _shop_rows()
    res = fs.train(rows, labels, key=KEY, schema=_shop_schema(protected=("age", "sex")),
                   config={"model": {"num_boost_round": 10, "gap": "1h", "min_data_in_leaf": 5}})
    model_inputs = set(res.bundle.model.feature_names)
    assert "age" not in model_inputs and "age" in res.feature_names and "value" in model_inputs
    assert res.bundle.training["excluded_features"] == ["age"]
    # without a list: by name (age, gender, sex)
    unlisted = FeaturePipeline(_shop_schema(), fs.Keys(KEY), FeatureSet([]))
    assert unlisted.protected_features() == ["age"]
    # an explicit list replaces the names: "age" may then be, say, an account age
    listed = FeaturePipeline(_shop_schema(protected=()), fs.Keys(KEY), FeatureSet([]))
    assert listed.protected_features() == []
    with pytest.raises(ConfigError, match="unknown fields"):
        _shop_schema(protected=("gender",))
    assert Schema.from_toml(_shop_schema(protected=("age",)).to_toml()).protected == ("age",)


def test_schema_infer_finds_the_id_field_beyond_its_sample():
    # more rows than Schema.infer samples (20,000): the id column is still recognised as all-different
    n = 25_000
    table = {"order_id": np.array([f"o{i}" for i in range(n)], dtype=object),
             "order_time": 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 60_000,
             "amount": np.linspace(1.0, 99.0, n)}
    s = Schema.infer(table)
    assert (s.id_field, s.time_field) == ("order_id", "order_time")


def test_defaults_derive_from_a_custom_schema_and_text_fields_are_named(caplog):
    rows, labels = _shop_rows()
    with caplog.at_level(logging.INFO, logger="fraudscore"):
        res = fs.train(rows, labels, key=KEY, schema=_shop_schema(),  # no label_time: nothing label-delayed
                       config={"model": {"num_boost_round": 10, "gap": "1h", "min_data_in_leaf": 5}})
    names = set(res.feature_names)
    assert {"count__device_id__1h", "count__buyer__24h", "distinct__device_id__by__buyer__7d"} <= names
    assert not any("fraud_rate" in n or "applicant_id" in n for n in names)
    assert any("text fields never reach the model" in n and "browser" in n for n in res.notes)
    assert any("left out" in n for n in res.notes)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("browser" in m for m in warned)
    scorer = fs.Scorer(res.bundle, KEY)  # the bundle loads: its rules all apply
    assert {r.code for r in scorer.ruleset.rules} <= {r.code for r in fs.RuleSet.default().rules}
    batch = scorer.score_batch(rows[:50])
    assert len(batch) == 50 and list(batch.application_id[:2]) == ["o0", "o1"]


def test_a_schema_without_entities_trains_with_no_velocity_features():
    s = Schema((Field("id", "str", required=True), Field("ts", "timestamp", required=True),
                Field("x", "float")), id_field="id")
    rng = np.random.default_rng(1)
    x = rng.normal(size=300)
    rows = [{"id": str(i), "ts": T0 + i * 60_000, "x": float(v)} for i, v in enumerate(x)]
    res = fs.train(rows, {"id": [r["id"] for r in rows], "is_fraud": (x > 1.0).astype(int)}, key=KEY, schema=s,
                   config={"model": {"num_boost_round": 5, "gap": "1h", "min_data_in_leaf": 5}})
    assert res.feature_names == ("x",) and len(fs.Scorer(res.bundle, KEY).feature_set) == 0
    assert any("no velocity features" in n for n in res.notes)


def test_labels_use_the_schema_id_field_and_label_time_only_when_needed():
    rows, labels = _shop_rows(200)
    fset = FeatureSet([FeatureSpec("fraud_rate", key="device_id", window="30d", delay="1d")])
    with pytest.raises(EventError, match="'label_time': is a required column"):
        fs.train(rows, labels, key=KEY, schema=_shop_schema(), feature_set=fset)
    with pytest.raises(EventError, match="'order_id': is a required column of the labels table"):
        fs.train(rows, {"is_fraud": labels["is_fraud"]}, key=KEY, schema=_shop_schema())
    # the column may also be called application_id
    res = fs.train(rows, {"application_id": labels["order_id"], "is_fraud": labels["is_fraud"]}, key=KEY,
                   schema=_shop_schema(), config={"model": {"num_boost_round": 5, "gap": "1h", "min_data_in_leaf": 5}})
    assert res.bundle.training["labelled_rows"] == 200


def test_schema_infer_on_the_ecommerce_look_alike_end_to_end(tmp_path, monkeypatch):
    pytest.importorskip("pandas")
    from fraudscore.cli import main
    from fraudscore.synth.ecommerce import generate_ecommerce

    table = generate_ecommerce(n_days=20, per_day=150, seed=3)
    s = Schema.infer(table)
    assert (s.id_field, s.time_field) == ("user_id", "purchase_time")
    assert s["signup_time"].type == "timestamp" and s["device_id"].identifier == "device_id"
    assert s["ip_address"].identifier == "ip" and s.protected == ("sex", "age") and "class" not in s
    assert s["source"].type == s["browser"].type == "category"  # short lists of values reach the model
    assert Schema.from_toml(s.to_toml()) == s
    table.to_csv(tmp_path / "shop.csv", index=False)
    (tmp_path / "schema.toml").write_text(s.to_toml())
    monkeypatch.setenv("SHOP_KEY", KEY.decode())
    key_env = ["--key-env", "SHOP_KEY"]
    assert main(["train", str(tmp_path / "shop.csv"), "--label-column", "class", "--schema",
                 str(tmp_path / "schema.toml"), "--out", str(tmp_path / "b"), "--no-progress", *key_env]) == 0
    assert main(["score", str(tmp_path / "shop.csv"), "--bundle", str(tmp_path / "b"), "--out",
                 str(tmp_path / "scored.csv"), "--no-progress", *key_env]) == 0
    import pandas as pd

    from fraudscore.bundle import Bundle

    model = Bundle.load(tmp_path / "b", key=KEY).model
    cats = sorted(n for n in model.feature_names if n.endswith("__category"))
    assert cats == ["browser__category", "source__category"]  # sex is protected: never a model input
    assert model.categories.get("browser").values and sorted(model.categories.features) == cats
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert len(scored) == len(table) and set(scored["action"]) <= {"approve", "review", "decline"}
    y = table["class"].to_numpy()[scored["row"].to_numpy()]
    from fraudscore.model.metrics import roc_auc

    assert roc_auc(y, scored["score"].to_numpy()) > 0.75
