"""Round 15: ``decide`` fills the ``Decision``'s ``__dict__`` in place (a copy of the template dict whose values are
replaced where they live, ``_core/pipeline_decide.h``) instead of eleven ``PyDict_SetItem`` calls. The dict must be
the one the Python steps make: the same keys in the same order, the same values (by identity where the Python path
shares them), the same collector tracking, and the same behaviour afterwards (updates, copies, equality)."""

from __future__ import annotations

import gc

import pytest

import fraudscore.scorer as scorer_mod

from .test_scorer_decide_compiled import NOW, _pair, records

pytestmark = pytest.mark.skipif(scorer_mod._DECIDE_CTX is None, reason="the compiled decide is not in use")


def test_decision_dict_equals_the_python_steps():
    a, b = _pair(clock=lambda: NOW)
    tracked = set()
    for ev in records()[:300]:
        try:
            da = a.score(ev)
        except ValueError:
            with pytest.raises(ValueError):
                b.score(ev)
            continue
        db = b.score(ev)
        va, vb = vars(da), vars(db)
        assert list(va) == list(vb)  # make_decision's 17 keys, in order
        for k in va:
            x, y = va[k], vb[k]
            if k == "_reasons":
                x, y = da.reasons, db.reasons
            assert x == y or (x != x and y != y), k
            assert type(x) is type(y), k
        assert gc.is_tracked(va) == gc.is_tracked(vb)
        tracked.add(gc.is_tracked(va))
        assert da == db and repr(da) == repr(db) and da.to_dict() == db.to_dict()
        va["device_id"] = "changed"  # a plain dict afterwards: updates and lookups as any dict
        assert da.device_id == "changed" and dict(va)["device_id"] == "changed"
    assert True in tracked  # decisions with reason / hit lists (tracked dicts) were among them


class Recorder:
    """A model that remembers what it was given (the gather's output) and answers a constant."""

    def __init__(self, model) -> None:
        self.model, self.seen = model, []
        self.feature_names = model.feature_names

    def predict_one(self, x):
        self.seen.append((type(x), x.dtype.str, x.flags["C_CONTIGUOUS"], x.flags["OWNDATA"], x.tobytes()))
        return 0.25

    def __getattr__(self, name):
        return getattr(self.model, name)


def test_model_input_gather_equals_numpy_indexing():
    """The model's input x[_model_cols] gathered in C (an exact intp vector of columns) == numpy's fancy indexing
    (the Python steps), and columns the C gather does not take (negative, another dtype, a list) go to numpy."""
    import numpy as np

    for cols_of in (None, lambda c: c[::-1].copy(), lambda c: np.concatenate([c[-1:] - len(c) - 1, c[1:]]),
                    lambda c: c.astype(np.int32), lambda c: list(c), lambda c: c[:0].copy()):
        a, b = _pair(clock=lambda: NOW, explain=False)  # the recorder's input only (no explanation)
        ra, rb = Recorder(a.model), Recorder(b.model)
        a.model, b.model = ra, rb
        if a._model_cols is None:
            a._model_cols = b._model_cols = np.arange(len(a.pipeline.feature_names), dtype=np.intp)[::-1].copy()
        if cols_of is not None:
            a._model_cols = cols_of(a._model_cols)
            b._model_cols = cols_of(b._model_cols)
        for ev in records()[:40]:
            try:
                da = a.score(ev)
            except ValueError:
                continue
            assert da.to_dict() == b.score(ev).to_dict()
        assert ra.seen and ra.seen == rb.seen
