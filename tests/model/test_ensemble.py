"""Ensembles: the merged booster is the mean of the members, on every prediction path; saved and checked."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraudscore.bundle import Bundle
from fraudscore.errors import BundleError, ConfigError
from fraudscore.model import Model, TrainConfig, train_model
from fraudscore.model.ensemble import EnsembleModel, merge_model_texts

from tests.helpers import SECRET

from .conftest import FEATURES


@pytest.fixture(scope="module")
def ensemble(data) -> EnsembleModel:
    X, y, ts, entity = data
    cfg = TrainConfig(seed=3, num_boost_round=60, early_stopping_rounds=15, learning_rate=0.1, num_leaves=15,
                      ensemble_size=3)
    m = train_model(X[:8000], y[:8000], ts[:8000], FEATURES, cfg)
    assert isinstance(m, EnsembleModel)
    return m


def test_merged_booster_is_the_mean_of_the_members(data, ensemble):
    X = data[0][:2000]
    members = ensemble.predict_members(X)
    assert members.shape == (2000, 3)
    merged = ensemble.booster.predict(X, raw_score=True)
    assert np.allclose(merged, members.mean(axis=1), rtol=0, atol=1e-12)
    # the members really differ (their own seeds) and each one was early-stopped on its own
    assert np.abs(members[:, 0] - members[:, 1]).max() > 1e-6
    assert [m["seed"] for m in ensemble.member_info] == [3, 3 + 1_000_003, 3 + 2 * 1_000_003]
    assert ensemble.training["best_iterations"] == [m["best_iteration"] for m in ensemble.member_info]
    assert ensemble.booster.num_trees() == sum(ensemble.training["best_iterations"])


def test_weighted_merge(data):
    X, y = data[0][:3000], data[1][:3000]
    ds = lgb.Dataset(X, y, feature_name=FEATURES)
    bs = [lgb.train({"objective": "binary", "verbose": -1, "seed": s, "bagging_fraction": 0.7, "bagging_freq": 1,
                     "num_threads": 1}, ds, 8 + s) for s in range(2)]
    merged = lgb.Booster(model_str=merge_model_texts([b.model_to_string() for b in bs], [0.25, 0.75]))
    want = 0.25 * bs[0].predict(X, raw_score=True) + 0.75 * bs[1].predict(X, raw_score=True)
    assert np.allclose(merged.predict(X, raw_score=True), want, rtol=0, atol=1e-12)
    # TreeSHAP is additive over trees: the merged contributions are the weighted members' contributions
    want_c = 0.25 * bs[0].predict(X[:50], pred_contrib=True) + 0.75 * bs[1].predict(X[:50], pred_contrib=True)
    assert np.allclose(merged.predict(X[:50], pred_contrib=True), want_c, rtol=0, atol=1e-9)


@given(rows=st.lists(st.lists(st.one_of(st.none(), st.floats(-5, 5), st.floats(0, 5e4)), min_size=len(FEATURES),
                              max_size=len(FEATURES)), min_size=1, max_size=5))
def test_fast_path_equals_batch_path(ensemble, rows):
    X = np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=np.float64)
    assert ensemble.inference_path == "fast"
    batch = ensemble.predict_proba(X)
    for i in range(len(X)):
        assert ensemble.predict_one(X[i]) == float(batch[i])
        assert ensemble.score_one(X[i]) == int(ensemble.score(X[i : i + 1])[0])


def test_contributions_explain_the_merged_raw_score(data, ensemble):
    X = data[0][:200]
    c = ensemble.contributions(X)
    assert c.shape == (200, len(FEATURES) + 1)
    assert np.allclose(c.sum(axis=1), ensemble.booster.predict(X, raw_score=True), atol=1e-9)
    from fraudscore.model import explain_reasons

    reasons = explain_reasons(ensemble, X[0], top_k=3)
    assert all(r.contribution > 0 for r in reasons)


def test_round_trip_and_integrity(tmp_path, data, ensemble):
    names = ensemble.save(tmp_path / "m")
    assert names == ["calibration.json", "model.json", "model.txt", "model_member_0.txt", "model_member_1.txt",
                     "model_member_2.txt"]
    back = Model.load(tmp_path / "m")
    assert isinstance(back, EnsembleModel) and back.n_members == 3
    X = data[0][:500]
    assert np.array_equal(back.predict_proba(X), ensemble.predict_proba(X))
    assert back.to_files() == ensemble.to_files()
    meta = json.loads(ensemble.to_files()["model.json"])
    assert meta["kind"] == "ensemble" and [m["file"] for m in meta["members"]] == names[3:]
    # an older reader of model.txt alone gets the same predictions
    single = lgb.Booster(model_str=(tmp_path / "m" / "model.txt").read_text())
    assert np.array_equal(single.predict(X), ensemble.predict_raw(X))

    files = ensemble.to_files()
    bad = dict(files)
    bad["model_member_1.txt"] = files["model_member_1.txt"].replace(b"leaf_value=", b"leaf_value=1 ", 1)
    with pytest.raises(BundleError, match="tampered file 'model_member_1.txt'"):
        Model.from_files(bad)
    with pytest.raises(BundleError, match="'model_member_2.txt' is missing"):
        Model.from_files({k: v for k, v in files.items() if k != "model_member_2.txt"})
    other = train_model(data[0][:4000], data[1][:4000], data[2][:4000], FEATURES,
                        TrainConfig(num_boost_round=5, learning_rate=0.1))
    with pytest.raises(BundleError, match="ensemble mismatch"):
        Model.from_files({**files, "model.txt": other.to_files()["model.txt"]})
    unknown = json.loads(files["model.json"])
    unknown["kind"] = "stacked"
    with pytest.raises(BundleError, match="unknown model kind 'stacked'"):
        Model.from_files({**files, "model.json": json.dumps(unknown).encode()})


def test_bundle_with_an_ensemble(tmp_path, data, ensemble):
    b = Bundle(model=ensemble, rules_toml="")
    names = b.save(tmp_path / "b", key=SECRET)
    assert "model_member_0.txt" in names
    back = Bundle.load(tmp_path / "b", key=SECRET)
    assert isinstance(back.model, EnsembleModel)
    assert np.array_equal(back.model.predict_proba(data[0][:100]), ensemble.predict_proba(data[0][:100]))


def test_single_model_unchanged(data, model):
    assert type(model) is Model
    assert "kind" not in json.loads(model.to_files()["model.json"])


def test_monotone_constraints(data):
    X, y, ts, _ = data
    j = FEATURES.index("distinct__applicant_id__by__device_id__24h")
    cfg = TrainConfig(num_boost_round=40, learning_rate=0.1, monotone={"distinct__*": 1, "amount": -1})
    m = train_model(X[:8000], y[:8000], ts[:8000], FEATURES, cfg)
    assert m.training["lgb_params"]["monotone_constraints"][j] == 1
    grid = np.repeat(X[:50], 12, axis=0)
    grid[:, j] = np.tile(np.arange(12.0), 50)
    raw = m.predict_raw(grid).reshape(50, 12)
    assert (np.diff(raw, axis=1) >= -1e-12).all()


def test_config_errors():
    with pytest.raises(ConfigError, match="'ensemble_size' parameter of TrainConfig must be an integer in 1..100"):
        TrainConfig(ensemble_size=0)
    with pytest.raises(ConfigError, match="'monotone' parameter"):
        TrainConfig(monotone={"a": 2})
    with pytest.raises(ConfigError, match="one finite positive weight per member"):
        merge_model_texts(["x", "y"], [1.0, -1.0])
    with pytest.raises(ConfigError, match="at least one tree"):
        merge_model_texts(["not a model"])


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return np.asarray(a, dtype=np.float64).tobytes() == np.asarray(b, dtype=np.float64).tobytes()


def test_compiled_trees_evaluate_the_merged_booster(tmp_path, data, ensemble):
    """The merged booster is one LightGBM model: the compiled evaluator runs it, bit for bit, and a bundle keeps it."""
    X = data[0][:2000]
    m = EnsembleModel(ensemble.member_texts, ensemble.feature_names, member_info=ensemble.member_info,
                      calibrator=ensemble.calibrator, thresholds=ensemble.thresholds, compiled=True)
    assert m.inference_path == "compiled" and ensemble.inference_path == "fast"
    assert m.compiled_info is not None
    assert _same_bits(m.predict_raw(X), ensemble.booster.predict(X))
    assert _same_bits(m.predict_proba(X), ensemble.predict_proba(X))
    assert _same_bits([m.predict_one(x) for x in X[:300]], ensemble.predict_proba(X[:300]))
    # TreeSHAP (reasons) explains the merged booster: the compiled TreeSHAP equals LightGBM's (the classic
    # algorithm bit for bit, the FastTreeSHAP tables to rounding)
    assert m.explain_path == "compiled"
    ref = ensemble.booster.predict(X[:20], pred_contrib=True)
    assert np.array_equal(ensemble.contributions(X[:20], exact=True), ref)
    assert np.array_equal(m._explainer.contributions(X[:20], classic=True), ref)
    assert np.allclose(m.contributions(X[:20]), ref, rtol=0, atol=1e-12 * (1 + np.abs(ref).sum()))
    # saved: the ensemble's files plus the compiled choice; loaded back as a compiled ensemble
    meta = json.loads(m.to_files()["model.json"])
    assert meta["kind"] == "ensemble" and meta["compiled"] == m.compiled_info
    m.save(tmp_path / "m")
    back = Model.load(tmp_path / "m")
    assert isinstance(back, EnsembleModel) and back.inference_path == "compiled"
    assert _same_bits(back.predict_proba(X), ensemble.predict_proba(X))
    assert Model.load(tmp_path / "m", compiled=False).inference_path == "fast"
    b = Bundle(model=m, rules_toml="")
    b.save(tmp_path / "b", key=SECRET)
    lb = Bundle.load(tmp_path / "b", key=SECRET)
    assert isinstance(lb.model, EnsembleModel) and lb.model.inference_path == "compiled"
    assert lb.manifest["compiled"] == m.compiled_info
    # a changed member is still refused before anything is compiled
    files = m.to_files()
    bad = {**files, "model_member_0.txt": files["model_member_0.txt"].replace(b"leaf_value=", b"leaf_value=1 ", 1)}
    with pytest.raises(BundleError, match="tampered file 'model_member_0.txt'"):
        Model.from_files(bad)
