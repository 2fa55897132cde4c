"""The curated public API: what `import fraudscore` offers, and the error tree."""

from __future__ import annotations

import inspect

import pytest

import fraudscore as fs
from fraudscore import errors

EXPECTED = {
    "__version__", "Scorer", "Decision", "DecisionBatch", "Reason", "Bundle", "FeatureSpec", "FeatureSet", "Rule",
    "RuleSet", "Fingerprinter", "DeviceLinker", "Keys", "Schema", "Field", "DEFAULT_SCHEMA", "Policy", "Model",
    "TrainConfig", "TrainResult", "MemoryStore", "RedisStore", "ColumnBatch", "ScoringState", "load", "train",
    "to_columns", "FraudscoreError", "EventError", "InputError", "ConfigError", "RuleSyntaxError", "BundleError", "StoreError",
    "NotFittedError", "MissingDependencyError",
}


def test_all_is_curated_and_importable():
    assert set(fs.__all__) == EXPECTED
    for name in fs.__all__:
        assert getattr(fs, name) is not None


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n[0].isupper() and n != "DEFAULT_SCHEMA"))
def test_public_classes_are_documented(name):
    obj = getattr(fs, name)
    assert inspect.getdoc(obj), name


@pytest.mark.parametrize("exc, builtin", [
    (errors.EventError, ValueError), (errors.InputError, ValueError), (errors.ConfigError, ValueError), (errors.RuleSyntaxError, ValueError),
    (errors.BundleError, ValueError), (errors.StoreError, RuntimeError), (errors.NotFittedError, RuntimeError),
    (errors.MissingDependencyError, ImportError),
])
def test_error_tree(exc, builtin):
    assert issubclass(exc, errors.FraudscoreError) and issubclass(exc, builtin)
    assert exc.__name__ in errors.__doc__


def test_rule_syntax_error_has_a_caret():
    with pytest.raises(fs.RuleSyntaxError) as info:
        fs.Rule("BAD", "amount >> 3")
    err = info.value
    assert err.code == "BAD" and err.line == 1 and err.col is not None
    assert "^" in str(err)


def test_version_is_recorded_in_saved_artefacts(tmp_path):
    from .helpers import SECRET, small_bundle
    import json

    small_bundle().save(tmp_path / "b", key=SECRET)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["library_version"] == fs.__version__ and manifest["format_version"] >= 1
    assert "key_id" in manifest["fingerprint"] and not any("secret" in k for k in manifest["fingerprint"])
