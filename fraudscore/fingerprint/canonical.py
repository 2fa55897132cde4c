"""Canonical device attributes: one normal form per device state.

:func:`canonicalize` turns a ``device`` mapping (web or app attributes, see
:data:`ATTRIBUTES`) into a :class:`CanonicalDevice`:

* strings: Unicode NFKC, control characters removed, whitespace collapsed, lower case;
* lists (``languages``): order-insensitive (sorted, de-duplicated; ``;q=`` weights dropped);
* versions (``os_version``, ``app_version``): parsed into integer tuples, trailing
  zeros dropped (``"17.0.0"`` -> ``(17,)`` -> ``"17"``);
* numbers and booleans: one spelling each (``"8"``, ``8``, ``8.0`` -> ``"8"``; ``"true"``, ``1`` -> ``"1"``);
* ``screen``: ``"WxH"`` with the larger side first (rotation does not matter);
* missing attributes are explicit (``None``), never silently dropped;
* unknown attributes are kept in :attr:`CanonicalDevice.extra` but never enter the id.

Derived fields (source, OS family and major version, browser family and
major version) are parsed from the attributes and the user agent.
Canonicalisation is idempotent: ``canonicalize(c.as_mapping()) == c``.

Speed: attribute names, the canonical forms of common values (not of the
near-unique ones: fonts and canvas hashes, Android ID, IDFV, IMEI), parsed
versions and parsed user agents are memoised in bounded module-level dicts
(emptied when full). They cache pure functions, so results never depend on them.

Examples
--------
>>> c = canonicalize({"os": " Android ", "os_version": "13.0", "model": "SM-G991B",
...                   "languages": ["en-US", "zh-CN;q=0.9", "en-US"], "screen": "1080x2400", "vpn": 1})
>>> c.get("os_version"), c.get("languages"), c.get("screen"), c.get("timezone"), c.extra
('13', 'en-us,zh-cn', '2400x1080', None, (('vpn', '1'),))
>>> c.source, c.os_family, c.os_major
('app', 'android', 13)
>>> canonicalize(c.as_mapping()) == c
True
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._core import load as load_core
from .._memo import ByteBudget
from ..limits import CANONICAL_MEMO_BYTES

__all__ = ["ATTRIBUTES", "ATTRIBUTE_INDEX", "CanonicalDevice", "canonicalize", "parse_version", "parse_user_agent"]

#: Known device attributes and the kind of normalisation each one gets.
ATTRIBUTES: dict[str, str] = {
    "source": "token", "user_agent": "text", "platform": "text", "screen": "screen", "color_depth": "int",
    "timezone": "text", "languages": "list", "fonts_hash": "text", "canvas_hash": "text",
    "webgl_vendor": "text", "webgl_renderer": "text", "hardware_concurrency": "int", "device_memory": "num",
    "touch_support": "touch", "os": "token", "os_version": "version", "model": "text", "manufacturer": "text",
    "app_version": "version", "android_id": "text", "idfv": "text", "imei": "digits", "emulator": "bool",
    "rooted": "bool", "sim_operator": "text", "fonts": "list",
}
ATTRIBUTE_NAMES: tuple[str, ...] = tuple(ATTRIBUTES)
ATTRIBUTE_INDEX: dict[str, int] = {n: i for i, n in enumerate(ATTRIBUTE_NAMES)}
_MAX_LEN = 2048
_CTRL_RE = re.compile(r"[\x00-\x1f\x7f]")
_WS_RE = re.compile(r"\s+")
_NUM_RE = re.compile(r"\d+")
_SCREEN_RE = re.compile(r"^\s*(\d{1,5})\s*[x×*,]\s*(\d{1,5})\s*$", re.IGNORECASE)
_TRUE = frozenset({"1", "true", "yes", "y", "t", "on"})
_FALSE = frozenset({"0", "false", "no", "n", "f", "off"})

# user-agent parsing: (family, regex for the major version), first match wins
_BROWSERS = (
    ("wechat", re.compile(r"MicroMessenger/(\d+(?:\.\d+)*)", re.IGNORECASE)),
    ("edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+(?:\.\d+)*)", re.IGNORECASE)),
    ("opera", re.compile(r"(?:OPR|Opera)/(\d+(?:\.\d+)*)", re.IGNORECASE)),
    ("samsung", re.compile(r"SamsungBrowser/(\d+(?:\.\d+)*)", re.IGNORECASE)),
    ("uc", re.compile(r"UCBrowser/(\d+(?:\.\d+)*)", re.IGNORECASE)),
    ("qq", re.compile(r"QQBrowser/(\d+(?:\.\d+)*)", re.IGNORECASE)),
    ("firefox", re.compile(r"(?:Firefox|FxiOS)/(\d+(?:\.\d+)*)", re.IGNORECASE)),
    ("chrome", re.compile(r"(?:Chrome|CriOS)/(\d+(?:\.\d+)*)", re.IGNORECASE)),
    ("safari", re.compile(r"Version/(\d+(?:\.\d+)*) (?:Mobile/\S+ )?Safari/", re.IGNORECASE)),
)
_UA_OS = (
    ("ios", re.compile(r"(?:iPhone|iPad|iPod).*? OS (\d+)(?:[_.](\d+))?", re.IGNORECASE)),
    ("android", re.compile(r"Android (\d+)(?:\.(\d+))?", re.IGNORECASE)),
    ("windows", re.compile(r"Windows NT (\d+)(?:\.(\d+))?", re.IGNORECASE)),
    ("chromeos", re.compile(r"CrOS \S+ (\d+)", re.IGNORECASE)),
    ("macos", re.compile(r"Mac OS X (\d+)(?:[_.](\d+))?", re.IGNORECASE)),
    ("linux", re.compile(r"(Linux)", re.IGNORECASE)),
)
_OS_ALIASES = {"iphoneos": "ios", "ipados": "ios", "iphone": "ios", "macos": "macos", "osx": "macos",
               "macosx": "macos", "win": "windows", "windows": "windows"}


def parse_version(value: Any) -> tuple[int, ...] | None:
    """Parse a version string into an integer tuple, trailing zeros dropped.

    Examples
    --------
    >>> parse_version("5.2.1"), parse_version("v17.0"), parse_version("13"), parse_version("beta")
    ((5, 2, 1), (17,), (13,), None)
    """
    nums = _NUM_RE.findall(str(value))[:4]
    if not nums:
        return None
    out = [min(int(n), 10**9) for n in nums]
    while len(out) > 1 and out[-1] == 0:
        out.pop()
    return tuple(out)


def parse_user_agent(ua: str) -> tuple[str | None, tuple[int, ...] | None, str | None, tuple[int, ...] | None]:
    """``(browser family, browser version, OS family, OS version)`` from a user agent.

    Examples
    --------
    >>> parse_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    ...                  "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0")
    ('edge', (120,), 'windows', (10,))
    """
    bfam = bmaj = ofam = over = None
    for fam, rx in _BROWSERS:
        m = rx.search(ua)
        if m:
            bfam, bmaj = fam, parse_version(m.group(1))
            break
    for fam, rx in _UA_OS:
        m = rx.search(ua)
        if m:
            ofam = fam
            if fam != "linux":
                over = parse_version(".".join(g for g in m.groups() if g))
            break
    return bfam, bmaj, ofam, over


def _text(v: Any) -> str | None:
    if type(v) is str and v.isascii() and v.isprintable() and len(v) <= _MAX_LEN:
        # no control characters and no whitespace but " ": lower case, collapse runs of spaces, strip
        s = v.lower()
        if "  " in s:
            s = _WS_RE.sub(" ", s)
        return s.strip() or None
    if isinstance(v, bool):
        s = "1" if v else "0"
    elif isinstance(v, float):
        if not math.isfinite(v):
            return None
        s = repr(int(v)) if v.is_integer() else repr(v)
    else:
        s = str(v)
    s = _CTRL_RE.sub("", s[: 2 * _MAX_LEN])
    if s.isascii():
        s = s.lower()
    else:
        s = _fold(s)
    s = _WS_RE.sub(" ", s[:_MAX_LEN]).strip()
    return s or None


def _fold(s: str) -> str:
    """NFKC + lower case, twice, so that the result is a fixed point of both."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", s).lower()).lower()


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        try:
            f = float(v)
        except OverflowError:
            return None
    else:
        try:
            f = float(str(v).strip())
        except (ValueError, OverflowError):
            return None
    return f if math.isfinite(f) and abs(f) < 1e12 else None


