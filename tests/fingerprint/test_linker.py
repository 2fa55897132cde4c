"""Drift-tolerant, collision-aware device linking (memory state), with the regressions of issue #12."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fraudscore.errors import ConfigError
from fraudscore.fingerprint import MIN_LINK_CONFIDENCE, DeviceLinker, Fingerprinter, MemoryLinkState
from fraudscore.fingerprint.evaluate import link_all, pairwise_metrics
from fraudscore.fingerprint.legacy import LegacyLinker
from fraudscore.keys import Keys

FPR = Fingerprinter(Keys(b"test-secret-for-fingerprints-0001"))
PHONE = {"source": "app", "os": "android", "os_version": "13", "model": "2211133C", "manufacturer": "Xiaomi",
         "screen": "1080x2400", "app_version": "5.2.1", "android_id": "9774d56d682e549c", "imei": "867543061234567",
         "timezone": "Asia/Shanghai", "languages": ["zh-CN"], "sim_operator": "46000", "emulator": False,
         "rooted": False}
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0.0.0 Safari/537.36"
FONTS = [f"Win {i:03d}" for i in range(120)] + ["Rare 0042", "Rare 1337", "Office 001", "Office 002"]
RENDERER = "ANGLE (Intel, Intel(R) UHD Graphics 620 (0x00005917) Direct3D11 vs_5_0 ps_5_0, D3D11-31.0.101.{})"
PC = {"source": "web", "user_agent": UA.format(130), "platform": "Win32", "screen": "1920x1080", "color_depth": 24,
      "timezone": "Asia/Shanghai", "languages": ["zh-CN", "zh"], "fonts": FONTS, "fonts_hash": "a1b2c3d4e5f60718",
      "canvas_hash": "0badc0de0badc0de", "webgl_vendor": "Google Inc. (Intel)", "webgl_renderer": RENDERER.format(4017),
      "hardware_concurrency": 8, "device_memory": 8, "touch_support": 0}
IPHONE = {"source": "web", "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1", "platform": "iPhone", "screen": "390x844",
          "color_depth": 24, "timezone": "Asia/Shanghai", "languages": ["zh-CN"], "fonts_hash": "ios17",
          "canvas_hash": "apple17", "webgl_vendor": "Apple Inc.", "webgl_renderer": "Apple GPU",
          "hardware_concurrency": 4, "touch_support": 5}
DAY = 86_400_000
T0 = 1_767_225_600_000


def run(linker, devices, t0=T0, step=60_000):
    return [linker.link(FPR.fingerprint(d), t0 + i * step) for i, d in enumerate(devices)]


def test_exact_drift_and_changed_components():
    r = run(DeviceLinker(), [PHONE, PHONE, {**PHONE, "app_version": "5.3.0", "sim_operator": "46001"}])
    assert r[0].new and r[0].how == "new" and r[0].link_confidence >= MIN_LINK_CONFIDENCE  # a unique app install
    assert r[1].device_id == r[0].device_id and r[1].link_confidence == 1.0 and r[1].how == "exact"
    assert r[2].device_id == r[0].device_id and r[2].changed == ("app_version", "sim_operator")
    assert r[2].how == "model" and MIN_LINK_CONFIDENCE <= r[2].link_confidence < 1.0


def test_versions_never_go_backwards_and_other_browser_is_another_device():
    lk = DeviceLinker()
    first = run(lk, [PC])[0]
    assert lk.link(FPR.fingerprint({**PC, "user_agent": UA.format(129)}), T0 + DAY).new  # browser downgrade
    edge = PC["user_agent"] + " Edg/130.0.0.0"
    assert lk.link(FPR.fingerprint({**PC, "user_agent": edge}), T0 + 2 * DAY).device_id != first.device_id


# -- issue #12, behaviour 1: font and renderer changes, browser updates split desktops ---------------------
def test_desktop_font_install_driver_update_and_browser_update_keep_the_device():
    lk = DeviceLinker()
    first = run(lk, [PC])[0]
    steps = [
        {**PC, "fonts": FONTS + ["Adobe 001", "Adobe 002", "Adobe 003"], "fonts_hash": "ffff0000ffff0000"},
        {**PC, "fonts": FONTS + ["Adobe 001", "Adobe 002", "Adobe 003"], "fonts_hash": "ffff0000ffff0000",
         "webgl_renderer": RENDERER.format(4034), "canvas_hash": "1111222233334444"},  # driver update
        {**PC, "fonts": FONTS + ["Adobe 001", "Adobe 002", "Adobe 003"], "fonts_hash": "ffff0000ffff0000",
         "webgl_renderer": RENDERER.format(4034), "canvas_hash": "1111222233334444",
         "user_agent": UA.format(131)},  # browser update
    ]
    for k, dev in enumerate(steps, 1):
        r = lk.link(FPR.fingerprint(dev), T0 + k * 9 * DAY)
        assert r.device_id == first.device_id and r.how == "model", (k, r)
        assert r.link_confidence >= MIN_LINK_CONFIDENCE
    # the 0.1 linker split the same desktop at the first font change
    old = LegacyLinker()
    a = old.link(FPR.fingerprint(PC), T0)
    assert old.link(FPR.fingerprint(steps[0]), T0 + 9 * DAY).device_id != a.device_id


# -- issue #12, behaviour 2: identical phones merged by exact match with confidence 1.0 on first sighting --------
def test_identical_phone_first_sighting_is_not_a_confident_merge():
    lk = DeviceLinker()
    a = lk.link(FPR.fingerprint(IPHONE), T0)
    b = lk.link(FPR.fingerprint(IPHONE), T0 + 60_000)  # another iPhone of the same model and settings
    assert a.link_confidence < MIN_LINK_CONFIDENCE and b.link_confidence < MIN_LINK_CONFIDENCE
    assert b.how == "shared"
    assert LegacyLinker().link(FPR.fingerprint(IPHONE), T0).link_confidence == 0.0  # 0.1 said "new"...
    old = LegacyLinker()
    old.link(FPR.fingerprint(IPHONE), T0)
    assert old.link(FPR.fingerprint(IPHONE), T0 + 60_000).link_confidence == 1.0  # ...then merged with 1.0


# -- issue #12, behaviour 3: the crowded-anchor guard counted only version-compatible candidates --------------
def test_crowd_of_identical_iphones_never_shares_a_keyed_id():
    def iphone(minor):
        return {**IPHONE, "user_agent": IPHONE["user_agent"].replace("17_2", f"17_{minor}").replace(
            "Version/17.2", f"Version/17.{minor}")}

    lk = DeviceLinker()
    truth, devs = [], []
    for phone in range(70):  # 70 iPhones, on iOS 17.1 or 17.3, each seen three times
        for _ in range(3):
            truth.append(phone)
            devs.append(iphone(1 if phone % 2 else 3))
    truth += [70, 70]
    devs += [iphone(2), iphone(2)]  # one on an in-between version
    ids = [lk.link(FPR.fingerprint(d), T0 + i * 60_000) for i, d in enumerate(devs)]
    keyed = [r.device_id if r.link_confidence >= MIN_LINK_CONFIDENCE else None for r in ids]
    m = pairwise_metrics(truth, keyed)
    assert m["linked_pairs"] == 0 or m["largest_id_devices"] == 1  # velocity never sees two phones as one
    assert ids[-2].link_confidence < MIN_LINK_CONFIDENCE
    # the 0.1 linker put many iPhones under one id
    old = LegacyLinker()
    raw = [old.link(FPR.fingerprint(d), T0 + i * 60_000).device_id for i, d in enumerate(devs)]
    assert pairwise_metrics(truth, raw)["largest_id_devices"] >= 30


# -- issue #12, behaviour 4: candidates ordered by last state change, not last sighting ---------------------
PC_NOFONTS = {k: v for k, v in PC.items() if k not in ("fonts", "fonts_hash")}


def _other(i):
    return {**PC_NOFONTS, "canvas_hash": f"c{i:015x}", "languages": ["zh-CN", f"x{i}"]}


def _other_fonts(i):
    return {**PC, "fonts": FONTS + [f"Zz {i}"], "fonts_hash": f"{i:016x}", "canvas_hash": f"c{i:015x}"}


def _replay(lk, base, other, t=T0):
    """A, six other desktops of its block, A again (unchanged), six more, then A after a browser update."""
    first = lk.link(FPR.fingerprint(base), t)
    for i in range(6):
        t += 60_000
        lk.link(FPR.fingerprint(other(i)), t)
    again = lk.link(FPR.fingerprint(base), t + 60_000)
    t += 60_000
    for i in range(6, 12):
        t += 60_000
        lk.link(FPR.fingerprint(other(i)), t)
    moved = lk.link(FPR.fingerprint({**base, "user_agent": UA.format(131)}), t + DAY)
    return first, again, moved


def test_candidates_are_ordered_by_last_sighting():
    state = MemoryLinkState(max_per_block=8)
    lk = DeviceLinker(state)
    assert len({lk.block_keys(FPR.fingerprint(d))[0] for d in [PC] + [_other_fonts(i) for i in range(12)]}) == 1
    first, again, moved = _replay(lk, PC, _other_fonts)
    assert again.device_id == first.device_id and moved.device_id == first.device_id
    assert state.live_evictions == 5  # 13 desktops in a block of 8: the 5 seen longest ago, not A
    old = LegacyLinker()  # 8 per block, ordered by last state change: A was pushed out
    first, again, moved = _replay(old, PC_NOFONTS, _other)
    assert again.device_id == first.device_id and moved.device_id != first.device_id


def test_full_blocks_count_live_evictions():
    state = MemoryLinkState(max_per_block=4)
    lk = DeviceLinker(state)
    for i in range(10):
        lk.link(FPR.fingerprint(_other(i)), T0 + i)
    assert state.live_evictions == 6


def test_reset_android_id_links_through_imei_but_farm_resets_do_not_merge():
    reset = {**PHONE, "android_id": "0000aaaa1111bbbb"}
    r = run(DeviceLinker(), [PHONE, reset])
    assert r[1].device_id == r[0].device_id and "android_id" in r[1].changed
    farm = [{**PHONE, "android_id": f"{i:016x}", "imei": f"8675430612{i:05d}", "app_version": f"5.{i % 5}.0",
             "sim_operator": "4600" + str(i % 8), "languages": ["en-US"] if i % 2 else ["zh-CN"]} for i in range(12)]
    ids = {x.device_id for x in run(DeviceLinker(), farm)}
    assert len(ids) >= 10  # every farm phone (or reset) is not folded into one device


def test_ttl_and_eviction_use_event_time():
    lk = DeviceLinker(MemoryLinkState(max_devices=10, ttl_ms=30 * DAY))
    d0 = lk.link(FPR.fingerprint(PHONE), T0).device_id
    assert lk.link(FPR.fingerprint(PHONE), T0 + 29 * DAY).device_id == d0
    assert lk.link(FPR.fingerprint(PHONE), T0 + 60 * DAY).new  # expired: forgotten
    state = MemoryLinkState(max_devices=3)
    lk = DeviceLinker(state)
    ids = [lk.link(FPR.fingerprint({**PHONE, "android_id": f"{i:016x}", "imei": str(10**14 + i)}), T0 + i).device_id
           for i in range(6)]
    assert len(set(ids)) == 6 and len(state) == 3


def test_scheme_aliases_find_devices_first_seen_under_an_old_scheme():
    lk = DeviceLinker()
    old = FPR.fingerprint(PHONE)
    r0 = lk.link(old, 1)
    migrated = replace(old, id="fp2_" + old.id[4:], aliases=(old.id,))
    r1 = lk.link(migrated, 2)
    assert r1.device_id == r0.device_id and r1.how == "exact"
    assert lk.link(replace(migrated, aliases=()), 3).device_id == r0.device_id  # the new id is now indexed


def test_decide_is_pure():
    lk = DeviceLinker()
    lk.link(FPR.fingerprint(PHONE), T0)
    fp = FPR.fingerprint({**PHONE, "app_version": "5.3.0"})
    view = lk.read(fp, T0 + DAY)
    a = lk.decide(fp, view, T0 + DAY)
    b = lk.decide(fp, view, T0 + DAY)
    assert a == b and lk.read(fp, T0 + DAY) == view  # deciding changed nothing


def test_deterministic_replay_and_bad_parameters():
    seq = [PHONE, {**PHONE, "timezone": "Asia/Tokyo"}, PC, {**PC, "user_agent": UA.format(131)}]
    a = [r.device_id for r in run(DeviceLinker(), seq)]
    b = [r.device_id for r in run(DeviceLinker(MemoryLinkState(max_devices=100)), seq)]
    assert a == b and len(set(a)) == 2
    with pytest.raises(ConfigError, match="'max_devices' parameter of MemoryLinkState"):
        MemoryLinkState(max_devices=0)
    with pytest.raises(ConfigError, match="'state' parameter of DeviceLinker"):
        DeviceLinker(state={})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'model' parameter of DeviceLinker"):
        DeviceLinker(model="x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="needs a Fingerprint"):
        DeviceLinker().link(None, 1)  # type: ignore[arg-type]


def test_pairwise_quality_on_the_mixed_scenario_beats_exact_match():
    from fraudscore.fingerprint.evaluate import exact_ids
    from fraudscore.fingerprint.simulate import simulate

    s = simulate("mixed", n_devices=250, days=45, seed=11)
    ids = link_all(FPR, DeviceLinker(), s.devices, s.ts, s.ip_prefix)
    m = pairwise_metrics(s.truth, ids)
    ex = pairwise_metrics(s.truth, exact_ids(FPR, s.devices))
    assert m["recall"] > ex["recall"] + 0.3 and m["precision"] >= ex["precision"] - 0.02, (m, ex)


class _OneFontBlock(DeviceLinker):
    """The linker before round 9: candidates read from the smallest font hash's block only."""

    @staticmethod
    def walk_keys(fp, blocks):
        return blocks


