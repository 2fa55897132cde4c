"""Tests of the benchmark suite: a trimmed quick run, its JSON/Markdown shape and its baselines."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from fraudscore.bench import GROUPS, add_command, run_suite
from fraudscore.bench.common import Settings
from fraudscore.bench.report import check_goals, render_markdown

TINY = replace(Settings.for_mode(True), train_days=10, train_per_day=300, n_latency=40, repeats=2, large_trees=30,
               batch_sizes=(1, 200), batch_budget_s=60.0, entities=(300,), history=(5,), rules=(5, 20), trees=(10, 30),
               rescore_rows=(300,), procs=(1,), per_proc=50)


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    doc = run_suite(out=out, only=["single", "batch", "scaling"], settings=TINY, log=lambda *_: None)
    return out, doc


def test_files_and_shape(suite):
    out, doc = suite
    on_disk = json.loads((out / "suite.json").read_text())
    assert on_disk["results"] == json.loads(json.dumps(doc["results"]))
    assert {"machine", "created", "mode", "settings", "bundles", "results", "goals", "notes", "timings"} <= set(doc)
    assert doc["mode"] == "quick" and doc["groups"] == ["single", "batch", "scaling"]
    for r in doc["results"]:
        assert {"group", "name", "value", "unit", "baseline_name", "baseline_value", "ratio", "params"} <= set(r)
        assert np.isfinite(r["value"]) and r["value"] > 0
    md = (out / "suite.md").read_text()
    assert md.startswith("# fraudscore benchmark suite") and "## Goals" in md and "| single/large/e2e_p99 |" in md


def test_ratios_against_baselines_of_the_run(suite):
    _, doc = suite
    for r in doc["results"]:
        assert r["baseline_value"] and r["baseline_value"] > 0, r["name"]
        if r["unit"].endswith("/s"):
            assert r["ratio"] == pytest.approx(r["value"] / r["baseline_value"])
        else:
            assert r["ratio"] == pytest.approx(r["baseline_value"] / r["value"])
    names = {r["name"] for r in doc["results"]}
    assert {"single/default/e2e_p50", "single/large/e2e_p99.9", "single/large/stage_model_p50",
            "single/large/non_model_p50", "batch/default/events_per_s/200"} <= names
    # the first size of each scaling series is its own baseline
    first = next(r for r in doc["results"] if r["name"] == "scaling/rules/evaluate_p50/5")
    assert first["ratio"] == pytest.approx(1.0)


def test_reference_bundles_and_staged_parity(suite):
    _, doc = suite
    assert doc["bundles"]["large"]["trees"] == TINY.large_trees
    assert doc["bundles"]["large"]["rules"] == 50 and doc["bundles"]["large"]["features"] >= 40
    assert not [n for n in doc["notes"] if "disagrees" in n]
    stages = [r for r in doc["results"] if r["name"].startswith("single/large/stage_")]
    assert len(stages) == 8


def test_goals_and_markdown_without_measurements():
    goals = check_goals([])
    assert all(g["met"] is None for g in goals)
    assert "not measured" in render_markdown({"results": [], "goals": goals, "notes": ["n1"]})


def test_cli_and_unknown_group(tmp_path):
    import argparse

    p = add_command(argparse.ArgumentParser().add_subparsers())
    args = p.parse_args(["--quick", "--out", str(tmp_path), "--only", "single", "redis"])
    assert args.quick and args.only == ["single", "redis"] and set(args.only) <= set(GROUPS)
    with pytest.raises(ValueError, match="unknown benchmark groups"):
        run_suite(out=tmp_path, only=["nope"])


def _fake_suite(goals_met):
    def fake(*, quick=False, out=None, only=None, settings=None, log=None):
        fake.out = out
        return {"goals": [{"goal": "single event fast", "measured": 70.0, "target": "<= 60 us", "met": goals_met},
                          {"goal": "redis", "measured": None, "target": "<= 250 us", "met": None}]}
    return fake


def test_check_exits_1_when_a_goal_is_unmet(monkeypatch, tmp_path, capsys):
    import fraudscore.bench as bench
    from fraudscore.cli import main

    monkeypatch.setattr(bench, "run_suite", _fake_suite(False))
    assert main(["bench", "--quick", "--out", str(tmp_path)]) == 0  # without --check: report only
    assert main(["bench", "--quick", "--out", str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert "1 goal(s) not met: single event fast" in err
    monkeypatch.setattr(bench, "run_suite", _fake_suite(True))
    assert main(["bench", "--quick", "--out", str(tmp_path), "--check"]) == 0  # unmeasured goals do not fail


def test_results_go_to_the_current_directory_never_over_committed_ones(monkeypatch, tmp_path, capsys):
    import fraudscore.bench as bench
    from fraudscore.cli import main

    fake = _fake_suite(True)
    monkeypatch.setattr(bench, "run_suite", fake)
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--quick"]) == 0 and fake.out == tmp_path
    committed = bench.committed_results_dir()
    if committed is not None:  # running from a source checkout (editable install)
        monkeypatch.chdir(committed)
        assert main(["bench", "--quick"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--update-committed" in err[0]
        assert main(["bench", "--quick", "--update-committed"]) == 0


def test_plausibility_measures_its_own_rates(monkeypatch, suite):
    """Without --results or rates, plausibility measures (the suite's single and batch groups)."""
    import shutil

    import fraudscore.bench as bench
    from fraudscore.plausibility import measure_rates

    out, _ = suite

    def fake(*, quick=False, out=None, only=None, settings=None, log=None):
        assert only == ["single", "batch"]
        shutil.copy(suite[0] / "suite.json", out)
        return {}

    monkeypatch.setattr(bench, "run_suite", fake)
    single, batch, source = measure_rates()
    assert single > 0 and batch > 0 and "measured on this machine" in source


@pytest.mark.slow
@pytest.mark.redis
def test_concurrency_group_reports_contention(tmp_path):
    """Worker processes on one Redis node (own servers): events/s with its one-process baseline, round trips and
    the link contention per event (conflicts, leases, lease waits); a worker's failure is reported, not waited
    for."""
    from fraudscore.bench.servers import have_redis_server

    if not have_redis_server():
        pytest.skip("redis-server is not installed")
    doc = run_suite(out=tmp_path, only=["concurrency"], settings=replace(TINY, procs=(1, 2), per_proc=15, repeats=2),
                    log=lambda *_: None)
    rows = {r["name"]: r for r in doc["results"]}
    two = rows["concurrency/redis/events_per_s/2_procs"]
    assert two["baseline_value"] == rows["concurrency/redis/events_per_s/1_procs"]["value"] > 0
    assert two["params"]["round_trips_per_event"] >= 1.0
    assert {"conflicts_per_event", "leases_per_event", "lease_waits_per_event"} <= set(two["params"])
    assert rows["concurrency/redis/events_per_s/1_procs"]["params"]["conflicts_per_event"] == 0.0
    assert 0 < two["params"]["p50_us"] <= two["params"]["p99_us"]
