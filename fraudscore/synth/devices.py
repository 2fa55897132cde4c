"""Synthetic device attributes and their drift over time, with ground truth.

Three device kinds are produced, with the attribute names shared with
:mod:`fraudscore.fingerprint`:

* ``"android"`` / ``"ios"`` -- the lender's mobile app (``source="app"``): ``os``,
  ``os_version``, ``model``, ``manufacturer``, ``app_version``, ``android_id`` and
  ``imei`` (Android; ``imei`` only where the app may read it) or ``idfv`` (iOS),
  ``emulator``, ``rooted``, ``sim_operator``, ``screen``, ``timezone``, ``languages``.
* ``"web"`` -- a browser (``source="web"``; desktop, Android H5 or iPhone Safari /
  WeChat): ``user_agent``, ``platform``, ``screen``, ``color_depth``, ``timezone``,
  ``languages``, ``fonts_hash``, ``canvas_hash``, ``webgl_vendor``, ``webgl_renderer``,
  ``hardware_concurrency``, ``device_memory`` (absent on Safari / Firefox),
  ``touch_support``.

Hardware comes from a small catalogue with skewed popularity, so many distinct
physical devices share an identical hardware section (same phone model bought by
many people) and linking precision is genuinely tested.

:func:`drift` returns a new state of one device. ``kind="natural"`` is what real
devices do: app / OS / browser versions move forward, occasionally the font list,
languages, timezone, SIM, screen (external monitor) or canvas rendering (driver
update) change, and rarely a resettable id is reset. ``kind="farm"`` is what a
device farm does between two applications: resettable ids (``android_id``,
``idfv``, ``imei``), canvas noise, font list, languages, SIM and versions are
randomised, while the hardware (:data:`HARDWARE_KEYS`) stays.

:func:`simulate_drift` makes an observation log of many devices with ground truth
identity, for the fingerprint linking benchmark.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> d = random_device(rng, "android")
>>> d["source"], d["os"], sorted(k for k in d if k in HARDWARE_KEYS)
('app', 'android', ['manufacturer', 'model', 'screen'])
>>> f = drift(d, rng, kind="farm")
>>> f["model"] == d["model"] and f["android_id"] != d["android_id"]
True
>>> s = simulate_drift(n_devices=50, observations_per_device=4, seed=1)
>>> len(s), int(s.truth.max()), bool((np.diff(s.ts) >= 0).all())
(200, 49, True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import ConfigError
from ..timeutil import to_epoch_ms
from ._digits import random_digits

__all__ = [
    "random_device",
    "random_devices",
    "drift",
    "simulate_drift",
    "DriftSample",
    "PLATFORMS",
    "HARDWARE_KEYS",
    "RESETTABLE_KEYS",
]

Platform = Literal["android", "ios", "web"]
PLATFORMS: tuple[str, ...] = ("android", "ios", "web")
HARDWARE_KEYS: frozenset[str] = frozenset({
    "model", "manufacturer", "screen", "platform", "color_depth", "webgl_vendor", "webgl_renderer",
    "hardware_concurrency", "device_memory", "touch_support",
})
"""Attributes a device farm cannot change (the physical hardware)."""
RESETTABLE_KEYS: frozenset[str] = frozenset({"android_id", "idfv", "imei", "canvas_hash"})
"""Ids and noise a device farm randomises on every application."""

from ._catalog import _ANDROID_OS, _ANDROID_OS_P, _APP_P, _APP_VERSIONS, _LANGS, _LANGS_P, _SIM, _SIM_P, _TZ
from ._build import _app_devices, _p, _web_devices
from ._digits import _VARIANT
from ._pyrng import PyRng


def random_devices(rng: np.random.Generator | int | None, n: int, platform: str | np.ndarray = "android", *,
                   emulator: np.ndarray | bool = False, rooted: np.ndarray | bool | None = None
                   ) -> list[dict[str, Any]]:
    """Draw ``n`` independent devices at once (vectorised).

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Random source (an int seeds a new generator).
    n : int
        Number of devices.
    platform : {"android", "ios", "web"} or array of them
        One platform for all, or one per device.
    emulator : bool or bool array, default False
        Android only: an emulator (emulator model, ``emulator=True``).
    rooted : bool or bool array, optional
        Rooted / jailbroken; by default 2 % of Android and 0.5 % of iOS devices.

    Returns
    -------
    list of dict
        Fresh device attribute mappings, in the order of ``platform``.

    Examples
    --------
    >>> devs = random_devices(0, 3, np.array(["web", "ios", "android"]))
    >>> [d.get("os", d["source"]) for d in devs]
    ['web', 'ios', 'android']
    """
    rng = np.random.default_rng(rng)
    plat = np.broadcast_to(np.asarray(platform, dtype=object).astype(str), (n,))  # fixed-width: fast compares
    bad = set(np.unique(plat).tolist()) - set(PLATFORMS)
    if bad:
        raise ConfigError(f"The 'platform' parameter of random_devices must be one of {PLATFORMS}. "
                          f"Got {sorted(map(str, bad))[0]!r} instead.")
    emu = np.broadcast_to(np.asarray(emulator, dtype=bool), (n,)) & (plat == "android")
    if rooted is None:
        root = rng.random(n) < np.where(plat == "android", 0.02, 0.005)
        root |= emu & (rng.random(n) < 0.5)
    else:
        root = np.broadcast_to(np.asarray(rooted, dtype=bool), (n,)) & (plat != "web")
    out = np.empty(n, dtype=object)
    for p in PLATFORMS:
        idx = np.flatnonzero(plat == p)
        if idx.size == 0:
            continue
        devs = _web_devices(rng, idx.size) if p == "web" else _app_devices(rng, idx.size, p, emu[idx], root[idx])
        if idx.size == n:
            return devs
        block = np.empty(idx.size, dtype=object)
        block[:] = devs
        out[idx] = block
    return out.tolist()


def random_device(rng: np.random.Generator | int | None, platform: Platform = "android", *,
                  emulator: bool = False, rooted: bool | None = None) -> dict[str, Any]:
    """Draw one realistic device (see :func:`random_devices`).

    Examples
    --------
    >>> d = random_device(np.random.default_rng(3), "web")
    >>> d["source"], d["timezone"] in _TZ, isinstance(d["languages"], list)
    ('web', True, True)
    >>> random_device(0, "toaster")
    Traceback (most recent call last):
    ...
    fraudscore.errors.ConfigError: The 'platform' parameter of random_devices must be one of ('android', 'ios', 'web'). Got 'toaster' instead.
    """
    return random_devices(rng, 1, platform, emulator=emulator, rooted=rooted)[0]


# -------------------------------------------------------------------- drift
_NATURAL_APP = (("app_version", 0.42), ("os_version", 0.18), ("languages", 0.10), ("sim_operator", 0.09),
                ("timezone", 0.07), ("reset", 0.03))
_NATURAL_WEB = (("user_agent", 0.42), ("fonts_hash", 0.15), ("languages", 0.10), ("canvas_hash", 0.10),
                ("timezone", 0.07), ("screen", 0.05))
_DESKTOP_SCREENS = ("1920x1080", "2560x1440", "3440x1440", "1680x1050", "1600x900")
_N_CHANGES_P = (0.6, 0.3, 0.1)
_TABLES = {t: ([x[0] for x in t], _p(np.array([x[1] for x in t]))) for t in (_NATURAL_APP, _NATURAL_WEB)}


def _luhn_digit(payload: str) -> int:
    """Luhn check digit of a digit string (the rightmost payload digit is doubled)."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        v = int(ch) * (2 if i % 2 == 0 else 1)
        total += v - 9 if v > 9 else v
    return (10 - total % 10) % 10


