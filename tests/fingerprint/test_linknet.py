"""Network-scoped popularity (fraudscore.fingerprint.linknet) and its use by DeviceLinker."""

from __future__ import annotations

import pytest

from fraudscore.errors import ConfigError
from fraudscore.fingerprint import MIN_LINK_CONFIDENCE, DeviceLinker, Fingerprinter, MemoryLinkState
from fraudscore.fingerprint.linknet import NetworkScope
from fraudscore.fingerprint.simulate import simulate
from fraudscore.keys import Keys

FPR = Fingerprinter(Keys(b"0123456789abcdef-linknet-tests"))
HOUR = 3_600_000
IPHONE = {"user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
                        "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
          "platform": "iPhone", "screen": "390x844", "timezone": "Asia/Shanghai", "languages": ["zh-CN"],
          "webgl_vendor": "Apple Inc.", "webgl_renderer": "Apple GPU", "touch_support": 5}
TWIN = FPR.fingerprint(IPHONE)


def _crowd(linker: DeviceLinker, n: int, net: str, t0: int) -> int:
    """``n`` distinct app phones (unique Android ids) seen on ``net``; returns the next free time."""
    for k in range(n):
        dev = {"os": "android", "os_version": "13", "model": f"M{k % 7}", "manufacturer": "Xiaomi",
               "screen": "1080x2400", "app_version": "5.2.1", "android_id": f"{k:016x}", "timezone": "Asia/Shanghai"}
        linker.link(FPR.fingerprint(dev), t0 + k, net)
    return t0 + n


def _linker(**kw) -> DeviceLinker:
    return DeviceLinker(MemoryLinkState(), network=NetworkScope(**kw))


def test_twins_on_their_own_home_networks_are_kept_apart_with_confidence():
    lk = _linker()
    t = _crowd(lk, 300, "203.0.113.0/24", 1_000)  # many devices elsewhere (a carrier /24)
    a1 = lk.link(TWIN, t + HOUR, "198.51.100.0/24")
    b1 = lk.link(TWIN, t + 2 * HOUR, "192.0.2.0/24")
    a2 = lk.link(TWIN, t + 30 * HOUR, "198.51.100.0/24")
    b2 = lk.link(TWIN, t + 31 * HOUR, "192.0.2.0/24")
    assert {r.how for r in (a1, b1, a2, b2)} == {"network"}
    assert a1.device_id == a2.device_id != b1.device_id == b2.device_id
    assert min(r.link_confidence for r in (a1, b1, a2, b2)) >= MIN_LINK_CONFIDENCE
    # without a network scope the same twins are one refused class link
    plain = DeviceLinker(MemoryLinkState())
    _crowd(plain, 300, "203.0.113.0/24", 1_000)
    r = plain.link(TWIN, t + HOUR, "198.51.100.0/24")
    assert r.how == "shared" and r.link_confidence < MIN_LINK_CONFIDENCE
    assert a1.device_id.startswith(r.device_id + "@")


def test_twins_behind_one_carrier_grade_nat_stay_refused():
    lk = _linker()
    t = _crowd(lk, 300, "203.0.113.0/24", 1_000)
    for k in range(3):  # the scoped confidence is below min_confidence: the class link stays
        r = lk.link(TWIN, t + k * HOUR, "203.0.113.0/24")
        assert r.how == "shared" and r.link_confidence < MIN_LINK_CONFIDENCE
    sid, conf = lk.network.scope(r.device_id, r.link_confidence, 1, t)  # what the scope computed (IP hash aside)
    assert sid.startswith(r.device_id + "@")


def test_a_class_seen_on_many_networks_is_no_longer_trusted_on_a_quiet_one():
    """The class's spread (networks it showed on) bounds its popularity from below."""
    lk = _linker()
    t = _crowd(lk, 40, "203.0.113.0/24", 1_000)
    for k in range(30):  # the same phone model and settings at 30 different places
        lk.link(TWIN, t + k, f"10.0.{k}.0/24")
    for k in range(3):
        _crowd(lk, 1, f"10.1.{k}.0/24", t + 100 + k)  # a quiet /24 with one other device on it
    r = lk.link(TWIN, t + 200, "10.1.0.0/24")
    assert r.link_confidence < 1.0
    plain = _linker()  # the same quiet /24 without the spread: confidence 1
    t2 = _crowd(plain, 40, "203.0.113.0/24", 1_000)
    _crowd(plain, 1, "10.1.0.0/24", t2 + 100)
    assert plain.link(TWIN, t2 + 200, "10.1.0.0/24").link_confidence > r.link_confidence


