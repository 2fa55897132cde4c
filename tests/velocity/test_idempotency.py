"""``ResultCache`` against the plain algorithm it replaced (round 9: the expiry scan skipped while the head is live)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.velocity.idempotency import Applied, ResultCache


class PlainCache:
    """The round-8 ``ResultCache.put`` / ``get``: move to the end, drop over the bound, scan the expired head."""

    def __init__(self, ttl_ms: int, max_entries: int) -> None:
        self.ttl_ms, self.max_entries, self.d = ttl_ms, max_entries, OrderedDict()

    def put(self, app, applied, watermark=None):
        if not app:
            return
        d = self.d
        d[app] = (int(applied.ts), applied.features.tobytes(), applied.link)
        d.move_to_end(app)
        while len(d) > self.max_entries:
            d.popitem(last=False)
        cutoff = (applied.ts if watermark is None else watermark) - self.ttl_ms
        while d:
            k = next(iter(d))
            if d[k][0] >= cutoff:
                break
            d.popitem(last=False)


ops = st.lists(st.tuples(st.sampled_from(["", "A", "B", "C", "D", "E"]), st.integers(0, 50),
                         st.one_of(st.none(), st.integers(0, 60)), st.booleans()), max_size=60)


@settings(max_examples=300, deadline=None)
@given(ops, st.integers(1, 30), st.integers(1, 6))
def test_put_and_get_equal_the_plain_algorithm(steps, ttl, max_entries):
    cache, plain = ResultCache(ttl_ms=ttl, max_entries=max_entries), PlainCache(ttl, max_entries)
    for i, (app, ts, wm, reload) in enumerate(steps):
        applied = Applied(np.array([float(i), np.nan]), False, ("d", 0.5) if i % 2 else None, ts)
        cache.put(app, applied, wm)
        plain.put(app, applied, wm)
        assert list(cache._d.items()) == list(plain.d.items())
        for probe in ("A", "B", "C", ""):
            got = cache.get(probe, ts, wm)
            rec = plain.d.get(probe) if probe else None
            live = rec is not None and rec[0] >= (ts if wm is None or ts > wm else wm) - ttl
            assert (got is not None) == live
            if live:
                assert got.ts == rec[0] and got.features.tobytes() == rec[1] and got.link == rec[2] and got.duplicate
        if reload:  # a snapshot round trip resets what the cache knows of its head
            raw = cache.to_raw()
            cache.load_raw(raw)
            assert [k for k, *_ in raw] == list(plain.d)
