"""On a real cluster: two worker processes (``LocalCluster``), the CLI and training features.

Kept small (600 rows, a 10-round model): the cluster's start dominates.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import fraudscore as fs
from fraudscore.distributed import connect, score_dask
from fraudscore.errors import FraudscoreError
from fraudscore.tables import TableFile
from tests.conftest import TEST_SECRET


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def trained(tmp_path_factory, history):
    """A small trained bundle, the history as a folder of 3 Parquet files (not in time order), the labels."""
    events, labels = history
    root = tmp_path_factory.mktemp("dask")
    res = fs.train(events, labels, key=TEST_SECRET, config={"model": {"num_boost_round": 10, "gap": "1h"}})
    res.save(root / "bundle")
    mixed = events.sample(frac=1.0, random_state=3).reset_index(drop=True)
    (root / "in").mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(mixed)), 3)):
        mixed.iloc[part].to_parquet(root / "in" / f"part-{i}.parquet", index=False)
    labels.to_parquet(root / "labels.parquet", index=False)
    return root, labels


def _same(want: pd.DataFrame, got: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for c in want.columns:
        a, b = want[c].to_numpy(), got[c].to_numpy()
        if a.dtype.kind == "f":
            assert np.array_equal(a.view(np.int64), b.astype(np.float64).view(np.int64)), c
        else:
            assert (a == b).all(), c


def test_two_workers_equal_score_batch_bit_for_bit(client, trained):
    root, labels = trained
    scorer = fs.load(root / "bundle", key=TEST_SECRET)
    frame, rows = TableFile(root / "in", scorer.schema, sort_by_time=True).read()
    ref = scorer.score_batch(frame, labels=labels, return_features=True)
    want = ref.to_pandas(with_features=True).reset_index().rename(columns={"index": "row"})
    want["row"] = rows[want["row"].to_numpy()]
    want = want.sort_values("row").reset_index(drop=True)
    summary = score_dask(client, root / "bundle", root / "in", root / "out", key=TEST_SECRET,
                         labels=root / "labels.parquet", with_features=True, buckets=3)
    assert sorted(p.name for p in (root / "out").iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    got = pd.read_parquet(root / "out").sort_values("row").reset_index(drop=True)
    _same(want, got)
    assert summary.rows_scored == len(ref) and summary.rows_rejected == 0 and summary.chunks == 3


def test_cli_score_dask_equals_single_process_cli(client, trained, monkeypatch, capsys):
    from fraudscore.cli import main

    root, _ = trained
    monkeypatch.setenv("FRAUDSCORE_KEY", TEST_SECRET.decode())
    common = [str(root / "in"), "--bundle", str(root / "bundle"), "--labels", str(root / "labels.parquet"),
              "--no-progress"]
    assert main(["score", *common, "--out", str(root / "single.parquet")]) == 0
    assert main(["score", *common, "--out", str(root / "cli-out"), "--dask", client.scheduler.address]) == 0
    want = pd.read_parquet(root / "single.parquet").sort_values("row").reset_index(drop=True)
    got = pd.read_parquet(root / "cli-out").sort_values("row").reset_index(drop=True)
    _same(want, got)
    assert main(["score", *common, "--out", str(root / "x.parquet"), "--dask", client.scheduler.address]) == 2
    assert "give a folder" in capsys.readouterr().err


def test_training_features_on_dask_equal_in_process(client, history):
    events, labels = history
    cfg = {"model": {"num_boost_round": 10, "gap": "1h"}}
    here = fs.train(events, labels, key=TEST_SECRET, config=cfg)
    there = fs.train(events, labels, key=TEST_SECRET, config=cfg, client=client)
    assert np.array_equal(here.X.view(np.int64), there.X.view(np.int64))
    assert np.array_equal(here.y, there.y, equal_nan=True) and np.array_equal(here.ts, there.ts)
    def trees(result):  # the parameters block records the thread count, which follows the machine's load
        return re.sub(r"\nparameters:.*?end of parameters", "", result.bundle.model.booster.model_to_string(),
                      flags=re.S)

    assert trees(here) == trees(there)


def test_unreachable_scheduler_is_one_clear_error():
    with pytest.raises(FraudscoreError, match="cannot reach the Dask scheduler"):
        connect("tcp://127.0.0.1:9", timeout=1)


def test_a_worker_leaving_is_one_clear_error_not_a_hang(client):
    """Tasks are bound to their worker; if it leaves, the run stops with a clear error instead of waiting."""
    from fraudscore.distributed import _Place

    place = _Place(client)
    place.workers = [*place.workers, "tcp://127.0.0.1:9"]  # placed work on a worker that is not there (any more)
    stuck = place.submit("tcp://127.0.0.1:9", sum, [1, 2])
    with pytest.raises(FraudscoreError, match="left during the run"):
        place.gather([stuck])
