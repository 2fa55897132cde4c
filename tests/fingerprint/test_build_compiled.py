"""The compiled fingerprint of a device dict in one call (``Hasher.build1``: canonicalize + from_canonical) and of a
canonical device (``Hasher.assemble1``) == the pure-Python reference, bit for bit (fraudscore/_core/fingerprint_build.c)."""

from __future__ import annotations


import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore._core import PURE_PYTHON_ENV
from fraudscore.fingerprint import Fingerprinter, canonical, device_signals
from fraudscore.fingerprint.canonical import ATTRIBUTE_NAMES, canonicalize
from fraudscore.fingerprint.sections import _FAM_WEB, Fingerprint, renderer_model
from fraudscore.keys import Keys
from tests.helpers import compiled_core

core = compiled_core("fingerprint", "the compiled fingerprint module")

KEYS = Keys(b"0123456789abcdef-build1-parity")
text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=40)
ascii_text = st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=40)
# renderer text around the driver-detail pattern \s*\(0x[0-9a-f]+\)|-\d+(?:\.\d+)+
renderer = st.one_of(text, st.text(" \t-.()0123456789abcdefxANGLE,", max_size=40), st.sampled_from([
    "ANGLE (Intel, Intel(R) UHD Graphics 620 (0x00005917) Direct3D11 vs_5_0 ps_5_0, D3D11-31.0.101.4017)",
    "angle (nvidia, nvidia geforce rtx 3060 (0x00002504) direct3d11 vs_5_0 ps_5_0, d3d11-27.21.14.5671)",
    "Mali-G78", "Adreno (TM) 650", "-1.2.3", "x -1. -1.2.", " (0x) (0xg) (0xab", "a\x1c(0x1)", "(0x1)"]))
scalar = st.one_of(st.none(), text, ascii_text, st.integers(-5, 10**6), st.booleans(), st.floats(allow_nan=True),
                   st.lists(st.one_of(st.sampled_from(["en", "zh-CN", "Arial"]), text), max_size=3))
devices = st.fixed_dictionaries({}, optional={
    "source": st.one_of(st.sampled_from(["web", "app", "tv", "", "APP"]), scalar),
    "user_agent": st.one_of(st.sampled_from([
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Version/17.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
        "Mozilla/5.0 (Linux; Android 13; SM-G991B) AppleWebKit/537.36 Chrome/119.0 Mobile Safari/537.36",
        "HeadlessChrome/120.0", "x"]), scalar),
    "webgl_renderer": st.one_of(renderer, scalar), "webgl_vendor": st.one_of(st.just("Google Inc."), scalar),
    "platform": st.one_of(st.sampled_from(["Win32", "iPhone", "Linux armv8l", "MacIntel"]), scalar),
    "fonts": st.one_of(st.lists(st.sampled_from(["Arial", "SimSun", "微软雅黑"]), max_size=5), scalar),
    "languages": st.one_of(st.sampled_from(["en-US,zh-CN;q=0.9", "zh-CN"]), scalar),
    "canvas_hash": st.one_of(ascii_text, scalar), "fonts_hash": st.one_of(ascii_text, scalar),
    "android_id": st.one_of(st.just("  9774D56D682E549C  "), ascii_text, scalar),
    "idfv": st.one_of(ascii_text, scalar), "imei": st.one_of(st.text("0123456789 -", max_size=16), scalar),
    "touch_support": st.one_of(st.sampled_from(["0", "5", "x", "²", "٣x", "007", 3, 0, True]), scalar),
    "os": st.one_of(st.sampled_from(["android", "iOS", "iPhoneOS", "harmonyos", "OSX"]), scalar),
    "os_version": st.one_of(st.sampled_from(["13.0.0", "17.1", "beta"]), scalar),
    "app_version": st.one_of(st.sampled_from(["5.2.1", "5.3.0", "v2"]), scalar),
    "model": st.one_of(st.sampled_from(["SM-G991B", "iPhone15,2"]), scalar),
    "manufacturer": st.one_of(st.sampled_from(["Xiaomi", "Apple"]), scalar),
    "screen": st.one_of(st.sampled_from(["1080x2400", "1080 X 2400", "x"]), scalar),
    "color_depth": st.one_of(st.sampled_from([24, "24", 24.0]), scalar),
    "hardware_concurrency": st.one_of(st.sampled_from([8, "8"]), scalar),
    "device_memory": st.one_of(st.sampled_from([8, 0.5, "4"]), scalar),
    "emulator": st.one_of(st.booleans(), scalar), "rooted": st.one_of(st.booleans(), scalar),
    "timezone": st.one_of(st.sampled_from(["Asia/Shanghai", "america/new_york"]), scalar),
    "Screen ": scalar, "webdriver": scalar, "x": scalar, "User-Agent": scalar,
})


def reference_fingerprinter(monkeypatch) -> Fingerprinter:
    monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    slow = Fingerprinter(KEYS, cache_size=0)
    monkeypatch.delenv(PURE_PYTHON_ENV)
    assert slow._build1 is None and slow._sections1 is None
    return slow


