"""Linking quality against ground truth: pairwise precision and recall (headline), per-link metrics.

**Pairwise** (:func:`pairwise_metrics`): every pair of observations is either
*true* (same physical device) and/or *linked* (same device id).

* precision = pairs both true and linked / linked pairs;
* recall = pairs both true and linked / true pairs.

A device split in two halves loses half its pairs; a false merge of two busy
devices adds many false pairs: the metric weighs errors by how much velocity
features would be hurt (a velocity count over a linked id is a sum over its
pairs). It is computed from contingency counts (``sum C(n, 2)`` over cells of the
truth x id table), in O(n log n), never over the n^2 pairs. An id of ``None``
(an observation the linker refused to key: see ``fraudscore.pipeline``) is a
singleton that pairs with nothing.

**Per link** (:func:`link_metrics`, kept for comparison with 0.1): each observation
given the id of an earlier one is a claim "same device as the previous
observation with this id".

Examples
--------
>>> m = pairwise_metrics([0, 0, 0, 1, 1], ["a", "a", "b", "b", "b"])
>>> m["precision"], m["recall"], m["true_pairs"], m["linked_pairs"], m["both_pairs"]
(0.5, 0.5, 4, 4, 2)
>>> pairwise_metrics([0, 0], [None, None])["recall"]
0.0
>>> m = link_metrics([0, 1, 0, 1, 2], ["a", "b", "a", "c", "b"])
>>> m["precision"], m["recall"], m["claims"], m["linkable"]
(0.5, 0.5, 2, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["pairwise_metrics", "pairwise_by_group", "link_metrics", "link_all", "exact_ids", "signature_ceiling"]


def _codes(values: Sequence[Any]) -> np.ndarray:
    """Integer codes of ``values``; each ``None`` gets a code of its own."""
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    n = len(arr)
    out = np.empty(n, dtype=np.int64)
    seen: dict[Any, int] = {}
    nxt = 0
    for i, v in enumerate(arr.tolist()):
        if v is None:
            out[i] = nxt
            nxt += 1
            continue
        c = seen.get(v)
        if c is None:
            c = seen[v] = nxt
            nxt += 1
        out[i] = c
    return out


def _pairs(counts: np.ndarray) -> int:
    c = counts.astype(np.int64)
    return int((c * (c - 1) // 2).sum())


def pairwise_metrics(truth: Sequence[int], device_ids: Sequence[Any]) -> dict[str, float]:
    """Pairwise precision and recall of linked ids against the true devices.

    Parameters
    ----------
    truth : sequence of int
        True device of each observation.
    device_ids : sequence
        Linked id of each observation (``None`` = not linked to anything).

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1``, ``true_pairs``, ``linked_pairs``,
        ``both_pairs``, ``observations``, ``devices_true``, ``devices_linked``,
        ``largest_id_devices`` (the most true devices any one id holds).
    """
    t = np.asarray(truth, dtype=np.int64)
    if len(t) != len(device_ids):
        raise ValueError("truth and device_ids must have the same length")
    d = _codes(device_ids)
    n = len(t)
    if n == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0, "true_pairs": 0, "linked_pairs": 0, "both_pairs": 0,
                "observations": 0, "devices_true": 0, "devices_linked": 0, "largest_id_devices": 0}
    _, tc = np.unique(t, return_inverse=True)
    cell = tc.astype(np.int64) * (int(d.max()) + 1) + d
    cells, cell_n = np.unique(cell, return_counts=True)
    both = _pairs(cell_n)
    true_pairs = _pairs(np.bincount(tc))
    linked_pairs = _pairs(np.bincount(d))
    ids_of_cells = cells % (int(d.max()) + 1)
    per_id_devices = np.bincount(ids_of_cells)
    precision = both / linked_pairs if linked_pairs else 1.0
    recall = both / true_pairs if true_pairs else 1.0
    return {
        "precision": precision, "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "true_pairs": true_pairs, "linked_pairs": linked_pairs, "both_pairs": both, "observations": n,
        "devices_true": int(tc.max()) + 1, "devices_linked": int(len(np.unique(d))),
        "largest_id_devices": int(per_id_devices.max()),
    }


def pairwise_by_group(truth: Sequence[int], device_ids: Sequence[Any], groups: Sequence[Any]) -> dict[str, dict[str, float]]:
    """:func:`pairwise_metrics` within each group (e.g. the OS of each observation).

    Pairs across groups count in neither group.

    Examples
    --------
    >>> r = pairwise_by_group([0, 0, 1, 1], ["a", "a", "b", "c"], ["ios", "ios", "windows", "windows"])
    >>> r["ios"]["recall"], r["windows"]["recall"]
    (1.0, 0.0)
    """
    g = np.asarray(groups, dtype=object)
    t = np.asarray(truth, dtype=np.int64)
    ids = np.asarray(device_ids, dtype=object)
    out = {}
    for name in sorted({str(x) for x in g.tolist()}):
        m = np.array([str(x) == name for x in g.tolist()], dtype=bool)
        out[name] = pairwise_metrics(t[m], ids[m])
    return out


def _ambiguous(devs: list[int], ts: list[int], window: int | None) -> list[bool]:
    """For observations of one signature in time order: whether another device showed it within ``window``."""
    n = len(devs)
    if window is None:
        return [len(set(devs)) > 1] * n
    out = [False] * n
    for order in (range(n), range(n - 1, -1, -1)):  # the nearest other device on each side
        top1: tuple[int, int] | None = None  # (device, time) of the latest sighting
        top2: tuple[int, int] | None = None  # ... of the latest sighting by another device than top1's
        for i in order:
            d, t = devs[i], ts[i]
            other = top2 if top1 is not None and top1[0] == d else top1
            if other is not None and abs(t - other[1]) <= window:
                out[i] = True
            if top1 is not None and top1[0] == d:
                top1 = (d, t)
            else:
                top1, top2 = (d, t), top1
    return out


def signature_ceiling(truth: Sequence[int], signatures: Sequence[Any], ts: Sequence[int] | None = None,
                      window: int | None = None) -> dict[str, float]:
    """What the inputs allow: the pairwise metrics of an oracle that never links what its inputs cannot separate.

    The oracle knows the true device of every observation, but it links an observation only when its
    *signature* (what a linker sees of it: the full fingerprint id, with or without the network) was
    shown by no other true device -- in the whole stream, or within ``window`` (same unit as ``ts``)
    of it; an observation whose signature two devices showed (identical phones, twins on one network)
    stays unlinked, because no linker can tell which of them it came from. Its precision is 1 and its
    recall approximates the **ceiling** of a linker that keeps precision near 1 on these inputs. It is
    an estimate, not a proof: a linker may pass it by spending precision (guessing among twins) or by
    evidence outside the signature (timing, a drift path one twin took), and the windowed version
    credits an observation whose twin is just outside the window. A ``None`` signature (no fingerprint)
    is never linked.

    Parameters
    ----------
    truth : sequence of int
        True device of each observation.
    signatures : sequence
        Hashable signature of each observation, e.g. ``(fingerprint_id, ip_prefix)``; ``None`` for none.
    ts : sequence of int, optional
        Time of each observation (needed with ``window``).
    window : int, optional
        Two devices showing one signature further apart than this do not make it ambiguous.

    Returns
    -------
    dict
        :func:`pairwise_metrics` of the oracle's ids, plus ``ambiguous_share`` (observations whose
        signature another device showed).

    Examples
    --------
    >>> m = signature_ceiling([0, 0, 1, 1, 2], ["a", "a", "b", "b", "b"])   # devices 1 and 2 are twins
    >>> m["precision"], m["recall"], m["ambiguous_share"]
    (1.0, 0.5, 0.6)
    >>> signature_ceiling([0, 0, 1, 1, 2], ["a", "a", "b", "b", "b"], ts=[0, 1, 0, 1, 99], window=10)["recall"]
    1.0
    """
    t = np.asarray(truth, dtype=np.int64)
    if len(t) != len(signatures):
        raise ValueError("truth and signatures must have the same length")
    if window is not None and (ts is None or len(ts) != len(t)):
        raise ValueError("a window needs one time per observation (ts)")
    times = [0] * len(t) if ts is None else [int(x) for x in ts]
    groups: dict[Any, list[int]] = {}
    for i, sig in enumerate(signatures):
        if sig is not None:
            groups.setdefault(sig, []).append(i)
    ids: list[int | None] = [None] * len(t)
    dev = t.tolist()
    for idx in groups.values():
        idx.sort(key=times.__getitem__)
        amb = _ambiguous([dev[i] for i in idx], [times[i] for i in idx], window)
        for i, a in zip(idx, amb):
            if not a:
                ids[i] = dev[i]
    out = pairwise_metrics(t, ids)
    out["ambiguous_share"] = sum(i is None for i in ids) / len(ids) if ids else 0.0
    return out


def exact_ids(fingerprinter: Any, devices: Sequence[Any]) -> list[str | None]:
    """The exact-match baseline: the full fingerprint id is the device.

    Examples
    --------
    >>> from fraudscore.keys import Keys
    >>> from fraudscore.fingerprint import Fingerprinter
    >>> a, b, c = exact_ids(Fingerprinter(Keys("0123456789abcdef-demo")), [{"os": "ios"}, {"os": "ios"}, None])
    >>> a == b, c
    (True, None)
    """
    out: list[str | None] = []
    for dev in devices:
        fp = fingerprinter.fingerprint(dev)
        out.append(None if fp is None else fp.id)
    return out


def link_metrics(truth: Sequence[int], device_ids: Sequence[str]) -> dict[str, float]:
    """Per-link precision and recall (see the module docstring).

    Parameters
    ----------
    truth : sequence of int
        True device of each observation, in time order.
    device_ids : sequence of str
        Linked device id of each observation.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``claims``, ``correct``, ``linkable``,
        ``devices_true`` and ``devices_linked``.
    """
    last_by_id: dict[str, int] = {}
    seen_truth: set[int] = set()
    claims = correct = linkable = 0
    for t, d in zip(truth, device_ids):
        t = int(t)
        if t in seen_truth:
            linkable += 1
        prev = last_by_id.get(d) if d is not None else None
        if prev is not None:
            claims += 1
            correct += prev == t
        if d is not None:
            last_by_id[d] = t
        seen_truth.add(t)
    return {
        "precision": correct / claims if claims else 1.0,
        "recall": correct / linkable if linkable else 1.0,
        "claims": claims, "correct": correct, "linkable": linkable,
        "devices_true": len(seen_truth), "devices_linked": len(last_by_id),
    }


def link_all(fingerprinter: Any, linker: Any, devices: Sequence[Any], ts: Sequence[int],
             ip_prefix: Sequence[Any] | None = None, *, min_confidence: float | None = None) -> list[str | None]:
    """Fingerprint and link a sequence of device mappings in order; the device ids.

    With ``min_confidence``, an id whose link confidence is below it becomes
    ``None`` (what velocity features key on, see ``fraudscore.pipeline``).

    Examples
    --------
    >>> from fraudscore.keys import Keys
    >>> from fraudscore.fingerprint import DeviceLinker, Fingerprinter
    >>> ids = link_all(Fingerprinter(Keys("0123456789abcdef-demo")), DeviceLinker(),
    ...                [{"os": "ios", "idfv": "A"}, {"os": "ios", "idfv": "A"}], [1, 2])
    >>> ids[0] == ids[1]
    True
    """
    out: list[str | None] = []
    ips = ip_prefix if ip_prefix is not None else [None] * len(devices)
    for dev, t, ip in zip(devices, ts, ips):
        fp = fingerprinter.fingerprint(dev)
        if fp is None:
            out.append(None)
            continue
        res = linker.link(fp, int(t), ip) if ip is not None else linker.link(fp, int(t))
        if min_confidence is not None and res.link_confidence < min_confidence:
            out.append(None)
        else:
            out.append(res.device_id)
    return out
