"""The memory store's snapshot payload: building it and validating it on restore.

A snapshot file is checksummed (:mod:`~fraudscore.velocity.snapshot`), but a
checksum only proves the file was not damaged, not that whoever wrote it wrote a
valid state (anyone can recompute a SHA-256). :func:`load_payload` therefore
checks the whole structure before anything is replaced: the format and version,
the feature set's fingerprint, one group per key group of the plan, per entity a
key of the group's arity, non-empty time-sorted integer times within range, one
column per slot of the right length and type (flags 0/1, fixed-point values in
range, hashed identifiers as strings), labels and idempotency records of the
right shape. Anything else raises :class:`~fraudscore.errors.StoreError` naming
the part, and the store is left as it was.

Examples
--------
>>> from fraudscore.velocity.spec import FeatureSet, FeatureSpec
>>> from fraudscore.velocity.plan import Plan
>>> from fraudscore.velocity.memory_layout import GroupLayout
>>> plan = Plan(FeatureSet([FeatureSpec("count", key="ip", window="1h")]))
>>> lays = [GroupLayout(g) for g in plan.groups]
>>> load_payload({"format": FORMAT, "format_version": 2, "plan": plan.fingerprint, "max_seen": 5,
...               "groups": [[["p:1", [5], [], 5]]], "labels": [], "results": []}, plan, lays)["max_seen"]
5
>>> load_payload({"format": FORMAT, "format_version": 2, "plan": plan.fingerprint, "max_seen": 5,
...               "groups": [], "labels": [], "results": []}, plan, lays)
Traceback (most recent call last):
...
fraudscore.errors.StoreError: velocity snapshot: 'groups' must hold 1 key group(s), found 0
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from .._version import __version__
from ..errors import StoreError
from .memory_layout import GroupLayout
from .plan import MAX_ABS_VALUE, MICRO, Plan

__all__ = ["FORMAT", "FORMAT_VERSION", "build_payload", "load_payload"]

FORMAT = "fraudscore.velocity.memory"
FORMAT_VERSION = 2  # 2 adds the idempotency records ("results"); version 1 files still restore
_TS_MAX = 2**62
_MICRO_MAX = int(MAX_ABS_VALUE * MICRO)


def _bad(what: str) -> StoreError:
    return StoreError(f"velocity snapshot: {what}")


def build_payload(plan: Plan, layouts: list[GroupLayout], state: list[OrderedDict[Any, Any]], max_seen: int | None,
                  labels: list[tuple[str, int]], results: list[list[Any]]) -> dict[str, Any]:
    """The JSON-ready payload of a memory store's state."""
    groups = []
    for lay, states in zip(layouts, state):
        rows = []
        for k, e in states.items():
            ts, cols = lay.to_raw(e)
            rows.append([list(k) if isinstance(k, tuple) else k, ts, cols, lay.latest(e)])
        groups.append(rows)
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "library_version": __version__,
            "plan": plan.fingerprint, "max_seen": max_seen, "groups": groups, "labels": labels, "results": results}


def _check_ts(v: Any) -> bool:
    return v.__class__ is int and -_TS_MAX < v < _TS_MAX


def _slot_ok(kind: str) -> Any:
    if kind in ("flag", "valid"):
        return lambda v: v.__class__ is int and (v == 0 or v == 1)
    if kind == "val":
        return lambda v: v.__class__ is int and -_MICRO_MAX <= v <= _MICRO_MAX
    if kind == "opt":
        return lambda v: v is None or (v.__class__ is int and -_MICRO_MAX <= v <= _MICRO_MAX)
    if kind == "dist":
        return lambda v: v is None or v.__class__ is str or (v.__class__ is int and -_TS_MAX < v < _TS_MAX)
    return lambda v: v is None or v.__class__ is str  # app


def _key(k: Any, arity: int) -> Any:
    def part_ok(p: Any) -> bool:
        return p.__class__ is str or (p.__class__ is int and -_TS_MAX < p < _TS_MAX)

    if arity == 1:
        if not part_ok(k):
            raise _bad("an entity key must be a string or an integer")
        return k
    if k.__class__ is not list or len(k) != arity or not all(part_ok(p) for p in k):
        raise _bad(f"a composite entity key must be a list of {arity} strings or integers")
    return tuple(k)


