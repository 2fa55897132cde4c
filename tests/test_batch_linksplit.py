"""Round 17 (`batchkern`): the overlapped batch replays the velocity features that read no linked column once.

:meth:`BatchSteps._batch_overlapped` splits the feature set in two (:meth:`BatchSteps._link_split`): the features
that read no ``device_id`` are replayed once over every row before the link loop, the others per range over its
prefix. The decisions equal the sequential path's (``tests/test_batchoverlap.py``'s hypothesis tests run through
the split, checked here to be taken) and the online path's.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import fraudscore.batchoverlap as bo
from fraudscore import Scorer

from .helpers import SECRET, small_bundle, synthetic


def test_split_covers_every_feature_once():
    scorer = Scorer(small_bundle(), SECRET)
    pipe = scorer.pipeline
    split = pipe._link_split()
    assert split is not None  # the test bundle has both kinds: the overlap tests run through the split
    free_fs, free_at, linked_fs, linked_at = split
    assert sorted(free_at.tolist() + linked_at.tolist()) == list(range(len(pipe.feature_set.names)))
    assert all("device_id" in s.fields for s in linked_fs.specs)
    assert not any("device_id" in s.fields for s in free_fs.specs)
    assert [pipe.feature_set.names[i] for i in free_at] == list(free_fs.names)
    assert pipe._link_split() is split  # built once


@settings(deadline=None, max_examples=8)
@given(st.integers(250, 600), st.lists(st.floats(0.05, 0.95), min_size=1, max_size=3))
def test_split_overlap_equals_sequential(n, splits):
    data = synthetic().slice(0, n)
    scorer = Scorer(small_bundle(), SECRET)
    old = (bo.SPLITS, bo.MIN_SPLIT_ROWS, bo.MIN_ROWS)
    bo.SPLITS, bo.MIN_SPLIT_ROWS, bo.MIN_ROWS = tuple(sorted(splits)), 1, 1
    try:
        got = scorer.score_batch(data.columns, overlap=True, return_features=True)
    finally:
        bo.SPLITS, bo.MIN_SPLIT_ROWS, bo.MIN_ROWS = old
    want = Scorer(small_bundle(), SECRET).score_batch(data.columns, overlap=False, return_features=True)
    assert np.array_equal(got.score, want.score) and list(got.action) == list(want.action)
    for name in want.features:
        assert np.array_equal(got.features[name], want.features[name], equal_nan=True), name
