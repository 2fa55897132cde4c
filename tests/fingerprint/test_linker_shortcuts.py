"""Round 12 (#13) shortcuts of the compiled link stage == the Python reference, bit for bit.

* ``linking_attr.h``: fingerprint attributes read at their slot offsets -- a class-level change (a property put
  over a slot) is seen at once, as ``getattr`` sees it;
* ``linkstate.c``: the state's attributes remembered per ``__dict__`` version -- a state whose settings or
  containers are replaced between calls links as the reference does;
* ``linking_views.h``: the trees' rows and output through two reusable exporters -- many model-scored calls
  (and more candidates than the exporters' 64 rows) give the reference's results;
* a new device's ``LinkResult`` made without the memo, equal to the reference's.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore.fingerprint import DeviceLinker, Fingerprinter, MemoryLinkState
from fraudscore.fingerprint.sections import Fingerprint
from fraudscore.keys import Keys
from tests.helpers import compiled_core, pure_python

core = compiled_core("linkstate", "the compiled linkstate module")

FPR = Fingerprinter(Keys(b"test-secret-for-linker-shortcuts"))
T0 = 1_767_225_600_000


def dump(state: MemoryLinkState) -> str:
    return json.dumps(state.to_dict())


def pair(**state_params):
    linker = DeviceLinker(MemoryLinkState(**state_params))
    with pure_python():
        ref = DeviceLinker(MemoryLinkState(**state_params))
    assert linker._link_fast is not None and ref._link_fast is None
    return linker, ref


def stream(n_devices=60, days=20, seed=5, scenario="mixed"):
    from fraudscore.fingerprint.simulate import simulate

    s = simulate(scenario, n_devices=n_devices, days=days, seed=seed)
    fps = [FPR.fingerprint(d) for d in s.devices]
    return list(zip(fps, s.ts.tolist(), s.ip_prefix.tolist()))


def test_a_property_over_a_slot_is_seen_at_once(monkeypatch):
    """The slot cache is keyed by the type's version tag: a property assigned on the class after the cache was
    filled (here: every fingerprint's family renamed) is read, as getattr reads it, by the compiled path."""
    rows = stream(n_devices=30, days=10)
    linker, ref = pair()
    half = len(rows) // 2
    got = [linker.link(fp, t, ip) for fp, t, ip in rows[:half]]
    want = [ref.link(fp, t, ip) for fp, t, ip in rows[:half]]
    slot = Fingerprint.__dict__["family"]
    monkeypatch.setattr(Fingerprint, "family", property(lambda self: "renamed-" + slot.__get__(self)))
    assert rows[0][0].family.startswith("renamed-")
    linker._key_memo.clear(), ref._key_memo.clear()
    got += [linker.link(fp, t, ip) for fp, t, ip in rows[half:]]
    want += [ref.link(fp, t, ip) for fp, t, ip in rows[half:]]
    assert got == want
    assert any(r.device_id.startswith("d_renamed-") for r in got[half:])
    assert dump(linker.state) == dump(ref.state)


def test_an_empty_slot_raises_as_getattr_does():
    """A fingerprint whose slot was never set (made without __init__) is read through getattr: the compiled
    link raises the AttributeError the reference raises."""
    fp = FPR.fingerprint({"os": "android", "model": "X1", "screen": "1080x2400"})
    linker, ref = pair()
    linker.link(fp, T0)  # the cache holds the slots now
    bare = object.__new__(Fingerprint)
    for name in Fingerprint.__slots__:
        if name != "family":
            object.__setattr__(bare, name, getattr(fp, name))
    with pytest.raises(AttributeError):
        ref.link(bare, T0 + 1)
    with pytest.raises(AttributeError):
        linker.link(bare, T0 + 1)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=15)
@given(st.lists(st.tuples(st.integers(1, 200), st.sampled_from(["ttl_ms", "max_per_block", "max_devices", "restore"]),
                          st.integers(1, 10**9)), max_size=4),
       st.integers(0, 10**6))
def test_state_settings_replaced_between_calls(changes, seed):
    """The kernel remembers the state's attributes while its __dict__ keeps its version: settings changed and
    containers replaced (restore_dict) between calls are seen, as by the reference."""
    rows = stream(n_devices=40, days=15, seed=seed % 7)
    linker, ref = pair(max_per_block=8)
    at = {k: (name, v) for k, name, v in changes}
    got, want = [], []
    for k, (fp, t, ip) in enumerate(rows):
        if k in at:
            name, v = at[k]
            for lk in (linker, ref):
                if name == "restore":
                    lk.state.restore_dict(json.loads(dump(lk.state)))
                elif name == "ttl_ms":
                    lk.state.ttl_ms = v
                elif name == "max_per_block":
                    lk.state.max_per_block = 1 + v % 5
                else:
                    lk.state.max_devices = 5 + v % 50
        got.append(linker.link(fp, t, ip))
        want.append(ref.link(fp, t, ip))
    assert got == want
    assert dump(linker.state) == dump(ref.state)
    assert linker.state.live_evictions == ref.state.live_evictions


@pytest.mark.parametrize("max_scored", [8, 100])
def test_model_scored_calls_through_the_exporters(max_scored):
    """Many model-scored calls in a row (the exporters reused each time), and more candidates than their 64 rows
    (memoryviews made as before): the same results and state as the reference."""
    rows = stream(n_devices=120, days=30, seed=3, scenario="web")
    linker = DeviceLinker(MemoryLinkState(max_per_block=128), max_scored=max_scored)
    with pure_python():
        ref = DeviceLinker(MemoryLinkState(max_per_block=128), max_scored=max_scored)
    got = [linker.link(fp, t, ip) for fp, t, ip in rows]
    want = [ref.link(fp, t, ip) for fp, t, ip in rows]
    assert got == want
    assert sum(r.how == "model" for r in got) > 0
    assert dump(linker.state) == dump(ref.state)


def test_new_device_results_equal_the_reference_and_stay_out_of_the_memo():
    rows = stream(n_devices=40, days=10)
    linker, ref = pair()
    got = [linker.link(fp, t, ip) for fp, t, ip in rows]
    want = [ref.link(fp, t, ip) for fp, t, ip in rows]
    assert got == want
    new = [r for r in got if r.new]
    assert new and all(type(r) is type(want[0]) for r in new)
    assert not any(r.new for r in linker._results.values())  # the compiled path does not memoise them
