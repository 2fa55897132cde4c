"""Compiled sectioned hashing (fraudscore/_core/fingerprint_sections.c) == the xxhash reference, bit for bit."""

from __future__ import annotations


import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore._core import PURE_PYTHON_ENV
from fraudscore.fingerprint import Fingerprinter
from fraudscore.fingerprint.canonical import ATTRIBUTE_NAMES
from fraudscore.fingerprint.sections import _C_PLAN, _MASK48
from fraudscore.keys import Keys
from tests.helpers import compiled_core

core = compiled_core("fingerprint", "the compiled fingerprint module")

KEYS = Keys(b"0123456789abcdef-compiled-parity")
text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=200)


def ref_h(t: str) -> int:
    return xxhash.xxh3_64_intdigest(KEYS.fingerprint + t.encode("utf-8", "surrogatepass"), seed=KEYS.fingerprint_seed)


@settings(deadline=None, max_examples=200)
@given(text)
def test_hash_and_section_equal_xxhash(t):
    h = core.Hasher(KEYS.fingerprint, KEYS.fingerprint_seed)
    assert h.h(t) == ref_h(t)
    assert h.hex(t) == f"{ref_h(t) & _MASK48:012x}"


@settings(deadline=None, max_examples=100)
@given(st.lists(st.one_of(st.none(), text), min_size=len(ATTRIBUTE_NAMES), max_size=len(ATTRIBUTE_NAMES)))
def test_components_equal_reference(vals):
    h = core.Hasher(KEYS.fingerprint, KEYS.fingerprint_seed)
    want = tuple(0 if vals[i] is None else (ref_h(pre + vals[i]) & _MASK48) or 1 for i, pre in _C_PLAN)
    assert h.components(_C_PLAN, tuple(vals)) == want


devices = st.dictionaries(
    st.sampled_from(list(ATTRIBUTE_NAMES) + ["User-Agent", "x"]),
    st.one_of(st.none(), text, st.sampled_from(["android", "ios", "13", "5.2.1", "1080x2400", "Xiaomi", "true"]),
              st.integers(-5, 10**6), st.booleans(), st.lists(st.sampled_from(["en", "zh-CN"]), max_size=3)),
    max_size=12)


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(devices, min_size=1, max_size=8))
def test_fingerprinter_compiled_equals_reference(monkeypatch, devs):
    fast = Fingerprinter(KEYS, cache_size=0)
    monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    slow = Fingerprinter(KEYS, cache_size=0)
    monkeypatch.delenv(PURE_PYTHON_ENV)
    assert "_hex" in vars(fast) and "_hex" not in vars(slow)
    for d in devs:
        assert fast.fingerprint(d) == slow.fingerprint(d)
    assert fast.fingerprint_many(devs) == slow.fingerprint_many(devs)


fonts = st.lists(st.one_of(st.sampled_from(["Arial", "SimSun", "Noto Sans CJK", "微软雅黑"]), text), max_size=40)


@settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.fixed_dictionaries({}, optional={
    "source": st.sampled_from(["web", "app", "tv", ""]), "user_agent": st.sampled_from([
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Version/17.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0 Safari/537.36", "x"]),
    "webgl_renderer": st.one_of(text, st.just("ANGLE (Intel, Intel(R) UHD Graphics 620 (0x00005917) d3d11-31.0.101)")),
    "fonts": st.one_of(fonts, text), "languages": st.one_of(fonts, text), "canvas_hash": text, "android_id": text,
    "idfv": text, "imei": st.text("0123456789", max_size=16), "fonts_hash": text, "touch_support": st.sampled_from(
        ["0", "5", "x", 3]), "os": st.sampled_from(["android", "ios", "harmonyos"]), "model": text,
    "screen": st.sampled_from(["1080x2400", "x"]), "platform": text}), min_size=1, max_size=6))
def test_sections1_equals_reference(monkeypatch, devs):
    """The whole scheme-1 hashing of from_canonical in one call == the reference, with fonts, languages, anchors."""
    fast = Fingerprinter(KEYS, cache_size=0)
    monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    slow = Fingerprinter(KEYS, cache_size=0)
    monkeypatch.delenv(PURE_PYTHON_ENV)
    assert fast._sections1 is not None and slow._sections1 is None
    assert Fingerprinter(KEYS, also=(1,))._sections1 is not None  # the scheme itself is not an alias
    for d in devs:
        assert fast.fingerprint(d) == slow.fingerprint(d)


def test_sections1_on_synthetic_devices():
    from fraudscore.bench.bundles import events_stream

    devs = [d for d in events_stream(400, seed=5).columns["device"].tolist() if d]
    fast = Fingerprinter(KEYS, cache_size=0)
    ref = Fingerprinter(KEYS, cache_size=0)
    ref._sections1 = None
    assert fast.fingerprint_many(devs) == ref.fingerprint_many(devs)


@settings(deadline=None, max_examples=80)
@given(st.lists(devices, min_size=1, max_size=10))
def test_cached_fingerprints_through_the_compiled_key_equal_uncached(devs):
    cached = Fingerprinter(KEYS)
    plain = Fingerprinter(KEYS, cache_size=0)
    assert cached._mapping_key is not None
    for d in devs + devs:
        assert cached.fingerprint(d) == plain.fingerprint(d)


def test_mapping_key_tells_types_apart_and_hands_over_the_rest():
    key = Fingerprinter(KEYS)._mapping_key
    forms = [{"a": 1}, {"a": True}, {"a": 1.0}, {"a": "1"}, {"a": ["1"]}, {"a": [1]}, {"a": None}, {"a": "",
             "b": ""}, {"a": "", "": "b"}, {"a": "b"}, {"b": "a"}, {"a": 1, "b": 2}, {"b": 2, "a": 1}, {}]
    keys = [key(f) for f in forms]
    assert all(k is not None and len(k) == 16 for k in keys) and len(set(keys)) == len(keys)
    assert key({"a": 1}) == key({"a": 1})
    for other in ({"a": (1,)}, {"a": [[1]]}, {1: "a"}, {"a": 10**30}, {"a": "\ud800"}):
        assert key(other) is None
