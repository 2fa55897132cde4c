"""Compiled sectioned hashing (fraudscore/_core/fingerprint.c) == the xxhash reference, bit for bit."""

from __future__ import annotations

import os

import pytest
import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore._core import PURE_PYTHON_ENV, load
from fraudscore.fingerprint import Fingerprinter
from fraudscore.fingerprint.canonical import ATTRIBUTE_NAMES
from fraudscore.fingerprint.sections import _C_PLAN, _MASK48
from fraudscore.keys import Keys

core = load("fingerprint")
if core is None:  # pragma: no cover - only without the extension
    if os.environ.get("CI") and not os.environ.get(PURE_PYTHON_ENV):
        raise RuntimeError("the compiled fingerprint module must be built in CI")
    pytest.skip("the compiled fingerprint module is not built", allow_module_level=True)

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
