"""Identifier normalisers, pseudonyms and identity features."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.errors import ConfigError
from fraudscore.identity import IDENTITY_FEATURES, Identity, identity_feature_names
from fraudscore.identity.normalize import DISPOSABLE_DOMAINS as DISPOSABLE_DOMAINS_REF
from fraudscore.identity.normalize import (
    id_checksum,
    luhn_ok,
    normalize_card,
    normalize_email,
    normalize_generic,
    normalize_ip,
    normalize_national_id,
    normalize_phone,
)
from fraudscore.keys import Keys
from fraudscore.schema import DEFAULT_SCHEMA, Field, Schema
from tests import identity_reference as ref

KEYS = Keys(b"test-secret-for-identity-000001")
IDENT = Identity(KEYS)
TS = 1_795_946_400_000  # 2026-11-29T10:00:00Z
RAW = {"applicant_id": "11010519491231002X", "phone": "+86 138 0013 8000", "email": "Li.Lei+loan@Gmail.com",
       "bank_card": "6222 0212 3456 7890 128", "ip": "203.0.113.77", "inviter_id": "440524188001010014"}


def event(**over):
    return DEFAULT_SCHEMA.validate({"application_id": "A1", "ts": TS, **RAW, **over})


def test_national_id():
    ok = normalize_national_id(" 11010519491231002x ")
    assert ok.value == "11010519491231002X" and ok.valid and ok.checksum_ok and ok.birth == (1949, 12, 31)
    assert ok.male is False
    body = "44052419800101001"
    good = body + id_checksum(body)
    assert normalize_national_id(good).valid and normalize_national_id(good).male is True
    bad_sum = body + ("0" if good[-1] != "0" else "1")
    r = normalize_national_id(bad_sum)
    assert not r.valid and not r.checksum_ok and r.birth == (1980, 1, 1)
    b2 = "99052419900101001"  # unknown province
    assert not normalize_national_id(b2 + id_checksum(b2)).valid
    b3 = "11010519900230001"  # 30 February
    r3 = normalize_national_id(b3 + id_checksum(b3))
    assert r3.checksum_ok and not r3.valid and r3.birth is None
    assert normalize_national_id("110105491231002").value == "11010519491231002X"  # legacy 15 digits


def test_phone_email_card_ip():
    assert normalize_phone("+86 138-0013-8000") == normalize_phone("008613800138000") == normalize_phone("13800138000")
    assert normalize_phone("13800138000").cn_mobile and not normalize_phone("13800138000").cn_virtual
    assert normalize_phone("17112345678").cn_virtual
    assert not normalize_phone("12012345678").valid  # no such mainland segment
    assert normalize_phone("+1 (415) 555-2671") .value == "+14155552671"
    assert normalize_email("A.B.C+x@googlemail.com").value == "abc@gmail.com"
    assert normalize_email("a.b@qq.com").value == "a.b@qq.com" and normalize_email("a.b@qq.com").valid
    assert normalize_email("x@sub.mailinator.com").disposable
    assert not normalize_email("a@@b").valid and not normalize_email("@example.com").valid
    card = normalize_card("4111-1111-1111-1111")
    assert card.valid and card.luhn_ok and card.bin6 == 411111
    assert not normalize_card("4111111111111112").luhn_ok and not normalize_card("1234").valid
    assert normalize_ip("::ffff:1.2.3.4").value == "1.2.3.4"
    assert normalize_ip("10.0.0.1").private and not normalize_ip("8.8.8.8").private
    v6 = normalize_ip("2001:db8:1:2::5")
    assert v6.valid and v6.ipv6 and v6.prefix == "2001:db8:1::/48"


@settings(deadline=None, max_examples=300)
@given(st.one_of(st.text(max_size=40), st.from_regex(r"[0-9Xx +()\-@.]{0,25}", fullmatch=True),
                 st.integers(), st.none(), st.floats(), st.booleans()))
def test_normalisers_never_raise(value):
    for fn in (normalize_national_id, normalize_phone, normalize_email, normalize_card, normalize_ip):
        r = fn(value)
        assert r.value is None or isinstance(r.value, str)
    assert normalize_generic(value) is None or isinstance(normalize_generic(value), str)
    for kind in ("national_id", "phone", "email", "bank_card", "ip", "ip_prefix", "generic"):
        p = IDENT.pseudonym(kind, value)
        assert p is None or (p.startswith("p:") and len(p) == 34)


@settings(deadline=None, max_examples=100)
@given(st.text(min_size=1, max_size=30).filter(lambda s: s.strip()))
def test_process_never_raises_and_hides_raw(value):
    ev = {"ts": TS, "applicant_id": value, "phone": value, "email": value, "bank_card": value, "ip": value,
          "inviter_id": value}
    pseudo, feats = IDENT.process(ev)
    assert set(feats) == set(IDENTITY_FEATURES)
    hexlike = all(c in "0123456789abcdef" for c in value.strip().lower())
    for p in pseudo.values():
        assert p is None or (p.startswith("p:") and len(p) == 34)
        assert p is None or hexlike or value.strip() not in p[2:]


def test_process_features_and_pseudonyms():
    pseudo, feats = IDENT.process(event())
    assert tuple(feats) == IDENTITY_FEATURES == identity_feature_names(DEFAULT_SCHEMA)
    assert set(pseudo) == set(DEFAULT_SCHEMA.identifiers) | {"ip_prefix"}
    blob = repr(pseudo)
    for raw in ("11010519491231002", "13800138000", "lilei", "6222", "203.0.113", "440524"):
        assert raw not in blob
    assert feats["applicant_id__valid"] == 1.0 and feats["applicant_id__age"] == 76.0
    assert feats["applicant_id__gender"] == 0.0
    assert feats["inviter_id__valid"] == 0.0 and feats["inviter_id__checksum_ok"] == 1.0  # born 1880: invalid
    assert feats["phone__valid"] == 1.0 and feats["phone__cn_mobile"] == 1.0
    assert feats["email__plus_tag"] == 1.0 and feats["email__disposable"] == 0.0
    assert feats["bank_card__bin6"] == 622202.0 and feats["ip__private"] == 0.0
    assert pseudo["phone"] == IDENT.pseudonym("phone", "13800138000")
    assert pseudo["email"] == IDENT.pseudonym("email", "lilei@gmail.com")
    assert pseudo["ip_prefix"] == IDENT.pseudonym("ip_prefix", "203.0.113.0/24")
    # the same person as applicant and as inviter gets the same pseudonym
    p2, _ = IDENT.process(event(inviter_id="11010519491231002x"))
    assert p2["inviter_id"] == pseudo["applicant_id"]


def test_missing_fields_and_birth_after_event():
    _, feats = IDENT.process(DEFAULT_SCHEMA.validate({"application_id": "A", "ts": TS}))
    assert all(math.isnan(v) for v in feats.values())
    body = "11010520300101001"  # born in 2030, after the event
    _, feats = IDENT.process(event(applicant_id=body + id_checksum(body)))
    assert feats["applicant_id__checksum_ok"] == 1.0 and feats["applicant_id__valid"] == 0.0
    assert math.isnan(feats["applicant_id__age"])


def test_keys_matter_and_custom_schema():
    other = Identity(Keys(b"another-secret-for-identity-02"))
    assert other.pseudonym("phone", "13800138000") != IDENT.pseudonym("phone", "13800138000")
    assert IDENT.pseudonym("phone", "13800138000") != IDENT.pseudonym("generic", "+8613800138000")
    schema = Schema((Field("id", "str", required=True), Field("at", "timestamp", required=True),
                     Field("buyer", "str", identifier="generic"), Field("addr", "str", identifier="ip")),
                    id_field="id", time_field="at")
    ident = Identity(KEYS, schema, disposable_domains=["example.org"])
    pseudo, feats = ident.process(schema.validate({"id": "1", "at": TS, "buyer": "B-7", "addr": "10.1.2.3"}))
    assert set(pseudo) == {"buyer", "addr", "ip_prefix"} and ident.feature_names == tuple(feats)
    assert feats == {"addr__valid": 1.0, "addr__private": 1.0, "addr__ipv6": 0.0}
    assert ident.normalize("email", "x@example.org") == "x@example.org"
    assert "x@example.org" not in repr(ident)
    with pytest.raises(ConfigError, match="'kind' parameter"):
        IDENT.pseudonym("passport", "E123")
    with pytest.raises(ConfigError, match="'keys' parameter of Identity"):
        Identity(b"secret")  # type: ignore[arg-type]


# -- fast paths equal the reference (original) normalisers ---------------------------------------------

_digits = st.text(alphabet="0123456789", min_size=0, max_size=20)
_id_like = st.one_of(
    _digits, st.from_regex(r"[0-9]{17}[0-9Xx]", fullmatch=True), st.from_regex(r"[0-9]{15}", fullmatch=True),
    st.from_regex(r" ?[0-9٠-٩０-９]{14,18}[Xx]? ?", fullmatch=True),
    st.from_regex(r"[1-6][0-9]0[0-9]{3}(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X]",
                  fullmatch=True),
)
_email_like = st.one_of(
    st.from_regex(r"[A-Za-z0-9.+_ -]{0,8}@[a-z0-9.-]{0,12}(\.com|\.net|\.cc)?\.?", fullmatch=True),
    st.sampled_from(["x@a.mailinator.com", "x@mailinator.com", "x@b.c.yopmail.net", "x@mailinator.com.evil.org",
                     "x@.mailinator.com", "x@x..mailinator.com", "a@gmail.com", "@", "a@", "a@b@c.d"]),
)
_ip_like = st.one_of(
    st.from_regex(r"[0-9]{0,4}\.[0-9]{0,4}\.[0-9]{0,4}\.[0-9]{0,4}", fullmatch=True),
    st.from_regex(r"[0-9a-fA-F:.%]{0,20}", fullmatch=True),
    st.sampled_from(["1.2.3", "1.2.3.4.5", "١.٢.٣.٤", "::ffff:1.2.3.4"]),
)
_any = st.one_of(st.text(max_size=24), st.integers(), st.none(), st.floats(), st.booleans())


@given(st.one_of(_id_like, _any))
def test_national_id_matches_reference(value):
    assert normalize_national_id(value) == ref.national_id(value)
    if isinstance(value, str) and len(value) >= 17:
        assert id_checksum(value[:17]) == ref.id_checksum(value[:17]) if value[:17].isdigit() else True


@given(st.one_of(_email_like, _any), st.sets(st.sampled_from(["evil.org", "a.b", "c.d", "x.mailinator.com"])))
def test_email_matches_reference(value, extra):
    domains = frozenset(DISPOSABLE_DOMAINS_REF | extra)
    assert normalize_email(value, domains) == ref.email(value, domains)


@given(st.one_of(_digits, st.from_regex(r"[0-9 -]{0,22}", fullmatch=True), _any))
def test_card_and_luhn_match_reference(value):
    assert normalize_card(value) == ref.card(value)
    if isinstance(value, str) and value.isdigit():
        assert luhn_ok(value) == ref.luhn_ok(value)


@given(st.one_of(_ip_like, _any))
def test_ip_matches_reference(value):
    assert normalize_ip(value) == ref.ip(value)


_no_nul = st.text(max_size=12).filter(lambda s: "\x00" not in s)


@given(st.lists(st.tuples(st.sampled_from(["applicant_id", "phone", "email", "bank_card", "ip", "inviter_id"]),
                          st.one_of(_id_like, _email_like, _ip_like, _no_nul)), max_size=8))
def test_process_cached_equals_uncached(pairs):
    """The per-value cache (and its hits) never changes pseudonyms or features."""
    cached, plain = Identity(KEYS, cache_size=3), Identity(KEYS, cache_size=0)
    for name, value in pairs:
        ev = event(**{name: value})
        for _ in range(2):  # a miss, then a hit
            a, b = cached.process(ev), plain.process(ev)
            assert a[0] == b[0]
            assert {k: repr(v) for k, v in a[1].items()} == {k: repr(v) for k, v in b[1].items()}
            assert list(a[1]) == list(b[1]) == list(cached.feature_names)
        assert len(cached._cache) <= 3
        if value and isinstance(value, str):
            kind = DEFAULT_SCHEMA[name].identifier
            assert a[0][name] == plain.pseudonym(kind, value)


@given(st.one_of(st.from_regex(r"(\+?86|0086)?1[3-9][0-9]{9}", fullmatch=True), _digits, _any))
def test_phone_virtual_segments_match_the_regex(value):
    from fraudscore.identity.normalize import _CN_VIRTUAL_RE

    ph = normalize_phone(value)
    assert ph.cn_virtual == (ph.cn_mobile and _CN_VIRTUAL_RE.match(ph.value) is not None)
