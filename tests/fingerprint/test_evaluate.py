"""Pairwise metrics: contingency counts equal the brute-force count over every pair."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fraudscore.fingerprint.evaluate import link_metrics, pairwise_by_group, pairwise_metrics, signature_ceiling


def brute(truth, ids):
    tp = tl = ll = 0
    for i, j in itertools.combinations(range(len(truth)), 2):
        same_t = truth[i] == truth[j]
        same_l = ids[i] is not None and ids[i] == ids[j]
        tp += same_t and same_l
        tl += same_t
        ll += same_l
    return tp, tl, ll


@given(st.lists(st.tuples(st.integers(0, 5), st.one_of(st.none(), st.sampled_from("abcdef"))), max_size=40))
def test_pairwise_equals_brute_force(rows):
    truth = [t for t, _ in rows]
    ids = [d for _, d in rows]
    m = pairwise_metrics(truth, ids)
    tp, tl, ll = brute(truth, ids)
    assert (m["both_pairs"], m["true_pairs"], m["linked_pairs"]) == (tp, tl, ll)
    assert m["precision"] == (tp / ll if ll else 1.0) and m["recall"] == (tp / tl if tl else 1.0)


def test_split_and_merge_weigh_by_pairs():
    busy = [0] * 10 + [1] * 10
    split = ["a"] * 5 + ["b"] * 5 + ["c"] * 10  # device 0 split in halves: loses 25 of its 45 pairs
    merged = ["a"] * 20  # two busy devices merged: 100 false pairs
    assert pairwise_metrics(busy, split)["recall"] == (10 + 10 + 45) / 90
    assert pairwise_metrics(busy, merged)["precision"] == 90 / 190
    assert pairwise_metrics(busy, merged)["largest_id_devices"] == 2


def test_per_group_and_per_link():
    r = pairwise_by_group(np.array([0, 0, 1, 1]), ["a", "a", "b", None], ["ios", "ios", "win", "win"])
    assert r["ios"]["recall"] == 1.0 and r["win"]["recall"] == 0.0
    assert link_metrics([0, 0, 1], ["a", None, "a"])["claims"] == 1


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 3), st.integers(0, 2)), max_size=60))
def test_signature_ceiling_is_precise_and_grows_with_finer_signatures(rows):
    truth = [d for d, _, _ in rows]
    coarse = [f for _, f, _ in rows]
    fine = [(f, ip) for _, f, ip in rows]
    c, f = signature_ceiling(truth, coarse), signature_ceiling(truth, fine)
    assert c["precision"] == 1.0 and f["precision"] == 1.0
    assert f["recall"] >= c["recall"]  # a finer signature never separates less
    assert f["ambiguous_share"] <= c["ambiguous_share"]
    assert signature_ceiling(truth, truth)["recall"] == 1.0  # a signature that is the device: nothing lost


def test_signature_ceiling_leaves_twins_and_missing_fingerprints_unlinked():
    m = signature_ceiling([0, 0, 1, 1, 2, 2], ["a", "a", "t", "t", "t", None])
    assert m["both_pairs"] == 1 and m["true_pairs"] == 3 and m["ambiguous_share"] == 4 / 6


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2), st.integers(0, 50)), max_size=50),
       st.integers(0, 60))
def test_windowed_ceiling_equals_brute_force(rows, window):
    truth = [d for d, _, _ in rows]
    sigs = [f for _, f, _ in rows]
    ts = [t for _, _, t in rows]
    m = signature_ceiling(truth, sigs, ts=ts, window=window)
    amb = [any(sigs[j] == sigs[i] and truth[j] != truth[i] and abs(ts[j] - ts[i]) <= window
               for j in range(len(rows))) for i in range(len(rows))]
    ids = [None if a else d for a, d in zip(amb, truth)]
    assert m["both_pairs"] == pairwise_metrics(truth, ids)["both_pairs"]
    assert m["ambiguous_share"] == (sum(amb) / len(amb) if amb else 0.0)
    whole = signature_ceiling(truth, sigs)
    assert m["recall"] >= whole["recall"]  # a window only removes ambiguity
