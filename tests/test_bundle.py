"""Bundle round trips (directory and zip) and every verification failure."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fraudscore.bundle import BUNDLE_FORMAT_VERSION, Bundle, sha256_hex
from fraudscore.errors import BundleError, ConfigError
from fraudscore.keys import Keys
from fraudscore.model import TrainConfig, train_model

from .bundle_tools import resign
from .model.conftest import FEATURES, make_data

RULES = '[[rule]]\ncode = "DEV_MANY_IDS_24H"\nwhen = "distinct__applicant_id__by__device_id__24h >= 5"\naction = "review"\n'
KEY = Keys(b"0123456789abcdef-demo-secret")
OTHER = Keys(b"another-secret-0123456789")


@pytest.fixture(scope="module")
def trained():
    X, y, ts, _ = make_data(5000, seed=11)
    cfg = TrainConfig(num_boost_round=30, early_stopping_rounds=10, learning_rate=0.1, num_leaves=7)
    return train_model(X, y, ts, FEATURES, cfg), X


def _bundle(model) -> Bundle:
    return Bundle(
        model=model,
        schema={"fields": [{"name": "application_id", "type": "str", "required": True},
                           {"name": "ts", "type": "timestamp", "required": True},
                           {"name": "amount", "type": "float"}]},
        features={"allowed_lateness": "1h", "features": [{"agg": "count", "key": "device_id", "window": "24h"}]},
        rules_toml=RULES,
        lists={"deny_ip": "1.2.3.4\n5.6.7.8\n", "allow.devices": "p:abc\n"},
        fingerprint={"scheme_version": 1, "key_id": KEY.key_id},
        policy={"review": 300, "decline": 700},
        training={"data": "synthetic", "rows": 5000},
        metadata={"name": "loan-v1", "owner": "risk"},
    )


@pytest.mark.parametrize("as_zip", [False, True])
def test_round_trip_every_part(tmp_path, trained, as_zip):
    model, X = trained
    b = _bundle(model)
    names = b.save(tmp_path / "bundle", zip=as_zip, key=KEY)
    assert names == sorted(["manifest.json", "signature.json", "model.txt", "calibration.json", "model.json",
                            "rules.toml", "lists/deny_ip.txt", "lists/allow.devices.txt"])
    path = tmp_path / ("bundle.zip" if as_zip else "bundle")
    back = Bundle.load(path, key=KEY)
    assert back.schema == b.schema and back.features == b.features
    assert back.rules_toml == RULES and back.lists == b.lists
    assert back.fingerprint == b.fingerprint and back.policy == b.policy
    assert back.metadata == b.metadata and back.training == b.training
    assert back.created == b.created and back.created.endswith("Z")
    assert back.feature_names == FEATURES and back.key_id == KEY.key_id
    assert back.model.thresholds == model.thresholds
    assert np.array_equal(back.model.predict_proba(X[:500]), model.predict_proba(X[:500]))
    assert back.model.predict_one(X[0]) == model.predict_one(X[0])
    m = back.manifest
    assert m["format_version"] == BUNDLE_FORMAT_VERSION == 2 and m["library_version"]
    assert m["key_id"] == KEY.key_id and m["signature"] == "hmac-sha256"
    assert m["fingerprint"] == {"scheme_version": 1, "key_id": KEY.key_id}
    assert m["thresholds"]["review"] == model.thresholds.review
    assert m["metrics"]["roc_auc"] == pytest.approx(model.metrics["roc_auc"])
    assert m["training"]["best_iteration"] == model.training["best_iteration"] and m["training"]["rows"] == 5000
    assert set(m["files"]) == set(names) - {"manifest.json", "signature.json"}


def test_zip_archive_is_reproducible(tmp_path, trained):
    b = _bundle(trained[0])
    b.created = "2026-01-01T00:00:00Z"
    b.save(tmp_path / "a.zip", zip=True, key=KEY)
    b.save(tmp_path / "b", zip=True, key=KEY)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_rules_only_bundle(tmp_path):
    b = Bundle(rules_toml=RULES)
    assert b.save(tmp_path / "r", key=KEY) == ["manifest.json", "rules.toml", "signature.json"]
    back = Bundle.load(tmp_path / "r", key=KEY)
    assert back.model is None and back.rules_toml == RULES and back.feature_names == []


def test_save_needs_the_bundles_own_key(tmp_path, trained):
    with pytest.raises(ConfigError, match="bundle's key"):
        _bundle(trained[0]).save(tmp_path / "b", key=OTHER)


def _saved(tmp_path: Path, model) -> Path:
    path = tmp_path / "b"
    _bundle(model).save(path, key=KEY)
    return path


def _edit_manifest(path: Path, fn) -> None:
    """Edit manifest.json the way an attacker without the key can: the signature stays as it was."""
    m = json.loads((path / "manifest.json").read_text())
    fn(m)
    (path / "manifest.json").write_text(json.dumps(m))


def test_missing_file(tmp_path, trained):
    path = _saved(tmp_path, trained[0])
    (path / "model.txt").unlink()
    with pytest.raises(BundleError, match="missing file 'model.txt'"):
        Bundle.load(path, key=KEY)


def test_missing_manifest_or_signature(tmp_path, trained):
    path = _saved(tmp_path, trained[0])
    (path / "signature.json").unlink()
    with pytest.raises(BundleError, match="missing file 'signature.json'"):
        Bundle.load(path, key=KEY)
    (path / "manifest.json").unlink()
    with pytest.raises(BundleError, match="missing file 'manifest.json'"):
        Bundle.load(path, key=KEY)


@pytest.mark.parametrize("name", ["model.txt", "rules.toml", "lists/deny_ip.txt", "calibration.json", "model.json"])
def test_tampered_file(tmp_path, trained, name):
    path = _saved(tmp_path, trained[0])
    with open(path / name, "ab") as f:
        f.write(b"\n# edited\n")
    with pytest.raises(BundleError, match=f"tampered file '{name}'"):
        Bundle.load(path, key=KEY)


def test_tampered_zip_member(tmp_path, trained):
    _bundle(trained[0]).save(tmp_path / "z", zip=True, key=KEY)
    src = tmp_path / "z.zip"
    dst = tmp_path / "y.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "rules.toml":
                data = data.replace(b"review", b"approve")
            zout.writestr(info.filename, data)
    with pytest.raises(BundleError, match="tampered file 'rules.toml'"):
        Bundle.load(dst, key=KEY)


# -- the signature covers every manifest field ---------------------------------------------------
@pytest.mark.parametrize("edit", [
    lambda m: m["policy"].update(review=999),  # policy threshold
    lambda m: m["thresholds"].update(decline=1000),  # model thresholds (and model.json would disagree)
    lambda m: m["features"].update(allowed_lateness="30d"),  # allowed lateness
    lambda m: m["fingerprint"].update(key_id=OTHER.key_id),  # key id
    lambda m: m["fingerprint"].pop("key_id"),  # a removed key id
    lambda m: m.pop("key_id"),
    lambda m: m["fingerprint"].update(scheme_version=1),  # same value, re-serialised: any byte counts
    lambda m: m["fingerprint"].update(scheme_version=7),  # unknown scheme version
    lambda m: m.update(format_version=1),  # a downgrade to "unsigned"
    lambda m: m["files"].update({"rules.toml": sha256_hex(b"")}),  # a hash rewritten
], ids=["policy", "thresholds", "lateness", "key_id", "no_key_id", "no_top_key_id", "reformatted", "scheme",
        "downgrade", "hash"])
def test_any_manifest_edit_is_detected(tmp_path, trained, edit):
    path = _saved(tmp_path, trained[0])
    _edit_manifest(path, edit)
    with pytest.raises(BundleError, match="signature mismatch"):
        Bundle.load(path, key=KEY)


@pytest.mark.parametrize("as_zip", [False, True])
def test_another_key_is_refused(tmp_path, trained, as_zip):
    _bundle(trained[0]).save(tmp_path / "b", zip=as_zip, key=KEY)
    path = tmp_path / ("b.zip" if as_zip else "b")
    with pytest.raises(BundleError, match=f"signature mismatch.*{KEY.key_id}.*{OTHER.key_id}"):
        Bundle.load(path, key=OTHER)


def test_signature_file_is_checked(tmp_path, trained):
    path = _saved(tmp_path, trained[0])
    sig = json.loads((path / "signature.json").read_text())
    (path / "signature.json").write_text(json.dumps({**sig, "mac": "0" * 64}))
    with pytest.raises(BundleError, match="signature mismatch"):
        Bundle.load(path, key=KEY)
    (path / "signature.json").write_text(json.dumps({**sig, "algorithm": "none"}))
    with pytest.raises(BundleError, match="not a hmac-sha256 signature"):
        Bundle.load(path, key=KEY)
    (path / "signature.json").write_text("[" * 5000)
    with pytest.raises(BundleError, match="signature.json"):
        Bundle.load(path, key=KEY)


def _write_v1(path: Path, model) -> None:
    """A format-1 bundle as fraudscore 0.1 wrote it: the same files, no signature."""
    files = _bundle(model).to_files(KEY)
    del files["signature.json"]
    m = json.loads(files["manifest.json"])
    m["format_version"] = 1
    for k in ("key_id", "signature"):
        m.pop(k)
    files["manifest.json"] = json.dumps(m).encode()
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)


def test_unsigned_v1_bundle_is_refused_and_can_be_resaved(tmp_path, trained):
    old = tmp_path / "v1"
    _write_v1(old, trained[0])
    with pytest.raises(BundleError, match=r"unsigned bundle.*allow_unsigned=True\).save"):
        Bundle.load(old, key=KEY)
    with pytest.warns(UserWarning, match="unsigned"):
        b = Bundle.load(old, key=KEY, allow_unsigned=True)
    b.save(tmp_path / "v2", key=KEY)
    again = Bundle.load(tmp_path / "v2", key=KEY)
    assert again.manifest["format_version"] == 2 and again.feature_names == FEATURES
    (old / "rules.toml").write_text("# edited")  # the hashes are still checked on the unsigned path
    with pytest.raises(BundleError, match="tampered"), pytest.warns(UserWarning):
        Bundle.load(old, key=KEY, allow_unsigned=True)


# -- what a key holder might write (re-signed): still checked --------------------------------------
def test_newer_or_unknown_versions(tmp_path, trained):
    path = _saved(tmp_path, trained[0])
    resign(path, KEY, lambda m: m.update(format_version=BUNDLE_FORMAT_VERSION + 1))
    with pytest.raises(BundleError, match="newer format"):
        Bundle.load(path, key=KEY)
    resign(path, KEY, lambda m: m.update(format_version=0))
    with pytest.raises(BundleError, match="unknown bundle format version"):
        Bundle.load(path, key=KEY)
    resign(path, KEY, lambda m: (m.update(format_version=2), m["fingerprint"].update(scheme_version=7)))
    with pytest.raises(BundleError, match="unknown fingerprint scheme version"):
        Bundle.load(path, key=KEY)


def test_newer_library_version_warns(tmp_path, trained):
    path = _saved(tmp_path, trained[0])
    resign(path, KEY, lambda m: m.update(library_version="99.0.0"))
    with pytest.warns(UserWarning, match="newer"):
        Bundle.load(path, key=KEY)
    resign(path, KEY, lambda m: m.update(library_version="banana"))
    with pytest.raises(BundleError, match="library_version"):
        Bundle.load(path, key=KEY)


def test_feature_and_threshold_mismatch(tmp_path, trained):
    path = _saved(tmp_path, trained[0])
    resign(path, KEY, lambda m: m.update(feature_names=m["feature_names"][:-1]))
    with pytest.raises(BundleError, match="feature mismatch"):
        Bundle.load(path, key=KEY)
    path2 = tmp_path / "c"
    _bundle(trained[0]).save(path2, key=KEY)
    resign(path2, KEY, lambda m: m["thresholds"].update(decline=1001))
    with pytest.raises(BundleError, match="threshold mismatch"):
        Bundle.load(path2, key=KEY)


def test_unlisted_required_file_and_unsafe_paths(tmp_path, trained):
    path = _saved(tmp_path, trained[0])
    resign(path, KEY, lambda m: m["files"].pop("rules.toml"), rehash=False)
    with pytest.raises(BundleError, match="missing file 'rules.toml'"):
        Bundle.load(path, key=KEY)
    for bad in ("../etc/passwd", "/etc/passwd", "lists/../../x", "a/b/c", "signature.json"):
        path2 = tmp_path / "c"
        _bundle(trained[0]).save(path2, key=KEY)
        resign(path2, KEY, lambda m: m["files"].update({bad: sha256_hex(b"")}), rehash=False)
        with pytest.raises(BundleError, match="unsafe file path"):
            Bundle.load(path2, key=KEY)


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        Bundle.load(tmp_path / "nope", key=KEY)
    (tmp_path / "file.txt").write_text("hello")
    with pytest.raises(BundleError, match="neither a directory nor a zip"):
        Bundle.load(tmp_path / "file.txt", key=KEY)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        Bundle.load(tmp_path / "d", key=KEY)
    (tmp_path / "d" / "manifest.json").write_text('{"format": "other"}')
    with pytest.raises(BundleError, match="not signed"):
        Bundle.load(tmp_path / "d", key=KEY)


def test_no_pickle_and_no_secret_in_files(tmp_path, trained):
    path = _saved(tmp_path, trained[0])
    for f in path.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert not data.startswith(b"\x80")  # no pickle protocol header
            for secret in (KEY.secret, KEY.bundle, KEY.pseudonym, KEY.fingerprint):
                assert secret not in data and secret.hex().encode() not in data
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
