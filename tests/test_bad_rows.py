"""Bad rows never take good rows down; every bad input is the library's own error naming the field,
never echoing the value; labels are strict; invisible characters do not make new identities."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fraudscore as fs
from fraudscore.errors import EventError, FraudscoreError
from fraudscore.labels import FALSE_STRINGS, TRUE_STRINGS, LabelIndex
from fraudscore.schema import DEFAULT_SCHEMA

from .helpers import SECRET, small_bundle, synthetic

PHONE = "+8613800138000"


def _events(n=20):
    return synthetic().to_records()[:n]


def _verdicts_online(events):
    sc = fs.Scorer(small_bundle(), SECRET)
    out = []
    for ev in events:
        try:
            out.append(("ok", sc.score(ev).action))
        except EventError as e:
            out.append(("err", e.field))
    return out


def _verdicts_batch(events):
    b = fs.Scorer(small_bundle(), SECRET).score_batch(events)
    out: list = [None] * len(events)
    for i, row in enumerate(b.rows.tolist()):
        out[row] = ("ok", b.action[i])
    for e in b.errors:
        assert out[e.row] is None
        out[e.row] = ("err", e.field)
    assert None not in out
    return out, b


BAD = {
    "huge_int": ({"amount": 10**400}, "amount"),
    "huge_int_digits": ({"device": {"color_depth": 10**5000}}, "device.color_depth"),
    "huge_str_int": ({"product": 10**5000}, "product"),
    "non_string_key": ({5: "x"}, "<extra field>"),
    "tuple_key": ({(1, 2): "x"}, "<extra field>"),
    "phone_key": ({PHONE: "x"}, "<extra field>"),
    "phone_device_key": ({"device": {PHONE: [1] * 300}}, "device.<attribute>"),
    "device_non_str_key": ({"device": {7: "x"}}, "device"),
    "extra_huge_int": ({"promo": 10**400}, "<extra field>"),
    "extra_list": ({"promo": [PHONE]}, "<extra field>"),
    "nan_in_list": ({"device": {"languages": [float("nan")]}}, "device.languages"),
    "long_list_item": ({"device": {"languages": ["x" * 300]}}, "device.languages"),
    "device_too_big": ({"device": {f"a{i}": "x" * 2000 for i in range(63)}}, "device"),
    "lone_surrogate": ({"phone": "138\ud800"}, "phone"),
    "too_many_fields": ({f"f{i}": 1 for i in range(200)}, "event"),
    "bytes": ({"phone": PHONE.encode()}, "phone"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_one_bad_row_is_reported_and_the_rest_scored(name):
    patch, field = BAD[name]
    good = _events(6)
    events = good[:3] + [{**good[3], **patch}] + good[4:]
    online = _verdicts_online(events)
    batch, b = _verdicts_batch(events)
    assert batch == online
    assert online[3] == ("err", field)
    assert all(v[0] == "ok" for i, v in enumerate(online) if i != 3)
    (err,) = b.errors
    assert err.row == 3 and err.field == field and isinstance(err, FraudscoreError)
    assert PHONE not in str(err) and "13800138000" not in str(err)


def test_empty_and_all_invalid_batches():
    sc = fs.Scorer(small_bundle(), SECRET)
    empty = sc.score_batch([])
    assert len(empty) == 0 and empty.errors == [] and empty.to_pandas().shape[0] == 0
    bad = sc.score_batch([{"amount": 10**400}, {"application_id": "x"}, "not an event", {5: 1}])
    assert len(bad) == 0 and [e.row for e in bad.errors] == [0, 1, 2, 3]
    assert [e.field for e in bad.errors] == ["application_id", "ts", "event", "application_id"]
    cols = sc.score_batch({"application_id": [], "ts": []})
    assert len(cols) == 0
    with pytest.raises(EventError, match="batch columns must be sequences"):
        sc.score_batch({"application_id": "A1", "ts": 1795946400})  # one event passed as columns


def test_error_messages_never_echo_user_data():
    marker = "13800138000"
    cases = [{"phone": marker * 100}, {"amount": marker}, {f"x{marker}": {"y": 1}}, {marker: 1},
             {"device": {marker: {"a": 1}}}, {"device": {"os": [marker, {"a": 1}]}}, {"ts": marker},
             {"device": {"screen": marker * 300}}, {"application_id": marker * 60}]
    for patch in cases:
        ev = {"application_id": "A", "ts": 1795946400, **patch}
        with pytest.raises(EventError) as info:
            DEFAULT_SCHEMA.validate(ev)
        assert marker not in str(info.value) and marker not in info.value.field, patch
        b = fs.Scorer(small_bundle(), SECRET).score_batch([ev])
        assert b.errors and all(marker not in str(e) for e in b.errors)


def test_cli_score_and_train_with_one_bad_cell(tmp_path, monkeypatch):
    from fraudscore.cli import main

    data = synthetic()
    events, labels = data.to_pandas(flatten_device=True)
    events = events.astype({"amount": object, "term_months": object})
    events.loc[5, "amount"] = "1" + "0" * 400
    events.loc[9, "term_months"] = "abc"
    events.to_csv(tmp_path / "h.csv", index=False)
    labels.to_csv(tmp_path / "l.csv", index=False)
    monkeypatch.setenv("FRAUDSCORE_KEY", SECRET.decode())
    (tmp_path / "cfg.toml").write_text('[model]\nnum_boost_round = 20\ngap = "1h"\n')
    assert main(["train", str(tmp_path / "h.csv"), str(tmp_path / "l.csv"), "--out", str(tmp_path / "b"),
                 "--config", str(tmp_path / "cfg.toml")]) == 0
    assert main(["score", str(tmp_path / "h.csv"), "--bundle", str(tmp_path / "b"), "--out",
                 str(tmp_path / "o.csv"), "--errors", str(tmp_path / "e.csv"), "--no-progress"]) == 0
    import pandas as pd

    errs = pd.read_csv(tmp_path / "e.csv")
    assert errs["row"].tolist() == [5, 9] and errs["field"].tolist() == ["amount", "term_months"]
    assert len(pd.read_csv(tmp_path / "o.csv")) == len(events) - 2


# -- labels ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, stored", [(True, True), (False, False), (1, True), (0, False), (1.0, True),
                                           (np.int8(1), True), (np.bool_(False), False), ("false", False),
                                           ("no", False), (" YES ", True), ("0", False), ("fraud", True)])
def test_labels_are_read_strictly(value, stored):
    sc = fs.Scorer(small_bundle(), SECRET)
    sc.record_label("L1", True, "2026-11-29")
    sc.record_label("L1", value, "2026-11-29")
    assert (sc.velocity.store.stats()["labels"] == 1) is stored  # fraud labels are kept


@pytest.mark.parametrize("app, value, ts, field", [
    ("L1", float("nan"), "2026-11-29", "is_fraud"), ("L1", "maybe", "2026-11-29", "is_fraud"),
    ("L1", 2, "2026-11-29", "is_fraud"), ("L1", None, "2026-11-29", "is_fraud"),
    ("L1", [1], "2026-11-29", "is_fraud"), (None, True, "2026-11-29", "application_id"),
    ("  ", True, "2026-11-29", "application_id"), (1.5, True, "2026-11-29", "application_id"),
    ("L1", True, "yesterday", "label_time"), ("L1", True, 10**400, "label_time"),
    ("L1", True, None, "label_time"),
])
def test_bad_labels_are_refused_and_store_nothing(app, value, ts, field):
    sc = fs.Scorer(small_bundle(), SECRET)
    with pytest.raises(EventError) as info:
        sc.record_label(app, value, ts)
    assert info.value.field == field
    assert sc.velocity.store.stats()["labels"] == 0


def test_label_tables_use_the_same_rules():
    assert set(TRUE_STRINGS) & set(FALSE_STRINGS) == set()
    ok = LabelIndex({"application_id": ["A", 7, " B "], "is_fraud": ["no", 1, True],
                     "label_time": ["2026-01-01", 1795946400, "2026-01-02"]})
    assert ok.align(np.array(["A", "7", "B"], dtype=object))["is_fraud"].tolist() == [0.0, 1.0, 1.0]
    for bad, field in [({"is_fraud": ["false", float("nan")]}, "is_fraud"), ({"is_fraud": [0, 2]}, "is_fraud"),
                       ({"application_id": ["A", None]}, "application_id"),
                       ({"label_time": ["2026-01-01", "soon"]}, "label_time")]:
        table = {"application_id": ["A", "B"], "is_fraud": [0, 1], "label_time": ["2026-01-01", "2026-01-02"], **bad}
        with pytest.raises(EventError) as info:
            LabelIndex(table)
        assert info.value.field == field and info.value.row == 1
    data = synthetic()
    labels = dict(data.labels)
    labels["is_fraud"] = np.where(np.arange(len(labels["is_fraud"])) == 3, "perhaps", "no").astype(object)
    with pytest.raises(EventError, match="row 3: field 'is_fraud'"):
        fs.train(data.columns, labels, key=SECRET, config={"model": {"num_boost_round": 5}})
    with pytest.raises(EventError, match="is_fraud"):
        fs.Scorer(small_bundle(), SECRET).score_batch(_events(3), labels=labels)


# -- invisible characters -----------------------------------------------------------------------------
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u200f", "\u202a", "\u202e",
             "\u2066", "\u2069", "\u061c", "\u180e"]


def test_invisible_characters_do_not_make_new_entities():
    sc = fs.Scorer(small_bundle(), SECRET)
    ident = sc.pipeline.identity
    for kind, raw in (("phone", "13800138000"), ("national_id", "11010519491231002X"),
                      ("email", "zhang.wei@example.com"), ("bank_card", "6222020200112233445"),
                      ("ip", "10.1.2.3"), ("generic", "INV-77")):
        want = ident.pseudonym(kind, raw)
        for ch in INVISIBLE:
            for pos in (0, len(raw) // 2, len(raw)):
                assert ident.pseudonym(kind, raw[:pos] + ch + raw[pos:]) == want, (kind, hex(ord(ch)), pos)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "13800138000")
    assert ident.pseudonym("phone", full_width) == ident.pseudonym("phone", "13800138000")
    # velocity: the evading spellings count as the same phone
    base = {"ts": 1795946400, "applicant_id": "11010519491231002X"}
    spellings = ["13800138000", "138\u200b00138000", "\ufeff13800138000", full_width, "1380\u00ad0138000"]
    evs = [{**base, "application_id": f"A{i}", "ts": 1795946400 + i, "phone": p,
            "applicant_id": f"1101051949123100{i:02d}"} for i, p in enumerate(spellings)]
    feat = "distinct__applicant_id__by__phone__30d"  # applicant ids seen with this phone
    assert feat in sc.pipeline.feature_names
    online = [sc.score(e, return_features=True).features[feat] for e in evs]
    assert online == sorted(online) and online[-1] == len(evs)
    batch = fs.Scorer(small_bundle(), SECRET).score_batch(evs, return_features=True)
    assert batch.features[feat].tolist() == online


def test_invisible_characters_scalar_and_column_paths_agree():
    ident = fs.Scorer(small_bundle(), SECRET).pipeline.identity
    values = ["13800138000", "138\u200b00138000", "\u202e11010519491231002X", "11010519491231002\u00adX",
              "６２２２０２０２００１１２２３３４４５", "a\u200db@gmail.com", "10.1.2.\u20603", None, "", "\ufeff"]
    cols = {f: np.array(values, dtype=object) for f in ("applicant_id", "phone", "email", "bank_card", "ip")}
    ts = np.full(len(values), 1_795_946_400_000)
    pseudo, feats = ident.process_columns(cols, ts)
    for i, v in enumerate(values):
        p, f = ident.process({**{k: v for k in cols}, "ts": int(ts[i])})
        for k in cols:
            assert pseudo[k][i] == p[k], (k, v)
        for j, name in enumerate(ident.feature_names):
            a, b = feats[i, j], f[name]
            assert (math.isnan(a) and math.isnan(b)) or a == b, (name, v)


def test_text_rules_agree_in_both_paths():
    """Found by benchmarks/fuzz.py: NUL in a device attribute took the online fast path but not the batch one."""
    good = _events(3)
    evs = [{**good[0], "device": {"os": "ios\x00", "Timezone": "\x00", "a": ["x\x00"]}},
           {**good[1], "promo": "a\x00b"}, {**good[2], "device": {"os": "ios", "model": "\ud800"}}]
    assert _verdicts_online(evs) == _verdicts_batch(evs)[0]
    assert [v[0] for v in _verdicts_online(evs)] == ["ok", "err", "err"]


@pytest.mark.parametrize("table, field", [
    ({"application_id": ["a1"], "is_fraud": [[None, []]]}, "is_fraud"),  # a ragged cell (numpy cannot shape it)
    ({"application_id": [["a"], ["b"]], "is_fraud": [0, 1]}, "application_id"),  # nested ids
    ({"application_id": ["a1", "a2"], "is_fraud": [0, 1], "label_ts": [[1], [2]]}, "label_ts"),
])
def test_nested_label_cells_name_their_field(table, field):
    """Found by a random hypothesis seed: a ragged label column raised numpy's own ValueError."""
    with pytest.raises(EventError) as e:
        LabelIndex(table)
    assert e.value.field == field and e.value.row == 0
