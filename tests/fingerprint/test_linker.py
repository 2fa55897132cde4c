"""Drift-tolerant device linking (memory state)."""

from __future__ import annotations

import pytest

from fraudscore.errors import ConfigError
from fraudscore.fingerprint import DeviceLinker, Fingerprinter, MemoryLinkState
from fraudscore.fingerprint.evaluate import link_all, link_metrics
from fraudscore.keys import Keys

FPR = Fingerprinter(Keys(b"test-secret-for-fingerprints-0001"))
PHONE = {"source": "app", "os": "android", "os_version": "13", "model": "2211133C", "manufacturer": "Xiaomi",
         "screen": "1080x2400", "app_version": "5.2.1", "android_id": "9774d56d682e549c", "imei": "867543061234567",
         "timezone": "Asia/Shanghai", "languages": ["zh-CN"], "sim_operator": "46000", "emulator": False,
         "rooted": False}
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0.0.0 Safari/537.36"
PC = {"source": "web", "user_agent": UA.format(120), "platform": "Win32", "screen": "1920x1080", "color_depth": 24,
      "timezone": "Asia/Shanghai", "languages": ["zh-CN", "zh"], "fonts_hash": "a1b2c3d4e5f60718",
      "canvas_hash": "0badc0de0badc0de", "webgl_vendor": "Google Inc. (Intel)", "webgl_renderer": "ANGLE (Intel)",
      "hardware_concurrency": 8, "device_memory": 8, "touch_support": 0}
DAY = 86_400_000


def run(linker, devices, t0=1_700_000_000_000):
    return [linker.link(FPR.fingerprint(d), t0 + i * 1000) for i, d in enumerate(devices)]


def test_exact_drift_and_changed_components():
    r = run(DeviceLinker(), [PHONE, PHONE, {**PHONE, "app_version": "5.3.0", "sim_operator": "46001"}])
    assert r[0].new and r[0].link_confidence == 0.0 and r[0].how == "new"
    assert r[1].device_id == r[0].device_id and r[1].link_confidence == 1.0 and r[1].how == "exact"
    assert r[2].device_id == r[0].device_id and r[2].changed == ("app_version", "sim_operator")
    assert 0.5 < r[2].link_confidence < 1.0 and r[2].how == "id"


def test_reset_android_id_links_through_imei_but_not_without_it():
    reset = {**PHONE, "android_id": "0000aaaa1111bbbb"}
    r = run(DeviceLinker(), [PHONE, reset])
    assert r[1].device_id == r[0].device_id and "android_id" in r[1].changed
    no_imei = {k: v for k, v in PHONE.items() if k != "imei"}
    r = run(DeviceLinker(), [no_imei, {**no_imei, "android_id": "0000aaaa1111bbbb"}])
    assert r[1].new


def test_rules_versions_backwards_browser_family_and_bounded_changes():
    lk = DeviceLinker()
    first = run(lk, [PC])[0]
    assert lk.link(FPR.fingerprint({**PC, "user_agent": UA.format(119)}), 1_700_100_000_000).new  # browser downgrade
    lk = DeviceLinker()
    first = run(lk, [PC])[0]
    upd = lk.link(FPR.fingerprint({**PC, "user_agent": UA.format(122), "timezone": "Asia/Tokyo"}), 1_700_100_000_000)
    assert upd.device_id == first.device_id and upd.changed == ("user_agent", "timezone")
    edge = PC["user_agent"] + " Edg/120.0.0.0"
    assert lk.link(FPR.fingerprint({**PC, "user_agent": edge}), 1_700_100_001_000).new  # other browser family
    lk = DeviceLinker()
    run(lk, [PC])
    many = {**PC, "timezone": "Asia/Tokyo", "languages": ["en"], "screen": "2560x1440"}  # weight 3 > 2
    assert lk.link(FPR.fingerprint(many), 1_700_100_000_000).new


def test_identical_hardware_other_device_is_not_linked():
    other_phone = {**PHONE, "android_id": "1234123412341234", "imei": "867543069999999"}
    r = run(DeviceLinker(), [PHONE, other_phone, PHONE])
    assert r[1].new and r[2].device_id == r[0].device_id