def _font_below_minimum(fonts):
    """A font name whose keyed hash is below every hash of ``fonts`` (installing it changes the MinHash)."""
    low = FPR.fingerprint({**PC, "fonts": fonts}).fonts_sketch[0]
    return next(f"Font {i}" for i in range(10_000)
                if FPR.fingerprint({**PC, "fonts": [f"Font {i}"]}).fonts_sketch[0] < low)


def test_a_new_smallest_font_keeps_the_device_a_candidate():
    """A font installed below the list's smallest hash changes the MinHash (the block the device is indexed
    under): the linker also reads the block of the second smallest hash -- the old minimum --, so the device's
    own record stays a candidate and the drift links; reading one block (before round 9) it was not a
    candidate and a new device was created."""
    extra = _font_below_minimum(FONTS)
    before_fp = FPR.fingerprint({**PC, "fonts": FONTS})
    after_fp = FPR.fingerprint({**PC, "fonts": FONTS + [extra], "fonts_hash": "0f0f0f0f0f0f0f0f"})
    assert before_fp.fonts_sketch[0] != after_fp.fonts_sketch[0] == FPR.fingerprint({**PC, "fonts": [extra]}
                                                                                  ).fonts_sketch[0]
    home = DeviceLinker.block_keys(before_fp)[0]
    assert home not in DeviceLinker.block_keys(after_fp)
    assert home in DeviceLinker.walk_keys(after_fp, DeviceLinker.block_keys(after_fp))
    for cls, linked in ((DeviceLinker, True), (_OneFontBlock, False)):
        lk = cls(MemoryLinkState())
        first = lk.link(before_fp, T0, "198.51.100.0/24")
        res = lk.link(after_fp, T0 + 3_600_000, "198.51.100.0/24")
        assert (res.device_id == first.device_id) is linked, cls
        if linked:
            assert res.how == "model" and "fonts_hash" in res.changed
