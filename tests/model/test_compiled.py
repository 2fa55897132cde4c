"""Compiled trees equal LightGBM bit for bit (missing types, categorical splits, sigmoid and raw margin),
round-trip through bundles with their recorded hash, and fall back to the fast path when they cannot be built."""

from __future__ import annotations

import json
import os
import threading
import warnings

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.bundle import Bundle
from fraudscore.errors import BundleError, ConfigError
from fraudscore.model import Model
from fraudscore.model.compiled import (DISABLE_ENV, CompiledForest, CompileError, build_extension, forest_tables,
                                       probe_rows)
from tests.helpers import SECRET
from tests.model.forest_data import booster_zoo, forest_data, same_bits

pytestmark = pytest.mark.skipif(os.environ.get(DISABLE_ENV) == "1", reason=f"{DISABLE_ENV}=1")

SPECIAL = [0.0, -0.0, 1e-35, -1e-35, 1.0000000180025095e-35, 5e-324, -5e-324, 1e-300, 1.0, -1.0, 2.5, 31.0, 32.0,
           63.0, 64.0, 1e9, -1e9, 2.0**31, -(2.0**31), 1e300, -1e300, float("inf"), float("-inf"), float("nan")]


@pytest.fixture(scope="module")
def boosters() -> dict[str, lgb.Booster]:
    """One booster per missing-value type and one with categorical splits."""
    return booster_zoo()


@pytest.fixture(scope="module")
def forests(boosters) -> dict[str, CompiledForest]:
    return {name: CompiledForest.from_booster(b) for name, b in boosters.items()}


def test_every_model_kind_is_exact_on_probe_and_random_rows(boosters, forests):
    X, _ = forest_data(seed=1, n=800)
    for name, b in boosters.items():
        f = forests[name]
        assert f.verify(b) == 0, name
        assert f.verify(b, X) == 0, name
        assert same_bits(f.predict(X), b.predict(X)), name
        assert same_bits(f.predict(X, raw=True), b.predict(X, raw_score=True)), name
        assert same_bits([f.predict_one(x) for x in X[:200]], b.predict(X[:200])), name
        assert same_bits([f.predict_raw_one(x) for x in X[:200]], b.predict(X[:200], raw_score=True)), name


def test_the_models_exercise_what_they_claim(boosters):
    def types(b):
        return {int(v) for t in b.model_to_string().split("decision_type=")[1:] for v in t.split("\n", 1)[0].split()}
    assert any(t & 1 for t in types(boosters["categorical"]))
    assert {(t >> 2) & 3 for t in types(boosters["zero"])} >= {1}
    assert {(t >> 2) & 3 for t in types(boosters["nan"])} >= {2}
    assert {(t >> 2) & 3 for t in types(boosters["none"])} == {0}
    assert forest_tables(boosters["one_leaf"].model_to_string()).nodes.shape[0] == 0
    assert forest_tables(boosters["sigmoid"].model_to_string()).sigmoid == 0.7


value = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True, width=64),
                  st.integers(-5, 70).map(float), st.floats(-3, 3))


@settings(max_examples=80)
@given(st.sampled_from(["nan", "none", "zero", "categorical", "sigmoid"]), st.lists(value, min_size=5, max_size=5),
       st.integers(0, 4), st.sampled_from([-1, 0, 1]))
def test_property_compiled_equals_booster(boosters, forests, kind, row, j, nudge):
    b, f = boosters[kind], forests[kind]
    x = np.array(row, dtype=np.float64)
    # put one value right at (or one ulp off) a threshold of that feature
    t = f.tables.nodes
    thr = t["threshold"][((t["decision_type"] & 1) == 0) & (t["feature"] == j)]
    if thr.size:
        v = thr[len(row) % thr.size]
        x[j] = v if nudge == 0 else np.nextafter(v, np.inf * nudge)
    X = x[None, :]
    assert same_bits([f.predict_one(x)], b.predict(X))
    assert same_bits([f.predict_raw_one(x)], b.predict(X, raw_score=True))
    assert same_bits(f.predict(X), b.predict(X))


def test_model_option_predicts_like_lightgbm_online_and_in_batch(data, model):
    X = data[0][:3000]
    m = Model(model.booster, model.feature_names, calibrator=model.calibrator, thresholds=model.thresholds,
              compiled=True)
    assert m.inference_path == "compiled" and model.inference_path == "fast"
    assert same_bits(m.predict_raw(X), model.booster.predict(X))
    assert same_bits(m.predict_proba(X), model.predict_proba(X))
    assert same_bits([m.predict_one(x) for x in X[:500]], m.predict_proba(X[:500]))
    assert m.score(X[:500]).tolist() == [m.score_one(x) for x in X[:500]]
    assert m.predict_one([None] * m.num_features) == model.predict_one([float("nan")] * m.num_features)
    with pytest.raises(ConfigError, match="20 feature values"):
        m.predict_one([0.5] * 19)
    with pytest.raises(ConfigError, match="20 feature values"):
        m.predict_one(np.zeros(21))