def _n_text(v: Any) -> str | None:
    return _text(v) or None


def _n_token(v: Any) -> str | None:
    s = _text(v)
    if s is not None:
        s = s.replace(" ", "")
        if not s.isascii():
            s = _fold(s)
    return s or None


def _n_number(v: Any, whole: bool) -> str | None:
    f = _number(v)
    if f is None:
        return _text(v)  # unparsable: keep its text, so a change is still visible
    f = round(f, 3)
    if whole or f.is_integer():
        return str(int(f))
    return repr(f)


def _n_int(v: Any) -> str | None:
    return _n_number(v, True)


def _n_num(v: Any) -> str | None:
    return _n_number(v, False)


def _n_bool(v: Any) -> str | None:
    if isinstance(v, bool):
        return "1" if v else "0"
    s = _text(v)
    if s in _TRUE:
        return "1"
    if s in _FALSE:
        return "0"
    return s


def _n_touch(v: Any) -> str | None:
    if isinstance(v, bool):
        return "1" if v else "0"
    f = _number(v)
    return str(max(int(f), 0)) if f is not None else _norm("bool", v)


def _n_version(v: Any) -> str | None:
    s = _text(v)
    if s is None:
        return None
    ver = parse_version(s)
    return ".".join(map(str, ver)) if ver is not None else s


