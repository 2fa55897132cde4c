"""Warm starts (``fraudscore.warmstart``): month 1, snapshot, month 2 == months 1 and 2 in one run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fraudscore import Scorer, ScoringState
from fraudscore.errors import StoreError
from fraudscore.rescore import rescore

from .helpers import SECRET, small_bundle, synthetic


def _labels(data):
    return {"application_id": data.labels["application_id"], "is_fraud": data.labels["is_fraud"],
            "label_ts": data.labels["label_ts"]}


def _same(a, b):
    assert np.array_equal(a.score, b.score) and np.array_equal(a.action, b.action)
    assert np.array_equal(a.probability, b.probability, equal_nan=True)
    assert [[r.code for r in rs] for rs in a.reasons] == [[r.code for r in rs] for rs in b.reasons]


def test_month_then_snapshot_then_month_equals_one_run(tmp_path):
    data = synthetic()
    scorer = Scorer(small_bundle(), SECRET)
    labels = _labels(data)
    cut = len(data) // 2
    whole = scorer.score_batch(data.columns, labels=labels, return_features=True)
    state = ScoringState.new(scorer)
    first = scorer.score_batch(data.slice(0, cut).columns, labels=labels, state=state, return_features=True)
    path = state.save(tmp_path / "state")
    again = ScoringState.load(path, scorer)
    assert again.rows == cut and again.newest == int(data.columns["ts"][cut - 1])
    second = scorer.score_batch(data.slice(cut, len(data)).columns, labels=labels, state=again,
                                return_features=True)
    assert first.errors == [] and second.errors == []
    for name in whole.features:  # every feature, label-delayed ones included
        got = np.concatenate([first.features[name], second.features[name]])
        assert np.array_equal(got, whole.features[name], equal_nan=True), name
    both = type(whole).concat([first, second]) if hasattr(type(whole), "concat") else None
    if both is not None:
        _same(both, whole)


def test_labels_arriving_later_count_from_their_label_time(tmp_path):
    """Month 1 runs with the labels known then; month 2 brings labels of month-1 applications too."""
    data = synthetic()
    scorer = Scorer(small_bundle(), SECRET)
    labels = _labels(data)
    cut = len(data) // 2
    t_cut = int(data.columns["ts"][cut])
    known = labels["label_ts"] <= t_cut
    state = ScoringState.new(scorer)
    scorer.score_batch(data.slice(0, cut).columns, labels={k: v[known] for k, v in labels.items()}, state=state)
    second = scorer.score_batch(data.slice(cut, len(data)).columns, labels=labels, state=state,
                                return_features=True)
    whole = scorer.score_batch(data.columns, labels=labels, return_features=True)
    for name in whole.features:
        assert np.array_equal(second.features[name], whole.features[name][cut:], equal_nan=True), name


def test_chunked_rescoring_with_states_on_disk(tmp_path):
    data = synthetic()
    scorer = Scorer(small_bundle(), SECRET)
    labels = _labels(data)
    cut = len(data) // 3
    a = rescore(data.slice(0, cut).columns, scorer, chunk_rows=400, labels=labels, state_out=tmp_path / "s1")
    b = rescore(data.slice(cut, len(data)).columns, scorer, chunk_rows=700, labels=labels,
                state_in=tmp_path / "s1", state_out=tmp_path / "s2")
    whole = rescore(data.columns, scorer, chunk_rows=10_000, labels=labels)
    got = np.concatenate([a.results["score"].to_numpy(), b.results["score"].to_numpy()])
    assert np.array_equal(got, whole.results["score"].to_numpy())
    assert ScoringState.load(tmp_path / "s2", scorer).rows == len(data)


def test_online_scoring_continues_from_a_batch_state():
    data = synthetic()
    scorer = Scorer(small_bundle(), SECRET)
    cut = len(data) - 150
    state = ScoringState.new(scorer)
    scorer.score_batch(data.slice(0, cut).columns, state=state)
    online = Scorer(small_bundle(), SECRET, state=state)
    whole = scorer.score_batch(data.columns)
    for i, ev in enumerate(data.slice(cut, len(data)).to_records()):
        d = online.score(ev)
        assert (d.score, d.action) == (int(whole.score[cut + i]), whole.action[cut + i])


def test_rows_older_than_the_state_are_late_and_state_mismatches_are_refused(tmp_path):
    data = synthetic()
    scorer = Scorer(small_bundle(), SECRET)
    state = ScoringState.new(scorer)
    scorer.score_batch(data.columns, state=state)
    again = scorer.score_batch(data.slice(0, 5).columns, state=state)  # two weeks older than the state
    assert len(again) == 0 and len(again.errors) == 5
    assert "older than the newest event already seen" in str(again.errors[0])
    state.save(tmp_path / "s")
    meta = json.loads((tmp_path / "s" / "state.json").read_text())
    (tmp_path / "s" / "state.json").write_text(json.dumps({**meta, "key_id": "0" * 16}))
    with pytest.raises(StoreError, match="another key"):
        ScoringState.load(tmp_path / "s", scorer)
    (tmp_path / "s" / "state.json").write_text(json.dumps({**meta, "features": "x"}))
    with pytest.raises(StoreError, match="another feature set"):
        ScoringState.load(tmp_path / "s", scorer)
    (tmp_path / "s" / "state.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="not a saved scoring state"):
        ScoringState.load(tmp_path / "nothing", scorer)
    (tmp_path / "s" / "links.snap").write_bytes(b"garbage")
    with pytest.raises(StoreError):
        ScoringState.load(tmp_path / "s", scorer)
