"""Chunked rescoring equals one batch (features, labels, links, late and bad rows); files, CLI and diff mode."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fraudscore.cli import main
from fraudscore.policy import Policy
from fraudscore.rules import RuleSet
from fraudscore.rescore import ChunkedScorer, diff_bundles, rescore
from fraudscore.scorer import Scorer
from fraudscore.synth import generate
from fraudscore.train import train
from fraudscore.velocity import FeatureSet, FeatureSpec

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

SECRET = b"test-rescore-secret-000001"

# Short windows so that the context tail really gets trimmed on two days of data.
SHORT = FeatureSet([
    FeatureSpec("count", key="device_id", window="1h"),
    FeatureSpec("distinct", key="device_id", of="applicant_id", window="2h"),
    FeatureSpec("count", key="ip_prefix", window="10m"),
    FeatureSpec("sum", key="applicant_id", field="amount", window="3h"),
    FeatureSpec("time_since_last", key="applicant_id", window="6h"),
    FeatureSpec("first_seen_age", key="device_id", window="6h"),
    FeatureSpec("fraud_count", key="device_id", window="4h", delay="1h"),
], allowed_lateness="5m")
RULES = RuleSet.from_toml("""
[[rules]]
code = "DEV_BUSY_1H"
when = "count__device_id__1h >= 2"
action = "review"
score = 100
reason = "{count__device_id__1h} applications on this device in 1 h"