def _n_screen(v: Any) -> str | None:
    s = _text(v)
    if s is None:
        return None
    m = _SCREEN_RE.match(s)
    if not m:
        return s
    a, b = int(m.group(1)), int(m.group(2))
    return f"{max(a, b)}x{min(a, b)}"


def _n_digits(v: Any) -> str | None:
    s = _text(v)
    if s is None:
        return None
    s = s.replace(" ", "").replace("-", "")
    return (_fold(s) if not s.isascii() else s) or None


def _n_list(v: Any) -> str | None:
    if isinstance(v, str):
        items = v.split(",")
    elif isinstance(v, (list, tuple)):
        items = list(v)
    else:
        items = [v]
    out = set()
    for it in items[:256]:
        s = _text(it)
        if s is None:
            continue
        for part in s.split(","):
            part = part.split(";", 1)[0].strip().replace("_", "-")
            if part:
                out.add(part)
    return ",".join(sorted(out)) or None


_HANDLERS = {"text": _n_text, "token": _n_token, "int": _n_int, "num": _n_num, "bool": _n_bool, "touch": _n_touch,
             "version": _n_version, "screen": _n_screen, "digits": _n_digits, "list": _n_list}


def _norm(kind: str, v: Any) -> str | None:
    if v is None:
        return None
    if kind != "list" and isinstance(v, (list, tuple)):
        v = _n_list(v)  # a list where a scalar is expected: its order-insensitive text
        if v is None:
            return None
    return _HANDLERS[kind](v)


# -- caches of pure functions of non-identifying values (bounded; cleared when full) -------------
#: Near-unique attributes: their values are not cached (they would only churn the cache).
_UNCACHED = frozenset({"fonts_hash", "canvas_hash", "android_id", "idfv", "imei", "fonts"})
_CACHE_MAX = 16_384
_VALUES: dict[tuple[Any, ...], str | None] = {}
_UAS: dict[str, tuple[Any, ...]] = {}
_VERSIONS: dict[str, tuple[int, ...] | None] = {}
_KEYS: dict[str, tuple[str, int | None, str, bool]] = {}
_STR_VALUES: tuple[dict[str, str | None], ...] = tuple({} for _ in ATTRIBUTE_NAMES)  # per attribute: str -> canonical
#: Per attribute: exact ``int`` -> canonical (the compiled loop's memo for int values, round 17: keyed by the int
#: itself instead of a ``(name, int, v)`` tuple; the same pure function of the value as :func:`_norm_cached`).
_INT_VALUES: tuple[dict[int, str | None], ...] = tuple({} for _ in ATTRIBUTE_NAMES)
_MISS = object()


def _resolve(k: Any) -> tuple[str, int | None, str, bool]:
    """``(normalised name, index in ATTRIBUTE_NAMES or None, kind, values cached)`` of an attribute name."""
    key = str(k).strip().lower()[:64].strip()
    i = ATTRIBUTE_INDEX.get(key)
    if i is None:
        key = key.replace(" ", "_").replace("-", "_")
        i = ATTRIBUTE_INDEX.get(key)
    if i is None:
        return key, None, "", False
    return key, i, ATTRIBUTES[key], key not in _UNCACHED


#: One byte budget for all the memos above (bounded in bytes, not only entries: keys are outside text).
_BUDGET = ByteBudget(CANONICAL_MEMO_BYTES, _VALUES, _UAS, _VERSIONS, _KEYS, *_STR_VALUES, *_INT_VALUES)


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    _BUDGET.remember(cache, key, value, _CACHE_MAX)


def _norm_cached(name: str, kind: str, v: Any) -> str | None:
    """:func:`_norm` through a cache for strings, ints, bools and lists of strings."""
    tv = type(v)
    if tv is str or tv is int or tv is bool:
        ck: tuple[Any, ...] = (name, tv, v)
    elif tv is list and all(type(x) is str for x in v):
        ck = (name, list, tuple(v))
    else:
        return _norm(kind, v)
    nv = _VALUES.get(ck, _MISS)
    if nv is _MISS:
        nv = _norm(kind, v)
        _remember(_VALUES, ck, nv)
    return nv  # type: ignore[return-value]


