"""A device-drift simulator grounded in published measurements, with ground truth.

Devices are observed at random times while their attributes evolve in
continuous time, the way the studies in :mod:`fraudscore.fingerprint.simparams`
describe real browsers and apps:

* **releases on a calendar**: Chrome, Edge and Firefox ship a major every four
  weeks, iOS / Safari a point release every ~6-7 weeks and a major a year, the
  lender's app every two weeks; each device installs them after its own lag
  (laggards a month late), so versions only go forward and identical phones
  drift apart and together again;
* **web changes** (FP-STALKER's sources): font installs on desktops (over an OS
  image's *shared* default list), GPU driver updates that change the WebGL
  renderer string and the canvas, canvas changes with browser engine updates,
  docking laptops switching screens, travel changing the timezone, language
  settings;
* **app changes**: app and OS updates, rare Android ID / IDFV resets, SIM changes;
* **populations**: desktop vs mobile shares, many phones of one model with
  default settings and therefore identical fingerprints (mobile fingerprints are
  far less unique than desktop ones), log-normal activity (a few devices produce
  most observations), IP /24 prefixes (home, work, carrier);
* **device farms**: phones of one model on one network that reset every
  resettable id, the app version, SIM and languages between two applications.

:data:`SCENARIOS` are reported separately by ``benchmarks/bench_linking.py``;
``"legacy"`` is the project's first, much easier drift process
(:func:`fraudscore.synth.devices.simulate_drift`), kept for comparison only.

Examples
--------
>>> s = simulate("web", n_devices=60, days=30, seed=1)
>>> len(s) == len(s.truth) == len(s.ts) == len(s.ip_prefix), bool((np.diff(s.ts) >= 0).all())
(True, True)
>>> sorted(set(s.os.tolist())) <= ["web:android", "web:ios", "web:macos", "web:windows"]
True
>>> simulate("web", n_devices=60, days=30, seed=1).devices == s.devices   # reproducible
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from .simcatalog import (_AND_APP, _AND_WEB, _FONT_PACK_P, _FONT_PACKS, _IOS_APP, _IOS_WEB, _LANGS, _LANGS_P,
                         _MAC_HW, _OS_FONTS, _RARE_FONTS, _SIM, _SIM_P, _TZ_HOME, _TZ_TRAVEL, _WIN_HW, _fonts, _h,
                         _pick)
from .simparams import value as V

__all__ = ["DriftStream", "SCENARIOS", "simulate", "DEFAULT_START_MS"]

DAY_MS = 86_400_000
DEFAULT_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


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


# ------------------------------------------------------------------ events of one device
def _poisson_times(rng: np.random.Generator, rate: float, days: float) -> list[float]:
    if rate <= 0:
        return []
    n = int(rng.poisson(rate * days))
    return sorted(rng.uniform(0, days, size=n).tolist())


def _device_events(rng: np.random.Generator, d: _Dev, days: float, fonts_rate: float,
                   driver_rate: float) -> list[tuple[float, str]]:
    ev: list[tuple[float, str]] = []
    if d.kind == "web":
        if d.os in ("windows", "macos"):
            ev += [(x, "fonts") for x in _poisson_times(rng, fonts_rate, days)]
            if d.os == "windows":
                ev += [(x, "driver") for x in _poisson_times(rng, driver_rate, days)]
            if d.screen_alt:
                ev += [(x, "dock") for x in _poisson_times(rng, V("screen_toggle_rate"), days)]
    else:
        if d.os == "android":
            ev += [(x, "reset_android_id") for x in _poisson_times(rng, V("android_id_reset_rate"), days)]
            if rng.random() < 0.3:
                ev.append((float(rng.uniform(0, days)), "os_major"))
        else:
            ev += [(x, "reset_idfv") for x in _poisson_times(rng, V("idfv_reset_rate"), days)]
        ev += [(x, "sim") for x in _poisson_times(rng, V("sim_change_rate"), days)]
    for x in _poisson_times(rng, V("travel_rate"), days):
        ev.append((x, "travel"))
        ev.append((x + float(rng.exponential(V("travel_days"))), "home"))
    ev += [(x, "langs") for x in _poisson_times(rng, V("language_change_rate"), days)]
    ev.sort()
    return ev


def _apply(rng: np.random.Generator, d: _Dev, what: str) -> None:
    if what == "fonts":
        if d.fonts_extra and rng.random() < V("font_removal_share"):
            drop = rng.choice(sorted(d.fonts_extra), size=min(len(d.fonts_extra), int(rng.integers(1, 4))),
                              replace=False)
            d.fonts_extra = d.fonts_extra - set(drop.tolist())
        elif rng.random() < 0.35:
            pack = str(rng.choice(list(_FONT_PACKS)))
            d.fonts_extra = d.fonts_extra | set(_FONT_PACKS[pack])
        else:
            add = {f"Rare {int(i):04d}" for i in rng.integers(0, _RARE_FONTS, size=int(rng.integers(1, 4)))}
            d.fonts_extra = d.fonts_extra | add
    elif what == "driver":
        d.driver += 1
    elif what == "dock":
        d.docked = not d.docked
    elif what == "travel":
        d.tz = str(rng.choice(_TZ_TRAVEL))
    elif what == "home":
        d.tz = _TZ_HOME
    elif what == "langs":
        d.langs = _LANGS[int(rng.choice(len(_LANGS), p=_LANGS_P))]
    elif what == "reset_android_id":
        d.ids["android_id"] = rng.bytes(8).hex()
    elif what == "reset_idfv":
        d.ids["idfv"] = _uuid(rng)
    elif what == "sim":
        d.sim = _SIM[int(rng.choice(len(_SIM), p=_SIM_P))]
    elif what == "os_major":
        d.os_major = min(d.os_major + 1, 15)


def _farm_state(rng: np.random.Generator, d: _Dev, cal: _Calendar, day: float) -> dict[str, Any]:
    """What a farm tool shows between two applications: new ids, random app version, SIM and languages."""
    d.ids["android_id"] = rng.bytes(8).hex()
    if "imei" in d.ids:
        d.ids["imei"] = "86" + "".join(str(int(x)) for x in rng.integers(0, 10, size=13))
    d.sim = _SIM[int(rng.choice(len(_SIM), p=_SIM_P))]
    d.langs = _LANGS[int(rng.choice(len(_LANGS), p=_LANGS_P))]
    out = _render_app(d, cal, day)
    out["app_version"] = cal.app_version(day - float(rng.integers(0, 60)))
    return out


# ------------------------------------------------------------------ scenarios
@dataclass(frozen=True)
class _Scenario:
    """Population and processes of one scenario."""

    mix: dict[str, float]  # "web:windows" ... "app:ios" -> share
    sigma: float = V("activity_sigma")
    identical_share: float = 0.0  # share of mobile web devices that belong to groups of identical phones
    farms: int = 0
    fonts_rate: float = V("font_change_rate_desktop")
    driver_rate: float = V("driver_update_rate_windows")
    default_fonts_share: float | None = None
    driver_suffix_share: float | None = None
    note: str = ""


_WEB_MIX = {"web:windows": 0.22, "web:macos": 0.05, "web:android": 0.40, "web:ios": 0.33}
_MIXED = {**{k: 0.45 * v for k, v in _WEB_MIX.items()}, "app:android": 0.35, "app:ios": 0.20}
_SCENARIOS: dict[str, _Scenario] = {
    "web": _Scenario(_WEB_MIX, note="web-only, realistic: desktop and mobile browsers, FP-STALKER drift"),
    "mixed": _Scenario(_MIXED, note="the lender's app (unique resettable ids) and web browsers"),
    "identical": _Scenario({"web:android": 0.5, "web:ios": 0.5}, identical_share=0.5,
                           note="many phones of one model with identical attributes (groups of 5-40)"),
    "farm": _Scenario({"app:android": 0.7, "app:ios": 0.3}, farms=6,
                      note="device farms: one model, one /24, every resettable id reset per application"),
    "heavy": _Scenario(_WEB_MIX, sigma=V("activity_sigma_heavy"),
                       note="heavy-tailed activity: a few devices produce most observations"),
    "fonts": _Scenario({"web:windows": 0.8, "web:macos": 0.2}, fonts_rate=1 / 15, default_fonts_share=0.6,
                       note="desktops sharing OS-image font lists, frequent font installs"),
    "drivers": _Scenario({"web:windows": 1.0}, driver_rate=1 / 20, driver_suffix_share=1.0,
                         note="Windows desktops whose GPU driver updates change the WebGL renderer"),
}
#: Scenario names, in report order (``"legacy"`` is the old process).
SCENARIOS: tuple[str, ...] = (*_SCENARIOS, "legacy")


@dataclass
class DriftStream:
    """Observations of many devices over time, with ground truth.

    Attributes
    ----------
    devices : list of dict
        Observed device mappings in time order (the same dict object while a device is unchanged).
    truth : ndarray of int64
        The true physical device of each observation.
    ts : ndarray of int64
        Observation times (epoch ms), non-decreasing.
    ip_prefix : ndarray of object
        The /24 of each observation (``None`` when unknown).
    os : ndarray of object
        ``"<source>:<os>"`` of each observation (``"web:ios"``, ``"app:android"``...), for per-OS reports.
    farm : ndarray of bool
        Whether the observation comes from a device-farm phone.
    scenario : str
        The scenario name.
    """

    devices: list[dict[str, Any]]
    truth: np.ndarray
    ts: np.ndarray
    ip_prefix: np.ndarray
    os: np.ndarray
    farm: np.ndarray
    scenario: str

    def __len__(self) -> int:
        return len(self.devices)


def _activity(rng: np.random.Generator, n: int, sigma: float, days: float) -> np.ndarray:
    """Observations per device: log-normal rates with the mean of the realistic scenarios, so that a
    heavier tail (larger ``sigma``) concentrates the same volume on fewer devices."""
    base = V("activity_sigma")
    median = V("median_events_per_day") * math.exp((base * base - sigma * sigma) / 2)
    rate = median * np.exp(rng.normal(0.0, sigma, size=n))
    return 1 + rng.poisson(np.minimum(rate * days, 5000.0))


def simulate(scenario: str = "web", n_devices: int = 2000, days: float = 90.0, seed: int | None = 0, *,
             start_ms: int = DEFAULT_START_MS) -> DriftStream:
    """Simulate one scenario (see :data:`SCENARIOS` and the module docstring).

    Parameters
    ----------
    scenario : str, default "web"
        ``"web"``, ``"mixed"``, ``"identical"``, ``"farm"``, ``"heavy"``, ``"fonts"``,
        ``"drivers"`` or ``"legacy"``.
    n_devices : int, default 2000
        Physical devices (farm phones come on top in ``"farm"``).
    days : float, default 90
        Length of the observation period.
    seed : int, optional
        The same seed gives the same stream.
    start_ms : int
        Start of the period (epoch ms).

    Returns
    -------
    DriftStream

    Examples
    --------
    >>> simulate("toaster")
    Traceback (most recent call last):
    ...
    fraudscore.errors.ConfigError: The 'scenario' parameter of simulate must be one of ('web', 'mixed', 'identical', 'farm', 'heavy', 'fonts', 'drivers', 'legacy'). Got 'toaster' instead.
    >>> s = simulate("farm", n_devices=40, days=20, seed=0)
    >>> bool(s.farm.any()), bool((~s.farm).any())
    (True, True)
    """
    if scenario not in SCENARIOS:
        raise ConfigError(f"The 'scenario' parameter of simulate must be one of {SCENARIOS}. "
                          f"Got {scenario!r} instead.")
    if isinstance(n_devices, bool) or not isinstance(n_devices, (int, np.integer)) or n_devices < 1:
        raise ConfigError(f"The 'n_devices' parameter of simulate must be an integer >= 1. Got {n_devices!r} instead.")
    if not isinstance(days, (int, float)) or not days > 0:
        raise ConfigError(f"The 'days' parameter of simulate must be a positive number. Got {days!r} instead.")
    if scenario == "legacy":
        return _legacy(int(n_devices), float(days), seed, start_ms)
    sc = _SCENARIOS[scenario]
    rng = np.random.default_rng(seed)
    cal = _Calendar(*(float(x) for x in rng.uniform(0, 365, size=5)))
    days = float(days)
    labels = list(sc.mix)
    shares = np.array([sc.mix[k] for k in labels])
    kinds = rng.choice(len(labels), size=int(n_devices), p=shares / shares.sum())
    devs: list[_Dev] = []
    groups: dict[int, _Dev] = {}
    for k in kinds.tolist():
        src, os_ = labels[k].split(":")
        if src == "app":
            devs.append(_new_app(rng, os_))
            continue
        if sc.identical_share and os_ in ("android", "ios") and rng.random() < sc.identical_share:
            g = int(rng.integers(0, max(1, int(n_devices * sc.identical_share / 15))))
            proto = groups.get(g)
            if proto is None or proto.os != os_:
                proto = groups[g] = _new_web(rng, os_, default_settings=True)
            d = _Dev("web", os_, dict(proto.hw), _lag(rng, V("ios_update_lag_mean_days")))
            devs.append(d)
            continue
        d = _new_web(rng, os_)
        if sc.default_fonts_share is not None and os_ in ("windows", "macos") and rng.random() < sc.default_fonts_share:
            d.fonts_extra = frozenset()
        if sc.driver_suffix_share is not None and os_ == "windows":
            d.hw["driver_suffix"] = bool(rng.random() < sc.driver_suffix_share)
        devs.append(d)
    for d in devs:
        home = _ip(rng)
        d.ips = (home, _ip(rng)) if d.kind == "web" and d.os in ("windows", "macos") else (home,)
    n_obs = _activity(rng, len(devs), sc.sigma, days)
    rows: list[tuple[int, int, dict[str, Any], str | None, str, bool]] = []
    for i, d in enumerate(devs):
        times = np.sort(rng.uniform(0, days, size=int(n_obs[i]))).tolist()
        events = _device_events(rng, d, days, sc.fonts_rate, sc.driver_rate)
        render: Callable[[_Dev, _Calendar, float], dict[str, Any]] = _render_web if d.kind == "web" else _render_app
        label = f"{d.kind}:{d.os}"
        j = 0
        last: dict[str, Any] = {}
        last_key: tuple[Any, ...] | None = None
        for day in times:
            while j < len(events) and events[j][0] <= day:
                _apply(rng, d, events[j][1])
                j += 1
            key = _state_key(d, cal, day)
            if key != last_key:  # unchanged: the same mapping object, as a client would resend it
                obs = render(d, cal, day)
                if obs != last:
                    last = obs
                last_key = key
            obs = last
            rows.append((start_ms + int(day * DAY_MS), i, obs, _observe_ip(rng, d), label, False))
    for f in range(sc.farms):
        rows += _farm_rows(rng, cal, len(devs) + 1000 * f, days, start_ms)
    rows.sort(key=lambda r: (r[0], r[1]))
    return DriftStream(
        devices=[r[2] for r in rows],
        truth=np.array([r[1] for r in rows], dtype=np.int64),
        ts=np.array([r[0] for r in rows], dtype=np.int64),
        ip_prefix=np.array([r[3] for r in rows], dtype=object),
        os=np.array([r[4] for r in rows], dtype=object),
        farm=np.array([r[5] for r in rows], dtype=bool),
        scenario=scenario,
    )


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


def _farm_rows(rng: np.random.Generator, cal: _Calendar, first_id: int, days: float,
               start_ms: int) -> list[tuple[int, int, dict[str, Any], str | None, str, bool]]:
    """One farm: 6-15 phones of one model on one /24, a burst of applications over a few days."""
    n_phones = int(rng.integers(6, 16))
    proto = _new_app(rng, "android")
    net = _ip(rng)
    t0 = float(rng.uniform(0, max(days - 4, 0.5)))
    rows = []
    for p in range(n_phones):
        d = _Dev("app", "android", dict(proto.hw), 0.0, os_major=proto.os_major, farm=True)
        d.ids = {"android_id": "", **({"imei": ""} if rng.random() < 0.5 else {})}
        for day in np.sort(t0 + rng.uniform(0, 3.0, size=int(rng.integers(10, 40)))).tolist():
            rows.append((start_ms + int(day * DAY_MS), first_id + p, _farm_state(rng, d, cal, day), net,
                         "app:android", True))
    return rows


def _legacy(n: int, days: float, seed: int | None, start_ms: int) -> DriftStream:
    from ..synth.devices import simulate_drift  # the old process (synth sits above fingerprint)

    per = 10
    s = simulate_drift(n_devices=n, observations_per_device=per, drift_rate=0.3, seed=seed, start=start_ms,
                       days=days)
    os_ = np.array([f"{d.get('source', 'web')}:{d.get('os') or _web_os(d)}" for d in s.devices], dtype=object)
    return DriftStream(devices=s.devices, truth=s.truth, ts=s.ts, ip_prefix=np.full(len(s), None, dtype=object),
                       os=os_, farm=s.farm, scenario="legacy")


def _web_os(d: dict[str, Any]) -> str:
    ua = str(d.get("user_agent", ""))
    return "ios" if "iPhone" in ua else "android" if "Android" in ua else "macos" if "Mac OS" in ua else "windows"
