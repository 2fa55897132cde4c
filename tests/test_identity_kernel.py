"""Compiled identifier normalisation + pseudonyms (fraudscore/_core/identity.c) == the Python describers, bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.identity import Identity
from fraudscore.identity.columns import process_columns
from fraudscore.keys import Keys
from fraudscore.schema import DEFAULT_SCHEMA
from tests.helpers import compiled_core

core = compiled_core("identity", "the compiled identity module")

KEYS = Keys(b"0123456789abcdef-identity-kernel")
KINDS = ("national_id", "phone", "email", "bank_card", "ip", "generic", "device_id")
IDENT = Identity(KEYS, disposable_domains=["corp-temp.cn"])
DESCRIBERS = {"national_id": IDENT._nid, "phone": IDENT._phone, "email": IDENT._email, "bank_card": IDENT._card,
              "ip": IDENT._ip, "generic": IDENT._generic, "device_id": IDENT._device_id}
CODE = {k: i for i, k in enumerate(KINDS)}


def same(a, b) -> bool:
    """Equal, with NaN equal to NaN (floats compared by value and type)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def check(kind: str, value) -> bool:
    """Compare one value; True when the kernel took it (False: it handed it to the reference)."""
    got = IDENT._kernel.describe(CODE[kind], value)
    if got is None:
        return False
    want = DESCRIBERS[kind](value)
    assert same(got, want), (kind, value, got, want)
    return True


# characters each normaliser cares about, plus a few it must hand over (tab, NUL, non-ASCII, full-width)
TRICKY = "0123456789Xx +-().\t/@_!#$%&'*=?^`{|}~abcxyzGMAILgmilco\u3000\uff11\x00\x7f\x1f\n"
tricky = st.text(st.sampled_from(TRICKY), max_size=40)
printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
national = st.builds(lambda body, x, sp: sp + body + x + sp, st.text("0123456789", min_size=14, max_size=17),
                     st.sampled_from(["", "X", "x", "1", "9"]), st.sampled_from(["", " ", "  "]))
phones = st.builds(lambda pre, d: pre + d, st.sampled_from(["", "+86", "0086", "86", "+44 ", "+", "00", "(+86) "]),
                   st.text("0123456789- ", min_size=0, max_size=16))
emails = st.builds(lambda a, b, c: f"{a}@{b}{c}", st.text("abcXY.+-_09", max_size=12),
                   st.sampled_from(["gmail.com", "GoogleMail.com", "mailinator.com", "x.mailinator.com", "qq.com",
                                    "a-b.cn", "-ab.cn", "x.corp-temp.cn", "c0m", "a..b.com", "b.c1", "x.co."]),
                   st.sampled_from(["", ".", " ", "@x"]))
ips = st.builds(lambda parts: ".".join(parts), st.lists(st.text("0123456789", min_size=0, max_size=4), min_size=1,
                                                         max_size=5))


@settings(deadline=None, max_examples=300)
@given(st.sampled_from(KINDS), st.one_of(tricky, printable, national, phones, emails, ips))
def test_describe_equals_reference(kind, value):
    check(kind, value)


@settings(deadline=None, max_examples=150)
@given(national)
def test_national_ids(value):
    assert check("national_id", value)


@settings(deadline=None, max_examples=150)
@given(phones)
def test_phones(value):
    assert check("phone", value)


@settings(deadline=None, max_examples=150)
@given(emails)
def test_emails(value):
    assert check("email", value)


@settings(deadline=None, max_examples=150)
@given(ips)
def test_ips(value):
    check("ip", value)


def test_fast_path_covers_printable_ascii_and_hands_over_the_rest():
    examples = {"national_id": ["11010519491231002x", "110105491231002", "not an id", " 1101 0519 4912 3100 2X "],
                "phone": ["138 0013 8000", "0086-170-1234-5678", "+44 20 7946 0958", "call me", "+8612345678901"],
                "email": [" John.Smith+promo@GoogleMail.com ", "x@sub.mailinator.com", "no-at-sign", "@x.com"],
                "bank_card": ["4111 1111 1111 1111", "6222-0200-0000-0000", "12345", "abc"],
                "ip": ["192.168.001.020", "999.1.1.1", "8.8.8.8", "1.2.3"],
                "generic": ["  ABC1 ", "x"], "device_id": [" dev-1 "]}
    for kind, values in examples.items():
        for v in values:
            assert check(kind, v) or (kind == "ip" and v == "1.2.3"), (kind, v)
    for kind in KINDS:  # off the fast path: the reference decides
        for v in ("\uff11\uff13\uff18", "a\tb", "a\x00", 12345, "x" * 600):
            assert IDENT._kernel.describe(CODE[kind], v) is None
    assert IDENT._kernel.describe(CODE["ip"], "2001:db8::1") is None


@settings(deadline=None, max_examples=60)
@given(st.lists(st.fixed_dictionaries({}, optional={
    "applicant_id": st.one_of(national, tricky), "phone": st.one_of(phones, tricky), "email": emails,
    "bank_card": st.one_of(st.text("0123456789 -", max_size=20), tricky), "ip": st.one_of(ips, tricky),
    "inviter_id": national}), min_size=1, max_size=12),
    st.integers(1_600_000_000_000, 1_900_000_000_000))
