"""Linking quality against ground truth: per-link precision and recall.

Each observation that is given the device id of an earlier observation makes a
**link claim**: "this is the device of the previous observation with that id".
A claim is correct when both observations belong to the same true device.

* precision = correct claims / claims;
* recall = correct claims / observations whose true device was observed before.

Examples
--------
>>> m = link_metrics([0, 1, 0, 1, 2], ["a", "b", "a", "c", "b"])
>>> m["precision"], m["recall"], m["claims"], m["linkable"]
(0.5, 0.5, 2, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["link_metrics", "link_all"]


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
        prev = last_by_id.get(d)
        if prev is not None:
            claims += 1
            correct += prev == t
        last_by_id[d] = t
        seen_truth.add(t)
    return {
        "precision": correct / claims if claims else 1.0,
        "recall": correct / linkable if linkable else 1.0,
        "claims": claims, "correct": correct, "linkable": linkable,
        "devices_true": len(seen_truth), "devices_linked": len(last_by_id),
    }


def link_all(fingerprinter: Any, linker: Any, devices: Sequence[Any], ts: Sequence[int]) -> list[str]:
    """Fingerprint and link a sequence of device mappings in order; the device ids.

    Examples
    --------
    >>> from fraudscore.keys import Keys
    >>> from fraudscore.fingerprint import DeviceLinker, Fingerprinter
    >>> ids = link_all(Fingerprinter(Keys("0123456789abcdef-demo")), DeviceLinker(),
    ...                [{"os": "ios", "idfv": "A"}, {"os": "ios", "idfv": "A"}], [1, 2])
    >>> ids[0] == ids[1]
    True
    """
    out = []
    for dev, t in zip(devices, ts):
        fp = fingerprinter.fingerprint(dev)
        out.append(linker.link(fp, int(t)).device_id if fp is not None else "")
    return out
