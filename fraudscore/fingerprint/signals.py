"""Cheap consistency and spoofing signals of one device observation.

Every feature is a float (``NaN`` = cannot tell), named in :data:`DEVICE_FEATURES`:

=============================  ============================================================
``device__missing``            1 when the event has no device attributes at all
``device__emulator``           the app's emulator flag (NaN when not sent)
``device__rooted``             the app's root / jailbreak flag (NaN when not sent)
``device__emulator_hint``      1 when attributes look like an emulator or a VM (software
                               WebGL renderer, generic emulator model, x86 Android...)
``device__headless``           1 for headless / automated browsers (HeadlessChrome, webdriver)
``device__os_mismatch``        1 when user agent, platform, OS and manufacturer disagree
``device__screen_impossible``  1 when the screen cannot belong to the claimed model or platform
``device__touch_mismatch``     1 when touch support contradicts the platform (desktop vs phone)
``device__tz_ip_mismatch``     1 when the timezone's country differs from the event's
                               ``ip_country`` (ISO 3166 alpha-2; NaN when either is unknown)
``device__missing_share``      share of the attributes expected for the source that are missing
``device__unknown_attrs``      number of unknown attribute names
=============================  ============================================================

"Attribute values seen on many unrelated devices" is a velocity feature: count
distinct ``device_id`` by the keyed canvas hash :attr:`Fingerprint.canvas` (or by
``device_hw``) over a window.

Examples
--------
>>> s = device_signals({"os": "ios", "model": "iPhone15,2", "manufacturer": "Apple", "screen": "1080x1920",
...                     "timezone": "Asia/Shanghai", "emulator": False}, {"ip_country": "US"})
>>> s["device__screen_impossible"], s["device__tz_ip_mismatch"], s["device__emulator"], s["device__rooted"]
(1.0, 1.0, 0.0, nan)
>>> device_signals(None, {})["device__missing"]
1.0
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from operator import itemgetter
from sys import getsizeof
from typing import Any

import numpy as np

from .._core import load as load_core
from .._memo import ByteBudget
from ..limits import DEVICE_SIGNALS_CACHE_BYTES
from .canonical import ATTRIBUTE_INDEX, CanonicalDevice, canonicalize
from .sections import Fingerprint

__all__ = ["DEVICE_FEATURES", "device_signals", "device_signal_values", "device_signal_matrix", "MODEL_SCREENS", "TIMEZONE_COUNTRY"]

NAN = math.nan
DEVICE_FEATURES: tuple[str, ...] = (
    "device__missing", "device__emulator", "device__rooted", "device__emulator_hint", "device__headless",
    "device__os_mismatch", "device__screen_impossible", "device__touch_mismatch", "device__tz_ip_mismatch",
    "device__missing_share", "device__unknown_attrs",
)

#: Native screens (pixels, long x short) of common models, lower case model ids.
MODEL_SCREENS: dict[str, frozenset[str]] = {k: frozenset(v.split()) for k, v in {
    "iphone12,1": "1792x828", "iphone12,3": "2436x1125", "iphone12,5": "2688x1242", "iphone12,8": "1334x750",
    "iphone13,1": "2340x1080", "iphone13,2": "2532x1170", "iphone13,3": "2532x1170", "iphone13,4": "2778x1284",
    "iphone14,2": "2532x1170", "iphone14,3": "2778x1284", "iphone14,4": "2340x1080", "iphone14,5": "2532x1170",
    "iphone14,6": "1334x750", "iphone14,7": "2532x1170", "iphone14,8": "2778x1284", "iphone15,2": "2556x1179",
    "iphone15,3": "2796x1290", "iphone15,4": "2556x1179", "iphone15,5": "2796x1290", "iphone16,1": "2556x1179",
    "iphone16,2": "2796x1290",
    "2211133c": "2400x1080", "23049rad8c": "2712x1220", "22101316c": "2400x1080", "m2012k11ac": "2400x1080",
    "noh-an00": "2772x1344", "els-an00": "2640x1200", "any-an00": "2388x1080", "pgbm10": "2412x1080",
    "peem00": "3216x1440 2400x1080", "v2141a": "2400x1080", "v2218a": "2800x1260", "sm-s9180": "3088x1440 2340x1080",
    "sm-g9910": "2400x1080", "phb110": "3216x1440", "sm-g977n": "3040x1440", "asus_z01qd": "2160x1080",
    "v1916a": "2340x1080", "pixel 4": "2280x1080", "sm-g991b": "2400x1080", "sm-g998b": "3200x1440",
}.items()}
#: CSS-pixel screens an iPhone browser can report.
_IPHONE_CSS = frozenset({"568x320", "667x375", "736x414", "812x375", "844x390", "852x393", "896x414", "926x428",
                         "932x430", "780x360"})
#: Country (ISO 3166 alpha-2, upper case) of common IANA timezones, lower case.
TIMEZONE_COUNTRY: dict[str, str] = {
    "asia/shanghai": "CN", "asia/chongqing": "CN", "asia/harbin": "CN", "asia/urumqi": "CN", "asia/kashgar": "CN",
    "prc": "CN", "asia/hong_kong": "HK", "asia/macau": "MO", "asia/taipei": "TW", "asia/singapore": "SG",
    "asia/tokyo": "JP", "asia/seoul": "KR", "asia/kuala_lumpur": "MY", "asia/bangkok": "TH", "asia/jakarta": "ID",
    "asia/manila": "PH", "asia/ho_chi_minh": "VN", "asia/kolkata": "IN", "asia/dubai": "AE",
    "america/los_angeles": "US", "america/new_york": "US", "america/chicago": "US", "america/denver": "US",
    "america/toronto": "CA", "america/vancouver": "CA", "europe/london": "GB", "europe/berlin": "DE",
    "europe/paris": "FR", "europe/moscow": "RU", "australia/sydney": "AU",
}
_EMU_WORDS = ("swiftshader", "llvmpipe", "virtualbox", "vmware", "android emulator", "sdk_gphone", "genymotion",
              "bluestacks", "nox", "ldplayer", "mumu", "generic_x86", "goldfish", "ranchu", "parallels")
_HEADLESS_WORDS = ("headlesschrome", "phantomjs", "selenium", "webdriver", "puppeteer", "playwright")
_EXPECTED = {
    "web": ("user_agent", "platform", "screen", "color_depth", "timezone", "languages", "fonts_hash",
            "canvas_hash", "webgl_vendor", "webgl_renderer", "hardware_concurrency", "touch_support"),
    "app": ("os", "os_version", "model", "manufacturer", "app_version", "screen", "timezone", "languages",
            "emulator", "rooted"),
}
_CACHE_MAX = 65_536
#: _static_key(device) -> the static signals in DEVICE_FEATURES order (``device__tz_ip_mismatch`` NaN); the one
#: cache of :func:`device_signals` and :func:`device_signal_values` (also read by ``_core/fingerprint_signals.c``)
_ROWS: dict[Any, list[float]] = {}
_BUDGET = ByteBudget(DEVICE_SIGNALS_CACHE_BYTES, _ROWS)
# one scan for "any of these words occurs in the text" (literal alternatives: same answer as ``any(w in s ...)``)
_EMU_RE = re.compile("|".join(map(re.escape, _EMU_WORDS)))
_HEADLESS_RE = re.compile("|".join(map(re.escape, _HEADLESS_WORDS)))
_EXPECTED_IDX = {src: tuple(ATTRIBUTE_INDEX[a] for a in attrs) for src, attrs in _EXPECTED.items()}
_EXPECTED_GET = {src: itemgetter(*idx) for src, idx in _EXPECTED_IDX.items()}
_TZ_IDX = ATTRIBUTE_INDEX["timezone"]
#: The attribute values :func:`_static` reads (besides source, OS family, extras and which expected ones are missing).
_STATIC_GET = itemgetter(*(ATTRIBUTE_INDEX[a] for a in (
    "user_agent", "platform", "model", "manufacturer", "webgl_renderer", "webgl_vendor", "screen", "touch_support",
    "emulator", "rooted")))


def _flag(v: str | None) -> float:
    return NAN if v is None else (1.0 if v == "1" else 0.0 if v == "0" else NAN)


def _platform_os(platform: str | None) -> str | None:
    if platform is None:
        return None
    if platform.startswith("win"):
        return "windows"
    if platform.startswith("mac"):
        return "macos"
    if platform.startswith(("iphone", "ipad", "ipod")):
        return "ios"
    if "android" in platform or "arm" in platform or "aarch64" in platform:
        return "android"
    if platform.startswith("linux"):
        return "linux"
    return None


def _static(c: CanonicalDevice) -> tuple[float, ...]:
    g = c.get
    ua, platform, model, manu = g("user_agent"), g("platform"), g("model"), g("manufacturer")
    renderer = " ".join(x for x in (g("webgl_renderer"), g("webgl_vendor"), model, manu, platform) if x)
    emu_hint = 1.0 if _EMU_RE.search(renderer) is not None or (
        c.os_family == "android" and platform is not None and ("x86" in platform or "i686" in platform)) else 0.0
    headless = 1.0 if (ua is not None and _HEADLESS_RE.search(ua) is not None) or any(
        k in ("webdriver", "navigator_webdriver") and v == "1" for k, v in c.extra) else 0.0
    # OS agreement: user agent vs platform vs os attribute vs manufacturer
    claims = set()
    if c.os_family is not None:
        claims.add("android" if c.os_family in ("harmonyos", "linux") and c.source == "app" else c.os_family)
    p_os = _platform_os(platform)
    if p_os is not None:
        claims.add(p_os)
    if manu is not None:
        claims.add("ios" if manu == "apple" and c.source == "app" else "android" if c.source == "app" else "")
        claims.discard("")
    if "linux" in claims and "android" in claims:
        claims.discard("linux")  # Android platforms report "Linux armv8l"
    os_mismatch = NAN if len(claims) == 0 else (1.0 if len(claims) > 1 else 0.0)
    # screen vs claimed model / platform
    screen = g("screen")
    screen_bad = NAN
    if screen is not None:
        known = MODEL_SCREENS.get(model) if model is not None else None
        if known is not None:
            screen_bad = 0.0 if screen in known else 1.0
        elif p_os == "ios" and c.source == "web":
            screen_bad = 0.0 if screen in _IPHONE_CSS else 1.0
        else:
            try:
                w, h = (int(x) for x in screen.split("x"))
                phone = c.source == "app" or p_os in ("ios", "android")
                screen_bad = 1.0 if (phone and (h < 240 or w / max(h, 1) < 1.3)) or (
                    not phone and p_os in ("windows", "macos") and w < 1000) else 0.0
            except ValueError:
                screen_bad = 1.0
    touch = g("touch_support")
    touch_bad = NAN
    if touch is not None and touch.isdigit() and p_os is not None:
        has_touch = int(touch) > 0
        touch_bad = 1.0 if (p_os in ("ios", "android") and not has_touch) else 0.0
    expected = _EXPECTED_IDX.get(c.source, _EXPECTED_IDX["web"])
    vals = c.values
    missing = sum(vals[i] is None for i in expected) / len(expected)
    return (0.0, _flag(g("emulator")), _flag(g("rooted")), emu_hint, headless, os_mismatch, screen_bad,
            touch_bad, missing, float(len(c.extra)))


def device_signals(fp_or_canonical: Fingerprint | CanonicalDevice | Mapping[str, Any] | None,
                   event: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Consistency and spoofing features of one device observation.

    Parameters
    ----------
    fp_or_canonical : Fingerprint, CanonicalDevice, mapping or None
        The fingerprint (preferred: its signals are cached by id), a canonical
        device, a raw ``device`` mapping, or ``None`` for "no device".
    event : Mapping, optional
        The normalised event; ``ip_country`` (ISO alpha-2) is read when present.

    Returns
    -------
    dict
        Exactly the keys :data:`DEVICE_FEATURES`, float values (``NaN`` = unknown).
    """
    if fp_or_canonical is None or (isinstance(fp_or_canonical, Mapping) and not fp_or_canonical):
        out = dict.fromkeys(DEVICE_FEATURES, NAN)
        out["device__missing"] = 1.0
        return out
    if type(fp_or_canonical) is Fingerprint or isinstance(fp_or_canonical, Fingerprint):
        c = fp_or_canonical.canonical
        row = _static_row(c)
    else:
        c = fp_or_canonical if isinstance(fp_or_canonical, CanonicalDevice) else canonicalize(fp_or_canonical)
        row = _row(_static(c))
    out = dict(zip(DEVICE_FEATURES, row))  # a new dict: the cached row is never handed out
    tz_bad = _tz_mismatch(c, event)
    if tz_bad is not None:
        out["device__tz_ip_mismatch"] = tz_bad
    return out