def _hex64(rng: np.random.Generator) -> str:
    return rng.bytes(8).hex()


def _uuid(rng: np.random.Generator) -> str:
    h = rng.bytes(16).hex().upper()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-{h[20:]}"


def _other(rng: np.random.Generator, options: list[Any] | tuple[Any, ...], current: Any,
           p: np.ndarray | None = None) -> Any:
    """A random option different from ``current`` (when there is one)."""
    for _ in range(8):
        choice = options[int(rng.choice(len(options), p=None if p is None else _p(p)))]
        if choice != current:
            return choice
    return next((o for o in options if o != current), current)


def _bump_version(v: str, rng: np.random.Generator) -> str:
    parts = [int(x) if x.isdigit() else 0 for x in str(v).split(".")]
    if len(parts) == 1:
        return str(parts[0] + 1)
    if len(parts) == 2:
        return f"{parts[0]}.{parts[1] + 1}" if parts[1] < 7 or rng.random() < 0.7 else f"{parts[0] + 1}.0"
    if rng.random() < 0.6:
        return f"{parts[0]}.{parts[1]}.{parts[2] + 1}"
    return f"{parts[0]}.{parts[1] + 1}.0"


def _bump_user_agent(ua: str, rng: np.random.Generator) -> str:
    k = int(rng.integers(1, 3))
    ua = re.sub(r"(Chrome/|Edg/|Firefox/|rv:)(\d+)", lambda m: f"{m.group(1)}{int(m.group(2)) + k}", ua)
    m = re.search(r"Version/(\d+)\.(\d+) (?:Mobile/15E148 )?Safari", ua) or re.search(r"iPhone OS (\d+)_(\d+)", ua)
    if m:
        major, minor = int(m.group(1)), int(m.group(2))
        new = f"{major}.{minor + 1}" if minor < 6 else f"{major + 1}.0"
        ua = re.sub(r"Version/\d+\.\d+ ((?:Mobile/15E148 )?Safari)", f"Version/{new} \\1", ua)
        ua = re.sub(r"iPhone OS \d+_\d+", "iPhone OS " + new.replace(".", "_"), ua)
    ua = re.sub(r"MicroMessenger/8\.0\.(\d+)", lambda m: f"MicroMessenger/8.0.{int(m.group(1)) + 1}", ua)
    return ua


