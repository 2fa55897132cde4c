"""Vectorised construction of fresh device dicts (private to :mod:`fraudscore.synth.devices`).

All attributes are drawn column-wise; the dicts are then built from shared
per-combination templates (``{**template, "android_id": ...}``), which is several
times faster than one dict display per device. Every device still gets its own
dict and its own ``languages`` list.

Examples
--------
>>> import numpy as np
>>> devs = _web_devices(np.random.default_rng(0), 3)
>>> [d["source"] for d in devs], devs[0] is not devs[1]
(['web', 'web', 'web'], True)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from ._catalog import (_ALL_ANDROID, _ALL_ANDROID_TAC, _ANDROID, _ANDROID_OS, _ANDROID_OS_P, _APP_P, _APP_VERSIONS,
                       _BROWSER_CUM, _BROWSER_IDS, _BROWSER_NAMES, _EMULATOR, _IOS, _IOS_OS, _LANGS, _LANGS_P,
                       _SAFARI, _SIM, _SIM_P, _TZ, _TZ_P, _UA, _WEB, _WEB_FAMILY)
from ._digits import _hex_strings, _imeis, _mix64, _rand64, _uuids

__all__ = ["_app_devices", "_web_devices", "_p", "_weights", "_user_agent"]

_BROWSER_ID_TABLE = np.array([_BROWSER_IDS[b] for b in _BROWSER_NAMES.ravel()], dtype=np.uint64).reshape(
    _BROWSER_NAMES.shape)
_IPHONE = 3  # index of "iphone" in the web families


def _weights(items: list[tuple[Any, ...]]) -> np.ndarray:
    w = np.array([it[-1] for it in items], dtype=float)
    return w / w.sum()


def _p(w: np.ndarray) -> np.ndarray:
    return w / w.sum()


def _common(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices into ``_TZ`` and ``_LANGS``."""
    return rng.choice(len(_TZ), size=n, p=_TZ_P), rng.choice(len(_LANGS), size=n, p=_LANGS_P)


def _templates(fields: list[tuple[np.ndarray, int]], make: Callable[[int], dict[str, Any]]
               ) -> tuple[list[dict[str, Any]], list[int]]:
    """One template per distinct combination of the ``(values, cardinality)`` fields.

    Returns the templates (built by ``make(row)`` from a representative row) and,
    for every row, the index of its template.
    """
    code = np.zeros(len(fields[0][0]), dtype=np.int64)
    size = 1
    for values, card in fields:
        code = code * card + np.asarray(values, dtype=np.int64)
        size *= card
    rows = np.arange(len(code))
    first = np.full(size, -1, dtype=np.int64)  # a table over all combinations beats sorting (np.unique)
    first[code[::-1]] = rows[::-1]  # the last write wins: the first row of each combination
    present = np.flatnonzero(first >= 0)
    number = np.empty(size, dtype=np.int64)
    number[present] = np.arange(len(present))
    return [make(i) for i in first[present].tolist()], number[code].tolist()


def _langs_lists(lg: np.ndarray) -> list[list[str]]:
    table = [list(x) for x in _LANGS]
    return [table[i][:] for i in lg.tolist()]


