"""Model save / load round trip: predictions, thresholds, metrics, calibration; errors name the problem."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pytest

from fraudscore.errors import BundleError, ConfigError
from fraudscore.model import Model


def test_round_trip_directory(tmp_path, data, model):
    names = model.save(tmp_path / "m")
    assert names == ["calibration.json", "model.json", "model.txt"]
    back = Model.load(tmp_path / "m")
    X = data[0][:1000]
    assert back.feature_names == model.feature_names
    assert np.array_equal(back.predict_raw(X), model.predict_raw(X))
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))
    assert back.predict_one(X[0]) == model.predict_one(X[0])
    assert back.thresholds == model.thresholds
    assert json.dumps(back.metrics, sort_keys=True) == json.dumps(
        json.loads(json.dumps({k: (None if v != v else v) for k, v in model.metrics.items()})), sort_keys=True
    )
    assert back.training["best_iteration"] == model.training["best_iteration"]
    assert np.array_equal(back.calibrator.xp, model.calibrator.xp)
    # saving the loaded model gives identical files
    assert back.to_files() == model.to_files()


def test_model_json_is_strict_json(model):
    files = model.to_files()
    meta = json.loads(files["model.json"])  # no NaN literals
    assert meta["format_version"] == 1 and meta["feature_names"] == model.feature_names
    assert b"NaN" not in files["model.json"]


def test_load_errors(tmp_path, model):
    files = model.to_files()
    with pytest.raises(BundleError, match="'model.txt' is missing"):
        Model.from_files({k: v for k, v in files.items() if k != "model.txt"})
    newer = json.loads(files["model.json"])
    newer["format_version"] = 99
    with pytest.raises(BundleError, match="newer than this library"):
        Model.from_files({**files, "model.json": json.dumps(newer).encode()})
    renamed = json.loads(files["model.json"])
    renamed["feature_names"] = renamed["feature_names"][::-1]
    with pytest.raises(BundleError, match="feature mismatch"):
        Model.from_files({**files, "model.json": json.dumps(renamed).encode()})
    with pytest.raises(BundleError, match="model.txt line 1: a LightGBM model starts with"):
        Model.from_files({**files, "model.txt": b"garbage"})
    with pytest.raises(BundleError, match="not valid JSON"):
        Model.from_files({**files, "calibration.json": b"{"})
    with pytest.raises(BundleError, match="missing"):
        Model.load(tmp_path / "nowhere")


def test_feature_names_must_match_booster():
    X = np.random.default_rng(0).normal(size=(100, 2))
    b = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, (X[:, 0] > 0).astype(int)), 2)
    with pytest.raises(ConfigError, match="feature"):
        Model(b, ["a", "b"])
    with pytest.raises(ConfigError, match="feature"):
        Model(b, ["a"])


def test_wrong_matrix_shape(model):
    with pytest.raises(ConfigError, match="20 columns"):
        model.predict_proba(np.zeros((3, 19)))
    assert model.predict_proba(np.zeros((0, 20))).shape == (0,)