def _natural_change(d: dict[str, Any], what: str, rng: np.random.Generator) -> None:
    if what in ("app_version", "os_version", "user_agent") and what not in d:
        what = "timezone"
    if what == "app_version":
        d["app_version"] = _bump_version(d["app_version"], rng)
    elif what == "os_version":
        d["os_version"] = _bump_version(d["os_version"], rng)
    elif what == "user_agent":
        d["user_agent"] = _bump_user_agent(d["user_agent"], rng)
    elif what == "languages":
        d["languages"] = list(_other(rng, _LANGS, tuple(d.get("languages") or ()), _LANGS_P))
    elif what == "sim_operator":
        d["sim_operator"] = _other(rng, _SIM, d.get("sim_operator"), _SIM_P)
    elif what == "timezone":
        d["timezone"] = _other(rng, _TZ, d.get("timezone"))
    elif what in ("fonts_hash", "canvas_hash"):
        d[what] = _hex64(rng)
    elif what == "screen":
        if d.get("touch_support"):  # a phone browser has no external monitor: its browser updates instead
            d["user_agent"] = _bump_user_agent(d["user_agent"], rng)
        else:
            d["screen"] = _other(rng, _DESKTOP_SCREENS, d.get("screen"))
    elif what == "reset":  # factory reset (Android) / reinstall of every app of the vendor (iOS)
        if "idfv" in d:
            d["idfv"] = _uuid(rng)
        if "android_id" in d:
            d["android_id"] = _hex64(rng)


