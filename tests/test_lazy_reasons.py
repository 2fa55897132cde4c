"""Explanations off the hot path: lazily computed reasons equal eager ones; batch explains only what is asked."""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest

import fraudscore as fs
from fraudscore.decision import Decision
from fraudscore.errors import ConfigError

from .helpers import SECRET, small_bundle, synthetic


@pytest.fixture(scope="module")
def stream():
    return synthetic().to_records()[:1200]


def _reason_tuples(d: Decision) -> list[tuple]:
    return [(r.code, r.message, r.source, r.adverse_action_ok) for r in d.reasons]


def test_lazy_reasons_equal_eager_ones(stream):
    bundle = small_bundle()
    lazy, eager = fs.Scorer(bundle, SECRET), fs.Scorer(bundle, SECRET, lazy_reasons=False)
    pending = []
    for ev in stream[:500]:
        a, b = lazy.score(ev), eager.score(ev)
        assert not b.reasons_pending
        if a.reasons_pending:
            pending.append((a, b))  # resolved only after more events changed the scorer's state
        else:
            assert a == b
    assert pending, "the stream must hold explained (reviewed or declined) events"
    assert all(a.action != "approve" for a, _ in pending)
    model_reasons = 0
    for a, b in pending:
        assert a.reasons_pending
        assert a.to_dict() == b.to_dict()  # first access computes
        assert not a.reasons_pending
        assert a == b and _reason_tuples(a) == _reason_tuples(b)
        model_reasons += sum(r.source == "model" for r in a.reasons)
        json.dumps(a.to_dict())
    assert model_reasons > 0
    assert any(r.adverse_action_ok for a, _ in pending for r in a.reasons)  # the flags stay


def test_explain_true_and_false_online(stream):
    sc = fs.Scorer(small_bundle(), SECRET)
    ev = stream[10]
    assert not sc.score(ev, explain=False).reasons_pending
    d = sc.score(dict(ev, application_id="again"), explain=True)
    assert d.reasons_pending and any(r.source == "model" for r in d.reasons)


def test_pending_decisions_copy_and_pickle_as_plain_data(stream):
    sc = fs.Scorer(small_bundle(), SECRET, explain=True)
    d = sc.score(stream[0])
    assert d.reasons_pending
    c = copy.deepcopy(d)
    assert not d.reasons_pending and c == d
    d2 = sc.score(dict(stream[1], application_id="p"))
    back = pickle.loads(pickle.dumps(d2))
    assert back == d2 and not back.reasons_pending


def test_batch_explains_only_what_is_asked(stream):
    bundle = small_bundle()
    events = stream[:600] + [{"application_id": "bad", "ts": "not a time"}]
    sc = fs.Scorer(bundle, SECRET)

    def model_rows(res):
        return {i for i in range(len(res)) if any(r.source == "model" for r in res.reasons[i])}

    every = sc.score_batch(events, explain=True)
    auto = sc.score_batch(events)
    none = sc.score_batch(events, explain=False)
    assert len(every.errors) == 1
    assert model_rows(none) == set()
    assert model_rows(auto) <= set(np.flatnonzero(auto.action != "approve").tolist())
    assert len(model_rows(every)) > len(model_rows(auto)) > 0
    mask = np.zeros(len(events), dtype=bool)
    mask[[3, 50, 51, 400, len(events) - 1]] = True  # the last input row is the rejected one
    some = sc.score_batch(events, explain=mask)
    pos = {int(np.flatnonzero(some.rows == r)[0]) for r in (3, 50, 51, 400)}
    assert model_rows(some) <= pos
    for i in pos:
        assert some.reasons[i] == every.reasons[i]
    for i in set(range(len(some))) - pos:
        assert some.reasons[i] == none.reasons[i]
    with pytest.raises(ConfigError, match="boolean array over the 601 input rows"):
        sc.score_batch(events, explain=mask[:-1])
    with pytest.raises(ConfigError, match="'explain' parameter"):
        sc.score_batch(events, explain="sometimes")


def _batch_tuples(res) -> list[list[tuple]]:
    return [[(r.code, r.message, r.source, r.adverse_action_ok) for r in rs] for rs in res.reasons]


def test_batch_model_reasons_on_first_read_equal_eager_ones(stream):
    from fraudscore.batchreasons import PendingBatchReasons

    bundle = small_bundle()
    events = stream[:600]
    lazy, eager = fs.Scorer(bundle, SECRET), fs.Scorer(bundle, SECRET, lazy_reasons=False)
    for explain in (None, True):
        a, b = lazy.score_batch(events, explain=explain), eager.score_batch(events, explain=explain)
        assert type(a.__dict__["reasons"]) is PendingBatchReasons  # nothing explained yet
        assert type(b.__dict__["reasons"]) is list
        got = _batch_tuples(a)  # the first read explains
        assert type(a.__dict__["reasons"]) is list and a.reasons is a.reasons
        assert got == _batch_tuples(b)
        assert any(r[2] == "model" for rs in got for r in rs)
        assert [d.reasons for d in a] == [d.reasons for d in b]
    none = lazy.score_batch(events, explain=False)
    assert type(none.__dict__["reasons"]) is list  # nothing to explain: a plain list at once


def test_pending_batch_reasons_copy_pickle_and_index_once(stream):
    bundle = small_bundle()
    events = stream[:300]
    sc = fs.Scorer(bundle, SECRET, explain=True)
    want = _batch_tuples(fs.Scorer(bundle, SECRET, explain=True, lazy_reasons=False).score_batch(events))
    res = sc.score_batch(events)
    shallow = copy.copy(res)  # shares the pending value: resolved once, never extended twice
    deep = copy.deepcopy(res)
    assert _batch_tuples(deep) == want
    assert _batch_tuples(shallow) == want and _batch_tuples(res) == want
    back = pickle.loads(pickle.dumps(sc.score_batch(events)))
    assert _batch_tuples(back) == want
    fresh = sc.score_batch(events)
    assert [(r.code, r.source) for r in fresh[7].reasons] == [(c, s) for c, _, s, _ in want[7]]
    assert fresh.to_pandas()["reasons"].tolist() == [";".join(r[0] for r in rs[:3]) for rs in want]


def test_pending_batch_reasons_read_by_threads_at_once(stream):
    import threading

    bundle = small_bundle()
    events = stream[:300]
    want = _batch_tuples(fs.Scorer(bundle, SECRET, explain=True, lazy_reasons=False).score_batch(events))
    res = fs.Scorer(bundle, SECRET, explain=True).score_batch(events)
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(_batch_tuples(res))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [want] * 4  # explained once: no row extended twice
