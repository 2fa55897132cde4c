"""The network process of the drift simulator: which /24 each observation comes from.

Two processes, chosen per scenario by :mod:`fraudscore.fingerprint.simulate`:

* ``"flat"`` (the original one, kept for every scenario that had it): each device has
  its own random home /24 (desktops also a work /24) and a phone on the carrier
  network shows a random /24 of a huge private pool -- every network is unique to
  one device, which flatters any linker that trusts the network;
* ``"grounded"``: the lender's devices live in **households** (a second device of a
  household is sometimes the same phone model with default settings, see
  ``household_same_model_share``); households sit on **residential /24s** shared
  with other households (``lines_per_residential_24`` x ``lender_penetration`` of
  them are the lender's), whose addresses **change** -- periodically (daily) on some
  ISPs, after outages on the others, often to another routed prefix -- and some lines
  are behind a **carrier-grade NAT**; phones spend ``wifi_share_mobile`` of their
  observations on their home Wi-Fi and the rest on their carrier, whose CGNAT shows
  every cellular subscriber on a small pool of public /24s
  (``cgnat_subscribers_per_address`` x 256 x ``lender_penetration`` of the lender's
  devices per /24); desktops are at home or in an office shared with colleagues.

The numbers and their sources are in :mod:`fraudscore.fingerprint.simparams`. Pool sizes
follow the *density* of the lender's devices per /24, so the process does not depend on
how many devices a simulation draws.

Examples
--------
>>> import numpy as np
>>> from fraudscore.fingerprint.simdevices import _new_web
>>> rng = np.random.default_rng(0)
>>> devs = [_new_web(rng, "android") for _ in range(50)]
>>> net = _Network(rng, devs, _NetSpec(), days=30.0)
>>> home = net.observe(rng, 0, 3.0)
>>> home.endswith(".0/24")
True
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, replace

import numpy as np

from .simcatalog import _SIM, _SIM_P
from .simdevices import _Dev, _lag
from .simparams import value as V

#: China Mobile, Unicom, Telecom by SIM operator code (the carrier whose CGNAT a phone's cellular traffic leaves by)
_CARRIER = {"46000": 0, "46002": 0, "46007": 0, "46001": 1, "46003": 2, "46011": 2}
_BLOCK = 16  # /24s in one routed prefix of a residential pool (a /20)


@dataclass(frozen=True)
class _NetSpec:
    """Parameters of the grounded network process (defaults: :mod:`simparams`)."""

    wifi_share: float = V("wifi_share_mobile")
    subscribers_per_address: float = V("cgnat_subscribers_per_address")
    penetration: float = V("lender_penetration")
    fixed_cgnat_share: float = V("fixed_cgnat_share")
    lines_per_24: float = V("lines_per_residential_24")
    second_device_share: float = V("household_second_device_share")
    same_model_share: float = V("household_same_model_share")
    periodic_share: float = V("renumber_periodic_share")
    period_days: float = V("renumber_period_days")
    change_rate: float = V("address_change_rate")
    new_prefix_share: float = V("renumber_new_prefix_share")
    office_per_24: float = V("office_devices_per_24")
    isps: int = 3

    def harder(self) -> "_NetSpec":
        """The harder variant: every line renumbered daily, twice the CGN lines, more same-model households."""
        return replace(self, periodic_share=1.0, fixed_cgnat_share=0.2, second_device_share=0.3,
                       same_model_share=0.5, penetration=0.04)


def households(rng: np.random.Generator, devs: list[_Dev], spec: _NetSpec) -> list[int]:
    """The household of each device; a second device of a household may become a twin of its first phone.

    Replaces (in place) a mobile browser that becomes a same-model twin by a copy of the household's
    first mobile browser's hardware with default settings, as the ``identical`` scenario's groups do.
    """
    home: list[int] = []
    first_phone: dict[int, _Dev] = {}
    n = 0
    for i, d in enumerate(devs):
        if n and rng.random() < spec.second_device_share:
            h = int(rng.integers(0, n))
        else:
            h, n = n, n + 1
        home.append(h)
        if d.kind == "web" and d.os in ("android", "ios"):
            proto = first_phone.get(h)
            if proto is None:
                first_phone[h] = d
            elif proto.os == d.os and rng.random() < spec.same_model_share:
                devs[i] = _Dev("web", d.os, dict(proto.hw), _lag(rng, V("ios_update_lag_mean_days")),
                               langs=proto.langs, font_list=proto.font_list)
    return home


class _Network:
    """Where each device is on a given day (see the module docstring)."""

    def __init__(self, rng: np.random.Generator, devs: list[_Dev], spec: _NetSpec, days: float,
                 household: list[int] | None = None) -> None:
        self.spec = spec
        self.household = household if household is not None else list(range(len(devs)))
        n_h = max(self.household) + 1 if self.household else 1
        isp = rng.integers(0, spec.isps, size=n_h)
        self.isp = isp.tolist()
        self.cgn_line = (rng.random(n_h) < spec.fixed_cgnat_share).tolist()
        per24 = max(1.0, spec.lines_per_24 * spec.penetration)  # the lender's households on one residential /24
        self.res_pool = [max(1, math.ceil(int((isp == k).sum()) / per24)) for k in range(spec.isps)]
        per_cgn = max(1.0, 256 * spec.subscribers_per_address * spec.penetration)  # lender devices per CGNAT /24
        self.fixed_cgn_pool = [max(1, math.ceil(int(((isp == k) & np.array(self.cgn_line, dtype=bool)).sum())
                                                / per_cgn)) for k in range(spec.isps)]
        self.carrier = [(_CARRIER.get(d.sim, 0) if d.kind == "app"
                         else _CARRIER[_SIM[int(rng.choice(len(_SIM), p=_SIM_P))]]) for d in devs]
        mobile = [d.kind == "app" or d.os in ("android", "ios") for d in devs]
        self.mobile = mobile
        self.cell_pool = [max(1, math.ceil(sum(1 for m, c in zip(mobile, self.carrier) if m and c == k) / per_cgn))
                          for k in range(3)]
        desks = [i for i, m in enumerate(mobile) if not m]
        n_off = max(1, math.ceil(len(desks) / spec.office_per_24))
        self.office = {i: int(rng.integers(0, n_off)) for i in desks}
        # each household's address history: change days and the /24 from each change on
        self.changes: list[list[float]] = []
        self.nets: list[list[int]] = []
        for h in range(n_h):
            k = self.isp[h]
            if rng.random() < spec.periodic_share:
                t = float(rng.uniform(0, spec.period_days))
                times = np.arange(t, days, spec.period_days).tolist()
            else:
                times = sorted(rng.uniform(0, days, size=int(rng.poisson(spec.change_rate * days))).tolist())
            cur = int(rng.integers(0, self.res_pool[k]))
            seq = [cur]
            for _ in times:
                if rng.random() < spec.new_prefix_share or self.res_pool[k] <= _BLOCK:
                    cur = int(rng.integers(0, self.res_pool[k]))
                else:  # another /24 of the same routed prefix
                    base = cur - cur % _BLOCK
                    cur = min(self.res_pool[k] - 1, base + int(rng.integers(0, _BLOCK)))
                seq.append(cur)
            self.changes.append([0.0, *times])
            self.nets.append(seq)

    def home(self, rng: np.random.Generator, i: int, day: float) -> str:
        """The home /24 of device ``i`` on ``day`` (a CGNAT pool /24 for a line behind CGN)."""
        h = self.household[i]
        k = self.isp[h]
        if self.cgn_line[h]:
            return _net(120 + k, int(rng.integers(0, self.fixed_cgn_pool[k])))
        j = bisect.bisect_right(self.changes[h], day) - 1
        return _net(100 + k, self.nets[h][j])

    def observe(self, rng: np.random.Generator, i: int, day: float) -> str:
        """The /24 one observation of device ``i`` on ``day`` comes from."""
        if self.mobile[i]:
            if rng.random() < self.spec.wifi_share:
                return self.home(rng, i, day)
            c = self.carrier[i]
            return _net(200 + c, int(rng.integers(0, self.cell_pool[c])))
        if rng.random() < 0.7:
            return self.home(rng, i, day)
        return _net(60, self.office[i])


def _net(first: int, idx: int) -> str:
    return f"{first}.{(idx >> 8) & 255}.{idx & 255}.0/24"
