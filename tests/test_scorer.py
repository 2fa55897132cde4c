"""The Scorer: decisions, state safety on bad input, degraded mode, keys, threads, Redis."""

from __future__ import annotations

import math
import threading

import pytest

import fraudscore as fs
from fraudscore.errors import BundleError, EventError, StoreError

from .helpers import SECRET, small_bundle, synthetic



def _events(n=300, start=0):
    return synthetic().to_records()[start:start + n]


def test_decision_shape_and_versions():
    sc = fs.Scorer(small_bundle(), SECRET)
    d = sc.score(_events(1)[0], return_features=True)
    assert d.action in ("approve", "review", "decline")
    assert 0 <= d.score <= 1000 and 0.0 <= d.probability <= 1.0
    assert d.ruleset_version.startswith("rs-") and d.model_version
    assert set(d.features) == set(sc.pipeline.feature_names)
    assert d.to_dict()["application_id"] == d.application_id


def test_bad_events_never_touch_state():
    evs = _events(60)
    clean, dirty = fs.Scorer(small_bundle(), SECRET), fs.Scorer(small_bundle(), SECRET)
    for i, ev in enumerate(evs):
        if i % 7 == 3:
            for bad in ({**ev, "amount": "x"}, {**ev, "ts": None}, {**ev, "device": "junk"},
                        {**ev, "ts": int(ev["ts"]) - 10 * 3_600_000}):
                with pytest.raises(EventError):
                    dirty.score(bad)
        a, b = clean.score(ev, return_features=True), dirty.score(ev, return_features=True)
        assert a.features.keys() == b.features.keys()
        assert all((math.isnan(v) and math.isnan(b.features[k])) or v == b.features[k] for k, v in a.features.items())
        assert a.device_id == b.device_id


def test_late_event_is_refused_with_the_field_named():
    sc = fs.Scorer(small_bundle(), SECRET)
    evs = _events(2)
    sc.score(evs[1])
    with pytest.raises(EventError) as info:
        sc.score({**evs[0], "ts": int(evs[1]["ts"]) - 2 * 3_600_000})
    assert info.value.field == "ts"


def test_key_mismatch_is_refused():
    with pytest.raises(BundleError, match="key"):
        fs.Scorer(small_bundle(), b"another-secret-of-enough-length")


def test_saved_bundle_scores_like_the_original(tmp_path):
    small_bundle().save(tmp_path / "b", key=SECRET)
    loaded = fs.load(tmp_path / "b", key=SECRET)
    orig = fs.Scorer(small_bundle(), SECRET)
    for ev in _events(200):
        a, b = orig.score(ev), loaded.score(ev)
        assert (a.score, a.action, a.probability, a.rule_hits) == (b.score, b.action, b.probability, b.rule_hits)


def test_score_batch_reports_bad_rows_and_keeps_index():
    pd = pytest.importorskip("pandas")
    evs = _events(20)
    evs[5] = {**evs[5], "amount": -5}
    evs[9] = "not an event"
    batch = fs.Scorer(small_bundle(), SECRET).score_batch(evs)
    assert [(e.row, e.field) for e in batch.errors] == [(5, "amount"), (9, "event")]
    assert len(batch) == 18
    df = pd.DataFrame([e for e in evs if isinstance(e, dict)]).set_index(pd.Index(range(100, 119)))
    out = fs.Scorer(small_bundle(), SECRET).score_batch(df).to_pandas()
    assert 105 not in out.index and list(out.index[:3]) == [100, 101, 102]


def test_threads_share_one_memory_store():
    sc = fs.Scorer(small_bundle(), SECRET)
    base = _events(1)[0]
    dev = {"os": "android", "model": "SM-G991B", "manufacturer": "samsung", "android_id": "abc123def4567890",
           "screen": "1080x2400", "os_version": "13", "app_version": "5.2.1"}
    n_threads, per = 4, 25

    def work(t):
        for k in range(per):
            sc.score({**base, "application_id": f"T{t}-{k}", "applicant_id": None, "device": dev,
                      "ts": int(base["ts"]) + 1000 * (t * per + k)})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    d = sc.score({**base, "application_id": "last", "device": dev, "ts": int(base["ts"]) + 10**6},
                 return_features=True)
    assert d.features["count__device_id__24h"] == n_threads * per + 1


def _dead_redis():
    """A real client pointed at a closed loopback port: every call fails like a server that went away."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2,
                       retry=Retry(NoBackoff(), 0))


def test_store_failure_raises_or_degrades():
    pytest.importorskip("redis")
    store = fs.RedisStore(_dead_redis(), prefix="fs:test:dead:")
    with pytest.raises(StoreError):
        fs.Scorer(small_bundle(), SECRET, store=store).score(_events(1)[0])
    sc = fs.Scorer(small_bundle(), SECRET, store=fs.RedisStore(_dead_redis(), prefix="fs:test:dead2:"), degrade=True)
    d = sc.score(_events(1)[0], return_features=True)
    assert d.degraded is True
    assert any(r.code == "SYS_DEGRADED" for r in d.reasons)
    for name in sc.feature_set.names:
        assert math.isnan(d.features[name]), name  # never silently zero


def test_redis_store_gives_the_memory_store_decisions(redis_client, redis_prefix):
    client, prefix = redis_client, redis_prefix
    mem = fs.Scorer(small_bundle(), SECRET)
    red = fs.Scorer(small_bundle(), SECRET, store=fs.RedisStore(client, prefix=prefix))
    data = synthetic()
    for a, f, t in list(zip(data.labels["application_id"], data.labels["is_fraud"], data.labels["label_ts"]))[:300]:
        mem.record_label(a, bool(f), int(t))
        red.record_label(a, bool(f), int(t))
    for ev in _events(400):
        a, b = mem.score(ev, return_features=True), red.score(ev, return_features=True)
        assert a.features.keys() == b.features.keys()
        for k, v in a.features.items():
            assert (math.isnan(v) and math.isnan(b.features[k])) or v == b.features[k], k
        assert (a.score, a.action, a.device_id) == (b.score, b.action, b.device_id)


def test_the_scorer_builds_its_engines_before_the_first_event(tmp_path):
    """The single-row engine and, with explanations on, the explainer are chosen when the scorer is built,
    so no decision waits for them (the explainer's FastTreeSHAP tables take 0.4 s for a 500-tree model)."""
    from fraudscore._core import pure_python

    small_bundle().save(tmp_path / "b", key=SECRET)
    bundle = fs.Bundle.load(tmp_path / "b", key=SECRET)  # a model no other test has warmed
    assert bundle.model.single_row_path == "pending" and bundle.model._shap_path == "pending"
    fs.Scorer(bundle, SECRET, explain=False)
    assert bundle.model.single_row_path != "pending" and bundle.model._shap_path == "pending"
    sc = fs.Scorer(bundle, SECRET)
    assert bundle.model._shap_path == bundle.model.explain_path
    assert bundle.model.explain_path == ("lightgbm" if pure_python() else "compiled")
    d = sc.score(_events(1)[0], explain=True)
    assert isinstance(d.reasons, list)