_TZ_POS = DEVICE_FEATURES.index("device__tz_ip_mismatch")
_MISSING_ROW = [1.0] + [NAN] * (len(DEVICE_FEATURES) - 1)


def device_signal_values(fp: Fingerprint | None, event: Mapping[str, Any] | None = None) -> list[float]:
    """:func:`device_signals` of a fingerprint as a list in :data:`DEVICE_FEATURES` order (the pipeline's form).

    Equal to ``[device_signals(fp, event)[n] for n in DEVICE_FEATURES]``, without the dict.

    Examples
    --------
    >>> from fraudscore.fingerprint import Fingerprinter
    >>> from fraudscore.keys import Keys
    >>> fp = Fingerprinter(Keys("0123456789abcdef-demo")).fingerprint({"os": "ios", "timezone": "Asia/Shanghai"})
    >>> device_signal_values(fp, {"ip_country": "US"}) == [device_signals(fp, {"ip_country": "US"})[n]
    ...                                                    for n in DEVICE_FEATURES]
    True
    >>> device_signal_values(None)[:2]
    [1.0, nan]
    """
    if fp is None:
        return _MISSING_ROW.copy()
    if type(fp) is not Fingerprint:
        sig = device_signals(fp, event)
        return [sig[n] for n in DEVICE_FEATURES]
    if _ROW_CORE is not None:  # a cached row, read in C; None: not cached, or an uncommon value
        out = _ROW_CORE(_ROW_CTX, fp, event)
        if out is not None:
            return out  # type: ignore[no-any-return]
    c = fp.canonical
    out = _static_row(c).copy()  # the cached row is never handed out
    tz_bad = _tz_mismatch(c, event)
    if tz_bad is not None:
        out[_TZ_POS] = tz_bad
    return out


