"""Hash partitioning: deterministic buckets, splits that keep row order, the processing order, placement."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from fraudscore.distributed.partition import assign, bucket_of, concat_pieces, processing_order, split, value_hashes


def test_buckets_are_the_same_in_another_process():
    vals = np.array(["p:a", "p:b", None, 7, 7.0, float("nan")], dtype=object)
    here = bucket_of([vals], 97).tolist()
    code = ("import numpy as np; from fraudscore.distributed.partition import bucket_of; "
            "print(bucket_of([np.array(['p:a', 'p:b', None, 7, 7.0, float('nan')], dtype=object)], 97).tolist())")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123"}).stdout.strip()
    assert str(here) == there
    assert here[2] == here[5] == -1  # missing values go nowhere
    assert here[3] == here[4]  # 7 and 7.0 are one entity in the replay, so one bucket


def test_composite_keys_need_every_part():
    a = np.array(["x", "x", None, "y"], dtype=object)
    b = np.array(["1", "2", "1", None], dtype=object)
    out = bucket_of([a, b], 8)
    assert out[2] == -1 and out[3] == -1
    assert out[0] >= 0 and out[1] >= 0
    h, present = value_hashes(np.array([1.0, np.nan]))
    assert present.tolist() == [True, False]


def test_split_keeps_order_and_concat_restores_rows():
    piece = {"idx": np.arange(10), "name": np.array(list("abcdefghij"), dtype=object)}
    bucket = np.array([2, 0, 1, -1, 2, 0, 1, 2, 0, -1])
    parts = split(piece, bucket, 3)
    assert [p["idx"].tolist() for p in parts] == [[1, 5, 8], [2, 6], [0, 4, 7]]
    back = concat_pieces(parts)
    assert sorted(back["idx"].tolist()) == [0, 1, 2, 4, 5, 6, 7, 8]
    assert concat_pieces([]) == {}


def test_processing_order_breaks_time_ties_by_input_row():
    ts = np.array([10, 5, 10, 5])
    row = np.array([7, 9, 3, 1])
    assert processing_order(ts, row, True).tolist() == [3, 1, 2, 0]
    assert processing_order(ts, row, False).tolist() == [3, 2, 0, 1]


def test_assign_is_longest_processing_time_first():
    w = [7, 3, 3, 2, 2, 2, 1]
    bins = assign(w, [1, 1])
    loads = np.bincount(bins, weights=w, minlength=2)
    assert loads.tolist() == [10.0, 10.0]
    assert assign(w, [1, 1]).tolist() == bins.tolist()  # deterministic
    rng = np.random.default_rng(3)
    for _ in range(50):
        w = rng.pareto(1.2, size=rng.integers(1, 60)) + 0.01  # lumpy, like hardware families
        cap = rng.integers(1, 4, size=rng.integers(1, 5)).astype(float)
        loads = np.bincount(assign(w, cap), weights=w, minlength=len(cap)) / cap
        # LPT's bound: no bin finishes later than the ideal share plus the largest item
        assert loads.max() <= w.sum() / cap.sum() + w.max() / cap.min() + 1e-9
    assert assign([], [1]).tolist() == []
    with pytest.raises(ValueError, match="positive"):
        assign([1.0], [0])


def test_fingerprints_pickle_by_fields_and_come_back_equal():
    import pickle

    import fraudscore.distributed.tasks  # noqa: F401  (registers the pickling)
    from fraudscore.fingerprint.sections import Fingerprinter
    from fraudscore.keys import Keys

    fp = Fingerprinter(Keys("0123456789abcdef-pickle")).fingerprint(
        {"user_agent": "Mozilla/5.0 (Linux; Android 13; SM-S911B) Chrome/120.0 Mobile", "screen": "1080x2340",
         "fonts": ["a", "b"], "languages": "zh-CN,en", "webgl_renderer": "Adreno (TM) 740"})
    import pickletools

    data = pickle.dumps([fp, fp], protocol=5)
    ops = {op.name for op, _, _ in pickletools.genops(data)}
    assert "REDUCE" in ops and "BUILD" not in ops  # by constructor, not the dataclass __setstate__
    back = pickle.loads(data)
    assert back[0] == fp and back[0].canonical == fp.canonical and back[0] is back[1]
    assert type(back[0]) is type(fp) and back[0].family == fp.family


def test_velocity_buckets_weigh_busy_entities_more_than_their_rows():
    from fraudscore.distributed.partition import key_hashes, key_load
    from fraudscore.distributed.tasks import KEY_LOAD_WEIGHT, bucket_rows

    busy = np.array(["p:a"] * 6 + ["p:b", "p:c", "p:d", "p:e", "p:f", "p:g"], dtype=object)
    h, present = key_hashes([busy])
    bucket = np.where(busy == "p:a", 0, 1)  # same rows in both buckets: one entity against six
    assert key_load(h, bucket, 2).tolist() == [36.0, 6.0]
    pieces = [{0: {"idx": np.arange(6)}, "load": 36.0 * KEY_LOAD_WEIGHT},
              {0: {"idx": np.arange(6)}, 3: {"idx": np.arange(2)}, "load": 6.0 * KEY_LOAD_WEIGHT}, {}]
    assert bucket_rows(pieces).tolist() == [6 + 1.8, 8 + 0.3, 0.0]
    assert bucket_rows([{"idx": np.arange(4)}, {}]).tolist() == [4.0, 0.0]  # link and label pieces: rows
