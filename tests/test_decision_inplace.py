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
