"""fraudscore diff against labels: precision / recall per action, AP, by segment; champion vs its challenger."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import fraudscore as fs
from fraudscore.challenger import with_challenger
from fraudscore.errors import FraudscoreError
from fraudscore.model.metrics import average_precision
from fraudscore.model.model import jsonable
from fraudscore.rescore import diff_bundles

from .helpers import SECRET, small_bundle, synthetic

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def pair():
    data = synthetic()
    b = fs.train(data.columns, data.labels, key=SECRET,
                 config={"model": {"num_boost_round": 25, "seed": 5, "max_fpr": 0.02}}).bundle
    return small_bundle(), b


def _direct(bundle, data):
    batch = fs.Scorer(bundle, SECRET).score_batch(data.columns, labels=data.labels)
    y = np.asarray(data.labels["is_fraud"], dtype=float)
    return batch, y


def test_evaluation_matches_a_direct_computation(pair):
    data = synthetic()
    rep = diff_bundles(data.columns, pair[0], pair[1], key=SECRET, labels=data.labels, chunk_rows=1000,
                       segment=["channel", "product"])
    for side, bundle in (("a", pair[0]), ("b", pair[1])):
        batch, y = _direct(bundle, data)
        ev = rep.evaluation[side]["all"]
        assert ev["labelled"] == len(batch) == rep.rows and ev["frauds"] == int(y.sum())
        for k, sel in (("review", batch.action == "review"), ("decline", batch.action == "decline"),
                       ("flagged", batch.action != "approve")):
            want_p = y[sel].mean() if sel.any() else math.nan
            assert (math.isnan(want_p) and math.isnan(ev["precision"][k])) or ev["precision"][k] == pytest.approx(want_p)
            assert ev["recall"][k] == pytest.approx(y[sel].sum() / y.sum())
        assert ev["average_precision"] == pytest.approx(average_precision(y, batch.score), abs=1e-12)
        segs = {k: v for k, v in rep.evaluation[side].items() if k.startswith("channel=")}
        assert sum(v["labelled"] for v in segs.values()) == ev["labelled"]
        assert set(segs) == {f"channel={c}" for c in set(data.columns["channel"])}
        app = data.columns["channel"] == "app"
        assert segs["channel=app"]["frauds"] == int(y[app].sum())
        assert sum(v["frauds"] for k, v in rep.evaluation[side].items() if k.startswith("product=")) == ev["frauds"]


def test_report_forms(tmp_path, pair):
    data = synthetic(n_days=4, per_day=200, seed=3)
    rep = diff_bundles(data.columns, pair[0], pair[1], key=SECRET, labels=data.labels, segment="channel",
                       out=tmp_path / "d.json")
    doc = json.loads((tmp_path / "d.json").read_text())          # strict JSON: NaN written as null
    assert set(doc["evaluation"]) == {"a", "b"} and "all" in doc["evaluation"]["a"]
    md = rep.render()
    assert "## Against the labels" in md and "| channel=app |" in md
    plain = diff_bundles(data.columns, pair[0], pair[1], key=SECRET)
    assert plain.evaluation == {} and "Against the labels" not in plain.render()


def test_champion_against_its_challenger(pair):
    data = synthetic(n_days=4, per_day=200, seed=3)
    both = with_challenger(pair[0], pair[1])
    via_challenger = diff_bundles(data.columns, both, key=SECRET, labels=data.labels)
    direct = diff_bundles(data.columns, pair[0], pair[1], key=SECRET, labels=data.labels)
    assert via_challenger.matrix == direct.matrix and via_challenger.changed == direct.changed
    assert json.dumps(jsonable(via_challenger.evaluation)) == json.dumps(jsonable(direct.evaluation))  # NaN-safe
    assert via_challenger.shared_features


def test_errors(pair):
    data = synthetic(n_days=2, per_day=100, seed=3)
    with pytest.raises(FraudscoreError, match="or a first bundle with a challenger"):
        diff_bundles(data.columns, pair[0], key=SECRET)
    with pytest.raises(FraudscoreError, match="must be a non-identifier"):
        diff_bundles(data.columns, pair[0], pair[1], key=SECRET, labels=data.labels, segment="phone")
    with pytest.raises(FraudscoreError, match="not a field of the schema"):
        diff_bundles(data.columns, pair[0], pair[1], key=SECRET, labels=data.labels, segment="colour")
    with pytest.raises(FraudscoreError, match="pass labels too"):
        diff_bundles(data.columns, pair[0], pair[1], key=SECRET, segment="channel")


def test_cli(tmp_path, pair, monkeypatch, capsys):
    from fraudscore.cli import main

    data = synthetic(n_days=3, per_day=200, seed=3)
    ev, lab = data.to_pandas(flatten_device=True)
    ev.to_csv(tmp_path / "apps.csv", index=False)
    lab.to_csv(tmp_path / "labels.csv", index=False)
    with_challenger(pair[0], pair[1]).save(tmp_path / "ab", key=SECRET)
    monkeypatch.setenv("FRAUDSCORE_KEY", SECRET.decode())
    rc = main(["diff", str(tmp_path / "apps.csv"), "--bundle", str(tmp_path / "ab"), "--labels",
               str(tmp_path / "labels.csv"), "--segment", "channel", "--out", str(tmp_path / "d.md"), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "A: flagged precision" in out and "B: flagged precision" in out
    assert "| channel=web |" in (tmp_path / "d.md").read_text()