def test_copies_and_pickles_rebuild_from_the_tables(model):
    import copy
    import pickle

    f = CompiledForest.from_booster(model.booster)
    x = np.linspace(-1, 1, f.num_features)
    for g in (copy.deepcopy(f), pickle.loads(pickle.dumps(f))):
        assert g.predict_one(x) == f.predict_one(x) and g.tables.sha256() == f.tables.sha256()


def test_threads_agree(data, model):
    f = CompiledForest.from_booster(model.booster)
    X = np.ascontiguousarray(data[0][:5000])
    one = f.predict(X, threads=1)
    assert same_bits(f.predict(X, threads=3), one)
    assert same_bits(f.predict(X[:7], threads=8), one[:7])
    out: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        out[i] = np.array([f.predict_one(x) for x in X[i * 300:(i + 1) * 300]])

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert same_bits(np.concatenate([out[i] for i in range(4)]), one[:1200])


def test_bundle_records_the_tables_and_round_trips(tmp_path, data, model):
    m = Model(model.booster, model.feature_names, calibrator=model.calibrator, thresholds=model.thresholds,
              compiled=True)
    Bundle(model=m).save(tmp_path / "b", key=SECRET)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["compiled"] == m.compiled_info
    assert manifest["compiled"]["tables_sha256"] == forest_tables(model.booster.model_to_string()).sha256()
    assert not any(name.endswith((".so", ".c", ".o")) for name in manifest["files"])  # no native code inside
    b2 = Bundle.load(tmp_path / "b", key=SECRET)
    assert b2.model.inference_path == "compiled"
    X = data[0][:300]
    assert same_bits(b2.model.predict_proba(X), model.predict_proba(X))
    assert Bundle.load(tmp_path / "b", key=SECRET, compiled=False).model.inference_path == "fast"
    Bundle(model=model).save(tmp_path / "plain", key=SECRET)
    assert Bundle.load(tmp_path / "plain", key=SECRET).model.inference_path == "fast"
    assert Bundle.load(tmp_path / "plain", key=SECRET, compiled=True).model.inference_path == "compiled"


def test_a_changed_tables_hash_is_refused(tmp_path, model):
    m = Model(model.booster, model.feature_names, thresholds=model.thresholds, compiled=True)
    files = m.to_files()
    meta = json.loads(files["model.json"])
    meta["compiled"]["tables_sha256"] = "0" * 64
    files["model.json"] = json.dumps(meta).encode()
    with pytest.raises(BundleError, match="do not match the sha256"):
        Model.from_files(files)


def test_falls_back_with_a_warning_when_no_compiler(monkeypatch, tmp_path, model):
    monkeypatch.setenv("FRAUDSCORE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    with pytest.raises(CompileError, match="C compiler"):
        build_extension()
    with pytest.warns(RuntimeWarning, match="could not be built"):
        m = Model(model.booster, model.feature_names, compiled=True)
    assert m.inference_path == "fast" and m.compiled_info is not None  # the choice is kept for saving
    x = np.zeros(m.num_features)
    assert m.predict_raw_one(x) == model.predict_raw_one(x)


def test_disabled_by_environment_without_warning(monkeypatch, model):
    monkeypatch.setenv(DISABLE_ENV, "1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = Model(model.booster, model.feature_names, compiled=True)
    assert m.inference_path == "fast"


def test_refuses_a_cache_others_can_write(monkeypatch, tmp_path):
    cache = tmp_path / "shared"
    (cache / "compiled").mkdir(parents=True)
    os.chmod(cache / "compiled", 0o777)
    with pytest.raises(CompileError, match="not writable by others"):
        build_extension(cache=cache)


def test_unsupported_models_are_named(boosters):
    X, y = forest_data(n=300)
    multi = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1}, lgb.Dataset(X, y % 3), 2)
    with pytest.raises(ConfigError, match="binary"):
        forest_tables(multi.model_to_string())
    reg = lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(X, y.astype(float)), 2)
    with pytest.raises(ConfigError, match="binary"):
        forest_tables(reg.model_to_string())
    lin = lgb.train({"objective": "binary", "linear_tree": True, "verbose": -1}, lgb.Dataset(np.nan_to_num(X), y), 2)
    with pytest.raises(ConfigError, match="linear"):
        forest_tables(lin.model_to_string())


def test_probe_rows_cover_thresholds(boosters):
    t = forest_tables(boosters["nan"].model_to_string())
    P = probe_rows(t)
    assert np.isnan(P).any() and (P == 0).any()
    thr = t.nodes["threshold"][t.nodes["feature"] == 0]
    assert np.isin(thr, P[:, 0]).any()
