"""Tests of the plausibility report (``fraudscore plausibility``)."""

from __future__ import annotations

import json

import pytest

from fraudscore.cli import main
from fraudscore.plausibility import Inputs, assess, rates_from_suite, render


def test_article_example_arithmetic():
    a = assess(Inputs(single_per_core=1000.0, batch_per_core=2000.0))
    assert a.avg_per_s == pytest.approx(30e6 / 86400)
    assert a.peak_per_s == pytest.approx(3 * 30e6 / 86400)
    assert a.cores_single == 2 and a.cores_batch == 1  # 1042/1000 -> 2, 1042/2000 -> 1
    assert a.checks_per_adult_month == pytest.approx(30e6 * 30 / 1.1e9)
    assert a.per_client_day == 10_000 and a.reference_ratio == 30.0
    assert a.compute_plausible and not a.demand_plausible


def test_modest_claim_is_plausible_and_machines_round_up():
    a = assess(Inputs(calls_per_day=500_000, single_per_core=1.0, cores_per_machine=8))
    assert a.demand_plausible
    assert a.cores_single == 18 and a.machines_single == 3


def test_render_shows_the_arithmetic_and_verdicts():
    text = render(assess(Inputs()))
    assert "30,000,000 x 30 / 1,100,000,000 = 0.82" in text
    assert "30,000,000 / 1,000,000 = 30.0x" in text
    assert "NOT plausible" in text and "verdict: plausible" in text


def test_rates_from_suite(tmp_path):
    doc = {"mode": "full", "created": "t", "machine": {"cpu_count": 2}, "results": [
        {"name": "single/large/e2e_p50", "value": 200.0, "params": {}},
        {"name": "batch/default/events_per_s/100", "value": 1000.0, "params": {"batch_size": 100, "bundle": "default"}},
        {"name": "batch/default/events_per_s/1000", "value": 8000.0, "params": {"batch_size": 1000, "bundle": "default"}},
    ]}
    p = tmp_path / "suite.json"
    p.write_text(json.dumps(doc))
    single, batch, src = rates_from_suite(p)
    assert single == pytest.approx(5000.0) and batch == pytest.approx(4000.0) and "suite.json" in src
    assert rates_from_suite(tmp_path / "missing.json") is None


def test_cli_rates_on_the_command_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing depends on the current directory
    assert main(["plausibility", "--single-rate", "5000", "--batch-rate", "7500"]) == 0
    out = capsys.readouterr().out
    assert "claimed calls per day       30,000,000" in out and "from command line" in out


def test_cli_json_and_rates(capsys, tmp_path):
    assert main(["plausibility", "--json", "--single-rate", "100", "--batch-rate", "100"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["cores_single"] == 11 and doc["inputs"]["rates_source"] == "command line"


def test_cli_named_results_file_is_required_to_exist(capsys, tmp_path):
    assert main(["plausibility", "--results", str(tmp_path / "none.json")]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.json: no such file" in err[0]
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["plausibility", "--results", str(bad)]) == 3
    assert "not a suite.json" in capsys.readouterr().err


def test_cli_named_results_file(capsys, tmp_path, monkeypatch):
    doc = {"mode": "quick", "created": "now", "machine": {"cpu_count": 2}, "results": [
        {"name": "single/large/e2e_p50", "value": 200.0, "params": {}},
        {"name": "batch/default/events_per_s/1000", "value": 8000.0, "params": {"batch_size": 1000}}]}
    (tmp_path / "suite.json").write_text(json.dumps(doc))
    monkeypatch.chdir(tmp_path.parent)
    assert main(["plausibility", "--results", str(tmp_path / "suite.json")]) == 0
    out = capsys.readouterr().out
    assert "single event 5,000/s, batch 4,000/s" in out and "suite.json" in out


def test_plot_optional(tmp_path):
    pytest.importorskip("matplotlib")
    from fraudscore.plausibility import plot

    out = plot(assess(Inputs()), tmp_path / "p.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
