"""Round 16 (``linkonce``): the fingerprint parsed once per link call == the reference, bit for bit.

``linkstate``'s link parses the event's fingerprint (``linkfp.h``'s ``read_fp``) before the candidates are scored and
hands the parse down (``linker.best_candidate`` -> ``linking.select``, a sixth argument); the new record then takes
the fingerprint's objects from the same parse. Checked here:

* streams of events over small device pools (twins, drift, expiry, full blocks) linked with the hand on, with it off
  (``linkstate.fp_hand(False)``: every reader reads the fingerprint itself, as before) and by the pure-Python
  reference: equal LinkResults (confidence bit for bit) and an equal final state, in order;
* fingerprints whose fields make a reader hand over (a list where the record wants a tuple, a font count or a
 negative renderer, a version list): the same answers and state as the reference, with the hand
  on and off (the hand-over happens at the same point: ``select`` or ``make_record``);
* a link call made from inside another one's scoring (a garbage-collector callback) while the outer call holds the
  hand: both linkers' answers are the reference's;
* ``select`` with a sixth argument that is not the hand raises; the hand is handed only through the glue.
"""

from __future__ import annotations

import dataclasses
import gc
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore.fingerprint import DeviceLinker, Fingerprinter, MemoryLinkState
from fraudscore.keys import Keys
from tests.fingerprint.test_linkstate_compiled import device
from tests.helpers import compiled_core, pure_python

core = compiled_core("linkstate", "the compiled linkstate module")
linking = compiled_core("linking", "the compiled linking module")

FPR = Fingerprinter(Keys(b"test-secret-for-linkonce-round16"))
T0 = 1_767_225_600_000


def dump(state: MemoryLinkState) -> str:
    return json.dumps(state.to_dict())


def _odd(fp, how):
    """fp with one field of a type or size some reader hands over on (a frozen dataclass: replace)."""
    if how == "lang_list":  # read_fp reads a list; make_record wants the tuple the fingerprinter makes
        return dataclasses.replace(fp, lang_items=list(fp.lang_items))
    if how == "fonts_list":
        return dataclasses.replace(fp, fonts_sketch=list(fp.fonts_sketch))
    if how == "font_count_big":  # beyond read_fp's bound (select hands over)
        return dataclasses.replace(fp, font_count=1 << 41)
    if how == "renderer_neg":  # outside the keys' range (the reference computes the keys)
        return dataclasses.replace(fp, renderer=-3)
    if how == "version_list":  # read_version reads a list; the new record wants a tuple or None
        can = fp.canonical
        if can.os_version is None:
            return fp
        return dataclasses.replace(fp, canonical=dataclasses.replace(can, os_version=list(can.os_version)))
    return fp


# (a renderer beyond 2**59 is left out: the C-owned family counts refuse its key, in the base too)
ODD = ["lang_list", "fonts_list", "font_count_big", "renderer_neg", "version_list"]


@st.composite
def streams(draw, odd=False):
    pool = [FPR.fingerprint(d) for d in draw(st.lists(device(), min_size=2, max_size=6))]
    if odd:
        pool += [_odd(pool[draw(st.integers(0, len(pool) - 1))], draw(st.sampled_from(ODD)))
                 for _ in range(draw(st.integers(1, 3)))]
    events = draw(st.lists(st.tuples(st.integers(0, len(pool) - 1), st.sampled_from([0, 1, 7, 40, 400]),
                                     st.sampled_from([None, None, "1.2.3", "4.5.6", 77])), min_size=8, max_size=60))
    params = {"min_family_devices": draw(st.sampled_from([1, 2, 30])),
              "mobile_prior": draw(st.sampled_from([1.0, 3.0])),
              "max_scored": draw(st.sampled_from([1, 8]))}
    state = {"max_devices": draw(st.sampled_from([2, 5, 1000])), "max_per_block": draw(st.sampled_from([1, 2, 64])),
             "ttl_ms": draw(st.sampled_from([300, 10**9]))}
    return pool, events, params, state


def link_all(pool, events, params, state_params, mode):
    """mode: "hand" (the parse handed down), "nohand" (fp_hand(False)) or "reference" (pure Python)."""
    if mode == "reference":
        with pure_python():
            linker = DeviceLinker(MemoryLinkState(**state_params), **params)
        assert linker._link_fast is None
    else:
        linker = DeviceLinker(MemoryLinkState(**state_params), **params)
        assert linker._link_fast is not None
    was = core.fp_hand()[0]
    core.fp_hand(mode == "hand")
    try:
        now = T0
        out = []
        for i, step, ip in events:
            now += step
            try:
                out.append(linker.link(pool[i], now, ip))
            except (TypeError, ValueError, OverflowError) as e:  # the reference's own error on an odd field: raised the same
                out.append((type(e).__name__, str(e)))
    finally:
        core.fp_hand(was)
    return out, linker.state


def _equal_three_ways(case):
    pool, events, params, state_params = case
    want, want_state = link_all(pool, events, params, state_params, "reference")
    for mode in ("hand", "nohand"):
        got, got_state = link_all(pool, events, params, state_params, mode)
        assert got == want, mode  # device id, confidence (bit for bit), changed attributes, new, how
        assert dump(got_state) == dump(want_state), mode
        assert got_state.live_evictions == want_state.live_evictions


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_link_with_the_parse_handed_down_equals_the_reference(case):
    _equal_three_ways(case)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(odd=True))