[[rules]]
code = "SHADOW_BIG"
when = "amount > 20000"
action = "tag"
reason = "large amount"
shadow = true
""")
ALL_TIME = FeatureSet([FeatureSpec("count", key="device_id", window="all"),
                       FeatureSpec("count", key="ip_prefix", window="30m")], allowed_lateness="5m")


@pytest.fixture(scope="module")
def data():
    return generate(n_days=2, per_day=400, seed=11)


def _events(data):
    """The synthetic columns plus a few bad and late rows."""
    cols = {k: v.copy() for k, v in data.columns.items()}
    cols["amount"][5] = -3.0  # invalid
    for i in (100, 300):
        cols["ts"][i] = cols["ts"][i - 1] - 3_600_000  # an hour late: rejected
    cols["email"][7] = cols["email"][6]  # a repeated value
    return cols


@pytest.fixture(scope="module")
def scorers(data):
    cfg = {"model": {"num_boost_round": 15, "seed": 0, "gap": "1h"}}
    short = train(data.columns, data.labels, key=SECRET, config=cfg, feature_set=SHORT, rules=RULES).bundle
    alltime = train(data.columns, data.labels, key=SECRET, config=cfg, feature_set=ALL_TIME,
                    rules=RuleSet([])).bundle
    return {"short": Scorer(short, SECRET), "all": Scorer(alltime, SECRET)}


# one-row chunks are run with the short feature set only (the all-time set adds nothing there but time)
@pytest.mark.parametrize("kind, chunk_rows", [("short", 1)] + [(k, n) for k in ("short", "all") for n in (97, 250, 10_000)])
def test_chunked_equals_unchunked(data, scorers, kind, chunk_rows):
    scorer = scorers[kind]
    cols = _events(data)
    events = {k: v[:120] for k, v in cols.items()} if chunk_rows == 1 else cols
    whole = scorer.score_batch(events, labels=data.labels, return_features=True)
    s = rescore(events, scorer, chunk_rows=chunk_rows, labels=data.labels, with_features=True)
    r = s.results
    assert s.rows_scored == len(whole) and s.rows_rejected == len(whole.errors) >= 1
    assert s.rows_in == len(events["ts"])
    assert r["row"].tolist() == whole.rows.tolist()
    assert r["application_id"].tolist() == whole.application_id.tolist()
    np.testing.assert_array_equal(r["score"].to_numpy(), whole.score)
    np.testing.assert_array_equal(r["action"].to_numpy(), whole.action)
    np.testing.assert_array_equal(r["probability"].to_numpy(), whole.probability)
    for name, col in whole.features.items():
        np.testing.assert_array_equal(r[name].to_numpy(), col, err_msg=name)
    assert s.errors == whole.errors_table()
    assert s.actions == whole.action_counts()


def test_context_tail_is_bounded(data, scorers):
    chunked = ChunkedScorer(scorers["short"], data.labels)
    for a in range(0, len(data), 100):
        chunked.score({k: v[a : a + 100] for k, v in data.columns.items()})
    ts = chunked.context["columns"]["ts"]
    horizon = SHORT.horizon_ms + SHORT.allowed_lateness_ms
    assert 0 < len(ts) < len(data) // 4
    assert ts.min() >= data.columns["ts"].max() - horizon - 1
    assert chunked.context["labels"]["is_fraud"].shape == ts.shape


def test_batch_features_equal_online_with_repeats(data, scorers):
    """Shared device dicts, repeated identifiers across days: batch dedup == score() one by one."""
    scorer = scorers["short"]
    rows = data.to_records()[:200]
    rng = np.random.default_rng(0)
    events = []
    for i, ev in enumerate(rows):
        ev = dict(ev)
        j = int(rng.integers(0, max(i, 1)))
        if i and rng.random() < 0.5:  # the same device object, the same identifiers as an earlier row
            for k in ("device", "email", "applicant_id", "ip", "phone"):
                if k in rows[j]:
                    ev[k] = rows[j][k]
        if i and rng.random() < 0.2:
            ev["device"] = events[-1].get("device")  # consecutive identical device
        events.append(ev)
    events[10]["ip"] = ""  # empty identifier
    events[11].pop("device", None)
    batch = scorer.score_batch(events, return_features=True)
    online = Scorer(scorer.bundle, SECRET)
    for i, ev in enumerate(events):
        d = online.score(ev, return_features=True)
        got = np.array([batch.features[k][i] for k in d.features])
        np.testing.assert_array_equal(got, np.array(list(d.features.values())), err_msg=str(i))
        assert (d.action, d.score, d.device_id) == (batch.action[i], batch.score[i], batch.device_id[i])
        assert [r.code for r in d.reasons] == [r.code for r in batch.reasons[i]]


def _flatten(df):
    dev = df.pop("device")
    keys = sorted({k for x in dev if x for k in x})
    for k in keys:
        df["device." + k] = [None if not x else (",".join(x[k]) if isinstance(x.get(k), list) else x.get(k))
                             for x in dev]
    return df


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_files_in_and_out(tmp_path, data, scorers, fmt):
    events, labels = data.to_pandas()
    events = _flatten(events.iloc[:300].copy())
    events.loc[3, "amount"] = -1.0
    src = tmp_path / f"in.{fmt}"
    getattr(events, f"to_{fmt}")(src, index=False)
    lab = tmp_path / "labels.csv"
    labels.to_csv(lab, index=False)
    out, err = tmp_path / f"out.{fmt}", tmp_path / "err.csv"
    s = rescore(str(src), scorers["short"], out, chunk_rows=64, labels=str(lab), errors_out=err)
    assert s.results is None and s.chunks == 5
    got = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    assert len(got) == s.rows_scored == 299 and list(got.columns[:5]) == ["row", "application_id", "score",
                                                                          "probability", "action"]
    one = rescore(str(src), scorers["short"], chunk_rows=10_000, labels=str(lab))
    np.testing.assert_array_equal(got["score"].to_numpy(), one.results["score"].to_numpy())
    errs = pd.read_csv(err)
    assert errs.to_dict("records") == [{"row": 3, "field": "amount", "error": "row 3: field 'amount': must be >= 0 "
                                                                            "(got float)"}]


def test_dataframe_index_kept(data, scorers):
    events, _ = data.to_pandas()
    events = events.iloc[:120].set_axis(np.arange(1000, 1120))
    s = rescore(events, scorers["short"], chunk_rows=50)
    assert s.results.index.tolist() == list(range(1000, 1120))


def test_cli_score_and_diff(tmp_path, data, scorers, monkeypatch, capsys):
    monkeypatch.setenv("FRAUDSCORE_KEY", SECRET.decode())
    scorers["short"].bundle.save(tmp_path / "a", key=SECRET)
    events, _ = data.to_pandas()
    src = tmp_path / "h.parquet"
    _flatten(events.iloc[:200].copy()).to_parquet(src)
    assert main(["score", str(src), "--bundle", str(tmp_path / "a"), "--out", str(tmp_path / "o.parquet"),
                 "--chunk-rows", "70", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "scored 200 rows" in out and "no rows rejected" in out
    assert not (tmp_path / "o.errors.csv").exists()  # written only when a row is rejected
    assert main(["diff", str(src), "--bundle", str(tmp_path / "a"), "--against", str(tmp_path / "a"),
                 "--out", str(tmp_path / "d.json"), "--no-progress"]) == 0
    rep = json.loads((tmp_path / "d.json").read_text())
    assert rep["rows"] == 200 and rep["changed"] == 0 and rep["shared_features"]


def test_diff_reports_changes(data, scorers):
    base = scorers["short"]
    strict = Scorer(base.bundle, SECRET)
    strict.policy = Policy(review=1, decline=1000)
    rep = diff_bundles(data.columns, base, strict, chunk_rows=300, top_n=5)
    assert rep.rows == len(data)
    assert sum(sum(r.values()) for r in rep.matrix.values()) == rep.rows
    off_diag = sum(v for fa, r in rep.matrix.items() for tb, v in r.items() if fa != tb)
    assert off_diag == rep.changed > 0
    assert len(rep.examples) == 5 and all(e["action_a"] != e["action_b"] for e in rep.examples)
    assert rep.reasons_added  # model reasons appear when approvals turn into reviews
    assert "# Decision diff" in rep.render()