def _tz_mismatch(c: CanonicalDevice, event: Mapping[str, Any] | None) -> float | None:
    """``device__tz_ip_mismatch``: 1.0 when the event's ``ip_country`` differs from the device timezone's country,
    0.0 when they agree, ``None`` when either is unknown."""
    ip_country = event.get("ip_country") if event else None
    if isinstance(ip_country, str) and ip_country:
        tz = c.values[_TZ_IDX]
        tz_country = TIMEZONE_COUNTRY.get(tz) if tz is not None else None
        if tz_country is not None:
            return 0.0 if tz_country == ip_country.strip().upper() else 1.0
    return None


_ROW_CORE = getattr(load_core("fingerprint"), "signal_row", None)
#: The compiled row read's context: where the key's parts and the timezone are (see ``_core/fingerprint_signals.c``).
_ROW_CTX = (Fingerprint.__dict__["canonical"],
            tuple(CanonicalDevice.__dict__[f] for f in ("values", "extra", "source", "os_family")),
            _STATIC_GET(tuple(range(len(ATTRIBUTE_INDEX)))), _EXPECTED_IDX["web"], _EXPECTED_IDX["app"], _ROWS,
            _TZ_IDX, TIMEZONE_COUNTRY, _TZ_POS, "app", "ip_country")


