"""`fraudscore demo` smoke test (small sizes) and the command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fraudscore.cli import main
from fraudscore.demo import run_demo


def test_demo_runs_and_both_paths_agree(tmp_path):
    rep = run_demo(days=21, per_day=300, test_days=5, seed=2, show_progress=False, log=lambda *_: None,
                   out=tmp_path / "demo", online_sample=400)
    assert rep.parity_mismatches == 0 and rep.n_online == 400  # online score() from the carried-over state
    assert rep.n_test > 1000 and 0 < rep.fraud_rate < 0.2
    assert 0.5 < rep.metrics["roc_auc"] <= 1.0
    assert 0.0 <= rep.metrics["recall_at_1pct_fpr"] <= rep.metrics["recall_at_5pct_fpr"] <= 1.0
    assert sum(rep.actions.values()) == rep.n_test
    assert sum(c["genuine"] + c["fraud"] for c in rep.confusion.values()) == rep.n_test
    genuine_flagged = rep.confusion["review"]["genuine"] + rep.confusion["decline"]["genuine"]
    genuine = sum(c["genuine"] for c in rep.confusion.values())
    assert rep.false_positive_rate == pytest.approx(genuine_flagged / genuine)
    assert rep.online_eps > 0 and rep.batch_eps > 0
    assert 0 < rep.thresholds["review"] <= rep.thresholds["decline"] <= 1000
    # the bundle is kept (and loads), the chart is written when matplotlib is there
    assert (tmp_path / "demo" / "bundle" / "manifest.json").is_file() and rep.bundle_path
    pytest.importorskip("matplotlib")
    assert (tmp_path / "demo" / "report.png").read_bytes()[:4] == b"\x89PNG"
    text = rep.render()
    for fragment in ("ROC AUC", "average precision", "recall @ 1% FPR", "recall @ 5% FPR", "events/s",
                     "Most frequent reasons", "online = batch: yes", "review at score >=", "action \\ label",
                     "false-positive rate", "of genuine applications", "Bundle kept in", "report.png"):
        assert fragment in text
    caught = text.split("by scenario:")[1].split("Device linking")[0]
    assert "genuine" not in caught  # the false-positive rate is not listed as a kind of fraud caught


def test_demo_without_out_folder_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rep = run_demo(days=16, per_day=120, test_days=3, seed=1, show_progress=False, log=lambda *_: None,
                   online_sample=0)
    assert rep.bundle_path is None and rep.n_online == 0 and not any(tmp_path.iterdir())


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
