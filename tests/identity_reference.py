"""The original (pre-optimisation) identifier normalisers: the reference the fast paths must equal."""

from __future__ import annotations

import ipaddress
import unicodedata
from typing import Any

from fraudscore.identity.normalize import (
    _EMAIL_DOMAIN_RE, _EMAIL_LOCAL_RE, _GMAIL, _ID15_RE, _ID18_RE, _ID_CHECK, _ID_WEIGHTS, _PHONE_JUNK,
    CN_PROVINCE_CODES, DISPOSABLE_DOMAINS, Card, Email, Ip, NationalId, _birth,
)


def clean(value: Any) -> str:
    if not isinstance(value, str):
        if value is None or isinstance(value, bool):
            return ""
        if isinstance(value, int):
            value = str(value)
        else:
            return ""
    # invisible format characters (category Cf) never count, before and after NFKC
    value = "".join(c for c in value if unicodedata.category(c) != "Cf")
    value = unicodedata.normalize("NFKC", value)
    value = "".join(c for c in value if unicodedata.category(c) != "Cf")
    return value.strip()


def id_checksum(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def national_id(value: Any) -> NationalId:
    s = clean(value).upper().replace(" ", "")
    if not s:
        return NationalId(None, False, False, None, None)
    if _ID15_RE.match(s):
        body = s[:6] + "19" + s[6:]
        s = body + id_checksum(body)
    if not _ID18_RE.match(s):
        return NationalId(s[:64], False, False, None, None)
    checksum_ok = id_checksum(s[:17]) == s[17]
    birth = _birth(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    region_ok = int(s[:2]) in CN_PROVINCE_CODES
    male = int(s[16]) % 2 == 1
    return NationalId(s, checksum_ok and birth is not None and region_ok, checksum_ok, birth, male)


def email(value: Any, disposable_domains: frozenset[str] = DISPOSABLE_DOMAINS) -> Email:
    s = clean(value).lower().replace(" ", "")
    if not s:
        return Email(None, False, False, False)
    local, at, domain = s.rpartition("@")
    if not at or not local:
        return Email(s[:254], False, False, False)
    plus = "+" in local
    if plus:
        local = local.split("+", 1)[0]
    domain = domain.rstrip(".")
    if domain in _GMAIL:
        local = local.replace(".", "")
        domain = "gmail.com"
    valid = bool(local) and _EMAIL_LOCAL_RE.match(local) is not None and _EMAIL_DOMAIN_RE.match(domain) is not None
    disposable = domain in disposable_domains or any(
        domain.endswith("." + d) for d in disposable_domains if domain.count(".") > 1
    )
    return Email(f"{local}@{domain}"[:254], valid, disposable, plus)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card(value: Any) -> Card:
    s = clean(value).replace(" ", "").replace("-", "")
    if not s:
        return Card(None, False, False, None)
    if not (s.isdigit() and s.isascii()):
        return Card(s[:32], False, False, None)
    ok_len = 12 <= len(s) <= 19
    luhn = ok_len and luhn_ok(s)
    return Card(s[:32], ok_len, luhn, int(s[:6]) if len(s) >= 6 else None)


def ip(value: Any) -> Ip:
    s = clean(value)
    if not s:
        return Ip(None, None, False, False, False)
    parts = s.split(".")
    if len(parts) == 4 and all(p.isdigit() and p.isascii() and len(p) <= 3 for p in parts):
        octets = [int(p) for p in parts]
        if all(o <= 255 for o in octets):
            a, b = octets[0], octets[1]
            private = a in (10, 127, 0) or (a == 172 and 16 <= b <= 31) or (a == 192 and b == 168) or (
                a == 169 and b == 254) or (a == 100 and 64 <= b <= 127) or a >= 224
            return Ip(".".join(map(str, octets)), f"{a}.{b}.{octets[2]}.0/24", True, private, False)
        return Ip(s[:64], None, False, False, False)
    try:
        addr = ipaddress.ip_address(s.split("%", 1)[0])
    except ValueError:
        return Ip(s[:64].lower(), None, False, False, False)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return ip(str(addr.ipv4_mapped))
    net = ipaddress.ip_network(f"{addr}/48", strict=False) if addr.version == 6 else ipaddress.ip_network(
        f"{addr}/24", strict=False)
    return Ip(str(addr), str(net), True, not addr.is_global, addr.version == 6)


__all__ = ["clean", "id_checksum", "national_id", "email", "luhn_ok", "card", "ip", "_PHONE_JUNK"]
