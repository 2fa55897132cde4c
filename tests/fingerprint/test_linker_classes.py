"""Issue #12 follow-up: common fingerprints keep one class record; the fast path equals read/decide/write."""

from __future__ import annotations

import pytest

from fraudscore.fingerprint import MIN_LINK_CONFIDENCE, DeviceLinker, Fingerprinter, MemoryLinkState
from fraudscore.fingerprint.evaluate import pairwise_metrics
from fraudscore.fingerprint.linkmodel import LinkModel, default_link_model
from fraudscore.fingerprint.linkstate import LinkPlan
from fraudscore.fingerprint.simulate import simulate
from fraudscore.keys import Keys

FPR = Fingerprinter(Keys(b"test-secret-for-fingerprints-0001"))
T0 = 1_767_225_600_000
MIN = 60_000
IOS_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_{m} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.{m} Mobile/15E148 Safari/604.1")
FONTS = [f"iOS {i:03d}" for i in range(60)] + [f"iOS17 {i:03d}" for i in range(4)]


def iphone(minor=2, **kw):
    d = {"source": "web", "user_agent": IOS_UA.format(m=minor), "platform": "iPhone", "screen": "390x844",
         "color_depth": 24, "timezone": "Asia/Shanghai", "languages": ["zh-CN"], "fonts": FONTS,
         "fonts_hash": "ios17fonts", "canvas_hash": "apple17", "webgl_vendor": "Apple Inc.",
         "webgl_renderer": "Apple GPU", "hardware_concurrency": 4, "touch_support": 5}
    d.update(kw)
    return d


class ReferenceState(MemoryLinkState):
    """A memory state the linker's fast path does not recognise: every event goes read -> decide -> write."""


def _link(lk, devices, step=MIN):
    return [lk.link(FPR.fingerprint(d), T0 + i * step) for i, d in enumerate(devices)]


def test_font_list_reported_or_not_is_one_class_and_the_memo_checks_the_sketch():
    """Regression: the fingerprint id holds the fonts *hash*, not the list; twins whose script reports the list
    and twins whose script does not share an id, and the key memo (by id) handed one the other's class key."""
    with_list, hash_only = FPR.fingerprint(iphone()), FPR.fingerprint({**iphone(), "fonts": None})
    assert with_list.id == hash_only.id and with_list.fonts_sketch != hash_only.fonts_sketch
    lk = DeviceLinker()
    assert DeviceLinker.shared_key(with_list) != DeviceLinker.shared_key(hash_only)  # each its own class
    assert lk._keys(with_list)[4] == DeviceLinker.shared_key(with_list)
    assert lk._keys(hash_only)[4] == DeviceLinker.shared_key(hash_only)  # not the memo of the other


def test_a_phones_class_survives_a_trip():
    """A crowd of identical iPhones: one travels (timezone) and comes back; its class id does not change."""
    lk = DeviceLinker()
    crowd = _link(lk, [iphone()] * 6)
    trip = lk.link(FPR.fingerprint(iphone(timezone="Asia/Tokyo")), T0 + 10 * MIN)
    back = lk.link(FPR.fingerprint(iphone()), T0 + 20 * MIN)
    assert trip.device_id == back.device_id == crowd[-1].device_id
    assert max(r.link_confidence for r in (*crowd[1:], trip, back)) < MIN_LINK_CONFIDENCE


def test_a_device_whose_fingerprint_becomes_common_joins_its_class_and_stays():
    """Regression: a phone first tracked alone alternated between its own id and the class record's id once
    twins appeared (1,100 splits on the web scenario); now its exact hits move to the class record once."""
    lk = DeviceLinker(mobile_prior=1.0, min_family_devices=1)  # no prior: the first phone is tracked alone
    langs = {"languages": ["en-US", "fr-FR"]}
    alone = lk.link(FPR.fingerprint(iphone(**langs)), T0)
    assert alone.new and alone.link_confidence >= MIN_LINK_CONFIDENCE
    twin = lk.link(FPR.fingerprint(iphone(3, **langs)), T0 + MIN)  # a twin on another version, tracked alone too
    assert twin.new
    later = _link(lk, [iphone(**langs), iphone(3, **langs)] * 4)  # now common: both join one class record
    assert len({r.device_id for r in later}) == 1 and later[0].device_id not in (alone.device_id, twin.device_id)
    assert all(r.link_confidence < MIN_LINK_CONFIDENCE for r in later)


