"""Identifier normalisers, pseudonyms and identity features."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.errors import ConfigError
from fraudscore.identity import IDENTITY_FEATURES, Identity, identity_feature_names
from fraudscore.identity.normalize import (
    id_checksum,
    normalize_card,
    normalize_email,
    normalize_generic,
    normalize_ip,
    normalize_national_id,
    normalize_phone,
)
from fraudscore.keys import Keys
from fraudscore.schema import DEFAULT_SCHEMA, Field, Schema

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
