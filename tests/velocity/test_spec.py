"""FeatureSpec / FeatureSet: names, validation messages, TOML and dict round trips."""

from __future__ import annotations

import pytest

from fraudscore.errors import ConfigError
from fraudscore.velocity import FeatureSet, FeatureSpec
from fraudscore.velocity.defaults import default_feature_set

S = FeatureSpec


@pytest.mark.parametrize("spec, name", [
    (S("count", key="device_id", window="24h"), "count__device_id__24h"),
    (S("distinct", key="device_id", of="applicant_id", window="24h"), "distinct__applicant_id__by__device_id__24h"),
    (S("sum", key="applicant_id", field="amount", window="7d"), "sum__amount__by__applicant_id__7d"),
    (S("fraud_rate", key="terminal_id", window="7d", delay="7d"), "fraud_rate__terminal_id__7d__delay_7d"),
    (S("fraud_count", key="bank_card", window="90d", delay=0), "fraud_count__bank_card__90d__delay_0"),
    (S("count", key=("applicant_id", "device_id"), window="1h", filter={"channel": "web"}, include_current=False),
     "count__applicant_id_and_device_id__1h__if_channel_web__excl"),
    (S("mean", key="ip", field="amount", window="10m", filter={"channel": ["web", "h5"]}),
     "mean__amount__by__ip__10m__if_channel_in_web_h5"),
    (S("first_seen_age", key="device_id"), "first_seen_age__device_id__all"),
    (S("time_since_last", key="phone", window="30d", include_current=True), "time_since_last__phone__30d__incl"),
    (S("count", key="TERMINAL_ID", window="1d", delay="7d"), "count__TERMINAL_ID__24h__delay_7d"),
    (S("count", key="ip", window="all"), "count__ip__all"),
    (S("count", key="ip", window="1h", name="ip_1h"), "ip_1h"),
    (S("count", key="card", window="1 calendar day"), "count__card__cal1d"),
    (S("count", key="card", window="7 Calendar Days", exclude_same_day=True), "count__card__cal7d__earlier_days"),
    (S("count", key="card", window="all", exclude_same_day=True), "count__card__all__earlier_days"),
    (S("sum", key="card", field="amount", window="30d", exclude_same_day=True),
     "sum__amount__by__card__30d__earlier_days"),
    (S("fraud_count", key="card", window="30 calendar days", delay=0, exclude_same_day=True),
     "fraud_count__card__cal30d__delay_0__earlier_days"),
    (S("ratio_to_mean", key="card", field="amount", window="30d"), "ratio_to_mean__amount__by__card__30d"),
    (S("ratio_to_mean", key="card", field="amount", window="30d", include_current=True),
     "ratio_to_mean__amount__by__card__30d__incl"),
    (S("ratio_to_mean", key="card", field="amount", window="3 calendar days", exclude_same_day=True,
       filter={"channel": "web"}), "ratio_to_mean__amount__by__card__cal3d__if_channel_web__earlier_days"),
])
def test_names(spec, name):
    assert spec.name == name
    assert FeatureSpec.from_dict(spec.to_dict()).name == name


@pytest.mark.parametrize("kwargs, param, bad", [
    (dict(agg="count", key="ip", window="-5m"), "window", "'-5m'"),
    (dict(agg="count", key="ip"), "window", "None"),
    (dict(agg="median", key="ip", window="1h"), "agg", "'median'"),
    (dict(agg="sum", key="ip", window="1h"), "field", "None"),
    (dict(agg="count", key="ip", window="1h", field="amount"), "field", "'amount'"),
    (dict(agg="distinct", key="device_id", of="device_id", window="1h"), "of", "'device_id'"),
    (dict(agg="distinct", key=("a", "b"), of="b", window="1h"), "of", "'b'"),
    (dict(agg="fraud_rate", key="ip", window="7d"), "delay", "None"),
    (dict(agg="fraud_rate", key="ip", window="7d", delay="-1d"), "delay", "'-1d'"),
    (dict(agg="fraud_rate", key="ip", window="7d", delay="1d", include_current=True), "include_current", "True"),
    (dict(agg="count", key="ip", window="7d", delay="1d", include_current=True), "include_current", "True"),
    (dict(agg="count", key=(), window="1h"), "key", "()"),
    (dict(agg="count", key="ts", window="1h"), "key", "('ts',)"),
    (dict(agg="count", key="ip", window="1h", filter={"channel": {"x": 1}}), "filter", "{'x': 1}"),
    (dict(agg="count", key="ip", window="1h", include_current="yes"), "include_current", "'yes'"),
    (dict(agg="count", key="ip", window="0 calendar days"), "window", "'0 calendar days'"),
    (dict(agg="count", key="ip", window="1 calendar week"), "window", "'1 calendar week'"),
    (dict(agg="count", key="ip", window="1 calendar day", exclude_same_day="yes"), "exclude_same_day", "'yes'"),
    (dict(agg="count", key="ip", window="7d", exclude_same_day=True, include_current=True), "include_current",
     "True"),
    (dict(agg="ratio_to_mean", key="ip", window="7d"), "field", "None"),
    (dict(agg="ratio_to_mean", key="ip", field="ts", window="7d"), "field", "'ts'"),
])
def test_validation_messages_name_parameter_and_value(kwargs, param, bad):
    agg = kwargs.pop("agg")
    key = kwargs.pop("key")
    with pytest.raises(ConfigError) as err:
        FeatureSet([FeatureSpec(agg, key, **kwargs)])
    msg = str(err.value)
    assert f"The '{param}' parameter of FeatureSpec" in msg
    assert f"Got {bad} instead." in msg


