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

from functools import lru_cache

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
_REGION_SUM = (_REGION_DIGITS.astype(np.int64) * _ID_WEIGHTS[:6]).sum(axis=1)
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
_AT_DOMAINS = np.array(["@" + d for d in _MAIL_DOMAINS + list(DISPOSABLE_DOMAINS)], dtype=object)
_QQ, _FOXMAIL = _MAIL_DOMAINS.index("qq.com"), _MAIL_DOMAINS.index("foxmail.com")


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
    early, late = rng.integers(1850, 1900, size=n), year + rng.integers(1, 10, size=n)
    month13, day32 = 13 + rng.integers(0, 7, size=n), 32 + rng.integers(0, 8, size=n)
    if bad_birth.any():
        y = np.where(bad_birth & (kind == 0), early, y)
        y = np.where(bad_birth & (kind == 1), late, y)
        m = np.where(bad_birth & (kind == 2), month13, m)
        d = np.where(bad_birth & (kind == 3), day32, d)
        m = np.where(bad_birth & (kind == 4), 2, m)
        d = np.where(bad_birth & (kind == 4), 30, d)
    out = np.empty((n, 18), dtype=np.uint8)  # filled in place: region, birth date, sequence, check
    ymd = y * 10_000 + m * 100 + d
    s = np.zeros(n, dtype=np.int64)  # the weighted digit sum, accumulated column by column
    for j in range(13, 5, -1):
        digit = ymd % 10
        out[:, j] = digit
        s += digit * int(_ID_WEIGHTS[j])
        ymd //= 10
    seq = random_digits(rng, n, 3)
    out[:, 14:17] = seq
    for j in range(3):
        s += seq[:, j] * int(_ID_WEIGHTS[14 + j])
    region = rng.integers(0, len(_REGIONS), size=n)
    out[:, :6] = _REGION_DIGITS[region]
    s = (s + _REGION_SUM[region]) % 11
    wrong = (s + rng.integers(1, 11, size=n)) % 11  # any other residue: a different check character
    out[:, :17] += 48
    out[:, 17] = _ID_CHECK[np.where(valid, s, wrong)]
    return ascii_strings(out)


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
    dom = rng.choice(len(_MAIL_DOMAINS), size=n, p=_MAIL_P)
    dom = np.where(disp, len(_MAIL_DOMAINS) + rng.integers(0, len(DISPOSABLE_DOMAINS), size=n), dom)
    q1, q2, q3 = rng.integers(1, 256, size=n), rng.integers(0, 256, size=n), rng.integers(100, 1000, size=n)
    a, b = rng.integers(0, len(_SYLLABLES), size=n), rng.integers(0, len(_SYLLABLES), size=n)
    num = rng.integers(0, 10_000, size=n)
    style = rng.integers(0, 3, size=n)
    # only the strings each row needs, from small lookup tables (one concatenation per row)
    pairs, dotted = _syllable_pairs()
    ab = a * len(_SYLLABLES) + b
    local = np.empty(n, dtype=object)
    qq = (dom == _QQ) | ((dom == _FOXMAIL) & (style == 0))
    i = np.flatnonzero(qq)
    local[i] = _octet_pairs()[q1[i] * 256 + q2[i]] + _NUMBERS[q3[i]]
    short = ~qq & (style == 1) & (num < 2000)
    local[short] = pairs[ab[short]]
    i = np.flatnonzero(~qq & (style == 1) & (num >= 2000))
    local[i] = pairs[ab[i]] + _NUMBERS[num[i]]
    i = np.flatnonzero(~qq & (style != 1))
    local[i] = dotted[ab[i]] + _NUMBERS[num[i] % 100]
    return local + _AT_DOMAINS[dom]


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
    head, tail = _octet_pairs(".", "."), _octet_pairs(".")
    return head[np.asarray(a) * 256 + b] + tail[np.asarray(c) * 256 + d]


@lru_cache(maxsize=4)
def _octet_pairs(sep: str = "", end: str = "") -> np.ndarray:
    """Object array of the 65536 strings ``f"{i}{sep}{j}{end}"`` at index ``i * 256 + j``."""
    return np.array([f"{i}{sep}{j}{end}" for i in range(256) for j in range(256)], dtype=object)


@lru_cache(maxsize=1)
def _syllable_pairs() -> tuple[np.ndarray, np.ndarray]:
    """``a + b`` and ``a + "." + b`` for every pair of syllables (index ``a * len + b``)."""
    syl = _SYLLABLES.tolist()
    return (np.array([x + y for x in syl for y in syl], dtype=object),
            np.array([x + "." + y for x in syl for y in syl], dtype=object))


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

