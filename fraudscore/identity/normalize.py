"""Normalisers for personal identifiers: never raise, report validity as data.

Each normaliser takes *any* value (a string from a validated event, usually)
and returns a small named tuple: the canonical form (``None`` when nothing is
left after cleaning) plus validity flags. Invalid values are not errors:
synthetic identities often fail checksums, so a failed checksum is a feature.

Examples
--------
>>> normalize_national_id("11010519491231002x")
NationalId(value='11010519491231002X', valid=True, checksum_ok=True, birth=(1949, 12, 31), male=False)
>>> normalize_phone("138 0013 8000")
Phone(value='+8613800138000', valid=True, cn_mobile=True, cn_virtual=False)
>>> normalize_email(" John.Smith+promo@GoogleMail.com ")
Email(value='johnsmith@gmail.com', valid=True, disposable=False, plus_tag=True)
>>> normalize_card("4111 1111 1111 1111")
Card(value='4111111111111111', valid=True, luhn_ok=True, bin6=411111)
>>> normalize_ip("192.168.001.020")
Ip(value='192.168.1.20', prefix='192.168.1.0/24', valid=True, private=True, ipv6=False)
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from operator import mul as _mul
import re
import unicodedata
from typing import Any, NamedTuple

__all__ = [
    "NationalId",
    "Phone",
    "Email",
    "Card",
    "Ip",
    "normalize_national_id",
    "normalize_phone",
    "normalize_email",
    "normalize_card",
    "normalize_ip",
    "normalize_generic",
    "DISPOSABLE_DOMAINS",
    "CN_PROVINCE_CODES",
]

#: First two digits of a valid resident ID number (GB/T 2260 province level;
#: 71 Taiwan, 81 Hong Kong, 82 Macau, 83 residence permits for Taiwan residents).
CN_PROVINCE_CODES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
     50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_BIAS = 48 * sum(_ID_WEIGHTS)  # ASCII '0' times the weights: bytes -> digit values
_ID18_RE = re.compile(r"^\d{17}[\dX]$")
_ID15_RE = re.compile(r"^\d{15}$")

#: Mainland China mobile number segments (MIIT allocations up to 2024).
_CN_MOBILE_RE = re.compile(r"^\+861(?:3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9[0-35-9])\d{8}$")
#: Mobile virtual network operator segments (over-represented among fraud).
_CN_VIRTUAL_RE = re.compile(r"^\+861(?:70|71|62|65|67)\d{8}$")
_CN_VIRTUAL_SEGMENTS = frozenset({"70", "71", "62", "65", "67"})  # the same, given a mobile number
_PHONE_JUNK = str.maketrans("", "", " -().\t/")
_LUHN2 = bytes(256)[:48] + bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)) + bytes(198)  # ASCII digit -> doubled digit sum

#: A small built-in list of disposable / temporary e-mail domains; extend it
#: with ``Identity(..., disposable_domains=...)``. Subdomains match too.
DISPOSABLE_DOMAINS = frozenset(
    {
        "mailinator.com", "10minutemail.com", "guerrillamail.com", "guerrillamail.net", "sharklasers.com",
        "yopmail.com", "yopmail.net", "temp-mail.org", "tempmail.com", "tempmail.net", "trashmail.com",
        "getnada.com", "dispostable.com", "maildrop.cc", "throwawaymail.com", "fakeinbox.com",
        "mohmal.com", "emailondeck.com", "burnermail.io", "mintemail.com", "spamgourmet.com", "moakt.com",
        "mailnesia.com", "mytemp.email", "tempail.com", "linshiyouxiang.net", "chacuo.net", "bccto.me",
        "027168.com", "snapmail.cc", "emailfake.com", "tmpmail.org", "tmail.ws", "mail.tm", "inboxkitten.com",
    }
)
_GMAIL = frozenset({"gmail.com", "googlemail.com"})
_EMAIL_LOCAL_RE = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_EMAIL_DOMAIN_RE = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class NationalId(NamedTuple):
    """A normalised Chinese resident ID number (18 characters)."""

    value: str | None
    valid: bool
    checksum_ok: bool
    birth: tuple[int, int, int] | None
    male: bool | None


class Phone(NamedTuple):
    """A normalised phone number (E.164 when possible)."""

    value: str | None
    valid: bool
    cn_mobile: bool
    cn_virtual: bool


class Email(NamedTuple):
    """A normalised e-mail address."""

    value: str | None
    valid: bool
    disposable: bool
    plus_tag: bool


class Card(NamedTuple):
    """A normalised bank card number."""

    value: str | None
    valid: bool
    luhn_ok: bool
    bin6: int | None


class Ip(NamedTuple):
    """A normalised IP address and its /24 (IPv4) or /48 (IPv6) network."""

    value: str | None
    prefix: str | None
    valid: bool
    private: bool
    ipv6: bool


def _drop_invisible(s: str) -> str:
    """``s`` without format characters (Unicode category Cf: zero-width, bidi marks, BOM, soft hyphen...)."""
    category = unicodedata.category
    return "".join(ch for ch in s if category(ch) != "Cf")


def _clean(value: Any) -> str:
    """The text of an identifier before its kind's rules: stripped, and for non-ASCII text invisible
    (Cf) characters removed and NFKC applied (full-width digits and letters become ASCII).

    Examples
    --------
    >>> _clean(" 138\u200b0013\u20628000\ufeff "), _clean("\uff11\uff13\uff18"), _clean("a\u00adb\u202ec")
    ('13800138000', '138', 'abc')
    """
    if type(value) is str and value.isascii():
        return value.strip()
    if not isinstance(value, str):
        if value is None or isinstance(value, bool):
            return ""
        if isinstance(value, int):
            value = str(value)
        else:
            return ""
    if not value.isascii():
        value = unicodedata.normalize("NFKC", _drop_invisible(value))
        if not value.isascii():  # NFKC can compose new format characters only in theory; be sure
            value = _drop_invisible(value)
    return value.strip()


def id_checksum(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits.

    Examples
    --------
    >>> id_checksum("11010519491231002")
    'X'
    """
    if len(first17) == 17 and first17.isascii() and first17.isdigit():
        return _ID_CHECK[(sum(map(_mul, first17.encode(), _ID_WEIGHTS)) - _ID_BIAS) % 11]
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def _birth(y: int, m: int, d: int) -> tuple[int, int, int] | None:
    if y < 1900 or y > 2199:
        return None
    try:
        _dt.date(y, m, d)
    except ValueError:
        return None
    return (y, m, d)


