"""``device_columns_deferred`` + ``DeferredLinks.link`` over consecutive row ranges == ``device_columns`` (one link
loop over every row): the same device ids, link confidences and static features, with the compiled link loop and
with the Python one (fraudscore/devicecolumns.py, round 16)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import fraudscore.devicecolumns as dc
from fraudscore import Scorer
from fraudscore.batch import to_columns

from .helpers import SECRET, small_bundle, synthetic


def _both(cuts, rows):
    scorer = Scorer(small_bundle(), SECRET)
    pipe = scorer.pipeline
    cb = to_columns(synthetic().slice(0, rows).columns, scorer.schema)
    k = pipe._n_static
    rec, static = pipe.batch_static(cb, pipe.new_linker())
    out = np.empty((cb.n, k))
    rec2, static2, links = pipe._batch_static(cb, pipe.new_linker(), out, defer_link=True)
    assert links is not None and static2 is out
    bounds = sorted({0, cb.n, *[min(c, cb.n) for c in cuts]})
    for a, b in zip(bounds[:-1], bounds[1:]):
        links.link(a, b)
    assert static.tobytes() == static2.tobytes()
    assert set(rec) == set(rec2)
    for name in rec:
        assert list(rec[name]) == list(rec2[name]), name


@settings(max_examples=15)
@given(st.lists(st.integers(0, 600), max_size=5), st.integers(1, 600))
def test_ranges_equal_one_link_loop(cuts, rows):
    _both(cuts, rows)


def test_ranges_equal_one_link_loop_in_python(monkeypatch):
    old = dc.load_core
    monkeypatch.setattr(dc, "load_core", lambda name: None if name == "linker" else old(name))
    _both([1, 100, 101, 350], 500)


def test_an_empty_range_links_nothing():
    scorer = Scorer(small_bundle(), SECRET)
    pipe = scorer.pipeline
    cb = to_columns(synthetic().slice(0, 50).columns, scorer.schema)
    _, static, links = pipe._batch_static(cb, pipe.new_linker(), None, defer_link=True)
    links.link(10, 10)
    assert all(v is None for v in links.device_id) and np.isnan(links.conf).all()