def _farm_change(d: dict[str, Any], rng: np.random.Generator) -> None:
    """What a device-farm tool randomises between two applications; hardware stays."""
    if "android_id" in d:
        d["android_id"] = _hex64(rng)
    if "idfv" in d:
        d["idfv"] = _uuid(rng)
    if "imei" in d:
        payload = d["imei"][:8] + "".join(map(str, random_digits(rng, 1, 6)[0].tolist()))
        d["imei"] = payload + str(_luhn_digit(payload))
    if "canvas_hash" in d:
        d["canvas_hash"] = _hex64(rng)
    if "fonts_hash" in d and rng.random() < 0.5:
        d["fonts_hash"] = _hex64(rng)
    d["languages"] = list(_LANGS[int(rng.choice(len(_LANGS), p=_LANGS_P))])
    if "app_version" in d:
        d["app_version"] = _APP_VERSIONS[int(rng.choice(len(_APP_VERSIONS), p=_p(_APP_P)))]
    if "sim_operator" in d:
        d["sim_operator"] = _SIM[int(rng.choice(len(_SIM), p=_p(_SIM_P)))]
    if d.get("os") == "android":
        d["os_version"] = _ANDROID_OS[int(rng.choice(len(_ANDROID_OS), p=_ANDROID_OS_P))]
    if "user_agent" in d:
        v = int(rng.integers(116, 125))
        d["user_agent"] = re.sub(r"(Chrome/|Edg/|Firefox/|rv:)(\d+)", lambda m: f"{m.group(1)}{v}", d["user_agent"])


def drift(device: dict[str, Any], rng: np.random.Generator | PyRng | int | None, *,
          kind: Literal["natural", "farm"] = "natural", n_changes: int | None = None) -> dict[str, Any]:
    """Return a new, drifted state of ``device`` (the input is not modified).

    Parameters
    ----------
    device : dict
        A device from :func:`random_device` (or an earlier drift).
    rng : numpy.random.Generator or int
        Random source.
    kind : {"natural", "farm"}, default "natural"
        ``"natural"``: one to three natural changes (version bumps forward, occasionally
        fonts, languages, timezone, SIM, screen, canvas, rarely a reset id).
        ``"farm"``: resettable ids and volatile attributes are randomised; the hardware
        (:data:`HARDWARE_KEYS`) and the emulator / rooted flags stay.
    n_changes : int, optional
        Natural drift only: how many changes (default: 1, 2 or 3 with probability
        0.6, 0.3, 0.1).

    Examples
    --------
    >>> rng = np.random.default_rng(7)
    >>> d = random_device(rng, "ios")
    >>> n = drift(d, rng, n_changes=1)
    >>> n is not d, sum(n[k] != d[k] for k in d), {k: n[k] for k in HARDWARE_KEYS & set(d)} == {
    ...     k: d[k] for k in HARDWARE_KEYS & set(d)}
    (True, 1, True)
    """
    rng = rng if isinstance(rng, PyRng) else np.random.default_rng(rng)
    if kind not in ("natural", "farm"):
        raise ConfigError(f"The 'kind' parameter of drift must be 'natural' or 'farm'. Got {kind!r} instead.")
    out = {k: (list(v) if isinstance(v, list) else v) for k, v in device.items()}
    if kind == "farm":
        _farm_change(out, rng)
        return out
    k = int(rng.choice(3, p=_N_CHANGES_P)) + 1 if n_changes is None else int(n_changes)
    table = _NATURAL_WEB if out.get("source") == "web" or "user_agent" in out else _NATURAL_APP
    names, probs = _TABLES[table]
    for what in rng.choice(len(names), size=min(max(k, 0), len(names)), replace=False, p=probs):
        _natural_change(out, names[int(what)], rng)
    return out


@dataclass
class DriftSample:
    """Observations of many devices over time, with ground-truth identity.

    Attributes
    ----------
    devices : list of dict
        The observed device attribute mappings, in time order.
    truth : numpy.ndarray of int64
        The true physical device of each observation (0 .. n_devices - 1).
    ts : numpy.ndarray of int64
        Observation times (epoch ms), non-decreasing.
    drifted : numpy.ndarray of bool
        Whether the observation differs from the same device's previous one.
    farm : numpy.ndarray of bool
        Whether the device drifts like a device farm.

    Examples
    --------
    >>> s = simulate_drift(n_devices=10, observations_per_device=3, seed=0)
    >>> len(s), np.bincount(s.truth).tolist() == [3] * 10
    (30, True)
    """

    devices: list[dict[str, Any]]
    truth: np.ndarray
    ts: np.ndarray
    drifted: np.ndarray
    farm: np.ndarray

    def __len__(self) -> int:
        return len(self.devices)