def test_feature_set_validation():
    with pytest.raises(ConfigError, match="unique feature names"):
        FeatureSet([S("count", key="ip", window="1h"), S("count", key="ip", window="60m")])
    with pytest.raises(ConfigError, match="'allowed_lateness' parameter of FeatureSet"):
        FeatureSet([S("count", key="ip", window="1h")], allowed_lateness="-1h")
    empty = FeatureSet([])  # a model on the event's own fields only
    assert empty.names == () and empty.horizon_ms == 0 and not empty.has_labels
    fs = FeatureSet([S("distinct", key="device_id", of="applicant_id", window="1h", filter={"channel": "web"})])
    assert fs.fields == {"device_id", "applicant_id", "channel"}
    fs.validate(["device_id", "applicant_id", "channel", "ts"])
    with pytest.raises(ConfigError, match="'filter' parameter of FeatureSpec .* unknown field 'channel'"):
        fs.validate(["device_id", "applicant_id"])
    assert FeatureSet([S("count", key="ip", window="1h")], allowed_lateness=0).allowed_lateness_ms == 0


def test_toml_and_dict_round_trip(tmp_path):
    fs = default_feature_set()
    assert len(fs) == 22 and len(set(fs.names)) == 22
    again = FeatureSet.from_dict(fs.to_dict())
    assert again.names == fs.names and again.allowed_lateness_ms == fs.allowed_lateness_ms
    text = """
[velocity]
allowed_lateness = "30m"

[[velocity.feature]]
agg = "count"
key = ["applicant_id", "device_id"]
window = "1h"
include_current = false
filter = { channel = "web" }

[[velocity.feature]]
agg = "fraud_rate"
key = "device_id"
window = "30d"
delay = "7d"
"""
    path = tmp_path / "velocity.toml"
    path.write_text(text)
    for src in (text, path, str(path)):
        fs2 = FeatureSet.from_toml(src)
        assert fs2.names == ("count__applicant_id_and_device_id__1h__if_channel_web__excl",
                             "fraud_rate__device_id__30d__delay_7d")
        assert fs2.allowed_lateness_ms == 30 * 60_000
    with pytest.raises(ConfigError, match="Invalid TOML"):
        FeatureSet.from_toml("[[feature]\nagg=")
    with pytest.raises(ConfigError, match="Unknown parameter"):
        FeatureSet.from_dict({"features": [{"agg": "count", "key": "ip", "window": "1h", "windw": "2h"}]})


def test_default_set_fields():
    fs = default_feature_set()
    assert fs.fields == {"device_id", "applicant_id", "phone", "email", "bank_card", "ip", "ip_prefix",
                         "inviter_id", "amount", "device_hw", "device_canvas"}
    assert fs.horizon_ms == 97 * 86_400_000


def test_calendar_and_ratio_specs_round_trip_and_horizon():
    day = 86_400_000
    text = """
allowed_lateness = 0
[[feature]]
agg = "count"
key = "card"
window = "1 calendar day"
exclude_same_day = true
[[feature]]
agg = "ratio_to_mean"
key = "card"
field = "amount"
window = "30 calendar days"
"""
    fs = FeatureSet.from_toml(text)
    assert fs.names == ("count__card__cal1d__earlier_days", "ratio_to_mean__amount__by__card__cal30d")
    assert FeatureSet.from_dict(fs.to_dict()).names == fs.names
    assert fs.to_dict()["features"][0] == {"agg": "count", "key": "card", "window": "1 calendar day",
                                           "exclude_same_day": True}
    assert [s.horizon_ms for s in fs.specs] == [2 * day, 30 * day]
    assert fs.specs[1].calendar_days == 30 and fs.specs[1].include_current is None
    assert fs.specs[1].check()["include_current"] is False  # the mean of the entity's earlier events
    assert S("count", key="c", window="2d", delay="1d", exclude_same_day=True).horizon_ms == 3 * day