def test_class_records_take_twins_on_other_versions_without_rewriting_the_record():
    lk = DeviceLinker()
    rs = _link(lk, [iphone(2), iphone(3)] * 4 + [iphone(2), iphone(3)] * 4)
    assert len({r.device_id for r in rs}) == 1
    rec = lk.state.current(FPR.fingerprint(iphone(2)).id, T0 + 20 * MIN)[0]
    assert rec["n"] == len(rs)  # every sighting counted on the one class record
    assert all(r.link_confidence <= 0.5 for r in rs)  # a class record stands for two devices or more


@pytest.mark.parametrize("scenario", ["web", "mixed", "farm"])
def test_fast_path_equals_read_decide_write(scenario):
    """The MemoryLinkState fast path of link() gives the same results and leaves the same state as the
    reference protocol (read -> decide -> write) that RedisLinkState uses."""
    s = simulate(scenario, n_devices=150, days=40, seed=23)
    fast, ref = DeviceLinker(MemoryLinkState()), DeviceLinker(ReferenceState())
    for d, t, ip in zip(s.devices, s.ts.tolist(), s.ip_prefix.tolist()):
        fp = FPR.fingerprint(d)
        assert fast.link(fp, t, ip) == ref.link(fp, t, ip)
    assert fast.state.to_dict() == ref.state.to_dict()


def test_touch_equals_a_touch_plan():
    a, b = MemoryLinkState(max_per_block=2), MemoryLinkState(max_per_block=2)
    for st in (a, b):
        for i in range(3):
            st.write(LinkPlan({"id": f"d{i}", "fp": f"fp{i}", "t": i, "n": 1, "ip": 0}, (f"fp{i}",), ("k",), 1,
                              True, "f", (7,)), i)
    rec_a, rec_b = a.current("fp0", 5)[0], b.current("fp0", 5)[0]
    a.touch(rec_a, ("fp0", "fp0b"), ("k", "k2"), 1, 9, 5)
    b.write(LinkPlan(rec_b, ("fp0", "fp0b"), ("k", "k2"), 1, False, "f", touch=True, ip=9), 5)
    assert a.to_dict() == b.to_dict() and rec_a["n"] == 2 and rec_a["ip"] == 9
    assert a.family("f") == (3, {7: 3}) and a.family("nope") == (0, {})


def test_linker_quality_on_a_small_web_stream_beats_exact_match():
    from fraudscore.fingerprint.evaluate import exact_ids

    s = simulate("web", n_devices=300, days=45, seed=29)
    ids = [r.device_id for r in _link_stream(DeviceLinker(), s)]
    m, ex = pairwise_metrics(s.truth, ids), pairwise_metrics(s.truth, exact_ids(FPR, s.devices))
    assert m["recall"] >= 0.85 and m["precision"] >= ex["precision"], (m, ex)


def _link_stream(lk, s):
    return [lk.link(FPR.fingerprint(d), t, ip) for d, t, ip in zip(s.devices, s.ts.tolist(), s.ip_prefix.tolist())]


def test_link_model_engine_is_exact_and_can_be_disabled(monkeypatch):
    import numpy as np

    m = default_link_model()
    X = np.random.default_rng(0).integers(-1, 4, size=(200, len(m.feature_names))).astype(float)
    want = m.booster.predict(X)
    assert [m.predict(list(x)) for x in X] == want.tolist()  # bit for bit, whatever the engine
    monkeypatch.setenv("FRAUDSCORE_NO_COMPILED", "1")
    plain = LinkModel(m.text)
    assert plain.engine != "compiled" and [plain.predict(list(x)) for x in X] == want.tolist()


def test_compatible_records_equals_the_hard_rules():
    from fraudscore.fingerprint.linkfeatures import compatible, compatible_records

    s = simulate("legacy", n_devices=120, days=30, seed=31)  # crowded blocks, many version steps
    lk = DeviceLinker(ReferenceState())
    checked = 0
    for d, t in zip(s.devices, s.ts.tolist()):
        fp = FPR.fingerprint(d)
        view = lk.read(fp, t)
        if view.cands:
            assert compatible_records(fp, view.cands) == [r for r in view.cands if compatible(fp, r)]
            checked += 1
        lk.state.write(lk.decide(fp, view, t)[1], t)
    assert checked > 100