def test_shared_anchor_requires_exact_volatile_match():
    # two devices with the same (default) font list: fonts no longer identify a device
    a = PC
    b = {**PC, "canvas_hash": "1111111111111111", "languages": ["en-US"]}
    lk = DeviceLinker()
    ra, rb = run(lk, [a, b])
    assert ra.device_id != rb.device_id
    # a timezone change (weight 1) would link on a unique anchor, but not on a shared one
    moved = lk.link(FPR.fingerprint({**a, "timezone": "Asia/Tokyo"}), 1_700_100_000_000)
    assert moved.new


def test_ttl_and_eviction_use_event_time():
    lk = DeviceLinker(MemoryLinkState(max_devices=10, ttl_ms=30 * DAY))
    t0 = 1_700_000_000_000
    d0 = lk.link(FPR.fingerprint(PHONE), t0).device_id
    assert lk.link(FPR.fingerprint(PHONE), t0 + 29 * DAY).device_id == d0
    assert lk.link(FPR.fingerprint(PHONE), t0 + 60 * DAY).new  # expired: forgotten
    state = MemoryLinkState(max_devices=3)
    lk = DeviceLinker(state)
    ids = [lk.link(FPR.fingerprint({**PHONE, "android_id": f"{i:016x}", "imei": str(10**14 + i)}), t0 + i).device_id
           for i in range(6)]
    assert len(set(ids)) == 6 and len(state) == 3
    assert lk.link(FPR.fingerprint({**PHONE, "android_id": f"{0:016x}", "imei": str(10**14)}), t0 + 10).new  # evicted
    assert lk.link(FPR.fingerprint({**PHONE, "android_id": f"{5:016x}", "imei": str(10**14 + 5)}), t0 + 11).device_id == ids[5]


def test_scheme_aliases_find_devices_first_seen_under_an_old_scheme():
    lk = DeviceLinker()
    old = FPR.fingerprint(PHONE)
    r0 = lk.link(old, 1)
    from dataclasses import replace

    migrated = replace(old, id="fp2_" + old.id[4:], aliases=(old.id,), link_keys=("elsewhere",))
    r1 = lk.link(migrated, 2)
    assert r1.device_id == r0.device_id and r1.how == "exact"
    assert lk.link(replace(migrated, aliases=()), 3).device_id == r0.device_id  # the new id is now indexed


def test_deterministic_replay_and_bad_parameters():
    seq = [PHONE, {**PHONE, "timezone": "Asia/Tokyo"}, PC, {**PC, "user_agent": UA.format(121)}]
    a = [r.device_id for r in run(DeviceLinker(), seq)]
    b = [r.device_id for r in run(DeviceLinker(MemoryLinkState(max_devices=100)), seq)]
    assert a == b and len(set(a)) == 2
    with pytest.raises(ConfigError, match="'max_devices' parameter of MemoryLinkState"):
        MemoryLinkState(max_devices=0)
    with pytest.raises(ConfigError, match="'state' parameter of DeviceLinker"):
        DeviceLinker(state={})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="needs a Fingerprint"):
        DeviceLinker().link(None, 1)  # type: ignore[arg-type]


def test_precision_recall_on_synthetic_drift():
    devices = pytest.importorskip("fraudscore.synth.devices")
    s = devices.simulate_drift(n_devices=300, observations_per_device=8, drift_rate=0.3, seed=11)
    ids = link_all(FPR, DeviceLinker(), s.devices, s.ts)
    m = link_metrics(s.truth, ids)
    assert m["precision"] >= 0.99 and m["recall"] >= 0.93, m
    # no drift at all: every repeat observation is an exact match
    s0 = devices.simulate_drift(n_devices=100, observations_per_device=4, drift_rate=0.0, seed=2)
    m0 = link_metrics(s0.truth, link_all(FPR, DeviceLinker(), s0.devices, s0.ts))
    assert m0["recall"] == 1.0 and m0["precision"] >= 0.99


def test_link_metrics_definition():
    m = link_metrics([0, 0, 1, 1], ["a", "a", "a", "b"])
    assert (m["claims"], m["correct"], m["linkable"]) == (2, 1, 2)
