"""Synthetic loan-application data with known fraud, and device drift with ground truth.

Real loan data is private; the demo, the tests and the benchmarks use this
deterministic (seeded) generator instead. See ``docs/synth.md``.

Examples
--------
>>> from fraudscore.synth import generate, SCENARIOS
>>> data = generate(n_days=3, per_day=1000, seed=0)
>>> set(data.labels["scenario"]) == set(SCENARIOS)
True
"""

from .applications import DEFAULT_SCENARIO_MIX, generate
from .data import SCENARIOS, SyntheticData
from .devices import HARDWARE_KEYS, RESETTABLE_KEYS, DriftSample, drift, random_device, random_devices, simulate_drift
from .shift import add_campaign, shift_field

__all__ = [
    "generate",
    "SyntheticData",
    "SCENARIOS",
    "DEFAULT_SCENARIO_MIX",
    "random_device",
    "random_devices",
    "drift",
    "simulate_drift",
    "DriftSample",
    "HARDWARE_KEYS",
    "RESETTABLE_KEYS",
    "shift_field",
    "add_campaign",
]
