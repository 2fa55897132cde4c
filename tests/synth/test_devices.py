import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.errors import ConfigError
from fraudscore.schema import DEFAULT_SCHEMA
from fraudscore.synth import HARDWARE_KEYS, RESETTABLE_KEYS, drift, random_device, random_devices, simulate_drift
from fraudscore.synth._digits import luhn_valid

WEB_KEYS = {"user_agent", "platform", "screen", "color_depth", "timezone", "languages", "fonts_hash", "canvas_hash",
            "webgl_vendor", "webgl_renderer", "hardware_concurrency", "touch_support"}
APP_KEYS = {"os", "os_version", "model", "manufacturer", "app_version", "emulator", "rooted", "sim_operator",
            "screen", "timezone", "languages"}


@pytest.mark.parametrize("platform", ["android", "ios", "web"])
def test_random_device_attribute_names(platform):
    rng = np.random.default_rng(0)
    for _ in range(20):
        d = random_device(rng, platform)
        assert WEB_KEYS <= set(d) if platform == "web" else APP_KEYS <= set(d)
        assert d["source"] == ("web" if platform == "web" else "app")
        if platform == "android":
            assert len(d["android_id"]) == 16 and "idfv" not in d
            if "imei" in d:
                assert len(d["imei"]) == 15 and luhn_valid(d["imei"])
        if platform == "ios":
            assert d["manufacturer"] == "Apple" and len(d["idfv"]) == 36
        DEFAULT_SCHEMA.validate({"application_id": "A", "ts": 1767571200000, "device": d})
        json.dumps(d)


def test_emulators_and_platform_arrays():
    devs = random_devices(1, 200, "android", emulator=True)
    assert all(d["emulator"] for d in devs)
    plats = np.array(["web", "android", "ios"] * 10, dtype=object)
    devs = random_devices(2, 30, plats)
    assert [d.get("os", "web") for d in devs] == plats.tolist()
    with pytest.raises(ConfigError):
        random_devices(0, 2, "fridge")


def test_same_model_near_duplicates_exist():
    devs = random_devices(3, 500, "android")
    models = [d["model"] for d in devs]
    assert max(models.count(m) for m in set(models)) > 30
    assert len({d["android_id"] for d in devs}) == 500


@settings(deadline=None, max_examples=40)
@given(seed=st.integers(0, 2**32 - 1), platform=st.sampled_from(["android", "ios", "web"]),
       kind=st.sampled_from(["natural", "farm"]))
def test_drift_keeps_hardware_and_returns_new_dict(seed, platform, kind):
    rng = np.random.default_rng(seed)
    d = random_device(rng, platform)
    before = json.dumps(d, sort_keys=True)
    n = drift(d, rng, kind=kind)
    assert n is not d and json.dumps(d, sort_keys=True) == before  # input untouched
    assert n != d
    for k in HARDWARE_KEYS & set(d):
        assert n[k] == d[k] or (kind == "natural" and k == "screen")
    if kind == "farm":
        for k in RESETTABLE_KEYS & set(d):
            assert n[k] != d[k], k
        assert n.get("emulator") == d.get("emulator") and n.get("rooted") == d.get("rooted")
    DEFAULT_SCHEMA.validate({"application_id": "A", "ts": 1767571200000, "device": n})


def test_natural_drift_moves_versions_forward():
    rng = np.random.default_rng(4)
    d = random_device(rng, "android")
    for _ in range(30):
        n = drift(d, rng, n_changes=1)
        if n["app_version"] != d["app_version"]:
            assert tuple(map(int, n["app_version"].split("."))) > tuple(map(int, d["app_version"].split(".")))
        assert n["android_id"] == d["android_id"] or n["app_version"] == d["app_version"]
        d = n


def test_simulate_drift_ground_truth():
    s = simulate_drift(n_devices=300, observations_per_device=6, drift_rate=0.4, seed=9)
    assert len(s) == 1800 and s.truth.dtype == np.int64 and s.ts.dtype == np.int64
    assert (np.diff(s.ts) >= 0).all()
    assert np.bincount(s.truth).tolist() == [6] * 300
    # drifted flags match actual changes from the device's previous observation
    last: dict[int, dict] = {}
    changed = []
    for dev, t, flag in zip(s.devices, s.truth.tolist(), s.drifted.tolist()):
        if t in last:
            assert (dev != last[t]) == flag
            changed.append(flag)
            for k in ("model", "platform", "webgl_renderer", "hardware_concurrency"):
                assert dev.get(k) == last[t].get(k)
        else:
            assert not flag
        last[t] = dev
    assert 0.3 < np.mean(changed) < 0.5
    again = simulate_drift(n_devices=300, observations_per_device=6, drift_rate=0.4, seed=9)
    assert again.devices == s.devices and (again.truth == s.truth).all()


def test_simulate_drift_farm_and_validation():
    s = simulate_drift(n_devices=50, observations_per_device=4, drift_rate=1.0, farm_fraction=1.0, seed=1)
    assert s.farm.all() and s.drifted.sum() == 150
    with pytest.raises(ConfigError, match="drift_rate"):
        simulate_drift(drift_rate=1.5)
    with pytest.raises(ConfigError, match="n_devices"):
        simulate_drift(n_devices=0)


def test_pyrng_drift_is_seeded_and_keeps_properties():
    from fraudscore.synth._pyrng import PyRng

    base = random_devices(5, 60, np.array(["android", "ios", "web"] * 20, dtype=object))
    runs = []
    for _ in range(2):
        fast = PyRng(np.random.default_rng(1))
        runs.append([drift(d, fast, kind=kind) for d in base for kind in ("natural", "farm")])
    assert runs[0] == runs[1]  # same seed, same drift
    for i, d in enumerate(base):
        nat, farm = runs[0][2 * i], runs[0][2 * i + 1]
        assert nat != d and farm != d
        for k in HARDWARE_KEYS & set(d):
            assert farm[k] == d[k]
        for k in RESETTABLE_KEYS & set(d):
            assert farm[k] != d[k], k
        if "imei" in farm:
            assert luhn_valid(farm["imei"]) and farm["imei"][:8] == d["imei"][:8]
        DEFAULT_SCHEMA.validate({"application_id": "A", "ts": 1767571200000, "device": nat})


def test_pyrng_choice_frequencies():
    from fraudscore.synth._pyrng import PyRng

    r = PyRng(np.random.default_rng(0))
    draws = np.array([r.choice(3, p=np.array([0.6, 0.3, 0.1])) for _ in range(4000)])
    assert np.allclose(np.bincount(draws, minlength=3) / 4000, [0.6, 0.3, 0.1], atol=0.03)
    picks = [tuple(r.choice(4, size=2, replace=False, p=[0.7, 0.1, 0.1, 0.1])) for _ in range(2000)]
    assert all(a != b for a, b in picks) and np.mean([0 in p for p in picks]) > 0.8


def test_devices_have_their_own_dicts_and_lists():
    devs = random_devices(0, 300, np.array(["android", "ios", "web"] * 100, dtype=object))
    assert len({id(d) for d in devs}) == 300
    assert len({id(d["languages"]) for d in devs}) == 300