def test_twins_of_one_household_share_one_id_the_documented_limit():
    lk = _linker()
    t = _crowd(lk, 300, "203.0.113.0/24", 1_000)
    mum = lk.link(TWIN, t + HOUR, "198.51.100.0/24")
    son = lk.link(TWIN, t + 2 * HOUR, "198.51.100.0/24")  # another phone of the same model, same Wi-Fi
    assert mum.device_id == son.device_id and son.link_confidence >= MIN_LINK_CONFIDENCE
    # a prior for same-model households lowers the confidence of every scoped link
    lk2 = _linker(prior=1.0)
    _crowd(lk2, 300, "203.0.113.0/24", 1_000)
    assert lk2.link(TWIN, t + HOUR, "198.51.100.0/24").link_confidence < MIN_LINK_CONFIDENCE
    # a stricter scope keeps only near-certain ones: one other device on the /24 is enough to fall back
    lk3 = _linker(min_confidence=0.999)
    _crowd(lk3, 300, "203.0.113.0/24", 1_000)
    _crowd(lk3, 1, "198.51.100.0/24", t)
    assert lk3.link(TWIN, t + HOUR, "198.51.100.0/24").how == "shared"


def test_window_forgets_a_crowd():
    lk = _linker(window_ms=24 * HOUR)
    t = _crowd(lk, 300, "203.0.113.0/24", 1_000)
    assert lk.link(TWIN, t + HOUR, "203.0.113.0/24").link_confidence < MIN_LINK_CONFIDENCE
    _crowd(lk, 300, "198.18.0.0/24", t + 30 * HOUR)  # keeps the live count up; the carrier /24 goes quiet
    r = lk.link(TWIN, t + 60 * HOUR, "203.0.113.0/24")
    assert r.link_confidence >= MIN_LINK_CONFIDENCE


def test_only_class_links_change_and_nothing_without_an_ip():
    """Every other decision of the network-scoped linker equals the plain linker's, event by event."""
    s = simulate("mixed-net", n_devices=150, days=30, seed=3)
    fps = [FPR.fingerprint(d) for d in s.devices]
    plain, scoped = DeviceLinker(MemoryLinkState()), _linker()
    nets = 0
    for fp, t, ip in zip(fps, s.ts.tolist(), s.ip_prefix.tolist()):
        a, b = plain.link(fp, t, ip), scoped.link(fp, t, ip)
        if a.how == "shared" and b.how == "network":
            assert b.device_id.startswith(a.device_id + "@") and (a.changed, a.new) == (b.changed, b.new)
            nets += 1
        else:
            assert a == b
    assert nets > 0
    lk = _linker()
    assert lk.link(TWIN, 1_000).how == lk.link(TWIN, 2_000).how == "shared"  # no IP: no scope


def test_default_linker_is_unscoped_and_bad_arguments():
    lk = DeviceLinker()
    assert lk.network is None and "link" not in vars(lk)
    with pytest.raises(ConfigError, match="'network'"):
        DeviceLinker(network="yes")
    for kw, name in (({"window_ms": 0}, "window_ms"), ({"max_per_network": 1.5}, "max_per_network"),
                     ({"max_ids": True}, "max_ids"), ({"prior": -1}, "prior"),
                     ({"min_confidence": 2}, "min_confidence")):
        with pytest.raises(ConfigError, match=name):
            NetworkScope(**kw)


def test_bounds():
    ns = NetworkScope(max_per_network=4, max_ids=10)
    for k in range(50):
        ns.observe(1, f"d{k}", 1_000 + k, "s:c" if k % 2 else None)
    assert ns.crowd(1, 2_000) == 4 and ns.live(2_000) <= 10 and len(ns) == 1