def normalize_national_id(value: Any) -> NationalId:
    """Normalise a Chinese resident ID number; 15-digit legacy numbers are upgraded.

    ``valid`` means: 18 characters, correct MOD 11-2 checksum, an existing
    birth date from 1900 on and a known province code. The event-time check
    (birth date not in the future) is done by :class:`~fraudscore.identity.Identity`.

    Examples
    --------
    >>> normalize_national_id("110105194912310021").checksum_ok
    False
    >>> normalize_national_id("110105491231002").value   # 15-digit legacy form
    '11010519491231002X'
    >>> normalize_national_id("not an id")
    NationalId(value='NOTANID', valid=False, checksum_ok=False, birth=None, male=None)
    """
    return NationalId(*_national_id_parts(value))


def _national_id_parts(value: Any) -> tuple[Any, ...]:
    """The fields of :func:`normalize_national_id` as a plain tuple (no named-tuple construction)."""
    s = _clean(value).upper().replace(" ", "")
    if not s:
        return (None, False, False, None, None)
    if s.isascii():  # string tests, exactly the regexes' meaning for ASCII text
        if len(s) == 15 and s.isdigit():
            body = s[:6] + "19" + s[6:]
            s = body + id_checksum(body)
        elif len(s) != 18 or not s[:17].isdigit() or not (s[17].isdigit() or s[17] == "X"):
            return (s[:64], False, False, None, None)
    else:
        if _ID15_RE.match(s):
            body = s[:6] + "19" + s[6:]
            s = body + id_checksum(body)
        if not _ID18_RE.match(s):
            return (s[:64], False, False, None, None)
    checksum_ok = id_checksum(s[:17]) == s[17]
    birth = _birth(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    region_ok = int(s[:2]) in CN_PROVINCE_CODES
    male = int(s[16]) % 2 == 1
    return (s, checksum_ok and birth is not None and region_ok, checksum_ok, birth, male)


def normalize_phone(value: Any, default_country: str = "86") -> Phone:
    """Normalise a phone number to E.164 (``+<country><number>``).

    Numbers without a country code are taken as Chinese when they look like
    a mainland mobile number (11 digits starting with 1); other numbers
    without a country code keep their digits and are marked invalid.

    Examples
    --------
    >>> normalize_phone("0086-170-1234-5678")
    Phone(value='+8617012345678', valid=True, cn_mobile=True, cn_virtual=True)
    >>> normalize_phone("+44 20 7946 0958")
    Phone(value='+442079460958', valid=True, cn_mobile=False, cn_virtual=False)
    >>> normalize_phone("call me").valid
    False
    """
    return Phone(*_phone_parts(value, default_country))


def _phone_parts(value: Any, default_country: str = "86") -> tuple[Any, ...]:
    """The fields of :func:`normalize_phone` as a plain tuple (no named-tuple construction)."""
    s = _clean(value).translate(_PHONE_JUNK)
    if not s:
        return (None, False, False, False)
    if s.startswith("00"):
        s = "+" + s[2:]
    if s.startswith("+"):
        digits = s[1:]
        if not digits.isdigit() or not digits.isascii():
            return (s[:32], False, False, False)
        e164 = "+" + digits
    elif s.isdigit() and s.isascii():
        if len(s) == 11 and s[0] == "1" and default_country == "86":
            e164 = "+86" + s
        elif len(s) == 13 and s.startswith("861"):
            e164 = "+" + s
        else:
            return (s[:32], False, False, False)
    else:
        return (s[:32], False, False, False)
    valid = 8 <= len(e164) - 1 <= 15 and e164[1] != "0"
    if e164.startswith("+86") and valid:
        cn_mobile = _CN_MOBILE_RE.match(e164) is not None
        if e164[3] == "1" and not cn_mobile:
            valid = False  # an impossible mainland mobile number
        # after the mobile pattern matched, the virtual one is a test of the 2-digit segment
        return (e164, valid, cn_mobile, cn_mobile and e164[4:6] in _CN_VIRTUAL_SEGMENTS)
    return (e164[:32], valid, False, False)


def normalize_email(value: Any, disposable_domains: frozenset[str] = DISPOSABLE_DOMAINS) -> Email:
    """Normalise an e-mail address: lower case, ``+tag`` removed, Gmail dots removed.

    Examples
    --------
    >>> normalize_email("x@mailinator.com").disposable
    True
    >>> normalize_email("no-at-sign")
    Email(value='no-at-sign', valid=False, disposable=False, plus_tag=False)
    """
    return Email(*_email_parts(value, disposable_domains))


def _email_parts(value: Any, disposable_domains: frozenset[str] = DISPOSABLE_DOMAINS) -> tuple[Any, ...]:
    """The fields of :func:`normalize_email` as a plain tuple (no named-tuple construction)."""
    s = _clean(value).lower().replace(" ", "")
    if not s:
        return (None, False, False, False)
    local, at, domain = s.rpartition("@")
    if not at or not local:
        return (s[:254], False, False, False)
    plus = "+" in local
    if plus:
        local = local.split("+", 1)[0]
    domain = domain.rstrip(".")
    if domain in _GMAIL:
        local = local.replace(".", "")
        domain = "gmail.com"
    valid = bool(local) and _EMAIL_LOCAL_RE.match(local) is not None and _EMAIL_DOMAIN_RE.match(domain) is not None
    disposable = domain in disposable_domains or (domain.count(".") > 1 and _parent_in(domain, disposable_domains))
    return (f"{local}@{domain}"[:254], valid, disposable, plus)


def _parent_in(domain: str, domains: frozenset[str]) -> bool:
    """Whether ``domain`` ends with ``"." + d`` for some ``d`` in ``domains``."""
    i = domain.find(".")
    while i >= 0:
        if domain[i + 1:] in domains:
            return True
        i = domain.find(".", i + 1)
    return False


def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) check of a digit string.

    Examples
    --------
    >>> luhn_ok("79927398713"), luhn_ok("79927398710")
    (True, False)
    """
    if digits.isascii() and digits.isdigit():
        b = digits[::-1].encode()
        odd = b[0::2]
        return (sum(odd) - 48 * len(odd) + sum(map(_LUHN2.__getitem__, b[1::2]))) % 10 == 0
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def normalize_card(value: Any) -> Card:
    """Normalise a bank card number (digits only, 12 to 19 of them).

    Examples
    --------
    >>> normalize_card("6222-0200-0000-0000")
    Card(value='6222020000000000', valid=True, luhn_ok=False, bin6=622202)
    """
    return Card(*_card_parts(value))


def _card_parts(value: Any) -> tuple[Any, ...]:
    """The fields of :func:`normalize_card` as a plain tuple (no named-tuple construction)."""
    s = _clean(value).replace(" ", "").replace("-", "")
    if not s:
        return (None, False, False, None)
    if not (s.isdigit() and s.isascii()):
        return (s[:32], False, False, None)
    ok_len = 12 <= len(s) <= 19
    luhn = ok_len and luhn_ok(s)
    return (s[:32], ok_len, luhn, int(s[:6]) if len(s) >= 6 else None)


def normalize_ip(value: Any) -> Ip:
    """Normalise an IPv4 or IPv6 address; the prefix is its /24 or /48 network.

    Examples
    --------
    >>> normalize_ip("2001:DB8::1").prefix
    '2001:db8::/48'
    >>> normalize_ip("999.1.1.1").valid
    False
    """
    return Ip(*_ip_parts(value))


def _ip_parts(value: Any) -> tuple[Any, ...]:
    """The fields of :func:`normalize_ip` as a plain tuple (no named-tuple construction)."""
    s = _clean(value)
    if not s:
        return (None, None, False, False, False)
    parts = s.split(".")
    if len(parts) == 4 and s.isascii() and s.replace(".", "").isdigit() and all(0 < len(p) <= 3 for p in parts):
        a, b, c, d = map(int, parts)
        if a <= 255 and b <= 255 and c <= 255 and d <= 255:
            private = a in (10, 127, 0) or (a == 172 and 16 <= b <= 31) or (a == 192 and b == 168) or (
                a == 169 and b == 254) or (a == 100 and 64 <= b <= 127) or a >= 224
            return (f"{a}.{b}.{c}.{d}", f"{a}.{b}.{c}.0/24", True, private, False)
        return (s[:64], None, False, False, False)
    try:
        addr = ipaddress.ip_address(s.split("%", 1)[0])
    except ValueError:
        return (s[:64].lower(), None, False, False, False)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return _ip_parts(str(addr.ipv4_mapped))
    net = ipaddress.ip_network(f"{addr}/48", strict=False) if addr.version == 6 else ipaddress.ip_network(
        f"{addr}/24", strict=False)
    return (str(addr), str(net), True, not addr.is_global, addr.version == 6)


def normalize_generic(value: Any) -> str | None:
    """Strip and NFKC-normalise any other identifier (case is kept).

    Examples
    --------
    >>> normalize_generic("  ＡＢＣ１ "), normalize_generic("   ")
    ('ABC1', None)
    """
    s = _clean(value)
    return s[:512] or None