def _version_cached(text: str) -> tuple[int, ...] | None:
    hit = _VERSIONS.get(text, _MISS)
    if hit is _MISS:
        hit = parse_version(text)
        _remember(_VERSIONS, text, hit)
    return hit  # type: ignore[return-value]


def _parse_ua_cached(ua: str) -> tuple[Any, ...]:
    hit = _UAS.get(ua)
    if hit is None:
        hit = parse_user_agent(ua)
        _remember(_UAS, ua, hit)
    return hit


@dataclass(frozen=True, slots=True)
class CanonicalDevice:
    """A device's attributes in canonical form.

    Attributes
    ----------
    values : tuple of (str or None)
        One canonical value per name in ``ATTRIBUTE_NAMES`` (``None`` = missing).
    extra : tuple of (str, str)
        Unknown attributes, canonicalised and sorted; ignored by the id.
    source : str
        ``"app"`` or ``"web"`` (explicit, else inferred from the attributes).
    os_family, browser_family : str or None
        Parsed from ``os`` / ``user_agent``.
    os_version, browser_version, app_version : tuple of int or None
        Parsed versions.
    """

    values: tuple[str | None, ...]
    extra: tuple[tuple[str, str], ...]
    source: str
    os_family: str | None
    os_version: tuple[int, ...] | None
    browser_family: str | None
    browser_version: tuple[int, ...] | None
    app_version: tuple[int, ...] | None

    def get(self, name: str) -> str | None:
        """The canonical value of a known attribute (``None`` when missing)."""
        return self.values[ATTRIBUTE_INDEX[name]]

    @property
    def os_major(self) -> int | None:
        """The OS major version, or ``None``."""
        return self.os_version[0] if self.os_version else None

    @property
    def browser_major(self) -> int | None:
        """The browser major version, or ``None``."""
        return self.browser_version[0] if self.browser_version else None

    def n_missing(self) -> int:
        """Number of missing known attributes."""
        return sum(v is None for v in self.values)

    def as_mapping(self) -> dict[str, str]:
        """The non-missing attributes (and extras) as a plain ``device`` mapping.

        Examples
        --------
        >>> canonicalize({"screen": "768 x 1366", "x": "Y"}).as_mapping()
        {'screen': '1366x768', 'x': 'y'}
        """
        out = {n: v for n, v in zip(ATTRIBUTE_NAMES, self.values) if v is not None}
        out.update(self.extra)
        return out


def canonicalize(device: Mapping[str, Any]) -> CanonicalDevice:
    """Canonicalise a ``device`` mapping (see the module docstring).

    Parameters
    ----------
    device : Mapping
        Attribute name -> value. Names are case- and whitespace-insensitive;
        unknown names are tolerated.

    Returns
    -------
    CanonicalDevice

    Examples
    --------
    >>> a = canonicalize({"Languages": "zh-CN, en", "TimeZone": "Asia/Shanghai"})
    >>> a == canonicalize({"languages": ["EN", "zh_CN"], "timezone": " asia/shanghai "})
    True
    """
    extra: dict[str, str] = {}
    core = _CORE if type(device) is dict else None
    if core is not None:  # the same attribute loop, compiled (fraudscore/_core/fingerprint_canonical.c); misses call back
        vals, unknown = core.canon_values(device, *_CANON_ARGS)
        for key, v in unknown:
            _extra(extra, key, v)
    else:
        vals = _attribute_values(device, extra)
    return _derive(vals, extra)


#: The compiled attribute loop (``_core.fingerprint.canon_values``), resolved once at import (``load`` reads the
#: environment on every call, which would cost more than the loop saves); ``None``: the Python loop.
_CORE = load_core("fingerprint")


def compiled_args() -> tuple[Any, ...]:
    """``_core.fingerprint.canon_values``' arguments after the device: the memos and the miss handlers."""
    return (len(ATTRIBUTE_NAMES), _KEYS, _STR_VALUES, _resolve_remember, _norm, _norm_str, _norm_cached, _VALUES,
            _INT_VALUES, _norm_int)


def extras_of(unknown: list[tuple[str, Any]]) -> tuple[tuple[str, str], ...]:
    """:attr:`CanonicalDevice.extra` of the unknown ``(name, value)`` pairs, as :func:`canonicalize` builds it."""
    extra: dict[str, str] = {}
    for key, v in unknown:
        _extra(extra, key, v)
    return tuple(sorted(extra.items()))


