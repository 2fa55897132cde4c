import numpy as np
import pytest

from fraudscore.errors import ConfigError
from fraudscore.synth import SCENARIOS, generate
from fraudscore.synth.data import EVENT_COLUMNS
from fraudscore.synth.identities import DISPOSABLE_DOMAINS, PROXY_PREFIXES, id_birth_date, id_checksum_valid


def test_determinism_same_seed_identical_columns():
    a = generate(n_days=3, per_day=800, seed=5)
    b = generate(n_days=3, per_day=800, seed=5)
    for k in EVENT_COLUMNS:
        assert a.columns[k].tolist() == b.columns[k].tolist(), k
    for k in a.labels:
        assert a.labels[k].tolist() == b.labels[k].tolist(), k
    assert a.truth["device_truth"].tolist() == b.truth["device_truth"].tolist()
    c = generate(n_days=3, per_day=800, seed=6)
    assert c.columns["applicant_id"].tolist() != a.columns["applicant_id"].tolist()


def test_shapes_types_and_order(synth_data):
    d = synth_data
    n = len(d)
    assert n == 14 * 1500
    assert set(d.columns) == set(EVENT_COLUMNS)
    assert all(v.shape == (n,) for v in d.columns.values())
    assert d.columns["ts"].dtype == np.int64 and (np.diff(d.columns["ts"]) >= 0).all()
    assert d.columns["amount"].dtype == np.float64 and d.columns["term_months"].dtype == np.float64
    assert d.labels["is_fraud"].dtype == np.int8 and d.labels["label_ts"].dtype == np.int64
    assert d.truth["device_truth"].dtype == np.int64
    assert len(set(d.columns["application_id"])) == n
    assert (d.labels["application_id"] == d.columns["application_id"]).all()
    t0 = d.params["start"]
    assert d.columns["ts"].min() >= t0 and d.columns["ts"].max() < t0 + 14 * 86_400_000
    for k in ("applicant_id", "phone", "email", "bank_card", "ip", "product", "channel"):
        assert all(isinstance(x, str) for x in d.columns[k]), k
    assert set(d.columns["channel"]) == {"app", "h5", "web", "partner"}
    assert all(x is None or isinstance(x, dict) for x in d.columns["device"])
    assert ((d.truth["device_truth"] == -1) == np.array([x is None for x in d.columns["device"]])).all()


def test_fraud_rate_and_every_scenario(synth_data):
    lab = synth_data.labels
    assert abs(lab["is_fraud"].mean() - 0.03) < 0.002
    assert set(lab["scenario"]) == set(SCENARIOS)
    assert ((lab["scenario"] == "genuine") == (lab["is_fraud"] == 0)).all()
    for s in SCENARIOS[1:]:
        assert (lab["scenario"] == s).sum() >= 20, s


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.1])
def test_fraud_rate_parameter(rate):
    d = generate(n_days=2, per_day=1000, fraud_rate=rate, seed=1)
    assert int(d.labels["is_fraud"].sum()) == round(2000 * rate)


def test_label_delays(synth_data):
    lab, ts = synth_data.labels, synth_data.columns["ts"]
    delay_days = (lab["label_ts"] - ts) / 86_400_000
    assert (delay_days > 0).all()
    fraud = lab["is_fraud"] == 1
    assert delay_days[fraud].min() >= 7 and delay_days[fraud].max() <= 45
    assert delay_days[~fraud].min() >= 30 and delay_days[~fraud].max() <= 90


def test_checksum_and_birth_date_fractions(synth_data):
    ids, sc = synth_data.columns["applicant_id"], synth_data.labels["scenario"]
    valid = np.array([id_checksum_valid(x) for x in ids])
    plausible = np.array([id_birth_date(x) is not None for x in ids])
    genuine = sc == "genuine"
    assert valid[genuine].mean() > 0.99  # rare typos only
    synthetic = sc == "synthetic_identity"
    assert 0.2 < 1 - valid[synthetic].mean() < 0.55  # about 35 % bad checksums: not all of them
    assert 0.1 < 1 - plausible[synthetic].mean() < 0.45
    assert plausible[genuine].all()


def test_patterns_have_their_signals(synth_data):
    c, lab, truth = synth_data.columns, synth_data.labels, synth_data.truth
    sc = lab["scenario"]
    # proxy bursts come from the data-centre ranges; a few genuine rows do too (VPN)
    prefix = np.array([ip.rsplit(".", 1)[0] for ip in c["ip"]])
    from_proxy = np.isin(prefix, PROXY_PREFIXES)
    assert from_proxy[sc == "proxy_burst"].all()
    assert 0 < from_proxy[sc == "genuine"].mean() < 0.03
    # device farms: many identities per physical device, hardware stable
    farm = np.flatnonzero(sc == "device_farm")
    dev = truth["device_truth"][farm]
    ids_per_device = {d: len(set(c["applicant_id"][farm][dev == d])) for d in np.unique(dev)}
    assert np.median(list(ids_per_device.values())) >= 5
    for d in np.unique(dev)[:5]:
        rows = [c["device"][i] for i in farm[dev == d]]
        assert len({(r["model"], r["screen"]) for r in rows}) == 1
        assert len({r.get("android_id") or r.get("idfv") for r in rows}) == len(rows)
    flags = np.array([c["device"][i]["emulator"] or c["device"][i]["rooted"] for i in farm])
    assert 0.1 < flags.mean() < 0.95  # farms hide their flags about half the time
    # identity theft: one ID number from several devices within hours
    theft = np.flatnonzero(sc == "identity_theft")
    groups = truth["group"][theft]
    g = groups[0]
    rows = theft[groups == g]
    assert len(set(c["applicant_id"][rows])) == 1 and len(set(truth["device_truth"][rows])) == len(rows)
    assert c["ts"][rows].max() - c["ts"][rows].min() <= 6 * 3_600_000
    # invitation rings invite each other
    ring = sc == "invitation_ring"
    ring_ids = set(c["applicant_id"][ring])
    inv = [x for x in c["inviter_id"][ring] if x is not None]
    assert np.mean([x in ring_ids for x in inv]) > 0.8
    # synthetic identities share phones across identities
    syn = np.flatnonzero(sc == "synthetic_identity")
    per_phone = {}
    for i in syn:
        per_phone.setdefault(c["phone"][i], set()).add(c["applicant_id"][i])
    assert max(len(v) for v in per_phone.values()) >= 3
    # disposable e-mail domains overlap: both genuine and fraud use them
    disposable = np.array([e.split("@")[1] in DISPOSABLE_DOMAINS for e in c["email"]])
    assert disposable[sc == "genuine"].any() and disposable[lab["is_fraud"] == 1].mean() > 0.05