def test_fields_a_reader_hands_over_on_give_the_reference_answer(case):
    _equal_three_ways(case)


def test_the_hand_is_used_on_a_simulated_stream():
    """A simulated stream reaches the candidates often; the hand is taken there, and results and state are the
    reference's."""
    from fraudscore.fingerprint.simulate import simulate

    if not core.fp_hand()[0] and core.fp_hand(True)[0] is False:  # pragma: no cover - the glue is not built
        pytest.skip("the linker's glue is not in use")
    s = simulate("mixed", n_devices=80, days=30, seed=16)
    rows = list(zip([FPR.fingerprint(d) for d in s.devices], s.ts.tolist(), s.ip_prefix.tolist()))
    before = core.fp_hand()[1]
    linker = DeviceLinker(MemoryLinkState(max_per_block=16))
    got = [linker.link(fp, t, ip) for fp, t, ip in rows]
    assert core.fp_hand()[1] > before
    with pure_python():
        ref = DeviceLinker(MemoryLinkState(max_per_block=16))
    assert got == [ref.link(fp, t, ip) for fp, t, ip in rows]
    assert dump(linker.state) == dump(ref.state)


def test_a_link_call_inside_another_gets_no_hand_and_answers_as_the_reference():
    """A gc callback links on a second linker while the first one scores its candidates (holding the hand): the
    inner call finds the hand taken and reads its fingerprint itself; both linkers answer as the reference."""
    from fraudscore.fingerprint.simulate import simulate

    s = simulate("web", n_devices=40, days=20, seed=5)
    rows = list(zip([FPR.fingerprint(d) for d in s.devices], s.ts.tolist(), s.ip_prefix.tolist()))
    outer, inner = DeviceLinker(MemoryLinkState()), DeviceLinker(MemoryLinkState())
    inner_rows: list = []
    inner_got: list = []
    busy: list = []

    def callback(phase, info):
        if phase == "start" and not busy and len(inner_rows) < len(rows):
            busy.append(1)
            try:
                row = rows[len(inner_rows)]
                inner_rows.append(row)
                inner_got.append(inner.link(*row))
            finally:
                busy.pop()

    old = gc.get_threshold()
    gc.callbacks.append(callback)
    gc.set_threshold(1, 1, 1)
    try:
        got = [outer.link(fp, t, ip) for fp, t, ip in rows]
    finally:
        gc.callbacks.remove(callback)
        gc.set_threshold(*old)
    assert inner_rows  # collections ran during the outer calls
    with pure_python():
        ref_outer, ref_inner = DeviceLinker(MemoryLinkState()), DeviceLinker(MemoryLinkState())
    assert got == [ref_outer.link(fp, t, ip) for fp, t, ip in rows]
    assert inner_got == [ref_inner.link(*row) for row in inner_rows]
    assert dump(outer.state) == dump(ref_outer.state)
    assert dump(inner.state) == dump(ref_inner.state)


def test_select_takes_only_the_hand_as_a_sixth_argument():
    fp = FPR.fingerprint({"source": "web", "user_agent": "Mozilla/5.0", "screen": "1920x1080"})
    assert linking.select(fp, [], T0, 0, 8) == (0, [], b"")
    with pytest.raises((TypeError, ValueError)):
        linking.select(fp, [], T0, 0, 8, object())
    with pytest.raises(TypeError):
        linking.select(fp, [], T0, 0, 8, None, None)


@pytest.mark.parametrize("memo", [True, False])
def test_entry_reads_a_changed_linker_afresh(memo):
    """``entry`` remembers its reads of the linker's instance dict (``EN_MEMO``) while that dict is unchanged;
    attributes replaced between calls (the family threshold, the prior, the state, the memos, best_candidate on the
    instance) are read again: every answer and the final state are the reference's, with the memo on and off."""
    from fraudscore.fingerprint.simulate import simulate

    s = simulate("mixed", n_devices=40, days=20, seed=7)
    rows = list(zip([FPR.fingerprint(d) for d in s.devices], s.ts.tolist(), s.ip_prefix.tolist()))

    def run(linker):
        out = []
        for j, (fp, t, ip) in enumerate(rows):
            if j == len(rows) // 5:
                linker.min_family_devices = 1
            elif j == 2 * len(rows) // 5:
                linker.mobile_prior = 1.0
                linker._key_memo = {}
                linker._results = {}
            elif j == 3 * len(rows) // 5:
                linker.state = MemoryLinkState(max_per_block=4)
            elif j == 4 * len(rows) // 5:
                linker.best_candidate = linker.best_candidate_reference
            out.append(linker.link(fp, t, ip))
        return out, linker.state

    was = core.entry_memo()
    core.entry_memo(memo)
    try:
        got, got_state = run(DeviceLinker(MemoryLinkState(max_per_block=16)))
    finally:
        core.entry_memo(was)
    with pure_python():
        want, want_state = run(DeviceLinker(MemoryLinkState(max_per_block=16)))
    assert got == want
    assert dump(got_state) == dump(want_state)
