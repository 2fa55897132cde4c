"""Redis plumbing shared by the velocity store and the device-link state (private).

* **Key layout.** Every key starts with the caller's prefix and carries a Redis
  Cluster *hash tag* ``{<prefix hash>.<shard>}``: the state is spread over
  ``shards`` tags (default 64), each a fixed hash slot, so the keys of one entity
  (and the link state of one hardware section) always live in one slot and a
  script over them is valid on a cluster. A label is written to every shard
  (labels are rare; see ``docs/stores.md``).
* **Errors.** Any redis-py or socket error becomes a
  :class:`~fraudscore.errors.StoreError` (never a raw exception).
* **Scripts.** :class:`Script` runs a Lua script with ``EVALSHA`` and loads it
  (on every primary of a cluster) on ``NOSCRIPT``.
* **Round trips.** :class:`RoundTrips` counts requests (a pipeline to one node is
  one request), for the benchmarks.

Examples
--------
>>> check_prefix("fs:")
'fs:'
>>> tag("fs:", 3) == tag("fs:", 3) != tag("fs:", 4)
True
>>> 0 <= shard_of("some entity", 64) < 64
True
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ._core import load as load_core
from ._core import pure_python
from .errors import ConfigError, MissingDependencyError, StoreError

__all__ = ["check_prefix", "check_shards", "shard_of", "tag", "hash_bytes", "hash_bytes_py", "is_cluster", "redis_module",
           "Script", "RoundTrips", "store_error", "DEFAULT_SHARDS", "DirectConnection", "resp_command",
           "resp_evalsha", "command", "evalsha", "random_bytes"]

#: Hash-tag shards of the Redis layout (fixed for a deployment: changing it changes every key).
DEFAULT_SHARDS = 64


_REDIS: Any = None  # redis-py once imported (an import statement per call costs about a microsecond: the
# module's spec is checked each time)


def redis_module() -> Any:
    """redis-py, or :class:`~fraudscore.errors.MissingDependencyError` naming the extra."""
    global _REDIS
    if _REDIS is not None:
        return _REDIS
    try:
        import redis
    except ImportError:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("the Redis store needs redis-py: pip install 'fraudscore[redis]'") from None
    _REDIS = redis
    return redis


class _Pool(threading.local):
    """The calling thread's bytes from ``os.urandom`` not handed out yet."""

    buf = b""
    pos = 0


_POOL = _Pool()
_POOL_BYTES = 4096


def _fork_child() -> None:  # a forked worker never hands out its parent's bytes (versions and nonces stay unique)
    _POOL.buf, _POOL.pos = b"", 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fork_child)


def random_bytes_py(n: int) -> bytes:
    """``n`` random bytes, as ``os.urandom(n)``, from a per-thread pool filled 4 KiB at a time (one system
    call per few hundred link versions and event nonces instead of one each; a forked child starts a new pool).
    The reference of the compiled ``fraudscore._core.redis_calls.random_bytes`` (a process-wide pool under the
    GIL), which :func:`random_bytes` is when the core is built.

    Examples
    --------
    >>> a, b = random_bytes_py(8), random_bytes_py(8)
    >>> len(a), a != b
    (8, True)
    """
    p = _POOL
    pos = p.pos
    buf = p.buf
    if pos + n > len(buf):
        buf = p.buf = os.urandom(max(_POOL_BYTES, n))
        pos = 0
    p.pos = pos + n
    return buf[pos:pos + n]


def check_prefix(prefix: Any, owner: str = "RedisStore") -> str:
    """A key prefix: a non-empty string without ``{`` or ``}`` (they would break the hash tags)."""
    if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix:
        raise ConfigError(f"The 'prefix' parameter of {owner} must be a non-empty str without braces. "
                          f"Got {prefix!r} instead.")
    return prefix


def check_shards(shards: Any, owner: str = "RedisStore") -> int:
    """The number of hash-tag shards (1 .. 16384)."""
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= 16384:
        raise ConfigError(f"The 'shards' parameter of {owner} must be an integer in 1..16384. Got {shards!r} instead.")
    return shards