def derive_context(cls: type) -> tuple[Any, ...]:
    """The compiled :func:`_derive`'s context (``_core.fingerprint.Hasher.build1``): memos, miss handlers, indices."""
    import dataclasses

    descr = tuple(cls.__dict__[f.name] for f in dataclasses.fields(cls))
    idx = tuple(ATTRIBUTE_INDEX[a] for a in ("user_agent", "os", "os_version", "app_version", "source"))
    return (cls, descr, _UAS, _parse_ua_cached, _VERSIONS, _version_cached, _OS_ALIASES, idx, "web", "app")


def _resolve_remember(k: Any) -> tuple[str, int | None, str, bool]:
    """:func:`_resolve`, remembered for ``str`` names (the attribute loop's miss)."""
    res = _resolve(k)
    if type(k) is str:
        _remember(_KEYS, k, res)
    return res


def _norm_str(i: int, kind: str, v: str) -> str | None:
    """The canonical form of the ``str`` value ``v`` of attribute ``i``, remembered (the attribute loop's miss)."""
    nv = _norm(kind, v)
    _remember(_STR_VALUES[i], v, nv)
    return nv


def _norm_int(i: int, kind: str, v: int) -> str | None:
    """The canonical form of the exact ``int`` value ``v`` of attribute ``i``, remembered (the compiled loop's miss).

    The same value :func:`_norm_cached` gives (``_norm(kind, v)``, a pure function of ``kind`` and ``v``).
    """
    nv = _norm(kind, v)
    _remember(_INT_VALUES[i], v, nv)
    return nv


_CANON_ARGS = compiled_args()


def _extra(extra: dict[str, str], key: str, v: Any) -> None:
    """Keep the canonical text of an unknown attribute (the smaller of two spellings of one name)."""
    nv = _norm("list", v) if isinstance(v, (list, tuple)) else _text(v) if v is not None else None
    if nv is not None and key:
        prev = extra.get(key)
        extra[key] = nv if prev is None else min(prev, nv)


def _attribute_values(device: Mapping[str, Any], extra: dict[str, str]) -> list[str | None]:
    """The canonical value of every known attribute (``None`` when absent); unknown ones go to ``extra``."""
    vals: list[str | None] = [None] * len(ATTRIBUTE_NAMES)
    keys = _KEYS
    strs = _STR_VALUES
    for k, v in device.items():
        res = keys.get(k) if type(k) is str else None
        if res is None:
            res = _resolve(k)
            if type(k) is str:
                _remember(keys, k, res)
        key, i, kind, cached = res
        if i is not None:
            if v is None:
                continue
            if not cached:
                nv = _norm(kind, v)
            elif type(v) is str:  # the common case: one dict per attribute, keyed by the raw string
                memo = strs[i]
                nv = memo.get(v, _MISS)  # type: ignore[assignment]
                if nv is _MISS:
                    nv = _norm(kind, v)
                    _remember(memo, v, nv)
            else:
                nv = _norm_cached(key, kind, v)
            if nv is not None:
                old = vals[i]  # two spellings of one name: keep one, order-independently
                vals[i] = nv if old is None else min(old, nv)
        else:
            _extra(extra, key, v)
    return vals


def _derive(vals: list[str | None], extra: dict[str, str]) -> CanonicalDevice:
    """The :class:`CanonicalDevice` of canonical attribute values: source, OS and browser parsed."""
    get = vals.__getitem__
    ua = get(ATTRIBUTE_INDEX["user_agent"])
    os_attr = get(ATTRIBUTE_INDEX["os"])
    bfam = bmaj = ua_os = ua_over = None
    if ua is not None:
        bfam, bmaj, ua_os, ua_over = _parse_ua_cached(ua)
    os_family = _OS_ALIASES.get(os_attr, os_attr) if os_attr is not None else ua_os
    os_v = get(ATTRIBUTE_INDEX["os_version"])
    os_version = _version_cached(os_v) if os_v is not None else (ua_over if os_family == ua_os else None)
    app_v = get(ATTRIBUTE_INDEX["app_version"])
    src = get(ATTRIBUTE_INDEX["source"])
    if src is None:
        src = "web" if ua is not None and os_attr is None else "app" if (os_attr or app_v) else "web"
    return CanonicalDevice(
        values=tuple(vals),
        extra=tuple(sorted(extra.items())),
        source=src,
        os_family=os_family,
        os_version=os_version,
        browser_family=bfam,
        browser_version=bmaj,
        app_version=_version_cached(app_v) if app_v is not None else None,
    )
