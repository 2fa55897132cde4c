"""Synthetic personal identifiers, generated column-wise.

* Chinese resident ID numbers (GB 11643: 6-digit region code, birth date
  ``YYYYMMDD``, 3-digit sequence, ISO 7064 MOD 11-2 check character ``0-9`` / ``X``),
  with optionally an invalid check character or an implausible birth date.
* ``+86`` mobile numbers with real operator prefixes.
* E-mail addresses on common Chinese and international domains, some on
  disposable (throw-away) domains.
* Bank card numbers with realistic Chinese issuer BINs and valid or invalid Luhn.
* IPv4 addresses from residential / mobile ranges, and from data-centre /24
  ranges used as proxies.

All values are made up; a generated ID number or card may coincide with a real
one only by chance.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> ids = national_ids(rng, 3, valid=np.array([True, False, True]))
>>> [id_checksum_valid(x) for x in ids]
[True, False, True]
>>> [luhn_valid(c) for c in bank_cards(rng, 2)]
[True, True]
>>> phones(rng, 1)[0][:4], len(phones(rng, 1)[0])
('+861', 14)
"""

from __future__ import annotations

import numpy as np

from ._digits import ascii_strings, digit_strings, luhn_check_digit, luhn_valid, random_digits

__all__ = [
    "national_ids", "id_checksum_valid", "id_birth_date", "phones", "emails", "bank_cards", "ipv4s",
    "proxy_prefixes", "ips_in_prefixes", "luhn_valid", "DISPOSABLE_DOMAINS", "PROXY_PREFIXES",
]

_REGIONS = np.array([
    "110101", "110105", "310115", "310104", "440305", "440106", "440103", "510107", "330106", "320102",
    "420111", "500103", "610113", "370202", "350203", "430104", "410105", "130102", "210102", "450103",
    "530102", "340104", "360102", "220102", "230103", "120101", "140105", "150102", "520102", "620102",
])
_REGION_DIGITS = np.array([[ord(c) - 48 for c in r] for r in _REGIONS], dtype=np.uint8)
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)  # check character for (sum mod 11)
_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_MOBILE_PREFIXES = np.array([
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158, 159,
    166, 173, 177, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 191, 195, 198, 199,
])
_MAIL_DOMAINS = ["qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "139.com", "gmail.com",
                 "outlook.com", "hotmail.com", "aliyun.com"]
_MAIL_P = np.array([0.42, 0.18, 0.08, 0.05, 0.07, 0.06, 0.04, 0.05, 0.02, 0.03])
DISPOSABLE_DOMAINS: tuple[str, ...] = ("mailinator.com", "yopmail.com", "guerrillamail.com", "10minutemail.com",
                                       "sharklasers.com", "temp-mail.org", "linshiyouxiang.net", "bccto.me")
"""Throw-away e-mail domains used by the generator (a small sample of real ones)."""
_SYLLABLES = np.array(["wang", "li", "zhang", "liu", "chen", "yang", "zhao", "huang", "zhou", "wu", "xu", "sun",
                       "hu", "zhu", "gao", "lin", "he", "guo", "ma", "luo", "xiao", "ming", "hua", "jie", "ying",
                       "wei", "fang", "lei", "jun", "tao", "xin", "yu", "hao", "qing", "long", "mei"])
# (BIN, card length, share): ICBC, CCB, ABC, BOC, CMB, BOCOM, PSBC debit; CCB / CMB / CITIC credit
_BINS = [("622202", 19, 14), ("621700", 19, 12), ("622848", 19, 12), ("621661", 19, 8), ("621483", 16, 9),
         ("622260", 19, 6), ("621799", 19, 7), ("436742", 16, 5), ("622588", 16, 5), ("622690", 16, 3)]
# residential / mobile first octets of Chinese ISPs (China Telecom, Unicom, Mobile)
_RESIDENTIAL_A = np.array([27, 36, 39, 42, 49, 58, 59, 60, 61, 101, 106, 110, 111, 112, 113, 114, 115, 116, 117,
                           118, 119, 120, 121, 122, 123, 124, 125, 171, 175, 180, 182, 183, 202, 210, 218, 219,
                           220, 221, 222, 223])
PROXY_PREFIXES: tuple[str, ...] = (
    "47.94.12", "47.95.201", "39.105.33", "101.132.76", "139.224.18", "106.75.40", "119.28.22",
    "129.226.14", "43.154.90", "45.77.180", "103.117.102", "154.85.51",
)
"""Data-centre /24 ranges (cloud hosts) that proxy bursts come from."""
_OCTETS = np.array([str(i) for i in range(256)], dtype=object)
_NUMBERS = np.array([str(i) for i in range(10_000)], dtype=object)
_SYLLABLES_O = _SYLLABLES.astype(object)


