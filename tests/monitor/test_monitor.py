"""Monitoring on synthetic data with drift injected on known days: alerts on the right day and feature, none before.

Nine weeks of applications (400 a day, 1 % fraud, no bursty fraud pattern in
the base mix); a model trained on weeks 2-5; monitoring from day 35 on. Day 49:
every requested amount is 1.6 times larger (a new product). Day 56: a fraud
pattern the model never saw starts (proxy bursts from data-centre ranges).
The bundle's reference is the model's validation rows (days 28-35 here).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fraudscore import _plot
from fraudscore.monitor import AlertRules, monitor
from fraudscore.monitor.reference import PSI_ALERT
from fraudscore.rules import RuleSet
from fraudscore.scorer import Scorer
from fraudscore.synth import add_campaign, generate, shift_field
from fraudscore.train import train
from fraudscore.velocity import FeatureSet, FeatureSpec

pytestmark = pytest.mark.slow
DAY = 86_400_000
KEY = b"monitor-test-secret-0000001"
SPECS = FeatureSet([
    FeatureSpec("count", key="ip_prefix", window="10m"),
    FeatureSpec("count", key="ip_prefix", window="1h"),
    FeatureSpec("count", key="device_id", window="24h"),
    FeatureSpec("distinct", key="device_id", of="applicant_id", window="7d"),
    FeatureSpec("sum", key="applicant_id", field="amount", window="30d"),
    FeatureSpec("time_since_last", key="applicant_id", window="30d"),
    FeatureSpec("fraud_rate", key="device_id", window="30d", delay="7d"),
])


def _day(data, d: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp((data.params["start"] + d * DAY) / 1000, tz=dt.timezone.utc).date().isoformat()


@pytest.fixture(scope="module")
def drifted():
    data = generate(n_days=63, per_day=400, seed=11, fraud_rate=0.01,
                    scenario_mix={"identity_theft": 0.4, "synthetic_identity": 0.4, "invitation_ring": 0.2})
    data = shift_field(data, 49, "amount", factor=1.6)
    data = add_campaign(data, 56, "proxy_burst", n=280, seed=5)
    start = data.params["start"]
    res = train(data.columns, data.labels, key=KEY, feature_set=SPECS, rules=RuleSet([]), train_period=(start + 7 * DAY, start + 35 * DAY),
                config={"model": {"num_boost_round": 60, "gap": "7d", "learning_rate": 0.1}})
    batch = Scorer(res.bundle, KEY).score_batch(data.columns, labels=data.labels, return_features=True)
    df = batch.to_pandas()
    df = df[batch.ts >= start + 35 * DAY]
    return data, res.bundle, df


@pytest.fixture(scope="module")
def report(drifted):
    data, bundle, df = drifted
    return monitor(df, bundle, data.labels)


def test_alerts_on_the_right_day_and_feature(drifted, report):
    data = drifted[0]
    assert report.first_alert_period("amount") == _day(data, 49)
    assert report.first_alert_period("sum__amount__by__applicant_id__30d") == _day(data, 49)
    assert report.first_alert_period("count__ip_prefix__10m") == _day(data, 56)
    assert report.first_alert_period("count__ip_prefix__1h") == _day(data, 56)
    # no alert in the two weeks before the first drift, and no warning either, except that the device
    # graph is still filling (nine weeks of history): as identical phones accumulate, the linker keys fewer
    # of them, so the link confidence drifts slowly (PSI up to ~0.12 a day here): a true, moderate shift
    before = [a for a in report.alerts if a.period < _day(data, 49)]
    assert [a for a in before if a.level == "alert"] == []
    assert {a.subject for a in before} <= {"device__link_confidence"}
    quiet = [p for p in report.periods if p.period < _day(data, 49)]
    assert len(quiet) == 14
    assert max(v for p in quiet for k, v in p.feature_psi.items() if k != "device__link_confidence") < 0.1
    assert max(p.feature_psi.get("device__link_confidence", 0.0) for p in quiet) < PSI_ALERT
    assert max(p.score_psi for p in quiet) < 0.1
    # the IP features stay quiet until the campaign; the amount is flagged every day after the shift, an alert
    # (PSI >= 0.25) on the first (a 1.6x shift of a log-normal amount sits near 0.25: PSI 0.24-0.44 a day here)
    assert not [a for a in report.alerts if a.subject.startswith("count__ip_prefix") and a.period < _day(data, 56)]
    assert {a.period for a in report.alerts if a.subject == "amount"} == {_day(data, d) for d in range(49, 63)}
    assert [a.level for a in report.alerts if a.subject == "amount" and a.period == _day(data, 49)] == ["alert"]


def test_actions_and_performance(report):
    p = report.periods[0]
    assert abs(sum(p.actions.values()) - 1.0) < 1e-9
    assert set(p.model_actions) == {"review", "decline"}
    assert p.labelled == p.n and p.label_coverage == 1.0          # every label given
    assert 0.0 <= p.precision["flagged"] <= 1.0 or np.isnan(p.precision["flagged"])
    assert 0.0 < p.average_precision <= 1.0


def test_labels_as_of(drifted):
    data, bundle, df = drifted
    end = data.params["start"] + 63 * DAY
    rep = monitor(df, bundle, data.labels, as_of=end)
    cov = [p.label_coverage for p in rep.periods]
    assert cov[-1] < cov[0] <= 1.0                      # labels arrive 7..90 days after the application
    assert not [a for a in rep.alerts if a.kind in ("precision", "recall") and
                rep.periods[[p.period for p in rep.periods].index(a.period)].label_coverage < 0.8]


def test_report_files(tmp_path, report):
    written = report.save(tmp_path / "mon")
    doc = json.loads((tmp_path / "mon" / "monitor.json").read_text())
    assert doc["rules"]["psi_alert"] == 0.25 and len(doc["periods"]) == 28
    assert {a["subject"] for a in doc["alerts"]} >= {"amount", "count__ip_prefix__10m"}
    md = (tmp_path / "mon" / "monitor.md").read_text()
    assert md.startswith("# Monitoring report") and "| amount |" in md
    for name in ("stability", "feature_psi", "actions", "performance", "score_distribution"):
        assert written[name].stat().st_size > 5000
        assert f"({name}.png)" in md


def test_without_matplotlib(tmp_path, monkeypatch, drifted):
    data, bundle, df = drifted
    monkeypatch.setattr(_plot, "pyplot", lambda: None)
    rep = monitor(df.iloc[:3000], bundle)
    written = rep.save(tmp_path / "mon")
    assert sorted(p.name for p in (tmp_path / "mon").iterdir()) == ["monitor.json", "monitor.md"]
    assert "matplotlib is not installed" in written["markdown"].read_text()


def test_weekly_and_rules(drifted):
    data, bundle, df = drifted
    rep = monitor(df, bundle, freq="week", rules=AlertRules(psi_warn=0.2, psi_alert=0.5))
    assert [p.period for p in rep.periods] == ["2026-02-09", "2026-02-16", "2026-02-23", "2026-03-02"]  # Mondays
    assert all(a.level == "alert" for a in rep.alerts if a.value >= 0.5)
    without = monitor(df.drop(columns=[c for c in df.columns if "__" in c or c in ("amount", "term_months")]), bundle)
    assert without.features == [] and "no feature columns" in without.notes[0]


def test_cli(tmp_path, drifted, capsys, monkeypatch):
    from fraudscore.cli import main

    data, bundle, df = drifted
    bundle.save(tmp_path / "b", key=KEY)
    monkeypatch.setenv("FRAUDSCORE_KEY", KEY.decode())
    df.to_csv(tmp_path / "scored.csv", index=False)
    labels = {k: data.labels[k] for k in ("application_id", "is_fraud", "label_ts")}
    import pandas as pd

    pd.DataFrame(labels).to_csv(tmp_path / "labels.csv", index=False)
    rc = main(["monitor", str(tmp_path / "scored.csv"), "--bundle", str(tmp_path / "b"), "--labels",
               str(tmp_path / "labels.csv"), "--out", str(tmp_path / "out"), "--no-charts", "--fail-on-alert"])
    out = capsys.readouterr().out
    assert rc == 3 and "ALERT feature_psi amount" in out
    assert (tmp_path / "out" / "monitor.md").exists() and not (tmp_path / "out" / "stability.png").exists()