def test_genuine_overlap_repeat_family_invites(synth_data):
    c, sc, truth = synth_data.columns, synth_data.labels["scenario"], synth_data.truth
    g = sc == "genuine"
    ids = c["applicant_id"][g]
    _, counts = np.unique(ids, return_counts=True)
    assert (counts == 1).mean() > 0.9  # most apply once (repeats: see the maturity test)
    dev = truth["device_truth"][g]
    has = dev >= 0
    per_dev = {}
    for d, a in zip(dev[has], ids[has]):
        per_dev.setdefault(d, set()).add(a)
    shared = np.mean([len(v) > 1 for v in per_dev.values()])
    assert 0.005 < shared < 0.08  # family devices at a low rate
    invited = np.array([x is not None for x in c["inviter_id"][g]])
    assert 0.03 < invited.mean() < 0.15
    assert set(c["inviter_id"][g][invited]) <= set(ids)


def test_repeat_borrowers_reapply_at_maturity():
    d = generate(n_days=200, per_day=100, fraud_rate=0.0, seed=2)
    c = d.columns
    gaps = []
    last: dict[str, tuple[int, float]] = {}
    for a, t, term in zip(c["applicant_id"], c["ts"], c["term_months"]):
        if a in last:
            t_prev, term_prev = last[a]
            gaps.append((t - t_prev) / 86_400_000 / 30.4 - term_prev)
        last[a] = (t, term)
    gaps = np.array(gaps)
    assert len(gaps) > 200
    assert np.mean((gaps > -0.2) & (gaps < 0.4)) > 0.5  # most re-apply right after maturity


def test_slice_records_pandas(synth_data):
    part = synth_data.slice(100, 150)
    assert len(part) == 50
    assert part.columns["application_id"][0] == synth_data.columns["application_id"][100]
    recs = part.to_records()
    assert len(recs) == 50 and all("ts" in r and isinstance(r["ts"], int) for r in recs)
    assert all(v is not None for r in recs for v in r.values())
    ev, lab = part.to_pandas()
    assert list(ev.columns) == list(EVENT_COLUMNS) and len(lab) == 50


def test_records_validate_against_default_schema(synth_data):
    from fraudscore.schema import DEFAULT_SCHEMA

    for rec in synth_data.slice(0, 300).to_records():
        ev = DEFAULT_SCHEMA.validate(rec)
        assert ev["ts"] == rec["ts"]


@pytest.mark.parametrize("kwargs", [{"n_days": 0}, {"per_day": -1}, {"fraud_rate": 1.5},
                                    {"scenario_mix": {"nope": 1.0}}, {"start": "not a date"}])
def test_bad_parameters(kwargs):
    with pytest.raises(ConfigError, match="parameter of generate"):
        generate(**kwargs)


def test_generate_pauses_gc_and_restores_it():
    import gc

    assert gc.isenabled() and gc.get_freeze_count() == 0
    generate(n_days=1, per_day=200, seed=0)
    assert gc.isenabled() and gc.get_freeze_count() == 0  # new objects moved to the oldest generation, not frozen
    gc.freeze()  # a process that froze objects on purpose keeps them frozen
    try:
        frozen = gc.get_freeze_count()
        generate(n_days=1, per_day=200, seed=0)
        assert gc.get_freeze_count() > frozen // 2 and gc.isenabled()  # still frozen (a few freed meanwhile)
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        generate(n_days=1, per_day=200, seed=0)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_campaign_structure(synth_data):
    c, lab, truth = synth_data.columns, synth_data.labels, synth_data.truth
    sc, groups = lab["scenario"], truth["group"]
    for name, low, high in (("synthetic_identity", 3, 12), ("invitation_ring", 5, 20), ("proxy_burst", 10, 40)):
        rows = np.flatnonzero(sc == name)
        _, sizes = np.unique(groups[rows], return_counts=True)
        assert sizes.max() <= high and np.median(sizes) >= low, name
    # a synthetic-identity ring applies from one /24 and a burst from at most three data-centre ranges
    for name, most in (("synthetic_identity", 1), ("proxy_burst", 3)):
        rows = np.flatnonzero(sc == name)
        for g in np.unique(groups[rows])[:20]:
            prefixes = {ip.rsplit(".", 1)[0] for ip in c["ip"][rows[groups[rows] == g]]}
            assert len(prefixes) <= most, name
    # ring members are invited by members who applied earlier
    ring = np.flatnonzero(sc == "invitation_ring")
    first = {}
    for i in ring:
        first.setdefault(c["applicant_id"][i], c["ts"][i])
    earlier = [first[c["inviter_id"][i]] <= c["ts"][i] for i in ring if c["inviter_id"][i] in first]
    assert len(earlier) > 50 and all(earlier)
