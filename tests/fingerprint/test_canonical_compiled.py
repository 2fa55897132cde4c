"""The compiled attribute loop of canonicalize (fraudscore/_core/fingerprint_canonical.c) == the Python loop, bit for bit."""

from __future__ import annotations


from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.fingerprint import canonical
from fraudscore.fingerprint.canonical import ATTRIBUTE_NAMES, canonicalize
from tests.helpers import compiled_core

core = compiled_core("fingerprint", "the compiled fingerprint module")

text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=30)
names = st.one_of(st.sampled_from(list(ATTRIBUTE_NAMES) + ["User-Agent", " OS ", "Screen", "TimeZone", "webdriver",
                                                           "x", "", "os_version "]), text, st.integers(0, 3))
values = st.one_of(st.none(), text, st.sampled_from(["android", "iOS", "13.0.0", "5.2.1", "1080x2400", "1080 X 2400",
                                                     "Xiaomi", "true", "0", "zh-CN;q=0.9", ""]),
                   st.integers(-5, 10**6), st.booleans(), st.floats(allow_nan=True),
                   st.lists(st.one_of(st.sampled_from(["en", "zh-CN", "Arial"]), text, st.integers()), max_size=4),
                   st.tuples(st.text(max_size=3)))


def reference(device):
    real = canonical._CORE
    try:
        canonical._CORE = None
        return canonicalize(device)
    finally:
        canonical._CORE = real


def test_the_compiled_loop_is_in_use():
    assert canonical._CORE is core


@settings(deadline=None, max_examples=300)
@given(st.dictionaries(names, values, max_size=10), st.booleans())
def test_canonicalize_equals_reference(device, cold):
    if cold:  # memo misses: the compiled loop calls back into the reference for them
        canonical._BUDGET.clear()
    got = canonicalize(device)
    want = reference(device)
    assert got == want
    assert canonicalize(device) == want  # and again, now from the memos


def test_synthetic_devices():
    from fraudscore.bench.bundles import events_stream

    canonical._BUDGET.clear()
    for d in events_stream(300, seed=9).columns["device"].tolist():
        if d:
            assert canonicalize(d) == reference(d)
