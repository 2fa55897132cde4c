"""Explanations: pred_contrib sums to the raw score, reasons map to codes and quote values."""

from __future__ import annotations

import numpy as np
import pytest

from fraudscore.model import REASON_TABLE, describe_feature, explain_batch, explain_reasons


def test_contributions_sum_to_raw_margin(data, model):
    X = data[0][:200]
    c = model.contributions(X)
    assert c.shape == (200, model.num_features + 1)
    raw_margin = model.booster.predict(X, raw_score=True)
    assert np.allclose(c.sum(axis=1), raw_margin, atol=1e-9)


def test_reasons_for_a_shared_device(model):
    x = np.zeros(model.num_features)
    names = model.feature_names
    x[names.index("distinct__applicant_id__by__device_id__24h")] = 7
    x[names.index("applicant_id__checksum_ok")] = 0
    x[names.index("email__disposable")] = 1
    reasons = explain_reasons(model, x, top_k=3)
    codes = [r.code for r in reasons]
    assert "MODEL_DEVICE_SHARED" in codes
    assert len(codes) == len(set(codes)) <= 3
    shared = next(r for r in reasons if r.code == "MODEL_DEVICE_SHARED")
    assert shared.message == "many ID numbers on this device (7 in 24 h)"
    assert shared.adverse_action_ok and shared.contribution > 0
    contribs = [r.contribution for r in reasons]
    assert contribs == sorted(contribs, reverse=True)


def test_values_override_the_quoted_value(model):
    x = np.zeros(model.num_features)
    x[model.feature_names.index("distinct__applicant_id__by__device_id__24h")] = 7
    reasons = explain_reasons(model, x, values={"distinct__applicant_id__by__device_id__24h": 9})
    assert any("(9 in 24 h)" in r.message for r in reasons)


def test_explain_batch_matches_single(data, model):
    X = data[0][:50]
    batch = explain_batch(model, X, top_k=2)
    assert batch == [explain_reasons(model, x, top_k=2) for x in X]


@pytest.mark.parametrize(
    "feature, value, code, ok",
    [
        ("count__device_id__24h", 3, "MODEL_DEVICE_VELOCITY", True),
        ("distinct__device_id__by__applicant_id__24h", 4, "MODEL_ID_MANY_DEVICES", True),
        ("count__ip__1h", 30, "MODEL_IP_BURST", True),
        ("distinct__applicant_id__by__ip_prefix__1h", 5, "MODEL_IP_BURST", True),
        ("sum__amount__by__applicant_id__30d", 12000.5, "MODEL_AMOUNT_VELOCITY", True),
        ("time_since_last__applicant_id", 45, "MODEL_RAPID_REPEAT", True),
        ("time_since_last__applicant_id__30d", 45, "MODEL_RAPID_REPEAT", True),
        ("first_seen_age__device_id__30d", 7200, "MODEL_NEW_ENTITY", True),
        ("fraud_count__bank_card__90d__delay_7d", 2, "MODEL_LINKED_FRAUD", False),
        ("bank_card__luhn_ok", 0, "MODEL_ID_INVALID", True),
        ("fraud_rate__device_id__30d__delay7d", 0.5, "MODEL_LINKED_FRAUD", False),
        ("applicant_id__checksum_ok", 0, "MODEL_ID_INVALID", True),
        ("applicant_id__age", 19, "MODEL_PROTECTED_ATTRIBUTE", False),
        ("phone__cn_mobile", 0, "MODEL_PHONE", False),
        ("email__disposable", 1, "MODEL_EMAIL_DISPOSABLE", True),
        ("device__emulator", 1, "MODEL_DEVICE_EMULATOR", True),
        ("device__rooted", 1, "MODEL_DEVICE_ATTRIBUTE", False),
        ("amount", 5000, "MODEL_AMOUNT", True),
        ("term_months", 6, "MODEL_TERM", True),
        ("mystery", 1.5, "MODEL_OTHER", False),
    ],
)
def test_mapping_table(feature, value, code, ok):
    got_code, message, got_ok = describe_feature(feature, float(value))
    assert (got_code, got_ok) == (code, ok)
    assert message and "{" not in message


def test_missing_values_have_their_own_wording():
    assert describe_feature("time_since_last__phone", float("nan"))[1] == "first application seen with this phone number"
    assert "missing" in describe_feature("amount", float("nan"))[1]


def test_every_code_declares_adverse_action_status():
    assert all(isinstance(rc.adverse_action_ok, bool) for rc in REASON_TABLE)
    assert REASON_TABLE[-1].pattern == ".*"  # a catch-all, internal
    assert not REASON_TABLE[-1].adverse_action_ok


def test_durations_are_quoted_from_seconds():
    assert describe_feature("time_since_last__applicant_id__30d", 90.0)[1].endswith("(1.5 min)")
    assert describe_feature("first_seen_age__device_id__30d", 7200.0)[1] == "this device was first seen only recently (2 h ago)"