def reference(slow: Fingerprinter, device):
    real = canonical._CORE
    try:
        canonical._CORE = None  # the Python attribute loop too
        return slow.fingerprint(device)
    finally:
        canonical._CORE = real


def same(a: Fingerprint | None, b: Fingerprint | None) -> None:
    assert a == b
    if a is not None and b is not None:  # equal and of the same types, field by field
        assert repr(a) == repr(b) and type(a.mobile) is type(b.mobile) and type(a.canonical) is type(b.canonical)


def test_the_kernels_are_in_use():
    fpr = Fingerprinter(KEYS)
    assert fpr._build1 is not None and fpr._assemble1 is not None


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(devices, min_size=1, max_size=5), st.booleans())
def test_build1_equals_reference(monkeypatch, devs, cold):
    fast = Fingerprinter(KEYS, cache_size=0)
    slow = reference_fingerprinter(monkeypatch)
    for d in devs:
        if cold:  # memo misses: the kernel calls back into the reference for them
            canonical._BUDGET.clear()
        want = reference(slow, d)
        got = fast._build1(d) if d else None
        if got is not None:  # None: the kernel handed the device to the reference
            same(got, want)
        same(fast.fingerprint(d), want)
        same(fast.fingerprint(d), want)  # again, from the memos
        if want is not None:
            same(fast.from_canonical(want.canonical), want)  # assemble1
            assert device_signals(got or fast.fingerprint(d), {"ip_country": "US"}).keys() == \
                device_signals(want, {"ip_country": "US"}).keys()


@settings(deadline=None, max_examples=200)
@given(renderer)
def test_renderer_model_kernel_equals_regex(r):
    """The family section reads the renderer without driver details: the ASCII kernel == the regex."""
    fast = Fingerprinter(KEYS, cache_size=0)
    d = {"webgl_renderer": r, "platform": "Win32"}
    c = canonicalize(d)
    if c.get("webgl_renderer") is None:
        return
    want = fast._memo_hex("\x1f".join(["fam", c.source, c.os_family or "\x00",
                                        *[c.values[i] or "\x00" for i in _FAM_WEB],
                                        renderer_model(c.get("webgl_renderer")) or "\x00"]))
    fp = fast._build1(d)
    if fp is not None:
        assert fp.family == want


def test_build1_hands_over_what_it_does_not_take():
    fast = Fingerprinter(KEYS, cache_size=0)
    from collections import OrderedDict

    assert fast._build1(OrderedDict(os="ios")) is None  # not an exact dict
    assert fast._build1({"touch_support": "٣x", "platform": "x"}) is None  # non-ASCII touch text
    assert fast._build1({"webgl_renderer": "é (0x1)"}) is None  # a non-ASCII renderer
    assert fast.fingerprint({"touch_support": "٣x", "platform": "x"}) is not None  # the reference takes it


def test_synthetic_devices_equal_reference(monkeypatch):
    from fraudscore.bench.bundles import events_stream

    devs = [d for d in events_stream(400, seed=11).columns["device"].tolist() if d]
    fast = Fingerprinter(KEYS)
    slow = reference_fingerprinter(monkeypatch)
    canonical._BUDGET.clear()
    for d in devs:
        got = fast._build1(d)
        assert got is not None  # every synthetic device takes the compiled path
        same(got, reference(slow, d))
        same(fast.fingerprint(d), got)
    assert fast.fingerprint_many(devs) == [reference(slow, d) for d in devs]


def test_attribute_names_are_the_kernels_plan():
    # the kernels index canonical values by these positions (sections._FAM_WEB / _FAM_APP, _RENDERER_IDX)
    assert ATTRIBUTE_NAMES.index("webgl_renderer") == 10 and ATTRIBUTE_NAMES.index("touch_support") == 13


@settings(deadline=None, max_examples=150)
@given(devices, st.one_of(st.none(), st.sampled_from(["US", " cn ", "", "CN"]), st.integers()))
def test_device_signal_values_equal_device_signals(d, country):
    """The pipeline's list form of the signals == the dict form, in DEVICE_FEATURES order (NaN where NaN)."""
    from fraudscore.fingerprint import DEVICE_FEATURES, device_signal_values

    fp = Fingerprinter(KEYS).fingerprint(d)
    ev = {} if country is None else {"ip_country": country}
    for _ in range(2):  # a cold, then a cached template
        want = device_signals(fp, ev)
        got = device_signal_values(fp, ev)
        assert [repr(x) for x in got] == [repr(want[n]) for n in DEVICE_FEATURES]
    if fp is not None:
        assert device_signal_values(fp.canonical, ev) == pytest.approx([want[n] for n in DEVICE_FEATURES], nan_ok=True)


@settings(deadline=None, max_examples=100)
@given(st.lists(st.one_of(st.none(), text, st.just("")), max_size=30))
def test_values_size_equals_getsizeof(vals):
    import sys

    for v in vals:  # a UTF-8 copy cached inside a str counts too, as sys.getsizeof sees it
        if v and v.isascii() is False and not any(0xD800 <= ord(ch) <= 0xDFFF for ch in v):
            v.encode("utf-8")
    assert core.values_size(tuple(vals)) == sum(map(sys.getsizeof, filter(None, vals)))


