"""The binary layout of the Redis event script's arguments and rows (what the worker packs).

The event script (:mod:`fraudscore.velocity.redis_lua`, the Lua text) and the worker's
argument packing (:mod:`fraudscore.velocity.redis_calls`) agree on these formats: the
call header (:data:`HEADER`), one count read or increment (:data:`COUNT`), a link
decision's count dependency (:data:`BAND`), and per key group the fixed-width event row
(:func:`row_format`, :func:`row_size`), its raw outputs (:func:`n_outputs`) and how long
its key outlives its last event (:func:`retention_ms`).

Examples
--------
>>> from fraudscore.velocity.spec import FeatureSet, FeatureSpec
>>> from fraudscore.velocity.plan import Plan
>>> g = Plan(FeatureSet([FeatureSpec("sum", key="ip", field="amount", window="1h")])).groups[0]
>>> row_format(g), row_size(g), n_outputs(g)
('<dd', 16, 1)
>>> import struct
>>> struct.calcsize(HEADER)
64
"""

from __future__ import annotations

from .plan import Group

__all__ = ["SLOT_CODES", "HEADER", "LEASE_MS", "COUNT", "BAND", "BLOB_HEAD", "SIZES", "row_format", "row_size",
           "n_outputs", "retention_ms"]

#: struct codes per slot kind (Lua's struct and Python's agree on these; ``c8`` is Python's ``8s``)
SLOT_CODES = {"flag": "B", "val": "d", "valid": "B", "opt": "d", "dist": "c8", "app": "c8"}
SIZES = {"B": 1, "d": 8, "c8": 8}
_ARITY = {"mean": 2, "fraud_count": 2, "fraud_rate": 2, "ratio_to_mean": 3}
#: ARGV[1]: event time, wall clock (s), late, replace, link reads, link writes, groups, lateness,
#: idempotency TTL (ms, 0 = no record), link TTL (ms), call nonce (8 bytes: tells the caller's own
#: transport retry of a call from a new request for the same application), count reads, count
#: increments, check (1: the reads must be unchanged), lease mode (0: none, 1: respect the link lease,
#: 2: also take it on a conflict), lease key index
HEADER = "<ddBBHHHddd8sHHBBH"
#: How long a worker whose link decision kept conflicting holds the link lease (ms; renewed on each of
#: its conflicts, released by its commit): other workers' link calls wait ('busy') meanwhile, so the
#: holder's next decision, made on the fresh values, commits.
LEASE_MS = 500
#: one count read (ARGV[7]) or increment (ARGV[8]): key index, field (length + bytes), value
COUNT = "<HH"
#: ARGV[9], a link decision's count dependency (empty: every count read is checked): the count hash's key
#: index, k (1: the device itself is counted), devices showing the fingerprint, global factor, mobile prior
#: (0: none), least family devices, the popularity band (lo, hi), the index (among the count reads) of the
#: device count, the number of value fields; then their indices (``<H`` each)
BAND = "<HBddddddHH"
BLOB_HEAD = 4  # bytes of the expiry deadline (uint32 wall-clock seconds) at the head of a group string


def row_format(g: Group) -> str:
    """The ``struct`` format of one event row of a group (``<`` little endian, event time first)."""
    return "<d" + "".join(SLOT_CODES[s[0]] for s in g.slots)


def row_size(g: Group) -> int:
    """Bytes per event row."""
    return 8 + sum(SIZES[SLOT_CODES[s[0]]] for s in g.slots)


def n_outputs(g: Group) -> int:
    """Raw outputs of a group (two for mean and the label aggregations)."""
    return sum(_ARITY.get(q.agg, 1) for q in g.queries)


def retention_ms(g: Group, lateness: int, min_ttl_ms: int) -> int:
    """How long a group's key must outlive its last event (0: all-time, never expires)."""
    return 0 if g.horizon is None else max(g.horizon + lateness, min_ttl_ms)
