"""Throwaway ``redis-server`` processes on loopback for benchmarks and fault tests.

:class:`RedisServer` starts one server on a free port in its own temporary
folder (optionally with AOF, in cluster mode or under callgrind) and can stop,
kill, freeze (``SIGSTOP``), thaw (``SIGCONT``) and restart it.
:class:`LocalCluster` starts ``n`` of them in cluster mode and joins them with
``redis-cli --cluster create`` (no replicas). Nothing here touches a server it did
not start.

Examples
--------
>>> import shutil
>>> if shutil.which("redis-server"):
...     with RedisServer() as srv:
...         import redis
...         redis.Redis(port=srv.port).ping()
... else:
...     True
True
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["RedisServer", "LocalCluster", "free_port", "have_redis_server"]


def have_redis_server() -> bool:
    """Whether ``redis-server`` and ``redis-cli`` are on the PATH."""
    return shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (also leaving port + 10000 free, for a cluster bus)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair found")


class RedisServer:
    """One ``redis-server`` on ``127.0.0.1`` in a temporary folder.

    Parameters
    ----------
    port : int, optional
        A free port by default.
    appendonly : bool, default False
        AOF persistence (``appendfsync always``), so a restart keeps every write.
    cluster : bool, default False
        ``cluster-enabled yes``.
    callgrind : str, optional
        Run under ``valgrind --tool=callgrind`` with instrumentation off at start,
        writing to this file (see :meth:`callgrind`).
    """

    def __init__(self, port: int | None = None, *, appendonly: bool = False, cluster: bool = False,
                 callgrind: str | None = None, folder: str | None = None, extra: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.extra = tuple(extra)
        self.dir = folder or tempfile.mkdtemp(prefix="fs-redis-")
        self.appendonly = appendonly
        self.cluster = cluster
        self.callgrind_out = callgrind
        self.proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--save", "", "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning",
                "--logfile", str(Path(self.dir) / "redis.log")]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", str(Path(self.dir) / "nodes.conf"),
                     "--cluster-node-timeout", "2000"]
        args += list(self.extra)
        if self.callgrind_out:
            args = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                    f"--callgrind-out-file={self.callgrind_out}"] + args
        return args

    def start(self, timeout: float = 30.0) -> RedisServer:
        """Start the server and wait until it answers PING."""
        self.proc = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited at start (see {self.dir}/redis.log)")
            if self.ping():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not answer within {timeout} s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def freeze(self) -> None:
        """``SIGSTOP``: the server keeps its sockets but answers nothing."""
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """``SIGCONT`` after :meth:`freeze`."""
        os.kill(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        """``SIGKILL`` (no shutdown save; AOF keeps what was fsynced)."""
        if self.proc is not None and self.proc.poll() is None:
            with _suppress():
                os.kill(self.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=30)

    def restart(self) -> RedisServer:
        """Kill and start again on the same port and folder."""
        self.kill()
        return self.start()

    def stop(self) -> None:
        """Kill the server and remove its folder."""
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def callgrind(self, on: bool) -> None:
        """Switch callgrind instrumentation on (zeroing counters) or off (dumping them)."""
        if on:
            subprocess.run(["callgrind_control", "-z", str(self.pid)], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-i", "on", str(self.pid)], check=True, capture_output=True)
        else:
            subprocess.run(["callgrind_control", "-i", "off", str(self.pid)], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-d", str(self.pid)], check=True, capture_output=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class LocalCluster:
    """``n`` cluster-mode servers joined into one Redis Cluster (``n`` primaries, no replicas).

    Examples
    --------
    >>> import shutil
    >>> if shutil.which("redis-server"):
    ...     with LocalCluster(3) as c:
    ...         len(c.client().get_primaries())
    ... else:
    ...     3
    3
    """

    def __init__(self, n: int = 3, *, appendonly: bool = False, full_coverage: bool = True) -> None:
        extra = () if full_coverage else ("--cluster-require-full-coverage", "no")
        self.servers = [RedisServer(cluster=True, appendonly=appendonly, extra=extra) for _ in range(n)]

    @property
    def address(self) -> str:
        """``host:port`` of the first node (what ``FRAUDSCORE_TEST_REDIS_CLUSTER`` holds)."""
        return f"127.0.0.1:{self.servers[0].port}"

    def start(self, timeout: float = 60.0) -> LocalCluster:
        for s in self.servers:
            s.start()
        nodes = [f"127.0.0.1:{s.port}" for s in self.servers]
        subprocess.run(["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=timeout)
        self.wait_ok(timeout)
        return self

    def wait_ok(self, timeout: float = 60.0) -> None:
        """Wait until every node reports ``cluster_state:ok``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = []
            for s in self.servers:
                out = subprocess.run(["redis-cli", "-p", str(s.port), "cluster", "info"], capture_output=True,
                                     timeout=10)
                states.append(b"cluster_state:ok" in out.stdout)
            if all(states):
                return
            time.sleep(0.1)
        raise RuntimeError("the local Redis Cluster did not reach cluster_state:ok")

    def client(self, **kwargs: Any) -> Any:
        """A ``redis.cluster.RedisCluster`` client on the first node."""
        from redis.cluster import RedisCluster

        kw = {"socket_timeout": 5, "socket_connect_timeout": 2, **kwargs}
        return RedisCluster(host="127.0.0.1", port=self.servers[0].port, **kw)

    def stop(self) -> None:
        for s in self.servers:
            s.stop()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return True
