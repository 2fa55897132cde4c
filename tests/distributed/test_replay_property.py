"""Property: the partitioned replay equals the single-process batch, whatever the partitions and buckets.

The task graph runs in this process (:class:`tests.distributed.inline.InlineClient`),
so hypothesis can vary the input order, the number of input partitions, the
number of hash buckets and the ordering mode quickly; ``test_dask_cluster.py``
runs the same graph on real worker processes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraudscore.distributed import features_dask, score_dask
from fraudscore.scorer import Scorer
from fraudscore.tables import times_ms
from tests.conftest import TEST_SECRET
from tests.distributed.inline import InlineClient


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


@given(data=st.data())
def test_features_equal_single_process(history, featureless_bundle, data):
    events, labels = history
    scorer = Scorer(featureless_bundle, TEST_SECRET)
    n = len(events)
    pick = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=60), label="rows")  # repeats: duplicates
    frame = events.iloc[pick].reset_index(drop=True)
    by_time = data.draw(st.booleans(), label="sort_by_time")
    parts = data.draw(st.integers(1, 5), label="partitions")
    buckets = data.draw(st.integers(1, 7), label="buckets")
    with_labels = data.draw(st.booleans(), label="labels")
    lab = labels if with_labels else None
    got = features_dask(InlineClient(), scorer, frame, labels=lab, sort_by_time=by_time, buckets=buckets,
                        npartitions=parts)
    ref_frame = frame
    order = np.arange(len(frame))
    if by_time:
        order = np.argsort(times_ms(frame["ts"].to_numpy()), kind="stable")
        ref_frame = frame.iloc[order].reset_index(drop=True)
    cb, rec, X = scorer.features_batch(ref_frame, lab)
    assert got["rows"].tolist() == order[cb.rows].tolist()
    assert np.array_equal(_bits(got["X"]), _bits(X))
    assert [(e.row, e.field) for e in got["errors"]] == sorted((int(order[e.row]), e.field) for e in cb.errors)


def test_decisions_and_rejected_rows_equal_score_batch(history, featureless_bundle):
    events, labels = history
    scorer = Scorer(featureless_bundle, TEST_SECRET)
    frame = pd.concat([events.iloc[:200], events.iloc[[10, 150]]], ignore_index=True)  # repeated ids
    frame.loc[5, "amount"] = -3.0  # a bad cell: rejected in both, the rest scored
    frame.loc[40, "ts"] = frame.loc[40, "ts"] - 7_200_000  # two hours late: rejected in arrival order
    ref = scorer.score_batch(frame, labels=labels, return_features=True)
    summary = score_dask(InlineClient(), scorer, frame, None, labels=labels, sort_by_time=False, npartitions=3,
                         buckets=4, with_features=True)
    got = summary.results.sort_values("row").reset_index(drop=True)
    want = ref.to_pandas(with_features=True).reset_index().rename(columns={"index": "row"})
    assert list(got.columns) == list(want.columns)
    for c in want.columns:
        a, b = want[c].to_numpy(), got[c].to_numpy()
        assert np.array_equal(_bits(a), _bits(b)) if a.dtype.kind == "f" else (a == b).all(), c
    # row 200 repeats row 10 after its record expired: late; row 201 repeats row 150: a duplicate
    assert summary.rows_rejected == len(ref.errors) == 3
    assert int(ref.duplicate.sum()) == 1 and got["duplicate"].sum() == 1
    assert [(e["row"], e["field"]) for e in summary.errors] == [(e.row, e.field) for e in ref.errors]
    assert summary.rows_in == len(frame) and summary.chunks == 3


def test_empty_partitions_and_csv_input(history, featureless_bundle, tmp_path):
    from fraudscore.errors import InputError

    events, _ = history
    scorer = Scorer(featureless_bundle, TEST_SECRET)
    frame = events.iloc[:3]
    summary = score_dask(InlineClient(), scorer, frame, None, npartitions=8, buckets=2)
    assert summary.rows_scored == 3 and summary.chunks == 3
    ref = scorer.score_batch(frame)
    assert summary.results["score"].tolist() == ref.score.tolist()
    empty = score_dask(InlineClient(), scorer, events.iloc[:0], None)
    assert empty.rows_in == 0 and len(empty.results) == 0
    events.iloc[:5].to_csv(tmp_path / "h.csv", index=False)
    with pytest.raises(InputError, match="distributed scoring reads Parquet"):
        score_dask(InlineClient(), scorer, tmp_path / "h.csv", None)


def test_each_partition_stays_on_one_worker_and_buckets_spread(history, featureless_bundle):
    """Placement: every stage of an input partition runs where it was prepared (nothing of it moves), the
    partitions are shared by rows, and each shuffle's replays run on both workers."""
    events, labels = history
    scorer = Scorer(featureless_bundle, TEST_SECRET)
    client = InlineClient(threads=2)
    summary = score_dask(client, scorer, events, None, labels=labels, npartitions=6)
    assert summary.rows_scored == len(events)
    assert all(w is not None for name, w, _ in client.placed)  # every task and scattered item is placed
    where: dict[int, set[str]] = {}
    for name, w, part in client.placed:
        if part is not None:
            where.setdefault(part, set()).add(w)
    assert sorted(where) == list(range(6))
    assert all(len(ws) == 1 for ws in where.values()), where
    owners = [next(iter(where[i])) for i in range(6)]
    assert sorted(owners.count(w) for w in set(owners)) == [3, 3]  # six equal slices: three each
    for reducer in ("link_bucket", "velocity_bucket", "label_bucket", "admission_bucket"):
        assert {w for name, w, _ in client.placed if name == f"reduce_bucket:{reducer}"} == {"inline-0", "inline-1"}