@settings(deadline=None, max_examples=40)
@given(st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), min_size=200, max_size=1500),
       st.integers(0, 1100))
def test_one_shot_and_streaming_hashes_equal_xxhash(t, cut):
    """Inputs are hashed in one shot from a 1 KiB buffer, longer ones in a streaming state: both equal xxhash."""
    import xxhash

    h = core.Hasher(KEYS.fingerprint, KEYS.fingerprint_seed)
    for s in (t, t[:cut], "a" * (1024 - 64 - cut % 8) + t[:3]):  # around the buffer's edge (64-byte key first)
        want = xxhash.xxh3_64_intdigest(KEYS.fingerprint + s.encode("utf-8", "surrogatepass"), seed=KEYS.fingerprint_seed)
        assert h.h(s) == want


def test_long_attributes_equal_reference(monkeypatch):
    """Section inputs longer than the one-shot buffer (2 KiB user agents, long renderers and font lists)."""
    fast = Fingerprinter(KEYS, cache_size=0)
    slow = reference_fingerprinter(monkeypatch)
    for n in (900, 1100, 2048):
        d = {"user_agent": "Mozilla/5.0 " + "x" * n, "webgl_renderer": "ANGLE (0x1234) " + "r-1.2 " * (n // 6),
             "fonts": ",".join(f"font{i}" for i in range(n // 5)), "timezone": "asia/shanghai", "platform": "win32"}
        same(fast._build1(d), reference(slow, d))


def _key_bytes(v, depth=0):
    import struct

    if v is None:
        return b"n"
    if v is True or v is False:
        return b"T" if v else b"F"
    if type(v) is str:
        u = v.encode("utf-8")
        return b"s" + struct.pack("<Q", len(u)) + u
    if type(v) is int:
        return b"i" + struct.pack("<q", v)
    if type(v) is float:
        return b"f" + struct.pack("<d", v)
    assert type(v) is list and depth == 0
    return b"l" + struct.pack("<Q", len(v)) + b"".join(_key_bytes(x, 1) for x in v)


@settings(deadline=None, max_examples=100)
@given(st.dictionaries(st.text(max_size=40), st.one_of(
    st.none(), st.booleans(), st.text(max_size=300), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False),
    st.lists(st.one_of(st.text(max_size=300), st.integers(-5, 5)), max_size=12)), max_size=12))
def test_mapping_key_is_the_keyed_xxh3_128_of_its_layout(d):
    """The cache key (hashed in one shot from a buffer, streaming past 2 KiB) == xxh3-128 of the documented layout."""
    import xxhash

    key = Fingerprinter(KEYS)._mapping_key(d)
    if any("\ud800" <= ch <= "\udfff" for k, v in d.items() for ch in k + (v if isinstance(v, str) else "")):
        return
    data = b"\xff" + b"".join(_key_bytes(k, 1) + _key_bytes(v) for k, v in d.items())
    assert key == xxhash.xxh3_128_digest(data, seed=KEYS.fingerprint_seed)


def _untracked_closure_is_sound(o, depth=0) -> None:
    """An object the collector does not track refers to no tracked object but its class (so it cannot hide a
    cycle: a class does not refer to the instances it builds)."""
    import gc

    if gc.is_tracked(o) or depth > 4:
        return
    for r in gc.get_referents(o):
        if r is type(o):
            continue
        assert not gc.is_tracked(r), (type(o).__name__, type(r).__name__)
        _untracked_closure_is_sound(r, depth + 1)


@settings(deadline=None, max_examples=200)
@given(devices)
def test_built_fingerprints_leave_the_collector_soundly(d):
    """Round 13: ``build1`` untracks the ``CanonicalDevice``, the ``Fingerprint`` and their tuples when they hold
    only leaves (str, int, None, such tuples), so young collections stop walking the cached fingerprints; a
    container holding anything tracked stays tracked. The result is the same object graph as before."""
    import gc

    fast = Fingerprinter(KEYS, cache_size=0)
    fp = fast._build1(d) if d else None
    if fp is None:
        return
    _untracked_closure_is_sound(fp)
    if not any(gc.is_tracked(v) for v in (fp.canonical, fp.canonical.values, fp.components, fp.link_keys)):
        assert not gc.is_tracked(fp)
    gc.collect()  # nothing freed that is still referenced: the fingerprint still hashes and compares
    assert fp == fast._build1(d) and hash(fp.id) == hash(fast._build1(d).id)


def test_a_fingerprint_holding_a_tracked_value_stays_tracked():
    import gc

    fast = Fingerprinter(KEYS, cache_size=0)
    fp = fast._build1({"os": "android", "model": "Mi 9", "zzz": "q"})
    assert not gc.is_tracked(fp) and not gc.is_tracked(fp.canonical)
    c = fp.canonical
    tracked = dataclass_replace(c, extra=(["not", "a", "leaf"],))  # a list: tracked, so the container stays tracked
    got = fast._assemble1(tracked)
    assert got is not None and gc.is_tracked(tracked) and gc.is_tracked(got)


def dataclass_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)
