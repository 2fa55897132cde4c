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
  most observations), IP /24 prefixes (home, work, carrier): flat (a network of its own per
  device) in the original scenarios, grounded in measurements (households, shared and
  renumbered residential /24s, carrier-grade NAT: :mod:`fraudscore.fingerprint.simnet`) in
  the ``*-net`` ones;
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
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from .simcatalog import _FONT_PACKS, _LANGS, _LANGS_P, _RARE_FONTS, _SIM, _SIM_P, _TZ_HOME, _TZ_TRAVEL
from .simdevices import (_Calendar, _Dev, _ip, _lag, _new_app, _new_web, _observe_ip, _render_app, _render_web,
                         _state_key, _uuid)
from .simnet import _Network, _NetSpec, households
from .simparams import value as V

__all__ = ["DriftStream", "SCENARIOS", "simulate", "DEFAULT_START_MS"]

DAY_MS = 86_400_000
DEFAULT_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


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
    network: str = "flat"  # "flat" (every network unique to one device), "grounded" or "harder" (simnet)
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
    "web-net": _Scenario(_WEB_MIX, network="grounded",
                         note="web, with the grounded network process: households, shared and renumbered "
                              "residential /24s, carrier-grade NAT"),
    "mixed-net": _Scenario(_MIXED, network="grounded",
                           note="mixed, with the grounded network process (see simnet)"),
    "mixed-net-hard": _Scenario(_MIXED, network="harder",
                                note="mixed, harder networks: daily renumbering everywhere, more CGN lines, "
                                     "denser /24s, more same-model households"),
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
        ``"drivers"``, ``"web-net"``, ``"mixed-net"``, ``"mixed-net-hard"`` (the grounded network
        process of :mod:`fraudscore.fingerprint.simnet`) or ``"legacy"``.
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
    fraudscore.errors.ConfigError: The 'scenario' parameter of simulate must be one of ('web', 'mixed', 'identical', 'farm', 'heavy', 'fonts', 'drivers', 'web-net', 'mixed-net', 'mixed-net-hard', 'legacy'). Got 'toaster' instead.
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
    net: _Network | None = None
    if sc.network == "flat":
        for d in devs:
            home = _ip(rng)
            d.ips = (home, _ip(rng)) if d.kind == "web" and d.os in ("windows", "macos") else (home,)
    else:
        spec = _NetSpec() if sc.network == "grounded" else _NetSpec().harder()
        net = _Network(rng, devs, spec, days, households(rng, devs, spec))
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
            ip = _observe_ip(rng, d) if net is None else net.observe(rng, i, day)
            rows.append((start_ms + int(day * DAY_MS), i, obs, ip, label, False))
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
