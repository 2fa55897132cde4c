"""The batch GC pause (``eventchecks.paused_gc``): survivors go to the oldest generation unvisited (#13 round 13)."""

from __future__ import annotations

import gc

from fraudscore.pipeline import paused_gc


class _Box:  # a GC-tracked object we can find again
    pass


def test_survivors_move_to_the_oldest_generation_and_gc_comes_back():
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():  # nested: the inner exit leaves the collector off
            pass
        assert not gc.isenabled()
        kept = [_Box() for _ in range(2000)]  # more than a young collection's threshold
    assert gc.isenabled()
    assert gc.get_count()[0] < 700  # no young collection pending over the batch's objects
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert all(id(b) in oldest for b in kept)


def test_an_applications_frozen_objects_stay_frozen():
    gc.collect()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with paused_gc():
            kept = [_Box() for _ in range(10)]
        assert gc.isenabled() and gc.get_freeze_count() == frozen
        assert kept
    finally:
        gc.unfreeze()


def test_a_disabled_collector_stays_disabled():
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
