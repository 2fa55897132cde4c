"""Canonicalisation: normal forms, idempotence and order-insensitivity."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.fingerprint.canonical import ATTRIBUTES, canonicalize, parse_user_agent, parse_version

KNOWN = sorted(ATTRIBUTES)
scalar = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
value = st.one_of(scalar, st.lists(st.one_of(st.text(max_size=12), st.integers(-100, 100)), max_size=5))
# distinct names (known ones plus unknown ones that cannot collide with them after normalisation)
names = st.lists(st.one_of(st.sampled_from(KNOWN), st.from_regex(r"x[a-z0-9]{1,8}", fullmatch=True)),
                 unique=True, max_size=14)


@st.composite
def devices(draw):
    return {n: draw(value) for n in draw(names)}


@settings(deadline=None, max_examples=200)
@given(devices())
def test_idempotent(dev):
    c = canonicalize(dev)
    assert canonicalize(c.as_mapping()) == c


@settings(deadline=None, max_examples=100)
@given(devices(), st.randoms(use_true_random=False))
def test_order_insensitive(dev, rnd):
    items = list(dev.items())
    rnd.shuffle(items)
    shuffled = {k: (rnd.sample(v, len(v)) if isinstance(v, list) else v) for k, v in items}
    assert canonicalize(shuffled) == canonicalize(dev)


def test_normal_forms():
    c = canonicalize({
        "User_Agent": "  Mozilla/5.0  (iPhone; CPU iPhone OS 17_2 like Mac OS X) Version/17.2 Mobile/15E148 Safari/604.1",
        "screen": "2532 x 1170", "hardware_concurrency": "4", "device_memory": 8.0, "touch_support": True,
        "languages": "zh-CN,en;q=0.8", "emulator": "false", "app_version": "5.2.0", "imei": "8675-4306 1234567",
    })
    assert c.get("screen") == "2532x1170"
    assert c.get("hardware_concurrency") == "4" and c.get("device_memory") == "8"
    assert c.get("touch_support") == "1" and c.get("emulator") == "0"
    assert c.get("languages") == "en,zh-cn"
    assert c.get("app_version") == "5.2" and c.app_version == (5, 2)
    assert c.get("imei") == "86754306123456" + "7"
    assert c.os_family == "ios" and c.os_version == (17, 2)
    assert c.browser_family == "safari" and c.browser_version == (17, 2)
    assert c.source == "web"
    assert c.get("timezone") is None  # missing is explicit


def test_screen_rotation_and_unknown_attributes():
    a = canonicalize({"screen": "1080x2400", "os": "android"})
    b = canonicalize({"screen": "2400X1080", "os": "Android", "vpn_active": True})
    assert a.values == b.values
    assert b.extra == (("vpn_active", "1"),)


def test_versions_and_user_agents():
    assert parse_version("17.0.0") == (17,)
    assert parse_version("") is None
    assert parse_user_agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0")[:3] == (
        "firefox", (121,), "macos")
    ua = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
          "Chrome/120.0.6099.193 Mobile Safari/537.36 MicroMessenger/8.0.44.2540")
    fam, ver, osf, osv = parse_user_agent(ua)
    assert (fam, osf, osv) == ("wechat", "android", (10,)) and ver[:3] == (8, 0, 44)


def test_garbage_never_raises():
    rnd = random.Random(3)
    for _ in range(200):
        dev = {rnd.choice(KNOWN + ["Ω", " ", "a" * 100]): rnd.choice(
            [None, "", "\x00\x01", "Ｆｕｌｌ", 1e308, -1, [None, 1.5, "x"], True, "9" * 50]) for _ in range(6)}
        c = canonicalize(dev)
        assert canonicalize(c.as_mapping()) == c
