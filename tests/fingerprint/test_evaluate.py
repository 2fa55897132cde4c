"""Pairwise metrics: contingency counts equal the brute-force count over every pair."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fraudscore.fingerprint.evaluate import link_metrics, pairwise_by_group, pairwise_metrics


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
