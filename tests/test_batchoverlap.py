"""``score_batch`` with the model on a worker thread (:mod:`fraudscore.batchoverlap`) == the sequential path == online.

The thresholds are lowered so the small test streams go through the overlapped path in several row ranges
(drawn by hypothesis); every output is compared bit for bit with ``overlap=False`` and with ``Scorer.score`` row
by row. No wall-clock assertions: speed is measured in docs/compiled.md (round 16).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fraudscore as fs
import fraudscore.batchoverlap as bo
from fraudscore import Scorer, ScoringState
from fraudscore.batch import to_columns
from fraudscore.model import Model

from .helpers import SECRET, small_bundle, synthetic
from .test_scorer_parity import _assert_parity, _score_both
from .test_scorer_parity import streams as parity_streams
from .test_scorer_reliability import streams as admission_streams


def _lowered(monkeypatch, splits=(0.5,), early=1, last=None):
    monkeypatch.setenv(bo.OVERLAP_ENV, "1")  # on, whatever the default of this machine
    monkeypatch.setattr(bo, "MIN_ROWS", 1)
    monkeypatch.setattr(bo, "MIN_SPLIT_ROWS", 1)
    monkeypatch.setattr(bo, "SPLITS", tuple(splits))
    monkeypatch.setattr(bo, "EARLY_THREADS", early)
    monkeypatch.setattr(bo, "LAST_THREADS", last)


def _bits(a) -> bytes:
    return np.ascontiguousarray(a).tobytes()


def assert_same_batch(a, b) -> None:
    """Two ``DecisionBatch`` results equal field by field, floats bit for bit."""
    assert len(a) == len(b)
    assert [(e.row, e.field, e.problem, str(e)) for e in a.errors] == [(e.row, e.field, e.problem, str(e))
                                                                        for e in b.errors]
    assert _bits(a.probability) == _bits(b.probability)
    assert np.array_equal(a.score, b.score) and np.array_equal(a.action, b.action)
    assert a.reasons == b.reasons and a.rule_hits == b.rule_hits and a.shadow_hits == b.shadow_hits
    assert np.array_equal(a.rows, b.rows) and np.array_equal(a.duplicate, b.duplicate)
    assert list(a.application_id) == list(b.application_id)
    assert (a.device_id is None) == (b.device_id is None)
    if a.device_id is not None:
        assert list(a.device_id) == list(b.device_id)
    assert (a.features is None) == (b.features is None)
    if a.features is not None:
        assert list(a.features) == list(b.features)
        for name in a.features:
            assert _bits(a.features[name]) == _bits(b.features[name]), name


splits_st = st.lists(st.floats(0.05, 0.95), min_size=0, max_size=4)


@settings(max_examples=25)
@given(parity_streams(), splits_st, st.sampled_from([None, 1, 2]), st.sampled_from(["auto", True, False]))
def test_overlap_equals_sequential_and_online(stream, splits, last, explain):
    events, labels = stream
    with pytest.MonkeyPatch.context() as mp:
        _lowered(mp, splits, last=last)
        decisions, rejected, over = _score_both(events, labels)  # score_batch: overlap on (the environment)
        seq = fs.Scorer(small_bundle(), SECRET).score_batch(events, labels=labels, return_features=True,
                                                           overlap=False)
        ex_on = fs.Scorer(small_bundle(), SECRET).score_batch(events, labels=labels, explain=explain, overlap=True)
        ex_off = fs.Scorer(small_bundle(), SECRET).score_batch(events, labels=labels, explain=explain, overlap=False)
    _assert_parity(decisions, rejected, over)
    assert_same_batch(over, seq)
    assert_same_batch(ex_on, ex_off)


@settings(max_examples=20)
@given(admission_streams(), splits_st)
def test_overlap_with_duplicates_and_refused_rows(stream, splits):
    """Retries and reused ids (duplicates copy an applied row's features), future and late rows."""
    events, now = stream
    bundle = small_bundle()
    with pytest.MonkeyPatch.context() as mp:
        _lowered(mp, splits)
        over = fs.Scorer(bundle, SECRET, clock=lambda: now).score_batch(events, return_features=True)
    seq = fs.Scorer(bundle, SECRET, clock=lambda: now).score_batch(events, return_features=True, overlap=False)
    assert_same_batch(over, seq)


def test_overlap_on_a_synthetic_stream_with_labels_and_explanations(monkeypatch):
    data = synthetic()
    labels = {k: v for k, v in data.labels.items() if k in ("application_id", "is_fraud", "label_ts")}
    _lowered(monkeypatch, (0.3, 0.7))
    for explain in ("auto", True, False):
        for lazy in (True, False):
            a = Scorer(small_bundle(), SECRET, lazy_reasons=lazy).score_batch(
                data.columns, labels=labels, explain=explain, return_features=True)
            b = Scorer(small_bundle(), SECRET, lazy_reasons=lazy).score_batch(
                data.columns, labels=labels, explain=explain, return_features=True, overlap=False)
            assert_same_batch(a, b)
    mask = np.arange(len(data)) % 3 == 0  # explain given as a mask over the input rows
    a = Scorer(small_bundle(), SECRET).score_batch(data.columns, explain=mask)
    b = Scorer(small_bundle(), SECRET).score_batch(data.columns, explain=mask, overlap=False)
    assert_same_batch(a, b)


def test_overlap_with_a_warm_start_state(monkeypatch):
    """A state continues row by row through its store: the model is handed over whole, before the rules."""
    data = synthetic()
    _lowered(monkeypatch)
    cut = len(data) // 2
    out = []
    for overlap in (True, False):
        scorer = Scorer(small_bundle(), SECRET)
        state = ScoringState.new(scorer)
        first = scorer.score_batch(data.slice(0, cut).columns, state=state, return_features=True, overlap=overlap)
        second = scorer.score_batch(data.slice(cut, len(data)).columns, state=state, return_features=True,
                                    overlap=overlap)
        out.append((first, second))
    assert_same_batch(out[0][0], out[1][0])
    assert_same_batch(out[0][1], out[1][1])


def test_pipeline_batch_with_context_in_ranges(monkeypatch):
    """``BatchSteps.batch`` after a context (a chunked replay): the same record columns and matrix in ranges, and
    the worker's raw values == ``Model.predict_raw`` of the model's columns."""
    data = synthetic()
    scorer = Scorer(small_bundle(), SECRET)
    pipe = scorer.pipeline
    cut = len(data) // 3
    first = to_columns(data.slice(0, cut).columns, scorer.schema)
    rest = to_columns(data.slice(cut, len(data)).columns, scorer.schema)
    assert not first.errors and not rest.errors
    linker_a, linker_b = pipe.new_linker(), pipe.new_linker()
    rec0, _ = pipe.batch(first, None, linker_a)
    pipe.batch(first, None, linker_b)
    ctx = pipe.context_of(rec0, None)
    _lowered(monkeypatch, (0.2, 0.5, 0.9))
    with bo.ModelOverlap(scorer.model, scorer._model_cols) as ov:
        rec1, X1 = pipe.batch(rest, None, linker_a, context=ctx, overlap=ov)
        raw = ov.raw(X1)
    rec2, X2 = pipe.batch(rest, None, linker_b, context=ctx)
    assert _bits(X1) == _bits(X2)
    assert set(rec1) == set(rec2)
    for k in rec1:
        assert list(rec1[k]) == list(rec2[k]), k
    Xm = X2 if scorer._model_cols is None else np.take(X2, scorer._model_cols, axis=1)
    assert _bits(raw) == _bits(scorer.model.predict_raw(Xm))


def test_switch_off_by_argument_and_environment(monkeypatch):
    data = synthetic()
    _lowered(monkeypatch)
    calls = []
    real = bo.ModelOverlap.submit

    def counting(self, *a, **k):
        calls.append(a[1:3])
        return real(self, *a, **k)

    monkeypatch.setattr(bo.ModelOverlap, "submit", counting)
    scorer = Scorer(small_bundle(), SECRET)
    scorer.score_batch(data.columns, overlap=False)
    assert calls == []
    monkeypatch.delenv(bo.OVERLAP_ENV)
    monkeypatch.setattr(bo, "DEFAULT", "0")  # the default on one core: off
    scorer.score_batch(data.columns)
    assert calls == []
    monkeypatch.setattr(bo, "DEFAULT", "1")  # the default on two cores or more: on
    scorer.score_batch(data.columns)
    assert len(calls) == 2
    calls.clear()
    monkeypatch.setenv(bo.OVERLAP_ENV, "0")
    scorer.score_batch(data.columns)
    assert calls == []
    scorer.score_batch(data.columns, overlap=True)  # the argument wins over the environment
    assert len(calls) == 2  # two ranges (split at 0.5)
    monkeypatch.setenv(bo.OVERLAP_ENV, "1")
    calls.clear()
    scorer.score_batch(data.columns)
    assert len(calls) == 2
    calls.clear()
    monkeypatch.setattr(bo, "MIN_ROWS", 10**9)  # small batches never start a worker
    scorer.score_batch(data.columns)
    assert calls == []


def test_overlap_enabled_reads_the_environment(monkeypatch):
    for value, on in (("0", False), ("off", False), ("false", False), ("no", False), ("", False), ("1", True),
                      ("on", True), (" TRUE ", True), ("yes", True)):
        monkeypatch.setenv(bo.OVERLAP_ENV, value)
        assert bo.overlap_enabled(None) is on
        assert bo.overlap_enabled(True) is True and bo.overlap_enabled(False) is False
    monkeypatch.delenv(bo.OVERLAP_ENV)
    assert bo.overlap_enabled(None) is (bo.DEFAULT == "1")


def test_split_bounds():
    assert bo.split_bounds(10, (0.5,), 1) == [0, 5, 10]
    assert bo.split_bounds(10, (0.0, 1.0, 0.5, 0.5), 1) == [0, 5, 10]
    assert bo.split_bounds(10, (), 1) == [0, 10]
    assert bo.split_bounds(5, (0.5,), 6) == [0, 5]
    assert bo.split_bounds(0, (0.5,), 0) == [0, 0]


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fraudscore-model")]


def test_a_model_error_propagates_and_the_worker_stops(monkeypatch):
    data = synthetic()
    _lowered(monkeypatch, (0.5,))

    class Boom(ValueError):
        pass

    def fail(self, X, threads=None):
        raise Boom("the model failed")

    monkeypatch.setattr(Model, "predict_raw_threads", fail)
    with pytest.raises(Boom, match="the model failed"):
        Scorer(small_bundle(), SECRET).score_batch(data.columns)
    assert _workers() == []


def test_a_main_thread_error_propagates_and_the_worker_stops(monkeypatch):
    """An error after the first range was handed over (here: in the link loop of the second range) is raised as
    the sequential path raises it, after the worker's forest call finished; no thread is left behind."""
    import fraudscore.devicecolumns as dc

    data = synthetic()
    _lowered(monkeypatch, (0.5,))
    real = dc.link_rows
    seen = []

    def second_fails(*a, **k):
        seen.append(1)
        if len(seen) == 2:
            raise KeyError("link state")
        return real(*a, **k)

    monkeypatch.setattr(dc, "link_rows", second_fails)
    with pytest.raises(KeyError, match="link state"):
        Scorer(small_bundle(), SECRET).score_batch(data.columns)
    assert _workers() == []
    seen.clear()
    monkeypatch.setattr(dc, "link_rows", lambda *a, **k: (_ for _ in ()).throw(KeyError("link state")))
    with pytest.raises(KeyError, match="link state"):  # the sequential path raises the same error
        Scorer(small_bundle(), SECRET).score_batch(data.columns, overlap=False)


def test_no_model_no_worker(monkeypatch):
    """A bundle without a model scores as before (nothing to hand over)."""
    _lowered(monkeypatch)
    scorer = Scorer(small_bundle(), SECRET)
    scorer.model = None
    data = synthetic()
    got = scorer.score_batch(data.slice(0, 200).columns)
    assert np.isnan(got.probability).all()
    assert _workers() == []


def test_a_replay_error_of_a_prefix_is_raised_as_the_whole_replay_raises_it(monkeypatch):
    """The replay checks its rows (late rows, out-of-range numbers) before it computes: a prefix could meet a
    different first error than the whole batch. The overlapped path then replays the whole and raises its error."""
    from fraudscore.errors import EventError
    from fraudscore.pipeline_batch import BatchSteps

    data = synthetic().slice(0, 400)
    _lowered(monkeypatch, (0.5,))
    real = BatchSteps.replay_rows
    total = []

    def checked(self, rec_cols, n, labels, context=None, *, out=None, feature_set=None):
        if n < total[0]:
            raise EventError("amount", "the prefix's error", row=1)
        raise EventError("amount", "the whole batch's error", row=2)

    scorer = Scorer(small_bundle(), SECRET)
    total.append(len(scorer.score_batch(data.columns, overlap=False)))
    monkeypatch.setattr(BatchSteps, "replay_rows", checked)
    for overlap in (False, True):
        with pytest.raises(EventError, match="the whole batch's error"):
            scorer.score_batch(data.columns, overlap=overlap)
    assert _workers() == []
    monkeypatch.setattr(BatchSteps, "replay_rows", real)
