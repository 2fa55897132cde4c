"""What travels between a worker and Redis: the cluster transport, bounded clients and the record format.

* :func:`cluster_send` sends commands to the nodes owning their hash tags, writing
  to every node before reading any reply: one round trip per node, in parallel.
* :func:`budget_client` rebuilds a client so that every call is bounded by a
  latency budget (socket timeouts, no client-side retries).
* The idempotency **record** an event script returns and stores (see
  :mod:`~fraudscore.velocity.redis_lua`): event time ``<d``, the call's 8-byte
  nonce, the device context and the link outcome (``<H`` length + bytes each),
  ``<H`` groups, then per group ``<HH`` (group, outputs), the outputs as ``<d``
  (NaN = none) and the event's row when the context is set (``<H`` length + bytes).

Examples
--------
>>> link = pack_link(("d1", 0.5))
>>> rec = (struct.pack("<d", 5.0) + b"N" * 8 + struct.pack("<HH", 0, len(link)) + link
...        + struct.pack("<HHHdH", 1, 1, 1, 3.0, 0))   # one group (1) with one output (3.0), no row kept
>>> record_groups(rec), unpack_link(record_extra(rec)), record_nonce(rec)
((5, [(1, (3.0,))]), ('d1', 0.5), b'NNNNNNNN')
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._core import load as load_core
from .._redis import (DirectConnection, RoundTrips, Script, command, evalsha, hash_bytes, is_cluster, redis_module,
                      store_error)
from .idempotency import Link

__all__ = ["run_script", "cluster_send", "budget_client", "noscript", "pack_link", "unpack_link", "record_ctx", "record_nonce",
           "record_extra", "record_groups", "record_groups_py", "count_arg", "device_ctx", "identifier_hash"]


def noscript(err: Any) -> bool:
    """Whether an error is Redis' ``NOSCRIPT`` (the script cache was emptied, e.g. by a restart)."""
    redis = redis_module()
    return isinstance(err, redis.exceptions.NoScriptError) or "NOSCRIPT" in str(err)


def cluster_send(client: Any, commands: list[tuple[Any, ...] | bytes], tags: list[str],
                 round_trips: RoundTrips | None = None) -> list[Any]:
    """Send ``commands`` (routed by their hash tags) to their nodes; replies (or ResponseErrors) in order.

    redis-py's cluster pipeline refuses ``EVALSHA``; this writes each node's batch
    on one connection, then reads all the replies. A command is a tuple of arguments
    or a request already packed as RESP (:func:`~fraudscore._redis.evalsha`).

    Raises
    ------
    StoreError
        On a connection error or timeout (replies of the other nodes are lost with it).
    """
    redis = redis_module()
    from redis.cluster import key_slot

    by_node: dict[str, tuple[Any, list[int]]] = {}
    try:
        for i, t in enumerate(tags):
            node = client.nodes_manager.get_node_from_slot(key_slot(t.encode()))
            by_node.setdefault(node.name, (node, []))[1].append(i)
    except (redis.RedisError, OSError) as exc:
        raise store_error(exc) from exc
    out: list[Any] = [None] * len(commands)
    sent: list[tuple[Any, Any, list[int]]] = []
    if round_trips is not None:
        round_trips.add(len(by_node))
    try:
        for node, idx in by_node.values():
            r = client.get_redis_connection(node)
            conn = r.connection_pool.get_connection()
            sent.append((r, conn, idx))
            conn.send_packed_command([b"".join([c if type(c) is bytes else command(c)  # type: ignore[misc]
                                                for c in (commands[i] for i in idx)])])
        for _r, conn, idx in sent:
            for i in idx:
                try:
                    out[i] = conn.read_response()
                except redis.ResponseError as err:
                    out[i] = err
    except (redis.RedisError, OSError) as exc:
        for _r, conn, _idx in sent:
            conn.disconnect()
        raise store_error(exc) from exc
    finally:
        for r, conn, _idx in sent:
            r.connection_pool.release(conn)
    return out


def run_script(client: Any, direct: DirectConnection, script: Script, tag: str, keys: list[Any], args: list[Any],
               round_trips: RoundTrips | None = None) -> Any:
    """One call of ``script`` (one round trip): on ``direct``'s connection on a single node, routed by ``tag`` on
    a cluster (loaded on ``NOSCRIPT``; the slot map refreshed on ``MOVED``).

    Raises
    ------
    StoreError
        When Redis fails (or the script raises).
    """
    redis = redis_module()
    if round_trips is not None:
        round_trips.add(1)
    try:
        if not is_cluster(client):
            return script.direct(direct, client, keys, args)
        for attempt in range(3):
            r = cluster_send(client, [evalsha(script.sha, keys, args)], [tag])[0]
            if not isinstance(r, Exception):
                return r
            if attempt < 2 and noscript(r):
                script.load(client)
            elif attempt < 2 and any(m in str(r) for m in ("MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN")):
                client.nodes_manager.initialize()
            else:
                raise store_error(r)
    except (redis.RedisError, OSError) as exc:
        raise store_error(exc) from exc
    raise store_error(RuntimeError("no reply"))  # pragma: no cover - the loop returns or raises


