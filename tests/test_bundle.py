"""Bundle round trips (directory and zip) and every verification failure."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fraudscore.bundle import BUNDLE_FORMAT_VERSION, Bundle, sha256_hex
from fraudscore.errors import BundleError, ConfigError
from fraudscore.model import TrainConfig, train_model

from .model.conftest import FEATURES, make_data

RULES = '[[rule]]\ncode = "DEV_MANY_IDS_24H"\nwhen = "distinct__applicant_id__by__device_id__24h >= 5"\naction = "review"\n'


@pytest.fixture(scope="module")
def trained():
    X, y, ts, _ = make_data(5000, seed=11)
    cfg = TrainConfig(num_boost_round=30, early_stopping_rounds=10, learning_rate=0.1, num_leaves=7)
    return train_model(X, y, ts, FEATURES, cfg), X


def _bundle(model) -> Bundle:
    return Bundle(
        model=model,
        schema={"fields": {"amount": {"type": "float"}}},
        features={"specs": [{"agg": "count", "key": "device_id", "window": "24h"}]},
        rules_toml=RULES,
        lists={"deny_ip": "1.2.3.4\n5.6.7.8\n", "allow.devices": "p:abc\n"},
        fingerprint={"scheme_version": 2, "key_id": "7c67137afddcd96b"},
        policy={"review": 300, "decline": 700},
        training={"data": "synthetic", "rows": 5000},
        metadata={"name": "loan-v1", "owner": "risk"},
    )


@pytest.mark.parametrize("as_zip", [False, True])
def test_round_trip_every_part(tmp_path, trained, as_zip):
    model, X = trained
    b = _bundle(model)
    names = b.save(tmp_path / "bundle", zip=as_zip)
    assert names == sorted(["manifest.json", "model.txt", "calibration.json", "model.json", "rules.toml",
                            "lists/deny_ip.txt", "lists/allow.devices.txt"])
    path = tmp_path / ("bundle.zip" if as_zip else "bundle")
    back = Bundle.load(path)
    assert back.schema == b.schema and back.features == b.features
    assert back.rules_toml == RULES and back.lists == b.lists
    assert back.fingerprint == b.fingerprint and back.policy == b.policy
    assert back.metadata == b.metadata and back.training == b.training
    assert back.created == b.created and back.created.endswith("Z")
    assert back.feature_names == FEATURES
    assert back.model.thresholds == model.thresholds
    assert np.array_equal(back.model.predict_proba(X[:500]), model.predict_proba(X[:500]))
    assert back.model.predict_one(X[0]) == model.predict_one(X[0])
    m = back.manifest
    assert m["format_version"] == BUNDLE_FORMAT_VERSION and m["library_version"]
    assert m["fingerprint"] == {"scheme_version": 2, "key_id": "7c67137afddcd96b"}
    assert m["thresholds"]["review"] == model.thresholds.review
    assert m["metrics"]["roc_auc"] == pytest.approx(model.metrics["roc_auc"])
    assert m["training"]["best_iteration"] == model.training["best_iteration"] and m["training"]["rows"] == 5000
    assert set(m["files"]) == set(names) - {"manifest.json"}


def test_zip_archive_is_reproducible(tmp_path, trained):
    b = _bundle(trained[0])
    b.created = "2026-01-01T00:00:00Z"
    b.save(tmp_path / "a.zip", zip=True)
    b.save(tmp_path / "b", zip=True)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_rules_only_bundle(tmp_path):
    b = Bundle(rules_toml=RULES)
    assert b.save(tmp_path / "r") == ["manifest.json", "rules.toml"]
    back = Bundle.load(tmp_path / "r")
    assert back.model is None and back.rules_toml == RULES and back.feature_names == []


def _saved(tmp_path: Path, model) -> Path:
    path = tmp_path / "b"
    _bundle(model).save(path)
    return path


def _edit_manifest(path: Path, fn) -> None:
    m = json.loads((path / "manifest.json").read_text())
    fn(m)
    (path / "manifest.json").write_text(json.dumps(m))


def test_missing_file(tmp_path, trained):
    path = _saved(tmp_path, trained[0])
    (path / "model.txt").unlink()
    with pytest.raises(BundleError, match="missing file 'model.txt'"):
        Bundle.load(path)


def test_missing_manifest(tmp_path, trained):
    path = _saved(tmp_path, trained[0])
    (path / "manifest.json").unlink()
    with pytest.raises(BundleError, match="missing file 'manifest.json'"):
        Bundle.load(path)


@pytest.mark.parametrize("name", ["model.txt", "rules.toml", "lists/deny_ip.txt", "calibration.json", "model.json"])
def test_tampered_file(tmp_path, trained, name):
    path = _saved(tmp_path, trained[0])
    with open(path / name, "ab") as f:
        f.write(b"\n# edited\n")
    with pytest.raises(BundleError, match=f"tampered file '{name}'"):
        Bundle.load(path)


def test_tampered_zip_member(tmp_path, trained):
    _bundle(trained[0]).save(tmp_path / "z", zip=True)
    src = tmp_path / "z.zip"
    dst = tmp_path / "y.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "rules.toml":
                data = data.replace(b"review", b"approve")
            zout.writestr(info.filename, data)
    with pytest.raises(BundleError, match="tampered file 'rules.toml'"):
        Bundle.load(dst)


def test_newer_format(tmp_path, trained):
    path = _saved(tmp_path, trained[0])
    _edit_manifest(path, lambda m: m.update(format_version=BUNDLE_FORMAT_VERSION + 1))
    with pytest.raises(BundleError, match="newer format"):
        Bundle.load(path)


def test_newer_library_version_warns(tmp_path, trained):
    path = _saved(tmp_path, trained[0])
    _edit_manifest(path, lambda m: m.update(library_version="99.0.0"))
    with pytest.warns(UserWarning, match="newer"):
        Bundle.load(path)
    _edit_manifest(path, lambda m: m.update(library_version="banana"))
    with pytest.raises(BundleError, match="library_version"):
        Bundle.load(path)


def test_feature_mismatch(tmp_path, trained):
    path = _saved(tmp_path, trained[0])
    _edit_manifest(path, lambda m: m.update(feature_names=m["feature_names"][:-1]))
    with pytest.raises(BundleError, match="feature mismatch"):
        Bundle.load(path)


def test_threshold_mismatch(tmp_path, trained):
    path = _saved(tmp_path, trained[0])
    _edit_manifest(path, lambda m: m["thresholds"].update(decline=1001))
    with pytest.raises(BundleError, match="threshold mismatch"):
        Bundle.load(path)


def test_unlisted_required_file_and_unsafe_paths(tmp_path, trained):
    path = _saved(tmp_path, trained[0])
    _edit_manifest(path, lambda m: m["files"].pop("rules.toml"))
    with pytest.raises(BundleError, match="missing file 'rules.toml'"):
        Bundle.load(path)
    path2 = tmp_path / "c"
    _bundle(trained[0]).save(path2)
    _edit_manifest(path2, lambda m: m["files"].update({"../etc/passwd": sha256_hex(b"")}))
    with pytest.raises(BundleError, match="unsafe file path"):
        Bundle.load(path2)


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        Bundle.load(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("hello")
    with pytest.raises(BundleError, match="neither a directory nor a zip"):
        Bundle.load(tmp_path / "file.txt")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        Bundle.load(tmp_path / "d")
    (tmp_path / "d" / "manifest.json").write_text('{"format": "other"}')
    with pytest.raises(BundleError, match="not a fraudscore bundle"):
        Bundle.load(tmp_path / "d")


def test_no_pickle_and_no_secret_in_files(tmp_path, trained):
    path = _saved(tmp_path, trained[0])
    for f in path.rglob("*"):
        if f.is_file():
            assert not f.read_bytes().startswith(b"\x80")  # no pickle protocol header
    text = (path / "manifest.json").read_text()
    assert "secret" not in text.lower()


@pytest.mark.parametrize("fp", [{"key": "abc"}, {"secret": "x"}, {"master_key": "x"}, {"hmac_password": "x"}])
def test_refuses_secret_like_fingerprint_fields(fp):
    with pytest.raises(ConfigError, match="fingerprint"):
        Bundle(fingerprint={"scheme_version": 1, "key_id": "ab", **fp})


def test_bad_arguments():
    with pytest.raises(ConfigError, match="lists"):
        Bundle(lists={"../x": "a"})
    with pytest.raises(ConfigError, match="lists"):
        Bundle(lists={"ok": b"bytes"})
    with pytest.raises(ConfigError, match="model"):
        Bundle(model="not a model")
    with pytest.raises(ConfigError, match="rules_toml"):
        Bundle(rules_toml=None)
