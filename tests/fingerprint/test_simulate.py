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
