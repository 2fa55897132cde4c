"""The link model: pure-Python trees equal LightGBM; shipped hash; bundle round trip; reproducible training."""

from __future__ import annotations

import hashlib
from importlib import resources

import lightgbm as lgb
import numpy as np
import pytest

from fraudscore.bundle import Bundle
from fraudscore.errors import BundleError, ConfigError
from fraudscore.fingerprint import default_link_model
from fraudscore.fingerprint.linkfeatures import PAIR_FEATURES
from fraudscore.fingerprint.linkmodel import LinkModel
from fraudscore.fingerprint.linktrain import TRAIN_PARAMS, main, train_link_model
from tests.helpers import SECRET


def _booster(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(-1, 6, size=(3000, len(PAIR_FEATURES))).astype(float)
    X[:, 15] = rng.random(3000)
    y = ((X[:, 4] < 2) & (X[:, 15] > 0.3) | (X[:, 13] == 1)).astype(int)
    params = {**TRAIN_PARAMS, "seed": seed}
    return lgb.train(params, lgb.Dataset(X, y, feature_name=list(PAIR_FEATURES)), 25), X


def test_pure_python_trees_equal_lightgbm():
    booster, X = _booster()
    m = LinkModel(booster.model_to_string())
    want = booster.predict(X[:500])
    got = np.array([m.predict(row.tolist()) for row in X[:500]])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    again = np.array([m.predict(row.tolist()) for row in X[:500]])  # through the memo
    assert (again == got).all()


def test_shipped_model_matches_its_hash_and_lightgbm():
    pkg = resources.files("fraudscore.fingerprint")
    data = pkg.joinpath("default_link_model.txt").read_bytes()
    assert hashlib.sha256(data).hexdigest() == pkg.joinpath("default_link_model.sha256").read_text().split()[0]
    m = default_link_model()
    booster = lgb.Booster(model_str=m.text)
    X = np.random.default_rng(1).integers(-1, 4, size=(200, len(PAIR_FEATURES))).astype(float)
    np.testing.assert_allclose([m.predict(r.tolist()) for r in X], booster.predict(X), rtol=0, atol=1e-12)


def test_bad_models_are_refused():
    booster, _ = _booster()
    text = booster.model_to_string()
    with pytest.raises(BundleError, match="sha256"):
        LinkModel.from_bytes(text.encode(), "0" * 64)
    with pytest.raises(ConfigError):
        LinkModel("not a model")
    with pytest.raises(ConfigError, match="PAIR_FEATURES"):
        LinkModel(text.replace("feature_names=browser_delta", "feature_names=other"))


def test_bundle_carries_the_link_model(tmp_path):
    booster, _ = _booster(3)
    m = LinkModel(booster.model_to_string())
    b = Bundle(rules_toml="", link_model=m)
    names = b.save(tmp_path / "b", key=SECRET)
    assert "linker.txt" in names and b.manifest["linker"] == {"file": "linker.txt", "sha256": m.sha256}
    assert Bundle.load(tmp_path / "b", key=SECRET).link_model.sha256 == m.sha256
    assert Bundle.load(tmp_path / "b", key=SECRET).link_model.text == m.text
    (tmp_path / "b" / "linker.txt").write_text(m.text.replace("Tree=0", "Tree=0 "), encoding="utf-8")
    with pytest.raises(BundleError, match="tampered"):
        Bundle.load(tmp_path / "b", key=SECRET)
    assert Bundle(rules_toml="").to_files(SECRET).get("linker.txt") is None
    with pytest.raises(ConfigError, match="'link_model' parameter of Bundle"):
        Bundle(link_model="text")


def test_training_is_reproducible_and_the_entry_point_writes_the_hash(tmp_path):
    kw = {"n_devices": 50, "days": 20, "scenarios": ("mixed", "web"), "num_boost_round": 8}
    a, b = train_link_model(**kw), train_link_model(**kw)
    assert a.text == b.text and a.sha256 == b.sha256
    out = tmp_path / "m.txt"
    main(["--out", str(out), "--n-devices", "30", "--days", "10", "--rounds", "3"])
    assert (tmp_path / "m.sha256").read_text().split()[0] == hashlib.sha256(out.read_bytes()).hexdigest()
