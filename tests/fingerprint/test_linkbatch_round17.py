"""Round 17 (``linkbatch``): the link model's trees called through the forest's C entry == the method, bit for bit.

``linker.best_candidate`` (the C glue) scores a link call's candidate rows with the compiled forest's
``predict_best``; since round 17 it calls the forest's C entry (a capsule on the compiled ``Forest`` type,
``model/_forest_best.h`` ``fs_best_raw``) instead of the method. Checked here:

* streams of events over small device pools linked with the entry on, with it off (``linker.best_raw(False)``: the
  method call, as before) and by the pure-Python reference: equal LinkResults (confidence bit for bit) and an equal
  final state, in order;
* a simulated stream, online (``DeviceLinker.link``) and batch (``devicecolumns.link_rows``): the entry is counted in
  use and every answer is the reference's;
* the capsule's entry refuses what the method would refuse (rows of the wrong width), so the method answers.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings

from fraudscore.fingerprint import MIN_LINK_CONFIDENCE, DeviceLinker, MemoryLinkState
from tests.fingerprint.test_linkonce_round16 import FPR, dump, link_all, streams
from tests.helpers import compiled_core, pure_python

glue = compiled_core("linker", "the compiled linker glue")


def _both(case):
    pool, events, params, state_params = case
    want, want_state = link_all(pool, events, params, state_params, "reference")
    was = glue.best_raw()[0]
    try:
        for on in (True, False):
            glue.best_raw(on)
            got, got_state = link_all(pool, events, params, state_params, "hand")
            assert got == want, on  # device id, confidence (bit for bit), changed attributes, new, how
            assert dump(got_state) == dump(want_state), on
    finally:
        glue.best_raw(was)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_link_with_the_forest_entry_equals_the_method_and_the_reference(case):
    _both(case)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(odd=True))
def test_odd_fields_with_the_forest_entry_give_the_reference_answer(case):
    _both(case)


def _rows():
    from fraudscore.fingerprint.simulate import simulate

    s = simulate("mixed", n_devices=80, days=30, seed=17)
    return [FPR.fingerprint(d) for d in s.devices], s.ts.tolist(), s.ip_prefix.tolist()


def test_the_entry_is_used_online_and_in_batch_with_the_reference_answers():
    from fraudscore.devicecolumns import link_rows

    fps, ts, ips = _rows()
    with pure_python():
        ref = DeviceLinker(MemoryLinkState(max_per_block=16))
        want = [ref.link(fp, t, ip) for fp, t, ip in zip(fps, ts, ips)]
    before = glue.best_raw()[1]
    online = DeviceLinker(MemoryLinkState(max_per_block=16))
    assert [online.link(fp, t, ip) for fp, t, ip in zip(fps, ts, ips)] == want
    assert glue.best_raw()[1] > before
    assert dump(online.state) == dump(ref.state)
    fa, tsa, rows, ipa, n = _columns(fps, ts, ips, 3, 0)  # rows without a fingerprint before them
    batch = DeviceLinker(MemoryLinkState(max_per_block=16))
    did, conf = link_rows(fa, tsa, rows, ipa, batch, n)
    assert conf[rows].tolist() == [r.link_confidence for r in want]
    assert did[rows].tolist() == [r.device_id if r.link_confidence >= MIN_LINK_CONFIDENCE else None for r in want]
    assert dump(batch.state) == dump(ref.state)


def test_the_forest_entry_is_a_capsule_on_the_compiled_type():
    lk = DeviceLinker(MemoryLinkState())
    forest = lk.model._compiled._forest
    cap = type(forest).__dict__["_best_rows_c"]
    assert type(cap).__name__ == "PyCapsule"
    k = forest.num_features
    X = np.random.default_rng(17).normal(size=(3, k))
    out = np.zeros(3)
    assert forest.predict_best(X, out) == 3 * forest.n_trees
    assert np.array_equal(out, [forest.predict_one(x) for x in X])


def _columns(fps, ts, ips, before, after):
    """link_rows' inputs: the fingerprints' rows with ``before`` and ``after`` rows without one around them"""
    n = len(fps) + before + after
    rows = np.arange(len(fps), dtype=np.int64) + before
    fa = np.empty(len(fps), dtype=object)
    fa[:] = fps
    tsa = np.zeros(n, dtype=np.int64)
    tsa[rows] = ts
    ipa = np.empty(n, dtype=object)
    ipa[rows] = ips
    return fa, tsa, rows, ipa, n


def _batch(fps, ts, ips, fields):
    from fraudscore.devicecolumns import link_rows

    fa, tsa, rows, ipa, n = _columns(fps, ts, ips, 1, 1)
    was = glue.row_fields()
    glue.row_fields(fields)
    try:
        lk = DeviceLinker(MemoryLinkState(max_per_block=4, max_devices=40))
        did, conf = link_rows(fa, tsa, rows, ipa, lk, n)
    finally:
        glue.row_fields(was)
    return did.tolist(), conf.tobytes(), dump(lk.state), sorted(map(repr, lk._results.values()))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_batch_link_rows_with_a_new_devices_fields_equals_its_link_result(case):
    """link_rows with entry's fields for new devices (row_fields on) == with LinkResults (off) == the reference
    (pure Python): ids, confidences bit for bit, the final state and the linker's result memo."""
    pool, events, _params, _state = case
    fps = [pool[i] for i, _, _ in events]
    ts = np.cumsum([T for _, T, _ in events]).tolist()
    ips = [ip for _, _, ip in events]
    on, off = _batch(fps, ts, ips, True), _batch(fps, ts, ips, False)
    assert on == off
    with pure_python():
        ref = _batch(fps, ts, ips, False)
    assert on[:3] == ref[:3]
