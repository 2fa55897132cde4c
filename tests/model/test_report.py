"""The model report: importance (gain, SHAP), calibration, curves, histograms, threshold table; files and CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fraudscore import _plot
from fraudscore.model import TrainConfig, train_model
from fraudscore.model.metrics import average_precision, roc_auc
from fraudscore.model.report import model_report

from .conftest import FEATURES


@pytest.fixture(scope="module")
def fitted(data):
    X, y, ts, _ = data
    X, y, ts = X[:10000], y[:10000], ts[:10000]
    m = train_model(X, y, ts, FEATURES, TrainConfig(num_boost_round=40, learning_rate=0.1, num_leaves=15,
                                                    calibration="none", ensemble_size=2))
    return m, X, y, ts


def test_contents(fitted):
    m, X, y, ts = fitted
    rep = model_report(m, X, y, ts)
    valid = ts >= m.training["valid_start_ms"]
    assert rep.n_valid == int(valid.sum()) == m.training["n_valid"] and rep.n_fraud_valid == int(y[valid].sum())
    # importance from the merged booster's trees, SHAP on validation rows
    assert {r["feature"] for r in rep.importance} == set(FEATURES)
    assert abs(sum(r["gain_share"] for r in rep.importance) - 1.0) < 1e-9
    top_shap = [r["feature"] for r in rep.shap_summary[:3]]
    assert "distinct__applicant_id__by__device_id__24h" in top_shap          # the planted signal
    ident = next(r for r in rep.shap_summary if r["feature"] == "distinct__applicant_id__by__device_id__24h")
    assert ident["value_shap_correlation"] > 0.5                             # more identities -> riskier
    # calibration bins cover every validation row; the curves end where they must
    assert sum(b["n"] for b in rep.calibration) == rep.n_valid
    assert rep.curves["fpr"][0] == 0.0 and rep.curves["tpr"][-1] == 1.0 and rep.curves["recall"][-1] == 0.0
    assert sum(rep.histograms["fraud"]) == rep.n_fraud_valid
    # the threshold table agrees with a direct count, and marks the model's thresholds
    p = m.predict_proba(X[valid])
    s = np.rint(1000 * p)
    row = next(t for t in rep.thresholds if t["score"] == 500)
    assert row["flagged"] == pytest.approx(np.mean(s >= 500))
    assert any("decline" in t["label"] for t in rep.thresholds)
    assert rep.metrics["roc_auc"] == pytest.approx(roc_auc(y[valid], p))
    assert rep.metrics["average_precision"] == pytest.approx(average_precision(y[valid], p))


def test_files(tmp_path, fitted):
    m, X, y, ts = fitted
    written = model_report(m, X, y, ts).save(tmp_path / "r")
    for name in ("importance", "shap_summary", "calibration", "pr_roc", "score_hist"):
        assert written[name].stat().st_size > 5000
    md = written["markdown"].read_text()
    assert md.startswith("# Model report") and "ensemble model of 2 boosters" in md and "(pr_roc.png)" in md
    doc = json.loads(written["json"].read_text())
    assert doc["summary"]["kind"] == "ensemble" and len(doc["thresholds"]) >= 20


def test_without_matplotlib(tmp_path, monkeypatch, fitted):
    m, X, y, ts = fitted
    monkeypatch.setattr(_plot, "pyplot", lambda: None)
    model_report(m, X, y, ts).save(tmp_path / "r")
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["report.json", "report.md"]
    assert "matplotlib is not installed" in (tmp_path / "r" / "report.md").read_text()


def test_train_cli_writes_the_report_next_to_the_bundle(tmp_path, monkeypatch, capsys):
    from fraudscore.cli import main
    from fraudscore.synth import generate

    monkeypatch.setenv("FRAUDSCORE_KEY", "report-test-secret-000000001")
    ev, lab = generate(n_days=14, per_day=150, seed=4).to_pandas(flatten_device=True)
    ev.to_csv(tmp_path / "apps.csv", index=False)
    lab.to_csv(tmp_path / "labels.csv", index=False)
    assert main(["train", str(tmp_path / "apps.csv"), str(tmp_path / "labels.csv"), "--out",
                 str(tmp_path / "bundles" / "v1")]) == 0
    assert "model report written to" in capsys.readouterr().out
    assert (tmp_path / "bundles" / "v1.report" / "report.md").exists()
    assert (tmp_path / "bundles" / "v1.report" / "pr_roc.png").exists()
    assert main(["train", str(tmp_path / "apps.csv"), str(tmp_path / "labels.csv"), "--out",
                 str(tmp_path / "bundles" / "v2"), "--no-report"]) == 0
    assert not (tmp_path / "bundles" / "v2.report").exists()