def _static_key(cd: CanonicalDevice) -> tuple[Any, ...]:
    """Everything :func:`_static` reads: near-unique attributes matter by presence alone, so devices share keys.

    (Not the fingerprint id: for app devices it leaves out attributes the signals read, e.g. ``platform``.)
    """
    vals = cd.values
    x = cd.extra  # only their number and the webdriver flags are read: the key never holds their text
    xk = (len(x), any(k in ("webdriver", "navigator_webdriver") and v == "1" for k, v in x)) if x else ()
    # _static reads only how many expected attributes are missing, not which: their count is the key's part
    return (cd.source, cd.os_family, xk, _STATIC_GET(vals),
            _EXPECTED_GET.get(cd.source, _EXPECTED_GET["web"])(vals).count(None))


def _static_row(cd: CanonicalDevice) -> list[float]:
    """The cached static-signal row of a canonical device (``device__tz_ip_mismatch`` still unknown)."""
    key = _static_key(cd)
    row = _ROWS.get(key)
    if row is None:
        row = _row(_static(cd))
        # the key's attribute text, plus a fixed size for the key's other parts and the float row
        cost = 2_000 + sum(map(getsizeof, filter(None, key[3])))
        _BUDGET.remember(_ROWS, key, row, _CACHE_MAX, cost)
    return row


