"""The pipeline keys velocity on confident links only, identically online and in batch; bundles carry the model."""

from __future__ import annotations

import math

import numpy as np

import fraudscore as fs
from fraudscore.bundle import Bundle
from fraudscore.fingerprint import MIN_LINK_CONFIDENCE, default_link_model
from fraudscore.schema import DEFAULT_SCHEMA
from fraudscore.velocity.defaults import default_feature_set

from .test_linker import IPHONE, PHONE

SECRET = b"pipeline-link-test-secret-0123456789"
T0 = 1_767_225_600_000


def _events():
    out = []
    for i in range(12):
        dev = IPHONE if i % 3 else {**PHONE, "app_version": f"5.{2 + i // 6}.1"}
        out.append({"application_id": f"A{i}", "ts": T0 + i * 600_000, "applicant_id": "110101199003074573",
                    "phone": f"+861380013{i:04d}", "ip": f"10.1.{i % 2}.7", "device": dict(dev),
                    "amount": 1000.0 + i, "term_months": 6})
    return out


def test_low_confidence_links_are_not_keyed_online_or_batch():
    bundle = Bundle(schema=DEFAULT_SCHEMA.to_dict(), features=default_feature_set().to_dict())
    online = fs.Scorer(bundle, SECRET)
    dec = [online.score(ev, return_features=True) for ev in _events()]
    batch = fs.Scorer(bundle, SECRET).score_batch(_events(), return_features=True)
    conf = np.array([d.features["device__link_confidence"] for d in dec])
    assert np.array_equal(conf, batch.features["device__link_confidence"])
    assert [d.device_id for d in dec] == list(batch.device_id)
    for i, d in enumerate(dec):
        if i % 3:  # identical iPhones: a common fingerprint, never keyed
            assert d.device_id is None and conf[i] < MIN_LINK_CONFIDENCE
            assert math.isnan(d.features["count__device_id__24h"])
        else:  # the app phone: one id, keyed
            assert d.device_id == dec[0].device_id and conf[i] >= MIN_LINK_CONFIDENCE
    assert dec[3].features["count__device_id__24h"] == 2.0


def test_trained_bundles_carry_the_link_model(tmp_path):
    from tests.helpers import SECRET as HELPER_SECRET
    from tests.helpers import small_bundle

    bundle = small_bundle()
    assert bundle.link_model.sha256 == default_link_model().sha256
    bundle.save(tmp_path / "b", key=HELPER_SECRET)
    loaded = Bundle.load(tmp_path / "b", key=HELPER_SECRET)
    assert loaded.manifest["linker"]["sha256"] == bundle.link_model.sha256
    assert fs.load(str(tmp_path / "b"), key=HELPER_SECRET).linker.model.sha256 == loaded.link_model.sha256
