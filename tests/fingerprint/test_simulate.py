"""The drift simulator: reproducible, grounded parameters, the processes each scenario promises."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fraudscore.errors import ConfigError
from fraudscore.fingerprint import Fingerprinter
from fraudscore.fingerprint.simparams import PARAMS, SOURCES, parameter_table
from fraudscore.fingerprint.simulate import SCENARIOS, simulate
from fraudscore.keys import Keys

FPR = Fingerprinter(Keys(b"test-secret-for-fingerprints-0003"))


def test_every_parameter_names_a_source():
    assert all(p.source in SOURCES and p.note for p in PARAMS.values())
    assert parameter_table().count("\n") == len(PARAMS) + 1


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenarios_are_reproducible_and_ordered(scenario):
    a = simulate(scenario, n_devices=40, days=20, seed=5)
    b = simulate(scenario, n_devices=40, days=20, seed=5)
    assert a.devices == b.devices and (a.truth == b.truth).all() and (np.diff(a.ts) >= 0).all()
    assert len(a) == len(a.os) == len(a.farm) == len(a.ip_prefix)


def _major(ua):
    m = re.search(r"(?:Chrome|Firefox)/(\d+)", ua)
    return int(m.group(1)) if m else None


def test_versions_go_forward_and_releases_follow_the_calendar():
    s = simulate("web", n_devices=300, days=90, seed=2)
    last: dict[int, int] = {}
    majors = set()
    for d, t in zip(s.devices, s.truth.tolist()):
        v = _major(d["user_agent"]) if "Android" in d["user_agent"] or "Windows" in d["user_agent"] else None
        if v is None:
            continue
        majors.add(v)
        assert v >= last.get(t, 0)
        last[t] = v
    assert 3 <= len(majors) <= 12  # a 4-week cadence over 90 days (Chrome and Firefox, plus laggards)


def test_identical_phones_share_fingerprints_and_desktops_do_not():
    s = simulate("identical", n_devices=200, days=30, seed=1)
    first = {}
    for d, t in zip(s.devices, s.truth.tolist()):
        first.setdefault(t, FPR.fingerprint(d).id)
    ids = list(first.values())
    assert len(set(ids)) < 0.6 * len(ids)
    w = simulate("fonts", n_devices=200, days=30, seed=1)
    assert w.os.tolist().count("web:windows") > 0


def test_farm_phones_share_model_and_network_and_reset_ids():
    s = simulate("farm", n_devices=50, days=20, seed=4)
    f = np.flatnonzero(s.farm)
    assert len(f) > 20
    by_phone: dict[int, list[dict]] = {}
    for i in f.tolist():
        by_phone.setdefault(int(s.truth[i]), []).append(s.devices[i])
    for devs in by_phone.values():
        assert len({d["android_id"] for d in devs}) == len(devs)  # reset every application
    nets: dict[int, set] = {}
    for i in f.tolist():
        nets.setdefault(int(s.truth[i]), set()).add(s.ip_prefix[i])
    assert all(len(v) == 1 for v in nets.values())  # a phone stays on its farm's /24
    assert len(set().union(*nets.values())) <= 6 < len(nets)  # one /24 per farm, several phones each


def test_heavy_tail_concentrates_activity():
    def top_share(sc):
        c = np.sort(np.bincount(simulate(sc, n_devices=400, days=60, seed=3).truth))[::-1]
        return c[: len(c) // 20].sum() / c.sum()

    assert top_share("heavy") > top_share("web") + 0.1


def test_bad_arguments():
    with pytest.raises(ConfigError, match="'scenario' parameter of simulate"):
        simulate("nope")
    with pytest.raises(ConfigError, match="'n_devices' parameter of simulate"):
        simulate("web", n_devices=0)


def _devices_per_net(s):
    per: dict[str, set] = {}
    for ip, d in zip(s.ip_prefix.tolist(), s.truth.tolist()):
        per.setdefault(ip, set()).add(d)
    return per


def test_grounded_networks_are_shared_and_the_flat_ones_are_not():
    """The *-net scenarios put many of the lender's devices on a carrier-grade NAT /24 and several households on a
    residential one; the flat process (every other scenario) gives each device networks of its own."""
    flat = _devices_per_net(simulate("mixed", n_devices=600, days=30, seed=2))
    grounded = _devices_per_net(simulate("mixed-net", n_devices=600, days=30, seed=2))
    assert np.median([len(v) for v in flat.values()]) == 1 and max(len(v) for v in flat.values()) <= 6
    cgnat = [len(v) for ip, v in grounded.items() if ip.split(".")[0] in ("200", "201", "202")]
    home = [len(v) for ip, v in grounded.items() if ip.split(".")[0] in ("100", "101", "102")]
    assert cgnat and min(cgnat) >= 20 and np.median(home) >= 2 and np.median(home) < min(cgnat)


def test_harder_networks_renumber_more_and_hold_same_model_households():
    def nets_per_device(sc):
        s = simulate(sc, n_devices=400, days=30, seed=6)
        homes: dict[int, set] = {}
        for ip, d, os_ in zip(s.ip_prefix.tolist(), s.truth.tolist(), s.os.tolist()):
            if os_ in ("web:windows", "web:macos") and ip.split(".")[0] in ("100", "101", "102"):
                homes.setdefault(d, set()).add(ip)
        return np.mean([len(v) for v in homes.values()])
    assert nets_per_device("mixed-net-hard") > 2 * nets_per_device("mixed-net")
    # same-model phones of one household: identical first observations from two devices on one home /24
    s = simulate("mixed-net-hard", n_devices=600, days=30, seed=6)
    first: dict[int, tuple] = {}
    for dev, d, ip in zip(s.devices, s.truth.tolist(), s.ip_prefix.tolist()):
        if dev.get("source") == "web" and ip.split(".")[0] in ("100", "101", "102") and d not in first:
            first[d] = (FPR.fingerprint(dev).id, ip)
    counts: dict[tuple, int] = {}
    for k in first.values():
        counts[k] = counts.get(k, 0) + 1
    assert max(counts.values()) >= 2
