"""Round 16 (#13, ``fpstage``): ``build1`` writes the canonical values straight into the ``CanonicalDevice``'s tuple
(``fp_canon_fill``, shared with ``canon_values``' list): the same values, extras, fingerprint and errors as the
list form and the pure-Python reference, bit for bit; a miss handler that raises leaves nothing behind."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore.fingerprint import Fingerprinter, canonical

from .test_build_compiled import KEYS, devices, reference, reference_fingerprinter, same
from tests.helpers import compiled_core

core = compiled_core("fingerprint", "the compiled fingerprint module")


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(devices, st.booleans())
def test_the_tuple_equals_the_list_form_and_the_reference(monkeypatch, d, cold):
    if cold:
        canonical._BUDGET.clear()
    fast = Fingerprinter(KEYS, cache_size=0)
    slow = reference_fingerprinter(monkeypatch)
    want = reference(slow, d)
    got = fast._build1(d) if d else None
    if got is None:  # handed over (or an empty device)
        return
    same(got, want)
    vals, unknown = core.canon_values(d, *canonical.compiled_args())
    assert type(got.canonical.values) is tuple and list(got.canonical.values) == vals
    assert all(type(a) is type(b) for a, b in zip(got.canonical.values, vals))
    assert got.canonical.extra == canonical.extras_of(unknown)
    assert not gc.is_tracked(got.canonical.values) or any(gc.is_tracked(v) for v in got.canonical.values)


class _Boom(Exception):
    pass


def test_a_raising_miss_handler_leaves_nothing_behind(monkeypatch):
    fast = Fingerprinter(KEYS, cache_size=0)
    dev = {"user_agent": "x", "platform": "Win32", "brand_new_attribute_r16": "v", "timezone": "Asia/Shanghai"}
    fast._build1(dev)  # warm the memos

    def boom(*_a):
        raise _Boom

    ctx = fast._build1.args[0]
    ca = list(ctx[0])
    for pos in (3, 4, 5, 6):  # resolve, norm, norm_str, norm_cached
        bad = list(ca)
        bad[pos] = boom
        bctx = (tuple(bad), *ctx[1:])
        fresh = {f"k_{pos}_{i}": f"value {i}" for i in range(3)}  # names the key memo has not seen: resolve runs
        fresh.update({"webgl_renderer": f"new renderer {pos}", "platform": f"plat {pos}", "screen": [1, pos]})
        for _ in range(50):
            try:
                fast._build1.func(bctx, fresh)
            except _Boom:
                pass
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(500):
            try:
                fast._build1.func(bctx, fresh)
            except _Boom:
                pass
        grown = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        assert grown < 20_000, pos


def test_bad_argument_counts_still_raise():
    args = canonical.compiled_args()
    with pytest.raises(TypeError):
        core.canon_values({}, *args[:5])
    with pytest.raises(ValueError):
        core.canon_values({}, args[0] + 1, *args[1:])