def _group(lay: GroupLayout, rows: Any, gi: int, max_seen: int | None) -> OrderedDict[Any, Any]:
    if rows.__class__ is not list:
        raise _bad(f"group {gi} must be a list of entities")
    arity = len(lay.key)
    checks = [_slot_ok(s[0]) for s in lay.group.slots]
    n_slots = len(checks)
    od: OrderedDict[Any, Any] = OrderedDict()
    for row in rows:
        if row.__class__ is not list or len(row) != 4:
            raise _bad(f"group {gi}: an entity must be [key, times, columns, latest]")
        k, ts, cols, tmax = row
        key = _key(k, arity)
        if key in od:
            raise _bad(f"group {gi}: an entity key appears twice")
        if ts.__class__ is not list or not ts or not all(_check_ts(t) for t in ts):
            raise _bad(f"group {gi}: event times must be a non-empty list of integers")
        if any(ts[i] > ts[i + 1] for i in range(len(ts) - 1)):
            raise _bad(f"group {gi}: event times must be sorted")
        if tmax != ts[-1] or max_seen is None or tmax > max_seen:
            raise _bad(f"group {gi}: the latest time does not match the event times and 'max_seen'")
        if cols.__class__ is not list or len(cols) != n_slots:
            raise _bad(f"group {gi}: expected {n_slots} slot column(s) per entity")
        for j, (c, ok) in enumerate(zip(cols, checks)):
            if c.__class__ is not list or len(c) != len(ts):
                raise _bad(f"group {gi}: slot column {j} must have one value per event")
            if not all(ok(v) for v in c):
                raise _bad(f"group {gi}: slot column {j} holds a value of the wrong type or range")
        od[key] = lay.from_raw(ts, cols)
    return od


def _labels(rows: Any) -> list[tuple[str, int]]:
    if rows.__class__ is not list:
        raise _bad("'labels' must be a list")
    out = []
    for r in rows:
        if r.__class__ is not list or len(r) != 2 or r[0].__class__ is not str or not _check_ts(r[1]):
            raise _bad("a label must be [application id, label time]")
        out.append((r[0], r[1]))
    return out


def _results(rows: Any, n_features: int) -> list[list[Any]]:
    if rows.__class__ is not list:
        raise _bad("'results' must be a list")
    for r in rows:
        if (r.__class__ is not list or len(r) != 5 or r[0].__class__ is not str or not _check_ts(r[1])
                or r[2].__class__ is not list or len(r[2]) != n_features
                or not all(v is None or v.__class__ in (float, int) for v in r[2])
                or not (r[3] is None or r[3].__class__ is str)
                or not (r[4] is None or r[4].__class__ in (float, int))):
            raise _bad(f"an idempotency record must be [application id, time, {n_features} features, "
                       "device id, link confidence]")
    return rows


def load_payload(payload: Any, plan: Plan, layouts: list[GroupLayout]) -> dict[str, Any]:
    """Validate a payload and convert it to store state (``state``, ``labels``, ``max_seen``, ``results``).

    Raises
    ------
    StoreError
        Naming the first part that is not a valid state for ``plan``.
    """
    if payload.__class__ is not dict:
        raise _bad("unexpected layout")
    if payload.get("format") != FORMAT or payload.get("format_version") not in (1, FORMAT_VERSION):
        raise _bad(f"not a MemoryStore snapshot of format version 1 or {FORMAT_VERSION}")
    if payload.get("plan") != plan.fingerprint:
        raise StoreError("the snapshot was written for a different FeatureSet")
    max_seen = payload.get("max_seen")
    if not (max_seen is None or _check_ts(max_seen)):
        raise _bad("'max_seen' must be an integer time or null")
    groups = payload.get("groups")
    if groups.__class__ is not list or len(groups) != len(layouts):
        n = len(groups) if groups.__class__ is list else 0
        raise _bad(f"'groups' must hold {len(layouts)} key group(s), found {n}")
    state = [_group(lay, rows, gi, max_seen) for gi, (lay, rows) in enumerate(zip(layouts, groups))]
    labels = _labels(payload.get("labels"))
    results = _results(payload.get("results", []), plan.n_features)
    return {"state": state, "labels": labels, "max_seen": max_seen, "results": results}
