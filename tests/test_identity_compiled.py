"""Compiled pseudonyms (fraudscore/_core/pseudonym.c) == the hashlib reference, bit for bit."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore._core import PURE_PYTHON_ENV, load
from fraudscore.identity import Identity
from fraudscore.keys import Keys
from tests.helpers import compiled_core

core = compiled_core("pseudonym", "the compiled pseudonym module")

KEYS = Keys(b"0123456789abcdef-compiled-parity")
KINDS = ("national_id", "phone", "email", "bank_card", "ip", "ip_prefix", "generic")


def reference(kind: str, value: str) -> str:
    h = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), key=KEYS.pseudonym, digest_size=16,
                        person=kind.encode()[:16])
    return "p:" + h.hexdigest()


text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=300)


@settings(deadline=None, max_examples=200)
@given(st.sampled_from(KINDS), text)
def test_scalar_equals_hashlib(kind, value):
    h = core.Hasher(KEYS.pseudonym, kind.encode()[:16])
    assert h(value) == reference(kind, value)


@settings(deadline=None, max_examples=60)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "13800138000"]), text), max_size=40),
       st.sampled_from(["", "+86"]))
def test_many_and_digests_equal_hashlib(values, prefix):
    h = core.Hasher(KEYS.pseudonym, b"phone")
    got = h.many(values, prefix)
    assert got == [None if v is None else reference("phone", prefix + v) for v in values]
    dig, ok = h.digests(values)
    for i, v in enumerate(values):
        assert ok[i] == (v is not None)
        want = bytes(16) if v is None else bytes.fromhex(reference("phone", v)[2:])
        assert dig[16 * i:16 * i + 16] == want


@pytest.mark.parametrize("key_len", [1, 16, 32, 64])
def test_block_boundaries_and_key_lengths_equal_hashlib(key_len):
    """The key block is compressed once per key (round 9): values of 0..300 bytes, keys of 1..64 bytes."""
    key = bytes(range(1, key_len + 1))
    h = core.Hasher(key, b"phone")
    for n in (0, 1, 2, 63, 64, 127, 128, 129, 191, 255, 256, 257, 300):
        value = "".join(chr(0x61 + i % 26) for i in range(n))
        want = "p:" + hashlib.blake2b(value.encode(), key=key, digest_size=16, person=b"phone").hexdigest()
        assert h(value) == want, n
        assert h.many([value, "", value]) == [want, h(""), want]


def test_bad_arguments():
    with pytest.raises(ValueError):
        core.Hasher(b"", b"x")
    with pytest.raises(ValueError):
        core.Hasher(b"k" * 65, b"x")
    h = core.Hasher(KEYS.pseudonym, b"x")
    with pytest.raises(TypeError):
        h.many([1])
    with pytest.raises(TypeError):
        h(b"bytes")


identifiers = st.fixed_dictionaries({
    "applicant_id": st.one_of(st.none(), st.sampled_from(["11010519491231002X", "110105491231002", "not an id", ""]),
                              text),
    "phone": st.one_of(st.none(), st.sampled_from(["13800138000", "+86 170 1234 5678", "+44 20 7946 0958"]), text),
    "email": st.one_of(st.none(), st.sampled_from(["A.B+x@gmail.com", "x@mailinator.com"]), text),
    "bank_card": st.one_of(st.none(), st.sampled_from(["4111 1111 1111 1111", "6222020000000000"]), text),
    "ip": st.one_of(st.none(), st.sampled_from(["1.2.3.4", "2001:db8::1", "999.1.1.1"]), text),
})


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(identifiers, min_size=1, max_size=12))
def test_identity_compiled_equals_reference(monkeypatch, rows):
    fast = Identity(KEYS)
    monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    slow = Identity(KEYS)
    monkeypatch.delenv(PURE_PYTHON_ENV)
    assert fast._hex["phone"] is not slow._hex["phone"]
    ts = 1_795_946_400_000
    for r in rows:
        ev = {**r, "ts": ts}
        assert fast.process(ev) == slow.process(ev) or _nan_equal(fast.process(ev), slow.process(ev))
    cols = {k: np.array([r[k] for r in rows], dtype=object) for k in rows[0]}
    tsa = np.full(len(rows), ts, dtype=np.int64)
    pf, ff = fast.process_columns(cols, tsa)
    ps, fs_ = slow.process_columns(cols, tsa)
    assert {k: v.tolist() for k, v in pf.items()} == {k: v.tolist() for k, v in ps.items()}
    np.testing.assert_array_equal(ff, fs_)


def _nan_equal(a, b):
    (pa, fa), (pb, fb) = a, b
    return pa == pb and fa.keys() == fb.keys() and all(
        (x != x and y != y) or x == y for x, y in ((fa[k], fb[k]) for k in fa))


# -- round 12: the one-shot digest and its two compressions (blake2b_fast.h) ------------------------------------
SIMD_MODES = [0, 1]  # scalar, AVX2 (where the machine has it: _set_simd says which one runs)


@pytest.fixture(params=SIMD_MODES, ids=["scalar", "avx2"])
def simd(request):
    """Both compressions in both modules that include pseudonym.h; the machine's choice restored after."""
    ident = load("identity")
    modes = [core._set_simd(request.param)]
    if ident is not None:
        modes.append(ident._set_simd(request.param))
    if request.param == 1 and modes[0] != 1:
        pytest.skip("this machine has no AVX2")
    yield request.param
    core._set_simd(-1)
    if ident is not None:
        ident._set_simd(-1)


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(KINDS), st.binary(max_size=700), st.binary(min_size=1, max_size=64))
def test_one_shot_digest_equals_hashlib(simd, kind, raw, key):
    """Any length (multi-block values too), any key: both compressions == hashlib, bit for bit."""
    value = raw.decode("latin-1")
    h = core.Hasher(key, kind.encode()[:16])
    want = hashlib.blake2b(value.encode("utf-8"), key=key, digest_size=16, person=kind.encode()[:16]).hexdigest()
    assert h(value) == "p:" + want


@pytest.mark.parametrize("n", [0, 1, 127, 128, 129, 255, 256, 257, 384, 385])
def test_one_shot_block_edges(simd, n):
    key = b"k" * 64
    value = "x" * n
    want = hashlib.blake2b(value.encode(), key=key, digest_size=16, person=b"email").hexdigest()
    assert core.Hasher(key, b"email")(value) == "p:" + want


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(identifiers, min_size=1, max_size=6))
def test_identity_kernel_both_compressions(simd, monkeypatch, rows):
    """The identity kernel (identity.c) hashes through the same header: == the pure reference, both compressions."""
    test_identity_compiled_equals_reference.hypothesis.inner_test(monkeypatch, rows)


def test_set_simd_rejects_non_int():
    with pytest.raises(TypeError):
        core._set_simd("avx2")
