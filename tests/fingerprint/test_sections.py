"""Sectioned keyed ids: determinism, keys, section stability, scheme versions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.errors import ConfigError
from fraudscore.fingerprint import SCHEME_VERSION, Fingerprinter, compare_ids, parse_id
from fraudscore.keys import Keys

K1 = Keys(b"test-secret-for-fingerprints-0001")
K2 = Keys(b"test-secret-for-fingerprints-0002")
FP1, FP2 = Fingerprinter(K1), Fingerprinter(K2)
FP1_NOCACHE = Fingerprinter(K1, cache_size=0)

hexs = st.from_regex(r"[0-9a-f]{8,16}", fullmatch=True)
app_devices = st.fixed_dictionaries(
    {"os": st.sampled_from(["android", "ios"]), "model": st.sampled_from(["SM-G991B", "iPhone14,2", "V2141A"]),
     "manufacturer": st.sampled_from(["samsung", "Apple", "vivo"]), "screen": st.sampled_from(["1080x2400", "1170x2532"]),
     "os_version": st.sampled_from(["12", "13", "17.2"])},
    optional={"app_version": st.sampled_from(["5.2.1", "5.3.0"]), "android_id": hexs, "imei": st.from_regex(r"\d{15}", fullmatch=True),
              "timezone": st.sampled_from(["Asia/Shanghai", "Asia/Tokyo"]), "languages": st.lists(st.sampled_from(["zh-CN", "en"])),
              "sim_operator": st.sampled_from(["46000", "46001"]), "rooted": st.booleans()},
)
web_devices = st.fixed_dictionaries(
    {"user_agent": st.sampled_from([
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15"]),
     "platform": st.sampled_from(["Win32", "MacIntel"]), "hardware_concurrency": st.sampled_from([4, 8]),
     "webgl_renderer": st.sampled_from(["Apple M1", "ANGLE (Intel)"])},
    optional={"screen": st.sampled_from(["1920x1080", "1440x900"]), "fonts_hash": hexs, "canvas_hash": hexs,
              "timezone": st.sampled_from(["Asia/Shanghai", "Asia/Tokyo"]), "device_memory": st.sampled_from([4, 8])},
)
VOLATILE_CHANGES = {
    "timezone": "Europe/Paris", "languages": ["fr-FR"], "fonts_hash": "ffff0000", "canvas_hash": "0000ffff",
    "android_id": "abcdef0123456789", "imei": "490154203237518", "sim_operator": "46011", "app_version": "9.9.9",
    "os_version": "99", "rooted": True, "emulator": True, "idfv": "E621E1F8-C36C-495A-93FC-0C247A3E6E5F",
}


@settings(deadline=None, max_examples=60)
@given(st.one_of(app_devices, web_devices))
def test_same_key_same_id_other_key_other_id(dev):
    a, b = FP1.fingerprint(dev), FP1_NOCACHE.fingerprint(dict(reversed(list(dev.items()))))
    assert a.id == b.id and a.components == b.components
    c = FP2.fingerprint(dev)
    assert c.hardware != a.hardware and c.software != a.software and c.volatile != a.volatile


@settings(deadline=None, max_examples=60)
@given(st.one_of(app_devices, web_devices), st.sampled_from(sorted(VOLATILE_CHANGES)))
def test_volatile_change_keeps_hardware(dev, attr):
    changed = {**dev, attr: VOLATILE_CHANGES[attr]}
    a, b = FP1.fingerprint(dev), FP1.fingerprint(changed)
    assert a.hardware == b.hardware
    if attr not in ("os_version",):
        assert a.software == b.software or attr == "os_version"
    assert a.volatile != b.volatile or dev.get(attr) == changed[attr]


def test_user_agent_update_keeps_hardware_changes_software():
    ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0.0.0 Safari/537.36"
    a = FP1.fingerprint({"user_agent": ua.format(120), "platform": "Win32"})
    b = FP1.fingerprint({"user_agent": ua.format(121), "platform": "Win32"})
    assert compare_ids(a.id, b.id) == ("software", "volatile")


def test_id_format_scheme_and_unknown_attributes():
    dev = {"os": "ios", "model": "iPhone14,2", "idfv": "E621E1F8-C36C-495A-93FC-0C247A3E6E5F"}
    fp = FP1.fingerprint(dev)
    scheme, hw, sw, vol = parse_id(fp.id)
    assert scheme == SCHEME_VERSION == fp.scheme and (hw, sw, vol) == (fp.hardware, fp.software, fp.volatile)
    assert all(len(x) == 12 and int(x, 16) >= 0 for x in (hw, sw, vol))
    assert FP1.fingerprint({**dev, "some_new_sdk_field": "x"}).id == fp.id  # unknown: kept, ignored by the id
    assert FP1.fingerprint({**dev, "some_new_sdk_field": "x"}).canonical.extra == (("some_new_sdk_field", "x"),)
    assert "E621E1F8" not in repr(fp.components) and fp.canvas is None


def test_missing_device_and_bad_parameters():
    assert FP1.fingerprint(None) is None and FP1.fingerprint({}) is None
    with pytest.raises(ConfigError, match="'scheme' parameter of Fingerprinter"):
        Fingerprinter(K1, scheme=99)
    with pytest.raises(ConfigError, match="'keys' parameter"):
        Fingerprinter(b"raw secret")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        parse_id("fp1_only_three")
    assert compare_ids("fp1_a_b_c", "fp2_a_b_c") == ("scheme",)


def test_canvas_pseudonym_is_keyed():
    dev = {"user_agent": "Mozilla/5.0 Chrome/120.0", "canvas_hash": "deadbeef"}
    a, b = FP1.fingerprint(dev), FP2.fingerprint(dev)
    assert a.canvas.startswith("c:") and a.canvas != b.canvas and "deadbeef" not in a.canvas