def _choice_rows(rng: np.random.Generator, table: np.ndarray, n: int) -> np.ndarray:
    return table[rng.integers(0, len(table), size=n)]


def national_ids(rng: np.random.Generator, n: int, *, valid: np.ndarray | bool = True,
                 implausible_birth: np.ndarray | bool = False, min_age: int = 20, max_age: int = 60,
                 year: int = 2026) -> np.ndarray:
    """Chinese resident ID numbers (18 characters).

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
    valid : bool or bool array, default True
        Whether the ISO 7064 MOD 11-2 check character is correct.
    implausible_birth : bool or bool array, default False
        Birth date impossible (month 13, day 31 of a 30-day month, Feb 30) or
        implausible (born before 1900 or in the future).
    min_age, max_age : int
        Age range of plausible birth dates (relative to ``year``).

    Returns
    -------
    numpy.ndarray of str (object)

    Examples
    --------
    >>> ids = national_ids(np.random.default_rng(1), 4, implausible_birth=True)
    >>> any(id_birth_date(x) is not None for x in ids)
    False
    """
    valid = np.broadcast_to(np.asarray(valid, dtype=bool), (n,))
    bad_birth = np.broadcast_to(np.asarray(implausible_birth, dtype=bool), (n,))
    age = min_age + rng.gamma(2.0, 6.0, size=n).astype(np.int64)
    age = np.where(age > max_age, rng.integers(min_age, max_age + 1, size=n), age)
    y = year - age
    m = rng.integers(1, 13, size=n)
    d = 1 + (rng.random(n) * _DAYS[m - 1]).astype(np.int64)
    kind = rng.integers(0, 5, size=n)
    y = np.where(bad_birth & (kind == 0), rng.integers(1850, 1900, size=n), y)
    y = np.where(bad_birth & (kind == 1), year + rng.integers(1, 10, size=n), y)
    m = np.where(bad_birth & (kind == 2), 13 + rng.integers(0, 7, size=n), m)
    d = np.where(bad_birth & (kind == 3), 32 + rng.integers(0, 8, size=n), d)
    m = np.where(bad_birth & (kind == 4), 2, m)
    d = np.where(bad_birth & (kind == 4), 30, d)
    birth = np.stack([y // 1000, y // 100 % 10, y // 10 % 10, y % 10, m // 10, m % 10, d // 10, d % 10], axis=1)
    seq = random_digits(rng, n, 3)
    body = np.concatenate([_choice_rows(rng, _REGION_DIGITS, n), birth.astype(np.uint8), seq], axis=1)
    s = (body.astype(np.int64) * _ID_WEIGHTS).sum(axis=1) % 11
    wrong = (s + rng.integers(1, 11, size=n)) % 11  # any other residue: a different check character
    check = _ID_CHECK[np.where(valid, s, wrong)]
    return ascii_strings(np.concatenate([body + 48, check[:, None]], axis=1))


def id_checksum_valid(value: str) -> bool:
    """Whether an 18-character ID number has a correct ISO 7064 MOD 11-2 check character.

    Examples
    --------
    >>> id_checksum_valid("11010519491231002X"), id_checksum_valid("110105194912310021")
    (True, False)
    """
    if len(value) != 18 or not value[:17].isdigit():
        return False
    s = sum(int(c) * w for c, w in zip(value[:17], _ID_WEIGHTS.tolist())) % 11
    return value[17].upper() == "10X98765432"[s]


def id_birth_date(value: str, year: int = 2026) -> tuple[int, int, int] | None:
    """The ``(year, month, day)`` encoded in an ID number, or None when impossible or implausible.

    Examples
    --------
    >>> id_birth_date("11010519491231002X"), id_birth_date("110105194913310021")
    ((1949, 12, 31), None)
    """
    if len(value) != 18 or not value[6:14].isdigit():
        return None
    y, m, d = int(value[6:10]), int(value[10:12]), int(value[12:14])
    if not (1900 <= y <= year and 1 <= m <= 12):
        return None
    leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
    if not 1 <= d <= (29 if (m == 2 and leap) else int(_DAYS[m - 1])):
        return None
    return (y, m, d)


def phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """``+86`` mobile numbers (``+86`` + 11 digits starting with a real operator prefix)."""
    p = _choice_rows(rng, _MOBILE_PREFIXES, n)
    head = np.stack([p // 100, p // 10 % 10, p % 10], axis=1).astype(np.uint8)
    return digit_strings(np.concatenate([head, random_digits(rng, n, 8)], axis=1), prefix="+86")


def emails(rng: np.random.Generator, n: int, *, disposable: np.ndarray | bool = False) -> np.ndarray:
    """E-mail addresses; ``disposable`` rows use a throw-away domain.

    Examples
    --------
    >>> e = emails(np.random.default_rng(0), 2, disposable=np.array([False, True]))
    >>> e[1].split("@")[1] in DISPOSABLE_DOMAINS, "@" in e[0]
    (True, True)
    """
    disp = np.broadcast_to(np.asarray(disposable, dtype=bool), (n,))
    dom = np.array(_MAIL_DOMAINS, dtype=object)[rng.choice(len(_MAIL_DOMAINS), size=n, p=_MAIL_P)]
    dom = np.where(disp, np.array(DISPOSABLE_DOMAINS, dtype=object)[rng.integers(0, len(DISPOSABLE_DOMAINS),
                                                                                   size=n)], dom)
    qq = _OCTETS[rng.integers(1, 256, size=n)] + _OCTETS[rng.integers(0, 256, size=n)].astype(object) + obj_str(
        rng.integers(100, 1000, size=n))
    a, b = _choice_rows(rng, _SYLLABLES_O, n), _choice_rows(rng, _SYLLABLES_O, n)
    num = rng.integers(0, 10_000, size=n)
    style = rng.integers(0, 3, size=n)
    named = np.where(style == 1, np.where(num < 2000, a + b, a + b + obj_str(num)), a + "." + b + obj_str(num % 100))
    local = np.where((dom == "qq.com") | ((dom == "foxmail.com") & (style == 0)), qq, named)
    return local + "@" + dom


def obj_str(values: np.ndarray) -> np.ndarray:
    """Object array of the decimal strings of small non-negative integers."""
    return _NUMBERS[np.asarray(values)]


def bank_cards(rng: np.random.Generator, n: int, *, valid: np.ndarray | bool = True) -> np.ndarray:
    """Bank card numbers with realistic BINs; ``valid`` rows pass the Luhn check, others fail it."""
    valid = np.broadcast_to(np.asarray(valid, dtype=bool), (n,))
    w = np.array([b[2] for b in _BINS], dtype=float)
    which = rng.choice(len(_BINS), size=n, p=w / w.sum())
    out = np.empty(n, dtype=object)
    for j, (bin_, length, _) in enumerate(_BINS):
        idx = np.flatnonzero(which == j)
        if idx.size == 0:
            continue
        bin_digits = np.broadcast_to(np.array([ord(c) - 48 for c in bin_], dtype=np.uint8), (idx.size, 6))
        payload = np.concatenate([bin_digits, random_digits(rng, idx.size, length - 7)], axis=1)
        check = luhn_check_digit(payload)
        check = np.where(valid[idx], check, (check + rng.integers(1, 10, size=idx.size)) % 10).astype(np.uint8)
        out[idx] = digit_strings(np.concatenate([payload, check[:, None]], axis=1))
    return out


def ipv4s(rng: np.random.Generator, n: int) -> np.ndarray:
    """Residential / mobile IPv4 addresses from Chinese ISP ranges."""
    a = _choice_rows(rng, _RESIDENTIAL_A, n)
    bcd = rng.integers(0, 256, size=(n, 3))
    bcd[:, 2] = np.maximum(bcd[:, 2], 1)
    return _dotted(a, bcd[:, 0], bcd[:, 1], bcd[:, 2])


def _dotted(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    dot = np.full(len(a), ".", dtype=object)
    return _OCTETS[a] + dot + _OCTETS[b] + dot + _OCTETS[c] + dot + _OCTETS[d]


def proxy_prefixes(rng: np.random.Generator, k: int) -> list[str]:
    """``k`` distinct /24 prefixes (``"a.b.c"``) from :data:`PROXY_PREFIXES`."""
    idx = rng.choice(len(PROXY_PREFIXES), size=min(k, len(PROXY_PREFIXES)), replace=False)
    return [PROXY_PREFIXES[i] for i in idx]


def ips_in_prefixes(rng: np.random.Generator, prefixes: list[str] | np.ndarray, n: int) -> np.ndarray:
    """``n`` addresses, each in a random one of the given /24 prefixes.

    Examples
    --------
    >>> ips = ips_in_prefixes(np.random.default_rng(0), ["47.94.12"], 3)
    >>> all(ip.startswith("47.94.12.") for ip in ips)
    True
    """
    pre = np.asarray(prefixes, dtype=object)[rng.integers(0, len(prefixes), size=n)]
    return pre + np.full(n, ".", dtype=object) + _OCTETS[rng.integers(2, 255, size=n)]