def hash_bytes_py(text: str | bytes, size: int = 8, person: bytes = b"fs-velocity") -> bytes:
    """BLAKE2b digest of ``text`` (identifiers reach Redis only as these); the reference of the compiled
    ``fraudscore._core.redis_calls.hash_bytes``, which :func:`hash_bytes` is when the core is built."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.blake2b(data, digest_size=size, person=person).digest()


_C = load_core("redis_calls")
#: :func:`hash_bytes_py`, compiled when the core is built
hash_bytes: Callable[..., bytes] = _C.hash_bytes if _C is not None else hash_bytes_py
#: :func:`random_bytes_py`, compiled when the core is built (round 14: ~5k instructions a draw less)
random_bytes: Callable[[int], bytes] = getattr(_C, "random_bytes", None) or random_bytes_py


def shard_of(text: str, shards: int) -> int:
    """The shard of a string (an entity hash, a hardware section)."""
    return int.from_bytes(hash_bytes(text, 4, b"fs-shard"), "little") % shards


_TAGS: dict[tuple[str, int], str] = {}


def tag(prefix: str, shard: int) -> str:
    """The hash tag of one shard of a prefix, ``{<4 hex>.<shard>}``."""
    t = _TAGS.get((prefix, shard))
    if t is None:
        t = _TAGS[(prefix, shard)] = "{" + hash_bytes(prefix, 2, b"fs-prefix").hex() + f".{shard}" + "}"
    return t


def is_cluster(client: Any) -> bool:
    """Whether ``client`` is a redis-py ``RedisCluster``."""
    try:
        from redis.cluster import RedisCluster
    except ImportError:  # pragma: no cover
        return False
    return isinstance(client, RedisCluster)


def store_error(exc: BaseException, what: str = "Redis velocity store") -> StoreError:
    """The :class:`StoreError` for a redis-py / socket error."""
    return StoreError(f"{what} failed: {type(exc).__name__}: {exc}")


class RoundTrips:
    """Thread-safe counters of what events cost in network terms.

    ``requests``: messages to a node and their replies (a pipeline to one node is
    one); ``phases``: sequential send-then-wait steps (requests to several nodes
    sent together are one phase), the latency-relevant round trips; ``events``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.phases = 0
        self.events = 0

    def add(self, requests: int, events: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.phases += 1 if requests else 0
            self.events += events

    def per_event(self) -> float:
        """Mean sequential round trips (phases) per event since the last :meth:`reset`."""
        return self.phases / self.events if self.events else 0.0

    def requests_per_event(self) -> float:
        """Mean requests (node messages) per event since the last :meth:`reset`."""
        return self.requests / self.events if self.events else 0.0

    def reset(self) -> None:
        with self._lock:
            self.requests = self.phases = self.events = 0


class Script:
    """A Lua script called with ``EVALSHA``, loaded on ``NOSCRIPT`` (on every primary of a cluster)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode("utf-8")).hexdigest()

    def load(self, client: Any) -> None:
        """``SCRIPT LOAD`` on the server (every primary of a cluster)."""
        if is_cluster(client):
            for node in client.get_primaries():
                client.get_redis_connection(node).script_load(self.text)
        else:
            client.script_load(self.text)

    def direct(self, direct: DirectConnection, client: Any, keys: list[Any], args: list[Any]) -> Any:
        """As :meth:`__call__` (single node), on ``direct``'s connection of the calling thread."""
        redis = redis_module()
        packed = evalsha(self.sha, keys, args)  # packed once: sent again as it is after a NOSCRIPT
        try:
            return direct.send(client, packed)
        except redis.exceptions.NoScriptError:
            direct.call(client, "SCRIPT", "LOAD", self.text)  # (on the same connection: a pool may be bounded)
            return direct.send(client, packed)

    def __call__(self, client: Any, keys: list[Any], args: list[Any]) -> Any:
        """One call on a single node (or routed by the first key on a cluster)."""
        redis = redis_module()
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            self.load(client)
            return client.evalsha(self.sha, len(keys), *keys, *args)


def _resp_arg(a: Any) -> bytes:
    if type(a) is bytes:
        b = a
    elif isinstance(a, str):
        b = a.encode("utf-8")
    elif isinstance(a, bytes):
        b = bytes(a)
    elif isinstance(a, int) and not isinstance(a, bool):
        b = str(int(a)).encode("ascii")
    elif isinstance(a, float):
        b = repr(float(a)).encode("ascii")
    else:
        raise TypeError(f"a Redis command argument must be bytes, str, int or float, not {type(a).__name__}")
    return b"$%d\r\n%s\r\n" % (len(b), b)


def resp_command(args: Sequence[Any]) -> bytes:
    """One command as a RESP request: ``*<n>``, then ``$<len>`` and the bytes of each argument (str as UTF-8,
    int as ``str``, float as ``repr``: what redis-py and hiredis send; any other type is a ``TypeError``).

    The reference of the compiled packer (``fraudscore._core.redis_calls.command``): a request is packed once
    and sent as it is, again on a retry.

    Examples
    --------
    >>> resp_command(["GET", b"k", 1, 0.5])
    b'*4\\r\\n$3\\r\\nGET\\r\\n$1\\r\\nk\\r\\n$1\\r\\n1\\r\\n$3\\r\\n0.5\\r\\n'
    """
    args = list(args)
    return b"*%d\r\n" % len(args) + b"".join([_resp_arg(a) for a in args])


def resp_evalsha(sha: str | bytes, keys: Sequence[Any], args: Sequence[Any]) -> bytes:
    """``EVALSHA sha len(keys) *keys *args`` as a RESP request (:func:`resp_command`).

    Examples
    --------
    >>> resp_evalsha("abc", ["k"], [b"x"]) == resp_command(["EVALSHA", "abc", 1, "k", b"x"])
    True
    """
    keys = list(keys)
    return resp_command(["EVALSHA", sha, len(keys), *keys, *args])


def _packers() -> tuple[Callable[[Sequence[Any]], bytes], Callable[[Any, Sequence[Any], Sequence[Any]], bytes]]:
    """The compiled packers; without the compiled core, hiredis' (the same bytes for these argument types) unless
    ``FRAUDSCORE_PURE_PYTHON`` asks for the reference; else the reference."""
    if _C is not None:
        return _C.command, _C.evalsha
    try:
        from hiredis import pack_command as hp
    except ImportError:  # pragma: no cover - hiredis is optional
        hp = None
    if hp is None or pure_python():
        return resp_command, resp_evalsha
    return (lambda args: hp(tuple(args)),  # pragma: no cover - an install without the compiled core
            lambda sha, keys, args: hp(("EVALSHA", sha, len(keys), *keys, *args)))


#: :func:`resp_command` / :func:`resp_evalsha`, compiled when the core is built
command, evalsha = _packers()


class DirectConnection:
    """Commands to one Redis node on a connection the calling thread keeps (single node, not a cluster).

    redis-py's ``execute_command`` checks a connection out of the pool, records
    observability metrics and wraps every call in closures: about as much client
    CPU as the rest of a scored event's Redis work. This sends the command, packed
    once as RESP (:func:`command`, compiled in ``fraudscore._core.redis_calls``),
    on the thread's own connection of the client's pool and reads the reply,
    with the connection's own retry policy (a budget client retries nothing) and
    its timeouts; a connection error or timeout disconnects it (the next call
    reconnects; a connection the server closed while idle is reopened and the
    command sent once more, as the pool's checkout would). Errors are redis-py's
    (``ResponseError`` for a script error or ``NOSCRIPT``). A forked process takes
    a new connection. Each thread holds one connection of the pool for as long as
    it calls: size a bounded pool for the threads that score.

    Examples
    --------
    >>> d = DirectConnection()   # no connection until the first call
    >>> d.calls
    0
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self.calls = 0

    def _conn(self, client: Any) -> Any:
        loc = self._local
        conn = getattr(loc, "conn", None)
        if conn is not None and loc.client is client and loc.pid == os.getpid():
            return conn
        if conn is not None and loc.pid == os.getpid():
            try:
                loc.pool.release(conn)
            except Exception:  # noqa: BLE001 - a pool already closed
                pass
        pool = client.connection_pool
        conn = pool.get_connection()
        loc.conn, loc.client, loc.pool, loc.pid = conn, client, pool, os.getpid()
        return conn

    def call(self, client: Any, *args: Any) -> Any:
        """Send one command (``args``: bytes, str, int or float) and return its raw reply."""
        return self.send(client, command(args))

    def send(self, client: Any, packed: bytes) -> Any:
        """Send one command packed as RESP (:func:`command`, :func:`evalsha`) and return its raw reply."""
        conn = self._conn(client)
        self.calls += 1
        redis = redis_module()
        was_open = getattr(conn, "_sock", None) is not None

        def once() -> Any:
            conn.send_packed_command((packed,), check_health=False)
            return conn.read_response()

        try:
            try:
                return conn.retry.call_with_retry(once, lambda _err: conn.disconnect())
            except redis.ConnectionError:
                if not was_open:
                    raise
                # the kept connection was closed while idle (a server restart, its idle timeout): what the pool
                # repairs at checkout. Sent again once on a new connection (the event script's nonce makes a
                # repeat of a call that did run answer as the first one)
                conn.disconnect()
                return once()
        except redis.ResponseError:
            raise
        except BaseException:
            conn.disconnect()
            raise

    def close(self) -> None:
        """Give this thread's connection back to its pool."""
        loc = self._local
        conn = getattr(loc, "conn", None)
        if conn is not None and loc.pid == os.getpid():
            loc.pool.release(conn)
        loc.conn = None