def _app_devices(rng: np.random.Generator, n: int, os_: str, emulator: np.ndarray,
                 rooted: np.ndarray) -> list[dict[str, Any]]:
    tz, lg = _common(rng, n)
    appv = rng.choice(len(_APP_VERSIONS), size=n, p=_p(_APP_P))
    sim = rng.choice(len(_SIM), size=n, p=_p(_SIM_P))
    rooted = np.asarray(rooted, dtype=bool)
    langs = _langs_lists(lg)
    if os_ == "ios":
        mi = rng.choice(len(_IOS), size=n, p=_weights(_IOS))
        lo = np.array([_IOS[i][2] for i in mi], dtype=np.int64).reshape(-1)
        osv = lo + (rng.random(n) * (len(_IOS_OS) - lo)).astype(np.int64)
        idfv = _uuids(rng, n)

        def ios(i: int) -> dict[str, Any]:
            m = _IOS[int(mi[i])]
            return {"source": "app", "os": "ios", "os_version": _IOS_OS[int(osv[i])], "model": m[0],
                    "manufacturer": "Apple", "app_version": _APP_VERSIONS[int(appv[i])], "idfv": None,
                    "emulator": False, "rooted": bool(rooted[i]), "sim_operator": _SIM[int(sim[i])], "screen": m[1],
                    "timezone": _TZ[int(tz[i])], "languages": None}

        tpl, inv = _templates([(mi, len(_IOS)), (osv, len(_IOS_OS)), (appv, len(_APP_VERSIONS)), (sim, len(_SIM)),
                               (tz, len(_TZ)), (rooted, 2)], ios)
        return [{**tpl[c], "idfv": u, "languages": g} for c, u, g in zip(inv, idfv, langs)]
    emulator = np.asarray(emulator, dtype=bool)
    idx = np.where(emulator, len(_ANDROID) + rng.choice(len(_EMULATOR), size=n, p=_weights(_EMULATOR)),
                   rng.choice(len(_ANDROID), size=n, p=_weights(_ANDROID)))
    osv = rng.choice(len(_ANDROID_OS), size=n, p=_ANDROID_OS_P)
    aid = _hex_strings(_rand64(rng, n)).tolist()
    imei = _imeis(rng, _ALL_ANDROID_TAC[idx]).tolist()
    keep_imei = (rng.random(n) < 0.6) | emulator

    def android(i: int) -> dict[str, Any]:
        m = _ALL_ANDROID[int(idx[i])]
        return {"source": "app", "os": "android", "os_version": _ANDROID_OS[int(osv[i])], "model": m[1],
                "manufacturer": m[0], "app_version": _APP_VERSIONS[int(appv[i])], "android_id": None,
                "emulator": bool(emulator[i]), "rooted": bool(rooted[i]), "sim_operator": _SIM[int(sim[i])],
                "screen": m[2], "timezone": _TZ[int(tz[i])], "languages": None}

    tpl, inv = _templates([(idx, len(_ALL_ANDROID)), (osv, len(_ANDROID_OS)), (appv, len(_APP_VERSIONS)),
                           (sim, len(_SIM)), (tz, len(_TZ)), (emulator, 2), (rooted, 2)], android)
    out = [{**tpl[c], "android_id": x, "languages": g} for c, x, g in zip(inv, aid, langs)]
    for i in np.flatnonzero(keep_imei).tolist():
        out[i]["imei"] = imei[i]
    return out


@lru_cache(maxsize=8192)
def _user_agent(fam: str, browser: str, v: int, s: int, w: int) -> str:
    ios = _SAFARI[s]
    return _UA[(fam, browser)].format(v=v, s=ios, u=ios.replace(".", "_"), w=w)


def _web_devices(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    tz, lg = _common(rng, n)
    pi = rng.choice(len(_WEB), size=n, p=_weights(_WEB))
    fam = _WEB_FAMILY[pi]
    bi = (rng.random(n)[:, None] > _BROWSER_CUM[fam]).sum(axis=1)
    browser = _BROWSER_NAMES[fam, bi]
    chrome_v = rng.integers(116, 125, size=n)
    safari_v = rng.integers(0, len(_SAFARI), size=n)
    wechat_v = rng.integers(40, 48, size=n)
    variant = rng.integers(0, 4, size=n).astype(np.uint64)  # driver / OS build differences in canvas rendering
    bid = _BROWSER_ID_TABLE[fam, bi]
    canvas = _hex_strings(_mix64(pi.astype(np.uint64) * np.uint64(1000) + bid * np.uint64(10) + variant)).tolist()
    default_fonts = rng.random(n) < 0.12
    fonts = _hex_strings(np.where(default_fonts, _mix64(fam.astype(np.uint64) + np.uint64(7919)),
                                  _rand64(rng, n))).tolist()
    # only the versions that appear in a row's user agent distinguish its template
    safari = browser == "safari"
    uses_v = (fam != _IPHONE) & ~safari
    uses_s = safari | (fam == _IPHONE)
    uses_w = browser == "wechat"

    def web(i: int) -> dict[str, Any]:
        fa, plat, screen, vendor, renderer, cores, mem, touch, depth, _ = _WEB[int(pi[i])]
        b = str(browser[i])
        d = {"source": "web", "user_agent": _user_agent(fa, b, int(chrome_v[i]), int(safari_v[i]), int(wechat_v[i])),
             "platform": plat, "screen": screen, "color_depth": depth, "timezone": _TZ[int(tz[i])],
             "languages": None, "fonts_hash": None, "canvas_hash": None, "webgl_vendor": vendor,
             "webgl_renderer": renderer, "hardware_concurrency": cores}
        if mem is not None and b != "firefox" and b != "safari":
            d["device_memory"] = mem
        d["touch_support"] = touch
        return d

    tpl, inv = _templates([(pi, len(_WEB)), (bi, 3), ((chrome_v - 116) * uses_v, 9), (safari_v * uses_s, len(_SAFARI)),
                           ((wechat_v - 40) * uses_w, 8), (tz, len(_TZ))], web)
    return [{**tpl[c], "languages": g, "fonts_hash": f, "canvas_hash": cv}
            for c, g, f, cv in zip(inv, _langs_lists(lg), fonts, canvas)]
