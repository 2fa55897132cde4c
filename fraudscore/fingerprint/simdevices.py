"""The simulated devices of :mod:`fraudscore.fingerprint.simulate`: release calendars, populations, rendering.

A :class:`_Dev` is one physical device's hidden state (hardware, settings,
install lag, resettable ids, network); :class:`_Calendar` says which browser,
OS and app versions exist on a given day; ``_new_web`` / ``_new_app`` draw a
device of a population from :mod:`fraudscore.fingerprint.simcatalog` with the
rates of :mod:`fraudscore.fingerprint.simparams`, and ``_render_web`` /
``_render_app`` turn its state on a day into the device mapping a lender's
collector would send. Private helpers of the simulator: the public entry point
is :func:`fraudscore.fingerprint.simulate.simulate`.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> d = _new_web(rng, "windows")
>>> obs = _render_web(d, _Calendar(0.0, 0.0, 0.0, 0.0, 0.0), 10.0)
>>> obs["source"], "user_agent" in obs
('web', True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .simcatalog import (_AND_APP, _AND_WEB, _FONT_PACK_P, _FONT_PACKS, _IOS_APP, _IOS_WEB, _LANGS, _LANGS_P,
                         _MAC_HW, _OS_FONTS, _RARE_FONTS, _SIM, _SIM_P, _TZ_HOME, _WIN_HW, _fonts, _h,
                         _pick)
from .simparams import value as V

DAY_MS = 86_400_000


# ------------------------------------------------------------------ release calendars
@dataclass
class _Calendar:
    """Release phases (days) of the simulation; versions are functions of time."""

    chrome: float
    firefox: float
    apple: float
    wechat: float
    app: float

    def chrome_major(self, day: float) -> int:
        return 128 + int(math.floor((day + self.chrome) / V("chrome_release_days")))

    def firefox_major(self, day: float) -> int:
        return 128 + int(math.floor((day + self.firefox) / V("firefox_release_days")))

    def apple_version(self, day: float, floor_major: int = 0) -> tuple[int, int]:
        k = int(math.floor((day + self.apple) / V("apple_point_release_days")))
        per_year = int(V("apple_major_release_days") // V("apple_point_release_days"))
        major, minor = 17 + k // per_year, k % per_year
        return (major, minor) if major >= floor_major else (floor_major, 0)

    def wechat_build(self, day: float) -> int:
        return 44 + int(math.floor((day + self.wechat) / V("wechat_release_days")))

    def app_version(self, day: float) -> str:
        k = 30 + int(math.floor((day + self.app) / V("app_release_days")))
        return f"5.{k // 6}.{k % 6}"


# ------------------------------------------------------------------ one device
@dataclass
class _Dev:
    kind: str  # "web" | "app"
    os: str  # windows | macos | android | ios
    hw: dict[str, Any]
    lag: float
    tz: str = _TZ_HOME
    langs: tuple[str, ...] = ("zh-CN",)
    fonts_extra: frozenset[str] = frozenset()
    driver: int = 0
    screen_alt: str | None = None
    docked: bool = False
    ids: dict[str, str] = field(default_factory=dict)
    sim: str = "46000"
    os_major: int = 14
    ips: tuple[str, ...] = ()
    farm: bool = False
    font_list: bool = True


def _lag(rng: np.random.Generator, mean: float) -> float:
    lag = float(rng.exponential(mean))
    if rng.random() < V("laggard_share"):
        lag += float(rng.exponential(V("laggard_lag_days")))
    return lag


def _ip(rng: np.random.Generator) -> str:
    a, b, c = rng.integers(1, 223), rng.integers(0, 256), rng.integers(0, 256)
    return f"{a}.{b}.{c}.0/24"


def _new_web(rng: np.random.Generator, os_: str, default_settings: bool | None = None) -> _Dev:
    mobile = os_ in ("android", "ios")
    if default_settings is None:
        default_settings = mobile and rng.random() < V("mobile_default_settings_share")
    if os_ == "windows":
        vendor, gpu, pci, cores, mem, screens, _ = _pick(rng, _WIN_HW)
        browser = str(rng.choice(["chrome", "edge", "firefox"], p=[0.62, 0.28, 0.10]))
        hw = {"vendor": vendor, "gpu": gpu, "pci": pci, "cores": cores, "mem": mem, "screen": screens[0],
              "image": str(rng.choice(["win10", "win11"], p=[0.45, 0.55])), "browser": browser,
              "driver_suffix": bool(rng.random() < V("renderer_has_driver_share"))}
        alt = screens[1] if len(screens) > 1 else "2560x1440"
    elif os_ == "macos":
        gpu, cores, screens, _ = _pick(rng, _MAC_HW)
        browser = str(rng.choice(["chrome", "safari", "firefox"], p=[0.5, 0.45, 0.05]))
        hw = {"vendor": "Apple", "gpu": gpu, "cores": cores, "screen": screens[0],
              "image": str(rng.choice(["mac13", "mac14"])), "browser": browser}
        alt = screens[1]
    elif os_ == "android":
        rom, css, gpu, vendor, cores, mem, _ = _pick(rng, _AND_WEB)
        browser = str(rng.choice(["chrome", "wechat"], p=[0.45, 0.55]))
        hw = {"vendor": vendor, "gpu": gpu, "cores": cores, "mem": mem, "screen": css, "rom": rom,
              "platform": "Linux armv8l" if rng.random() < 0.6 else "Linux aarch64", "browser": browser}
        alt = None
    else:
        css, _, first = _pick(rng, _IOS_WEB)
        browser = str(rng.choice(["safari", "wechat"], p=[0.55, 0.45]))
        hw = {"vendor": "Apple Inc.", "gpu": "Apple GPU", "cores": 4, "screen": css, "first": first,
              "browser": browser}
        alt = None
    lag = _lag(rng, V("ios_update_lag_mean_days") if os_ in ("ios", "macos") and hw["browser"] != "chrome"
               else V("update_lag_mean_days"))
    dev = _Dev("web", os_, hw, lag, font_list=bool(rng.random() < V("font_list_share")))
    if not default_settings:
        dev.langs = _LANGS[int(rng.choice(len(_LANGS), p=_LANGS_P))]
    if os_ in ("windows", "macos"):
        if rng.random() >= V("desktop_default_fonts_share"):
            extra: set[str] = set()
            for pack, p in _FONT_PACK_P.items():
                if rng.random() < p:
                    extra.update(_FONT_PACKS[pack])
            extra.update(f"Rare {int(i):04d}" for i in rng.integers(0, _RARE_FONTS, size=int(rng.integers(0, 12))))
            dev.fonts_extra = frozenset(extra)
        dev.driver = int(rng.integers(0, 40))
        if rng.random() < V("laptop_share") and rng.random() < V("screen_toggle_share_laptop"):
            dev.screen_alt = alt
    return dev


def _new_app(rng: np.random.Generator, os_: str) -> _Dev:
    if os_ == "android":
        manu, model, screen, _ = _pick(rng, _AND_APP)
        hw = {"manufacturer": manu, "model": model, "screen": screen}
        dev = _Dev("app", "android", hw, _lag(rng, 7.0), os_major=int(rng.choice([12, 13, 14], p=[0.25, 0.45, 0.3])))
        dev.ids["android_id"] = rng.bytes(8).hex()
        if rng.random() < V("imei_share"):
            dev.ids["imei"] = "86" + "".join(str(int(d)) for d in rng.integers(0, 10, size=13))
    else:
        model, screen, _ = _pick(rng, _IOS_APP)
        hw = {"manufacturer": "Apple", "model": model, "screen": screen}
        dev = _Dev("app", "ios", hw, _lag(rng, V("ios_update_lag_mean_days")))
        dev.ids["idfv"] = str(_uuid(rng))
    dev.sim = _SIM[int(rng.choice(len(_SIM), p=_SIM_P))]
    if rng.random() >= V("mobile_default_settings_share"):
        dev.langs = _LANGS[int(rng.choice(len(_LANGS), p=_LANGS_P))]
    return dev


def _uuid(rng: np.random.Generator) -> str:
    h = rng.bytes(16).hex().upper()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-A{h[17:20]}-{h[20:]}"


# ------------------------------------------------------------------ rendering a device state at a time
def _render_web(d: _Dev, cal: _Calendar, day: float) -> dict[str, Any]:
    hw, t = d.hw, day - d.lag
    b = hw["browser"]
    os_ = d.os
    if os_ == "windows":
        v = cal.firefox_major(t) if b == "firefox" else cal.chrome_major(t)
        if b == "firefox":
            ua = f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
        else:
            ua = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  f"Chrome/{v}.0.0.0 Safari/537.36" + (f" Edg/{v}.0.0.0" if b == "edge" else ""))
        gpu = hw["gpu"]
        if hw["driver_suffix"]:
            renderer = (f"ANGLE ({hw['vendor']}, {gpu} ({hw['pci']}) Direct3D11 vs_5_0 ps_5_0, "
                        f"D3D11-31.0.101.{4000 + 17 * d.driver})")
        else:
            renderer = f"ANGLE ({hw['vendor']}, {gpu} Direct3D11 vs_5_0 ps_5_0, D3D11)"
        vendor, platform, image = f"Google Inc. ({hw['vendor']})", "Win32", hw["image"]
        fonts = _OS_FONTS[image]
        engine = v // int(V("canvas_engine_epoch_releases"))
        canvas = _h("canvas", gpu, d.driver, b if b == "firefox" else "blink", engine, image)
        out = {"platform": platform, "color_depth": 24, "hardware_concurrency": hw["cores"], "touch_support": 0}
        if b != "firefox":
            out["device_memory"] = min(hw["mem"], 8)
    elif os_ == "macos":
        mac = cal.apple_version(t)
        if b == "safari":
            ua = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                  f"Version/{mac[0]}.{mac[1]} Safari/605.1.15")
            v = mac[0]
        elif b == "firefox":
            v = cal.firefox_major(t)
            ua = f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
        else:
            v = cal.chrome_major(t)
            ua = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
                  f"Chrome/{v}.0.0.0 Safari/537.36")
        renderer = f"ANGLE (Apple, ANGLE Metal Renderer: {hw['gpu']}, Unspecified Version)" if b == "chrome" else \
            hw["gpu"]
        vendor, image = ("Google Inc. (Apple)" if b == "chrome" else "Apple Inc."), hw["image"]
        fonts = _OS_FONTS[image]
        canvas = _h("canvas", hw["gpu"], b, v // int(V("canvas_engine_epoch_releases")), image)
        out = {"platform": "MacIntel", "color_depth": 30, "hardware_concurrency": hw["cores"], "touch_support": 0}
        if b == "chrome":
            out["device_memory"] = 8
    elif os_ == "android":
        v = cal.chrome_major(t)
        base = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko)"
        if b == "wechat":
            w = cal.wechat_build(t)
            ua = (f"{base} Version/4.0 Chrome/{v}.0.6099.193 Mobile Safari/537.36 XWEB/{1160000 + w} "
                  f"MicroMessenger/8.0.{w}.2540(0x28002F35) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN")
        else:
            ua = f"{base} Chrome/{v}.0.0.0 Mobile Safari/537.36"
        renderer, vendor = hw["gpu"], hw["vendor"]
        fonts = _OS_FONTS["android"] + _fonts(hw["rom"], 6)
        canvas = _h("canvas", hw["gpu"], v // int(V("canvas_engine_epoch_releases")), hw["rom"])
        out = {"platform": hw["platform"], "color_depth": 24, "hardware_concurrency": hw["cores"],
               "device_memory": hw["mem"], "touch_support": 5}
    else:  # ios
        ios = cal.apple_version(t, hw["first"])
        u = f"{ios[0]}_{ios[1]}" if ios[1] else f"{ios[0]}_0"
        if b == "wechat":
            w = cal.wechat_build(t)
            ua = (f"Mozilla/5.0 (iPhone; CPU iPhone OS {u} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                  f"Mobile/15E148 MicroMessenger/8.0.{w}(0x18002f2c) NetType/WIFI Language/zh_CN")
        else:
            ua = (f"Mozilla/5.0 (iPhone; CPU iPhone OS {u} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                  f"Version/{ios[0]}.{ios[1]} Mobile/15E148 Safari/604.1")
        renderer, vendor = "Apple GPU", "Apple Inc."
        fonts = _OS_FONTS["ios"] + _fonts(f"iOS{ios[0]}", 4)
        canvas = _h("canvas", "apple", ios[0])
        out = {"platform": "iPhone", "color_depth": 24, "hardware_concurrency": 4, "touch_support": 5}
    font_list = sorted(set(fonts) | d.fonts_extra)
    screen = d.screen_alt if (d.docked and d.screen_alt) else hw["screen"]
    dev = {"source": "web", "user_agent": ua, "screen": screen, "timezone": d.tz, "languages": list(d.langs),
           "fonts_hash": _h("fonts", *font_list)[:16], "canvas_hash": canvas[:16], "webgl_vendor": vendor,
           "webgl_renderer": renderer, **out}
    if d.font_list:
        dev["fonts"] = font_list
    return dev


def _render_app(d: _Dev, cal: _Calendar, day: float) -> dict[str, Any]:
    t = day - d.lag
    hw = d.hw
    out: dict[str, Any] = {"source": "app", "os": d.os, "model": hw["model"], "manufacturer": hw["manufacturer"],
                           "screen": hw["screen"], "app_version": cal.app_version(t), "timezone": d.tz,
                           "languages": list(d.langs), "sim_operator": d.sim, "emulator": False, "rooted": False}
    if d.os == "ios":
        ios = cal.apple_version(t)
        out["os_version"] = f"{ios[0]}.{ios[1]}"
    else:
        out["os_version"] = str(d.os_major)
    out.update(d.ids)
    return out


def _state_key(d: _Dev, cal: _Calendar, day: float) -> tuple[Any, ...]:
    """Everything a rendering depends on (versions as of ``day``, the mutable state)."""
    t = day - d.lag
    if d.kind == "web":
        return (cal.chrome_major(t), cal.firefox_major(t), cal.apple_version(t, d.hw.get("first", 0)),
                cal.wechat_build(t), d.tz, d.langs, d.fonts_extra, d.driver, d.docked)
    return (cal.app_version(t), cal.apple_version(t), d.os_major, tuple(d.ids.items()), d.sim, d.tz, d.langs)


def _observe_ip(rng: np.random.Generator, d: _Dev) -> str:
    if d.kind == "app" or d.os in ("android", "ios"):
        if rng.random() < V("cellular_share"):
            return f"10.{int(rng.integers(0, 64))}.{int(rng.integers(0, 256))}.0/24"  # carrier NAT pool
        return d.ips[0]
    return d.ips[0] if len(d.ips) == 1 or rng.random() < 0.7 else d.ips[1]
