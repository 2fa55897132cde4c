"""Champion / challenger: the challenger is scored in shadow (online = batch), never acts; saved, checked, promoted."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

import fraudscore as fs
from fraudscore.bundle import Bundle
from fraudscore.challenger import promote, with_challenger
from fraudscore.decision import DecisionBatch
from fraudscore.errors import BundleError, ConfigError
from fraudscore.velocity import FeatureSet, FeatureSpec

from .helpers import SECRET, small_bundle, synthetic


@functools.lru_cache(maxsize=None)
def challenger_bundle():
    """A second model on the same data: more velocity features (one spec the champion lacks), another seed."""
    from fraudscore.velocity.defaults import default_feature_set

    data = synthetic()
    extra = FeatureSet([*default_feature_set().specs, FeatureSpec("count", key="phone", window="7d")],
                       allowed_lateness="1h")
    return fs.train(data.columns, data.labels, key=SECRET, feature_set=extra,
                    config={"model": {"num_boost_round": 40, "seed": 8, "ensemble_size": 2}}).bundle


@pytest.fixture(scope="module")
def both() -> Bundle:
    return with_challenger(small_bundle(), challenger_bundle())


def test_the_champion_still_decides(both):
    data = synthetic()
    ref = fs.Scorer(small_bundle(), SECRET).score_batch(data.columns, labels=data.labels)
    got = fs.Scorer(both, SECRET).score_batch(data.columns, labels=data.labels)
    assert np.array_equal(ref.score, got.score) and np.array_equal(ref.action, got.action)
    assert np.array_equal(ref.probability, got.probability)
    assert [[r.code for r in rs] for rs in ref.reasons] == [[r.code for r in rs] for rs in got.reasons]
    assert ref.challenger_score is None and got.challenger_score.shape == got.score.shape
    # the challenger really is another model: its scores differ, its actions follow its own thresholds
    assert not np.array_equal(got.challenger_probability, got.probability)
    ch = both.challenger
    model_only = np.array([ch.thresholds.action(int(s)) for s in np.rint(1000 * got.challenger_probability)])
    no_rule = np.array([not h for h in got.rule_hits])
    assert np.array_equal(model_only[no_rule], got.challenger_action[no_rule])
    assert got.challenger_version.startswith("m-") and got.challenger_version != got.model_version


def test_online_equals_batch_for_the_challenger(both):
    data = synthetic(n_days=3, per_day=200, seed=4)
    events = data.to_records()
    online = fs.Scorer(both, SECRET)
    decisions = [online.score(ev) for ev in events]
    batch = fs.Scorer(both, SECRET).score_batch(events)
    for i, d in enumerate(decisions):
        assert d.challenger_probability == float(batch.challenger_probability[i])
        assert (d.challenger_score, d.challenger_action) == (int(batch.challenger_score[i]),
                                                              str(batch.challenger_action[i]))
        b = batch[i]
        assert (b.challenger_score, b.challenger_action, b.challenger_version) == \
               (d.challenger_score, d.challenger_action, d.challenger_version)
    assert set(decisions[0].to_dict()) >= {"challenger_score", "challenger_probability", "challenger_action"}
    df = batch.to_pandas()
    assert {"challenger_score", "challenger_probability", "challenger_action", "ts"} <= set(df.columns)
    whole = DecisionBatch.concat([batch, batch])
    assert len(whole.challenger_score) == 2 * len(batch) and len(whole.ts) == 2 * len(batch)


def test_feature_sets_are_merged(both):
    champ = small_bundle()
    names = FeatureSet.from_dict(both.features).names
    assert names[: len(FeatureSet.from_dict(champ.features).names)] == FeatureSet.from_dict(champ.features).names
    assert names[-1] == "count__phone__7d"
    assert "count__phone__7d" in both.challenger.feature_names
    assert "count__phone__7d" not in both.model.feature_names


def test_round_trip_and_integrity(tmp_path, both):
    names = both.save(tmp_path / "b", key=SECRET)
    assert {"challenger/model.txt", "challenger/model.json", "challenger/model_member_1.txt"} <= set(names)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["challenger"]["kind"] == "ensemble"
    assert manifest["challenger"]["policy"] == both.challenger_policy
    back = Bundle.load(tmp_path / "b", key=SECRET)
    assert back.challenger is not None and back.challenger_policy == both.challenger_policy
    data = synthetic(n_days=2, per_day=100, seed=9)
    a = fs.Scorer(both, SECRET).score_batch(data.columns)
    b = fs.Scorer(back, SECRET).score_batch(data.columns)
    assert np.array_equal(a.challenger_probability, b.challenger_probability)
    # tampering with the challenger's files is caught like any other file
    p = tmp_path / "b" / "challenger" / "model_member_0.txt"
    p.write_text(p.read_text().replace("leaf_value=", "leaf_value=9 ", 1))
    with pytest.raises(BundleError, match="tampered file 'challenger/model_member_0.txt'"):
        Bundle.load(tmp_path / "b", key=SECRET)
    # zip form
    both.save(tmp_path / "z", zip=True, key=SECRET)
    assert Bundle.load(tmp_path / "z.zip", key=SECRET).challenger.n_members == 2


def test_promote(both):
    p = promote(both)
    assert p.model is both.challenger and p.challenger is None
    assert p.policy == both.challenger_policy
    k = promote(both, keep_champion=True)
    assert k.challenger is both.model and k.challenger_policy == both.policy
    data = synthetic(n_days=2, per_day=100, seed=9)
    old = fs.Scorer(both, SECRET).score_batch(data.columns)
    new = fs.Scorer(k, SECRET).score_batch(data.columns)
    assert np.array_equal(new.probability, old.challenger_probability)
    assert np.array_equal(new.challenger_probability, old.probability)
    with pytest.raises(ConfigError, match="must carry a challenger"):
        promote(small_bundle())


def test_errors():
    champ = small_bundle()
    other_key = fs.train(synthetic().columns, synthetic().labels, key=b"another-secret-key-000000001",
                         config={"model": {"num_boost_round": 5}}).bundle
    with pytest.raises(ConfigError, match="fingerprint scheme and key id"):
        with_challenger(champ, other_key)
    rules_only = Bundle(rules_toml="", schema=champ.schema, features=champ.features, fingerprint=champ.fingerprint)
    with pytest.raises(ConfigError, match="must carry a model"):
        with_challenger(champ, rules_only)
    with pytest.raises(ConfigError, match="must be a bundle with a model"):
        with_challenger(rules_only, champ)
    with pytest.raises(ConfigError, match="needs a challenger model"):
        Bundle(challenger_policy={"review": 1, "decline": 2})
    bad = with_challenger(champ, champ.model, policy={"review": 900, "decline": 100})
    with pytest.raises(BundleError, match="challenger's policy is invalid"):
        fs.Scorer(bad, SECRET)


def test_cli(tmp_path, capsys, monkeypatch):
    from fraudscore.cli import main

    monkeypatch.setenv("FRAUDSCORE_KEY", SECRET.decode())
    small_bundle().save(tmp_path / "a", key=SECRET)
    challenger_bundle().save(tmp_path / "b", key=SECRET)
    assert main(["challenger", "attach", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "ab")]) == 0
    assert Bundle.load(tmp_path / "ab", key=SECRET).challenger is not None
    assert main(["challenger", "promote", str(tmp_path / "ab"), "--out", str(tmp_path / "p"), "--zip"]) == 0
    assert Bundle.load(tmp_path / "p.zip", key=SECRET).challenger is None
    assert main(["challenger", "promote", str(tmp_path / "a"), "--out", str(tmp_path / "q")]) == 3  # bad input
    assert "has no challenger" in capsys.readouterr().err


def test_compiled_trees_and_lazy_reasons(tmp_path, both):
    """A compiled champion and a compiled ensemble challenger decide as the LightGBM paths do; reasons stay lazy."""
    from fraudscore.model.ensemble import EnsembleModel

    assert isinstance(both.challenger, EnsembleModel)
    both.save(tmp_path / "plain", key=SECRET)
    compiled = Bundle.load(tmp_path / "plain", key=SECRET, compiled=True)
    assert compiled.model.inference_path == "compiled" and compiled.challenger.inference_path == "compiled"
    compiled.save(tmp_path / "c", key=SECRET)
    again = Bundle.load(tmp_path / "c", key=SECRET)  # the choice travels with both models
    assert again.model.inference_path == "compiled" and again.challenger.inference_path == "compiled"
    data = synthetic(n_days=3, per_day=200, seed=4)
    events = data.to_records()
    ref = fs.Scorer(both, SECRET, lazy_reasons=False)
    lazy = fs.Scorer(again, SECRET)
    pending = 0
    for ev in events:
        want, got = ref.score(ev), lazy.score(ev)
        pending += got.reasons_pending
        assert (got.score, got.action, got.probability) == (want.score, want.action, want.probability)
        assert (got.challenger_score, got.challenger_action, got.challenger_probability) == \
               (want.challenger_score, want.challenger_action, want.challenger_probability)
        assert got.reasons == want.reasons  # computed on first access, identical to the eager list
    assert pending > 0
    batch = fs.Scorer(again, SECRET).score_batch(events)
    assert np.array_equal(batch.challenger_probability,
                          fs.Scorer(both, SECRET).score_batch(events).challenger_probability)
