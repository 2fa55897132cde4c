"""LightGBM threads: chosen from the free cores, and the model does not depend on how many."""

from __future__ import annotations

import re

import numpy as np

from fraudscore.model import TrainConfig, train_model
from fraudscore.model.threads import free_cores, usable_cores

from .conftest import FEATURES, make_data


def _model_text(model) -> str:
    # the parameters block records num_threads itself; everything else must match
    return re.sub(r"\nparameters:.*?end of parameters", "", model.booster.model_to_string(), flags=re.S)


def test_same_model_for_any_thread_count():
    """LightGBM documents results as stable with deterministic=True for the same inputs and parameters;
    with force_row_wise=True the thread count does not change the trees either (checked here)."""
    X, y, ts, _ = make_data(n=4000, seed=5)
    texts = {nt: _model_text(train_model(X, y, ts, FEATURES, TrainConfig(num_threads=nt, num_boost_round=25,
                                                                          early_stopping_rounds=100)))
             for nt in (1, 2, 4)}
    assert texts[1] == texts[2] == texts[4]


def test_auto_threads_follow_the_free_cores():
    assert TrainConfig().num_threads == "auto"
    assert 1 <= TrainConfig().lgb_params()["num_threads"] <= usable_cores()
    assert TrainConfig(num_threads=3).lgb_params()["num_threads"] == 3
    assert free_cores(cores=2, load=6.0) == 1  # a loaded 2-core machine: one thread
    assert free_cores(cores=32, load=1.0) == 32  # idle (the load is this process)
    assert free_cores(cores=4, load=0.0) == 4


def test_training_with_progress_gives_the_same_bundle():
    from fraudscore import train
    from fraudscore.synth import generate

    data = generate(n_days=5, per_day=150, seed=4)
    cfg = {"model": {"num_boost_round": 8, "gap": "1h"}}
    a = train(data.columns, data.labels, key=b"threads-test-secret-01", config=cfg, progress=True)
    b = train(data.columns, data.labels, key=b"threads-test-secret-01", config=cfg)
    assert _model_text(a.bundle.model) == _model_text(b.bundle.model)
    assert np.array_equal(a.X, b.X, equal_nan=True)