def budget_client(client: Any, budget_ms: float) -> Any:
    """A client like ``client`` whose every call is bounded by ``budget_ms``: socket and connect
    timeouts of the budget and no client-side retries (exactly-once makes the caller's retry safe)."""
    redis = redis_module()
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from .._redis import is_cluster

    secs = budget_ms / 1000.0
    if is_cluster(client):
        from redis.cluster import RedisCluster

        node = client.get_default_node()
        kw = dict(client.get_redis_connection(node).connection_pool.connection_kwargs)
        return RedisCluster(host=node.host, port=node.port, socket_timeout=secs, socket_connect_timeout=secs,
                            retry=Retry(NoBackoff(), 0),
                            **{k: v for k, v in kw.items() if k in ("password", "username")})
    kw = dict(client.connection_pool.connection_kwargs)
    kw.update(socket_timeout=secs, socket_connect_timeout=secs, retry=Retry(NoBackoff(), 0))
    kw.pop("retry_on_timeout", None)
    pool = redis.ConnectionPool(connection_class=client.connection_pool.connection_class, **kw)
    return redis.Redis(connection_pool=pool)


def pack_link(link: Link) -> bytes:
    """A link outcome ``(device_id, link_confidence)`` as stored in a record."""
    did, conf = link
    return struct.pack("<d", float(conf)) + (did or "").encode("utf-8")


def unpack_link(extra: bytes) -> Link | None:
    """Inverse of :func:`pack_link` (``None`` for an empty one)."""
    if len(extra) < 8:
        return None
    (conf,) = struct.unpack_from("<d", extra)
    did = extra[8:].decode("utf-8") or None
    return did, conf


def record_nonce(rec: bytes) -> bytes:
    """The nonce of the call that wrote a record."""
    return rec[8:16]


def record_ctx(rec: bytes) -> str:
    """The device context a record's groups were computed with ('' = none)."""
    (n,) = struct.unpack_from("<H", rec, 16)
    return rec[18:18 + n].decode("utf-8")


def record_extra(rec: bytes) -> bytes:
    """The packed link outcome of a record."""
    (n,) = struct.unpack_from("<H", rec, 16)
    pos = 18 + n
    (m,) = struct.unpack_from("<H", rec, pos)
    return rec[pos + 2:pos + 2 + m]


_D = struct.Struct("<d")
_H = struct.Struct("<H")
_HH = struct.Struct("<HH")
_DOUBLES: dict[int, struct.Struct] = {}


def _doubles(n: int) -> struct.Struct:
    s = _DOUBLES.get(n)
    if s is None:
        s = _DOUBLES[n] = struct.Struct(f"<{n}d")
    return s


def record_groups_py(rec: bytes) -> tuple[int, list[tuple[int, tuple[float, ...]]]]:
    """``(event time, [(group index, raw outputs)])`` of a record (the reference of the compiled
    ``fraudscore._core.redis_calls.record_groups``, which :func:`record_groups` is when the core is built)."""
    (t,) = _D.unpack_from(rec)
    (n,) = _H.unpack_from(rec, 16)
    pos = 18 + n
    (m,) = _H.unpack_from(rec, pos)
    pos += 2 + m
    (ng,) = _H.unpack_from(rec, pos)
    pos += 2
    groups = []
    for _ in range(ng):
        gi, no = _HH.unpack_from(rec, pos)
        pos += 4
        vals = _doubles(no).unpack_from(rec, pos)
        pos += 8 * no
        (ml,) = _H.unpack_from(rec, pos)
        pos += 2 + ml
        groups.append((gi, vals))
    return int(t), groups


_C = load_core("redis_calls")
record_groups: Any = _C.record_groups if _C is not None else record_groups_py

_FIELDS: dict[str, bytes] = {}


def count_arg(key_index: int, field: str, value: int) -> bytes:
    """One count read or increment argument of the event script: key index, field (length + bytes), value."""
    f = _FIELDS.get(field)
    if f is None:
        if len(_FIELDS) >= 4096:
            _FIELDS.clear()
        f = _FIELDS[field] = field.encode("utf-8")
    return _HH.pack(key_index, len(f)) + f + _D.pack(float(value))


def device_ctx(record: Mapping[str, Any]) -> str:
    """The device context of a device-dependent call: the device id, ``"\\x00"`` for none (a link refused
    below the confidence gate), so the call's rows are kept and a retry can replace them."""
    did = record.get("device_id")
    return "\x00" if did is None else str(did)


#: str identifier hashes of this process, by digest size (bounded; entities repeat): str -> bytes entries, no tuple
#: key per entry (nothing the cyclic garbage collector tracks)
_IDS: dict[int, dict[str, bytes]] = {}


def identifier_hash(value: Any, size: int) -> bytes:
    """Hash of an identifier value (type-tagged so 1 and '1' stay apart)."""
    if type(value) is str:
        memo = _IDS.get(size)
        if memo is None:
            memo = _IDS[size] = {}
        h = memo.get(value)
        if h is None:
            if len(memo) >= 65_536:
                memo.clear()
            h = memo[value] = hash_bytes("s" + value, size)
        return h
    if isinstance(value, tuple):
        text = "\x1f".join(("i" if isinstance(v, (int, np.integer)) else "s") + str(v) for v in value)
    else:
        text = ("i" if isinstance(value, (int, np.integer)) else "s") + str(value)
    return hash_bytes(text, size)