def device_signal_matrix(fps: list[Fingerprint], codes: np.ndarray, ip_country: np.ndarray | None = None) -> np.ndarray:
    """Device signals of many rows at once, equal row by row to :func:`device_signals`.

    Parameters
    ----------
    fps : list of Fingerprint
        The distinct fingerprints.
    codes : ndarray of int
        Per row, an index into ``fps`` (``-1`` = no device).
    ip_country : ndarray, optional
        Per row, the event's ``ip_country`` (``None`` / NaN = unknown).

    Returns
    -------
    ndarray of float64, shape (len(codes), len(DEVICE_FEATURES))
        Row ``i`` holds ``device_signals(fps[codes[i]] or None, {"ip_country": ip_country[i]})``
        in :data:`DEVICE_FEATURES` order.

    Examples
    --------
    >>> from fraudscore.fingerprint import Fingerprinter
    >>> from fraudscore.keys import Keys
    >>> fp = Fingerprinter(Keys("0123456789abcdef-demo")).fingerprint({"os": "ios", "timezone": "Asia/Shanghai"})
    >>> X = device_signal_matrix([fp], np.array([0, -1]), np.array(["us", "CN"], dtype=object))
    >>> X[:, DEVICE_FEATURES.index("device__tz_ip_mismatch")], X[:, 0]
    (array([ 1., nan]), array([0., 1.]))
    """
    codes = np.asarray(codes, dtype=np.int64)
    m = len(fps)
    nd = len(DEVICE_FEATURES)
    base = np.empty((m + 1, nd), dtype=np.float64)
    tz_country: list[str | None] = [None] * m
    memo: dict[tuple[Any, ...], list[float]] = {}
    for c, fp in enumerate(fps):
        cd = fp.canonical
        key = _static_key(cd)
        row = memo.get(key)  # many devices share one
        if row is None:
            row = memo[key] = _row(_static(cd))
        base[c] = row
        tz = cd.values[_TZ_IDX]
        tz_country[c] = TIMEZONE_COUNTRY.get(tz) if tz is not None else None
    missing = device_signals(None)
    base[m] = [missing[f] for f in DEVICE_FEATURES]
    out = base[np.where(codes < 0, m, codes)]
    if ip_country is not None and m:
        fill_tz_ip_mismatch(out[:, DEVICE_FEATURES.index("device__tz_ip_mismatch")], codes, ip_country, tz_country)
    return out


def fill_tz_ip_mismatch(col: np.ndarray, codes: np.ndarray, ip_country: np.ndarray,
                        tz_country: list[str | None]) -> None:
    """Write the ``device__tz_ip_mismatch`` column of a batch in place: for each row with a device (``codes[i] >=
    0``) whose timezone maps to a country (``tz_country[codes[i]]``) and a non-empty IP country, 0.0 where they
    agree (the IP country stripped and upper-cased), else 1.0; other rows keep what ``col`` holds. Shared by
    :func:`device_signal_matrix` and ``devicecolumns.device_signal_rows``.

    >>> col = np.full(3, np.nan)
    >>> fill_tz_ip_mismatch(col, np.array([0, 0, -1]), np.array([" cn ", "us", "CN"], dtype=object), ["CN"])
    >>> col.tolist()
    [0.0, 1.0, nan]
    """
    norm: dict[str, str] = {}
    for i, (c, v) in enumerate(zip(codes.tolist(), ip_country.tolist())):
        if c < 0 or not (isinstance(v, str) and v):
            continue
        t = tz_country[c]
        if t is None:
            continue
        u = norm.get(v)
        if u is None:
            u = norm[v] = v.strip().upper()
        col[i] = 0.0 if t == u else 1.0


def _row(st: tuple[float, ...]) -> list[float]:
    """The static signals ``st`` in :data:`DEVICE_FEATURES` order, ``device__tz_ip_mismatch`` still unknown (NaN)."""
    return [st[0], st[1], st[2], st[3], st[4], st[5], st[6], st[7], NAN, st[8], st[9]]
