"""`fraudscore demo` smoke test (small sizes) and the command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fraudscore.cli import main
from fraudscore.demo import run_demo


def test_demo_runs_and_both_paths_agree():
    rep = run_demo(days=21, per_day=300, test_days=5, seed=2, show_progress=False, log=lambda *_: None)
    assert rep.parity_mismatches == 0
    assert rep.n_test > 1000 and 0 < rep.fraud_rate < 0.2
    assert 0.5 < rep.metrics["roc_auc"] <= 1.0
    assert 0.0 <= rep.metrics["recall_at_1pct_fpr"] <= rep.metrics["recall_at_5pct_fpr"] <= 1.0
    assert sum(rep.actions.values()) == rep.n_test
    assert rep.online_eps > 0 and rep.batch_eps > 0
    text = rep.render()
    for fragment in ("ROC AUC", "average precision", "recall @ 1% FPR", "recall @ 5% FPR", "events/s",
                     "Most frequent reasons", "online = batch: yes"):
        assert fragment in text


def test_help_explains_every_option(capsys):
    assert main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    for opt in ("--days", "--per-day", "--test-days", "--seed", "--no-progress", "--out", "--online-sample"):
        assert opt in out


def test_python_dash_m_entry_point():
    res = subprocess.run([sys.executable, "-m", "fraudscore", "--version"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("fraudscore ")


def test_cli_synth_train_backtest_round_trip(tmp_path, monkeypatch, capsys):
    pytest.importorskip("pyarrow")
    monkeypatch.setenv("FRAUDSCORE_KEY", "cli-test-secret-0123456789")
    apps, labels = tmp_path / "apps.parquet", tmp_path / "labels.csv"
    assert main(["synth", str(apps), "--labels", str(labels), "--days", "21", "--per-day", "150", "--seed", "4"]) == 0
    assert main(["train", str(apps), str(labels), "--out", str(tmp_path / "bundle")]) == 0
    assert (tmp_path / "bundle" / "manifest.json").exists()
    assert main(["backtest", str(apps), str(labels)]) == 0
    out = capsys.readouterr().out
    assert "precision" in out.lower()


def test_cli_reports_errors_without_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FRAUDSCORE_KEY", "cli-test-secret-0123456789")
    (tmp_path / "x.txt").write_text("nothing")
    assert main(["train", str(tmp_path / "missing.csv"), str(tmp_path / "x.txt"), "--out", str(tmp_path / "b")]) == 3
    err = capsys.readouterr().err
    assert "error" in err and "missing.csv" in err and len(err.strip().splitlines()) == 1
