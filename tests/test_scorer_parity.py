"""Parity, the spine: scoring events one by one from an empty store == one score_batch call.

Features, probabilities, scores, actions, rule hits and reasons must agree
exactly, for streams with ties in time, out-of-order arrivals within the allowed
lateness, missing fields, malformed rows and labels arriving at random times.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import fraudscore as fs
from fraudscore.errors import EventError

from .helpers import SECRET, small_bundle, synthetic

OPTIONAL = ("phone", "email", "bank_card", "ip", "device", "amount", "term_months", "inviter_id", "channel")


def _score_both(events, labels):
    bundle = small_bundle()
    online = fs.Scorer(bundle, SECRET)
    for a, f, t in zip(labels["application_id"], labels["is_fraud"], labels["label_ts"]):
        online.record_label(a, bool(f), int(t))
    decisions, rejected = [], []
    for i, ev in enumerate(events):
        try:
            decisions.append(online.score(ev, return_features=True))
        except EventError:
            rejected.append(i)
    batch = fs.Scorer(bundle, SECRET).score_batch(events, labels=labels, return_features=True)
    return decisions, rejected, batch


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _assert_parity(decisions, rejected, batch):
    assert [e.row for e in batch.errors] == rejected
    assert len(batch) == len(decisions)
    for i, d in enumerate(decisions):
        b = batch[i]
        assert d.application_id == b.application_id
        for name, v in d.features.items():
            assert _same(v, b.features[name]), (i, name, v, b.features[name])
        assert _same(d.probability, b.probability), (i, d.probability, b.probability)
        assert (d.score, d.action) == (b.score, b.action), i
        assert d.rule_hits == b.rule_hits and d.shadow_hits == b.shadow_hits, i
        assert [(r.code, r.message, r.source) for r in d.reasons] == \
               [(r.code, r.message, r.source) for r in b.reasons], i
        assert d.device_id == b.device_id


def test_parity_on_a_synthetic_stream():
    data = synthetic()
    events = data.to_records()[:1500]
    labels = {k: v for k, v in data.labels.items() if k in ("application_id", "is_fraud", "label_ts")}
    decisions, rejected, batch = _score_both(events, labels)
    assert rejected == []
    _assert_parity(decisions, rejected, batch)
    assert set(batch.action) >= {"approve"}


@st.composite
def streams(draw):
    data = synthetic()
    recs = data.to_records()
    start = draw(st.integers(0, len(recs) - 200))
    n = draw(st.integers(5, 60))
    idx = sorted(draw(st.lists(st.integers(start, start + 199), min_size=n, max_size=n)))
    events = []
    base_ts = recs[start]["ts"]
    for j, i in enumerate(idx):
        ev = dict(recs[i])
        ev["application_id"] = f"H{j}"
        op = draw(st.sampled_from(["keep", "keep", "tie", "late", "drop", "bad"]))
        if op == "tie" and events:
            ev["ts"] = events[-1]["ts"] if "ts" in events[-1] else base_ts
        elif op == "late":  # within the default allowed lateness of one hour, or well beyond it
            ev["ts"] = int(ev["ts"]) - draw(st.sampled_from([1_000, 600_000, 3_000_000, 7_200_000]))
        elif op == "drop":
            for f in draw(st.lists(st.sampled_from(OPTIONAL), max_size=4)):
                ev.pop(f, None)
        elif op == "bad":
            ev[draw(st.sampled_from(["amount", "ts", "term_months", "device"]))] = "garbage"
        events.append(ev)
    ids = [e["application_id"] for e in events]
    lab_n = draw(st.integers(0, len(ids)))
    lab_ids = ids[:lab_n]
    fraud = draw(st.lists(st.booleans(), min_size=lab_n, max_size=lab_n))
    offsets = draw(st.lists(st.integers(-3_600_000, 20 * 86_400_000), min_size=lab_n, max_size=lab_n))
    lab_ts = [int(events[k].get("ts", base_ts) if isinstance(events[k].get("ts"), int) else base_ts) + o
              for k, o in enumerate(offsets)]
    labels = {"application_id": np.array(lab_ids, dtype=object), "is_fraud": np.array(fraud, dtype=float),
              "label_ts": np.array(lab_ts, dtype=np.int64)}
    return events, labels


@settings(max_examples=25)
@given(streams())
def test_parity_property(stream):
    events, labels = stream
    _assert_parity(*_score_both(events, labels))


@settings(max_examples=10)
@given(streams())
def test_parity_with_the_python_link_loop(stream):
    """The batch link loop in C (``fraudscore/_core/linker.c``) == the Python loop of ``devicecolumns.link_rows``
    == online: the same device ids, link confidences and decisions."""
    import fraudscore.devicecolumns as dc

    events, labels = stream
    decisions, rejected, batch = _score_both(events, labels)
    old = dc.load_core
    dc.load_core = lambda name: None if name == "linker" else old(name)
    try:
        loop = fs.Scorer(small_bundle(), SECRET).score_batch(events, labels=labels, return_features=True)
    finally:
        dc.load_core = old
    _assert_parity(decisions, rejected, loop)
    _assert_parity(decisions, rejected, batch)
    for i in range(len(batch)):
        assert batch[i].device_id == loop[i].device_id
        assert _same(batch[i].features["device__link_confidence"], loop[i].features["device__link_confidence"])