def simulate_drift(n_devices: int = 2000, observations_per_device: int = 10, drift_rate: float = 0.3,
                   seed: int | None = 0, *, platform_mix: tuple[float, float, float] = (0.45, 0.25, 0.30),
                   farm_fraction: float = 0.0, start: str | int = "2026-01-05", days: float = 90.0) -> DriftSample:
    """Simulate devices observed repeatedly while their attributes drift.

    Parameters
    ----------
    n_devices : int, default 2000
        Number of distinct physical devices. Hardware comes from a small catalogue,
        so many devices share an identical hardware section.
    observations_per_device : int, default 10
        Observations of each device.
    drift_rate : float, default 0.3
        Probability that an observation drifted since the same device's previous
        one (one to three attributes change at once, see :func:`drift`).
    seed : int, optional
        Random seed; the same seed gives the same sample.
    platform_mix : (float, float, float), default (0.45, 0.25, 0.30)
        Shares of Android app, iOS app and web devices.
    farm_fraction : float, default 0.0
        Share of devices that drift like a device farm (``kind="farm"``) instead.
    start : str or int, default "2026-01-05"
        Start of the observation period; observations spread over ``days`` days.
    days : float, default 90.0
        Length of the observation period.

    Returns
    -------
    DriftSample

    Examples
    --------
    >>> s = simulate_drift(n_devices=20, observations_per_device=5, drift_rate=0.0, seed=3)
    >>> bool(s.drifted.any()), len({str(sorted(d.items())) for d in s.devices})
    (False, 20)
    """
    for name, value, ok in (("n_devices", n_devices, isinstance(n_devices, (int, np.integer)) and n_devices >= 1),
                            ("observations_per_device", observations_per_device,
                             isinstance(observations_per_device, (int, np.integer)) and observations_per_device >= 1),
                            ("drift_rate", drift_rate, 0.0 <= float(drift_rate) <= 1.0),
                            ("farm_fraction", farm_fraction, 0.0 <= float(farm_fraction) <= 1.0),
                            ("days", days, float(days) > 0)):
        if not ok:
            raise ConfigError(f"The {name!r} parameter of simulate_drift is out of range. Got {value!r} instead.")
    mix = np.asarray(platform_mix, dtype=float)
    if mix.shape != (3,) or (mix < 0).any() or mix.sum() <= 0:
        raise ConfigError("The 'platform_mix' parameter of simulate_drift must be three non-negative shares "
                          f"(android, ios, web). Got {platform_mix!r} instead.")
    rng = np.random.default_rng(seed)
    n, k = int(n_devices), int(observations_per_device)
    platforms = np.array(PLATFORMS, dtype=object)[rng.choice(3, size=n, p=mix / mix.sum())]
    base = random_devices(rng, n, platforms)
    is_farm = rng.random(n) < farm_fraction
    t0 = to_epoch_ms(start)
    span = int(float(days) * 86_400_000)
    times = np.sort(t0 + rng.integers(0, span, size=(n, k), dtype=np.int64), axis=1)
    drifts = rng.random((n, k)) < drift_rate
    drifts[:, 0] = False
    devices: list[dict[str, Any]] = []
    for i in range(n):
        state = base[i]
        kind: Literal["natural", "farm"] = "farm" if is_farm[i] else "natural"
        for j in range(k):
            if drifts[i, j]:
                state = drift(state, rng, kind=kind)
            devices.append(state)
    truth = np.repeat(np.arange(n, dtype=np.int64), k)
    order = np.argsort(times.ravel(), kind="stable")
    return DriftSample(devices=[devices[i] for i in order], truth=truth[order], ts=times.ravel()[order],
                       drifted=drifts.ravel()[order], farm=is_farm[truth[order]])
