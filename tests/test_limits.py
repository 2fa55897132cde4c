"""Memory is bounded by documented limits: every part of an event, and caches in bytes."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import pytest

import fraudscore as fs
from fraudscore import limits
from fraudscore.errors import EventError
from fraudscore.fingerprint import Fingerprinter
from fraudscore.keys import Keys
from fraudscore.schema import DEFAULT_SCHEMA

from .helpers import SECRET, small_bundle

DOC = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
BASE = {"application_id": "A", "ts": 1795946400}


def test_the_docs_hold_the_limits_table_verbatim():
    assert limits.limits_table() in DOC.read_text()
    assert set(limits.LIMITS) <= set(limits.__all__)


@pytest.mark.parametrize("patch, field, ok_patch", [
    ({"phone": "1" * 513}, "phone", {"phone": "1" * 512}),
    ({"promo": "x" * 513}, "<extra field>", {"promo": "x" * 512}),
    ({"p" * 65: 1}, "<extra field>", {"p" * 64: 1}),
    ({"device": {"os": "ios", **{f"a{i}": 1 for i in range(64)}}}, "device",
     {"device": {"os": "ios", **{f"a{i}": 1 for i in range(63)}}}),
    ({"device": {"os": "ios", "a" * 65: 1}}, "device", {"device": {"os": "ios", "a" * 64: 1}}),
    ({"device": {"user_agent": "u" * 2049}}, "device.user_agent", {"device": {"user_agent": "u" * 2048}}),
    ({"device": {"languages": ["x"] * 257}}, "device.languages", {"device": {"languages": ["x"] * 256}}),
    ({"device": {"languages": ["x" * 257]}}, "device.languages", {"device": {"languages": ["x" * 256]}}),
    ({"device": {"os": "ios", **{f"k{i:02d}": "v" * 1000 for i in range(17)}}}, "device",
     {"device": {"os": "ios", **{f"k{i:02d}": "v" * 1000 for i in range(16)}}}),
    ({"device": {"color_depth": 2**1024}}, "device.color_depth", {"device": {"color_depth": 2**1000}}),
    ({"amount": 2**1024}, "amount", {"amount": 10**8}),
    ({f"f{i}": None for i in range(limits.MAX_EVENT_FIELDS - 1)}, "event",
     {f"f{i}": None for i in range(limits.MAX_EVENT_FIELDS - 2)}),
])
def test_every_part_of_an_event_is_limited(patch, field, ok_patch):
    with pytest.raises(EventError) as info:
        DEFAULT_SCHEMA.validate({**BASE, **patch})
    assert info.value.field == field
    DEFAULT_SCHEMA.validate({**BASE, **ok_patch})
    b = fs.Scorer(small_bundle(), SECRET).score_batch([{**BASE, **patch}, {**BASE, "application_id": "B",
                                                                           **ok_patch}])
    assert [(e.row, e.field) for e in b.errors] == [(0, field)] and len(b) == 1


def test_the_reported_device_is_refused():
    """63 unknown attributes of 2 KB: ~139 KB retained per unique device before; now refused."""
    dev = {f"unknown_{i}": "x" * 2048 for i in range(63)}
    with pytest.raises(EventError, match="at most 16384 characters"):
        DEFAULT_SCHEMA.validate({**BASE, "device": dev})


def _big_device(i: int) -> dict:
    """A device at the size limit, unique per ``i`` (known and unknown attributes)."""
    dev = {"user_agent": f"Mozilla/5.0 ({i}) " + "A" * 1900, "model": f"M{i}-" + "m" * 1500,
           "webgl_renderer": f"R{i}" + "r" * 1500, "platform": f"P{i}" + "p" * 1500}
    dev.update({f"extra_{j}": f"{i}-{j}-" + "e" * 1400 for j in range(6)})
    return DEFAULT_SCHEMA.validate({**BASE, "device": dev})["device"]


def _retained(fn) -> int:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    keep = fn()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del keep
    return after - before


def test_fingerprint_cache_is_bounded_in_bytes():
    budget = 512 * 1024
    fpr = Fingerprinter(Keys(SECRET), cache_size=65_536, cache_bytes=budget)
    devices = [_big_device(i) for i in range(400)]
    for d in devices:
        fpr.fingerprint(d)
        assert fpr.cache_bytes_used <= budget
    assert 10 < len(fpr._cache) < 400  # bytes, not entries, bound it here


def test_caches_retain_bounded_memory_per_unique_device(monkeypatch):
    """Fingerprinting many unique large devices: retained memory stays near the byte budgets."""
    from fraudscore.fingerprint import canonical, device_signals, signals

    monkeypatch.setattr(canonical._BUDGET, "budget", 256 * 1024)
    monkeypatch.setattr(signals._BUDGET, "budget", 256 * 1024)
    canonical._BUDGET.clear()
    signals._BUDGET.clear()
    fpr = Fingerprinter(Keys(SECRET), cache_bytes=512 * 1024)
    fpr._budget.budget = 256 * 1024
    devices = [_big_device(i) for i in range(600)]

    def run():
        for d in devices:
            device_signals(fpr.fingerprint(d))
        return fpr

    grown = _retained(run)
    unbounded = 600 * 16_000  # what keeping every device's text would retain
    assert grown < 3 * 2**20 < unbounded, grown
    assert canonical._BUDGET.used <= 256 * 1024 and signals._BUDGET.used <= 256 * 1024


def test_identity_cache_entries_are_fixed_size():
    sc = fs.Scorer(small_bundle(), SECRET)
    ident = sc.pipeline.identity
    ident._kernel = None  # the reference describers fill the cache (the compiled kernel needs none)
    long_vals = [{"phone": f"{i}" + "9" * 500, "email": "e" * 400 + f"{i}@x.com", "ts": 1795946400000}
                 for i in range(2000)]

    def run():
        for ev in long_vals:
            ident.process(ev)
        return ident

    del long_vals[:0]
    grown = _retained(run)
    entries = len(ident._cache)
    assert entries >= 2000 and grown / entries < limits.IDENTITY_ENTRY_BYTES, grown / entries