def test_process_and_columns_equal_the_reference(events, ts):
    """Identity.process and process_columns with the kernel == without it (the pure-Python describers)."""
    ref = Identity(KEYS, disposable_domains=["corp-temp.cn"])
    ref._kernel = None
    comp = IDENT
    for ev in events:
        ev = {**ev, "ts": ts}
        p1, f1 = comp.process(ev)
        p2, f2 = ref.process(ev)
        assert p1 == p2
        assert same(tuple(f1[n] for n in comp.feature_names), tuple(f2[n] for n in ref.feature_names))
    cols = {name: np.array([ev.get(name) for ev in events], dtype=object) for name in DEFAULT_SCHEMA.identifiers}
    tsa = np.full(len(events), ts, dtype=np.int64)
    pc, fc = process_columns(comp, cols, tsa)
    pr, fr = process_columns(ref, cols, tsa)
    assert {k: v.tolist() for k, v in pc.items()} == {k: v.tolist() for k, v in pr.items()}
    assert np.array_equal(fc, fr, equal_nan=True)
    for i, ev in enumerate(events):  # batch == online
        p, f = comp.process({**ev, "ts": ts})
        assert [pc[k][i] for k in p] == list(p.values())
        assert np.array_equal(fc[i], np.array([f[n] for n in comp.feature_names]), equal_nan=True)


def test_process_edges_equal_the_reference():
    """Mappings that are not dicts, ages across the calendar's range, numpy times, non-str values."""
    from types import MappingProxyType

    ref = Identity(KEYS, disposable_domains=["corp-temp.cn"])
    ref._kernel = None
    base = {"applicant_id": "11010519491231002X", "ip": "1.2.3.4", "phone": 13800138000, "email": np.str_(""),
            "bank_card": "\uff14111111111111111"}
    for ts in (0, -86_400_001, 1_795_946_400_000, np.int64(1_795_946_400_000), 253_402_300_799_999, None, "x"):
        for ev in ({**base, "ts": ts}, MappingProxyType({**base, "ts": ts})):
            p1, f1 = IDENT.process(ev)
            p2, f2 = ref.process(ev)
            assert p1 == p2 and same(tuple(f1.items()), tuple(f2.items()))
    with pytest.raises((OverflowError, ValueError)):
        ref.process({**base, "ts": 10**17})
    with pytest.raises((OverflowError, ValueError)):
        IDENT.process({**base, "ts": 10**17})


def test_province_codes_are_the_reference():
    from fraudscore.identity.normalize import CN_PROVINCE_CODES

    assert core.PROVINCES == CN_PROVINCE_CODES


@settings(deadline=None, max_examples=80)
@given(st.sampled_from(KINDS), st.lists(st.one_of(tricky, printable, national, phones, emails, ips, st.none(),
                                                  st.integers(), st.just("")), max_size=20, unique_by=repr))
def test_describe_columns_equals_describe(kind, values):
    """The batch kernel (arrays filled in C) == describe() of each value; off the fast path: done 0, None."""
    m = len(values)
    width = 4
    feats = np.zeros((m, width))
    birth = np.full((m, 3), -1, dtype=np.int64)
    done = np.zeros(m, dtype=np.uint8)
    ps, ex = IDENT._kernel.describe_columns(CODE[kind], values, feats, birth, done)
    assert len(ps) == len(ex) == m
    for i, v in enumerate(values):
        want = IDENT._kernel.describe(CODE[kind], v) if isinstance(v, str) and v else None
        if want is None:
            assert (done[i], ps[i], ex[i]) == (0, None, None)
            assert not feats[i].any() and (birth[i] == -1).all()
            continue
        p, fv, extra = want
        assert done[i] == 1 and ps[i] == p and same(ex[i], extra)
        assert same(tuple(feats[i, : len(fv)].tolist()), tuple(float(x) for x in fv))
        assert not feats[i, len(fv):].any()
        if kind == "national_id" and extra is not None:
            assert tuple(birth[i].tolist()) == extra
        else:
            assert (birth[i] == -1).all()


def test_describe_columns_checks_its_arrays():
    k = IDENT._kernel
    with pytest.raises(ValueError):
        k.describe_columns(0, ["x"], np.zeros((1, 3), dtype=np.float32), np.full((1, 3), -1), np.zeros(1, np.uint8))
    with pytest.raises(ValueError):
        k.describe_columns(0, ["x"], np.zeros((1, 3)), np.full((1, 3), -1.0), np.zeros(1, np.uint8))
    with pytest.raises(ValueError):
        k.describe_columns(0, ["11010519491231002X"], np.zeros((1, 2)), np.full((1, 3), -1), np.zeros(1, np.uint8))
    with pytest.raises(ValueError):
        k.describe_columns(99, ["x"], np.zeros((1, 3)), np.full((1, 3), -1), np.zeros(1, np.uint8))
    with pytest.raises(ValueError):  # birth must be (m, 3), done m bytes
        k.describe_columns(0, ["x"], np.zeros((1, 3)), np.full((1, 4), -1), np.zeros(1, np.uint8))
    with pytest.raises(ValueError):
        k.describe_columns(0, ["x"], np.zeros((1, 3)), np.full((1, 3), -1), np.zeros(2, np.uint8))
    with pytest.raises((TypeError, BufferError, ValueError)):
        k.describe_columns(0, ["x"], np.zeros((2, 3))[:, :2], np.full((1, 3), -1), np.zeros(1, np.uint8))
    assert k.describe_columns(0, [], np.zeros((0, 3)), np.full((0, 3), -1), np.zeros(0, np.uint8)) == ([], [])
