"""Round 15's fingerprint build without intermediate Python objects (fraudscore/_core/fingerprint_build.c,
fingerprint_sections.c): the family text hashed as it is written (no parts list, no join, the renderer model in a
buffer), the versions' majors written into the software section's hash as digits, the component hashes kept as
numbers (their tuple made once) and the frozen dataclasses' slots written where they live. Each == the pure-Python
reference, bit for bit; the ``sections1`` method (the family text given as a str) == the streamed hash."""

from __future__ import annotations

import gc
import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore.fingerprint import Fingerprinter
from fraudscore.fingerprint.sections import Fingerprint

from .test_build_compiled import KEYS, reference, reference_fingerprinter, same

# family-text values: empty, ASCII, non-ASCII, lone surrogates, the separator and MISSING bytes themselves
family_value = st.one_of(st.none(), st.just(""), st.just(" "), st.sampled_from(["\x1f", "\x00", "é", "\ud800", "x\udfff"]),
                         st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12))
# renderers on both sides of the 512-byte stack buffer, with the driver-detail pattern inside
long_renderer = st.builds(lambda a, n, b: a + " (0x1a2b) -1.2.3 " * n + b,
                          st.text("ANGLE Mali- ()0x.123", max_size=20), st.integers(0, 60),
                          st.text("abc (0x9) -4.5", max_size=20))
# os / app versions whose majors are small, zero, with leading zeros, past 10**18 or not numbers at all
version = st.one_of(st.none(), st.sampled_from(["0", "007.1", "13.0.0", "999999999999999999.1",
                                                "1000000000000000000.2", "123456789012345678901234567890", "beta",
                                                "-1.2", "1e3", "١٣.٠"]),
                    st.integers(0, 10**25).map(str))

devices = st.fixed_dictionaries({}, optional={
    "source": st.sampled_from(["web", "app", "tv", "APP", "é"]),
    "user_agent": st.sampled_from([
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Version/17.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Linux; Android 13; SM-G991B) AppleWebKit/537.36 Chrome/119.0 Mobile Safari/537.36"]),
    "webgl_renderer": st.one_of(long_renderer, family_value), "webgl_vendor": family_value,
    "platform": family_value, "model": family_value, "manufacturer": family_value, "screen": family_value,
    "color_depth": st.one_of(st.sampled_from([24, "24"]), family_value),
    "hardware_concurrency": st.one_of(st.sampled_from([8, "8"]), family_value),
    "os": st.one_of(st.sampled_from(["android", "iOS", "harmonyos"]), family_value),
    "os_version": version, "app_version": version,
    "fonts": st.one_of(st.lists(st.sampled_from(["Arial", "SimSun", "微软雅黑", ""]), max_size=6), family_value),
    "languages": family_value, "timezone": family_value, "canvas_hash": family_value,
    "touch_support": st.one_of(st.sampled_from(["0", "5", "x"]), family_value),
})


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(devices)
def test_fused_build_equals_reference(monkeypatch, d):
    fast = Fingerprinter(KEYS, cache_size=0)
    slow = reference_fingerprinter(monkeypatch)
    want = reference(slow, d)
    got = fast._build1(d) if d else None
    if got is not None:  # None: handed to the reference (non-ASCII renderer or touch text)
        same(got, want)
    same(fast.fingerprint(d), want)
    if want is not None:
        same(fast.from_canonical(want.canonical), want)  # assemble1: the same fused steps from a canonical device


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(devices)
def test_sections1_with_the_family_text_equals_the_streamed_hash(monkeypatch, d):
    """The ``sections1`` method (family text as a str, hashed there) == build1 (the text streamed into the hash)."""
    from fraudscore.fingerprint import sections

    fast = Fingerprinter(KEYS, cache_size=0)
    fp = fast._build1(d) if d else None
    if fp is None:
        return
    c = fp.canonical
    got = fast._sections1(c.values, c.source, c.os_family, c.os_major, c.browser_family, c.browser_major,
                          sections._family_input(c))
    assert got[0] == fp.id and got[1] == fp.hardware and got[2] == fp.software and got[7] == fp.family
    assert got[4] == fp.components and type(got[4][0]) is int


def test_slots_written_in_place_are_sound():
    """The fingerprint and its canonical device built through the member slots directly: every field reads back,
    the objects stay frozen and hashable, and building and dropping many leaves no memory behind."""
    import dataclasses

    import pytest

    fast = Fingerprinter(KEYS, cache_size=0)
    dev = {"user_agent": "Mozilla/5.0 (Linux; Android 13; SM-G991B) Chrome/119.0 Mobile", "model": "SM-G991B",
           "os": "android", "os_version": "13.1", "fonts": ["Arial", "SimSun"], "webgl_renderer": "Mali-G78"}
    fp = fast._build1(dev)
    assert isinstance(fp, Fingerprint)
    for f in dataclasses.fields(fp):
        getattr(fp, f.name)
    for f in dataclasses.fields(fp.canonical):
        getattr(fp.canonical, f.name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fp.id = "x"  # type: ignore[misc]
    assert hash(fp) == hash(fast._build1(dev)) and fp == fast._build1(dev)
    assert dataclasses.replace(fp) == fp
    for _ in range(200):
        fast._build1(dev)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(3000):
        fast._build1({**dev, "model": f"m{i % 7}"})
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after - before < 64 * 1024
