"""Atomic, checksummed snapshot files (JSON, gzip; never pickle), written without stopping the writer.

Layout: a magic line ``FSVSNAP1``, a line with the SHA-256 of the payload (hex),
then the gzip-compressed JSON payload. Writing goes to a temporary file
``.<name>.<pid>.<random>.tmp`` in the same folder, is flushed and fsynced, then
renamed over the target, so a crash mid-write leaves the previous snapshot
intact; :func:`clean_stale` removes temporary files whose writer process is gone
(a snapshot killed mid-write), and every new snapshot calls it first.

:func:`write_snapshot_forked` is the copy-on-write path (like Redis ``BGSAVE``):
the caller forks while it holds its state lock, which costs the ``fork()`` call
only (page tables, not pages); the child serialises its frozen copy of the state
and writes the file while the parent's threads keep changing theirs.

The compiled store writes binary snapshots the same way under the magic line
``FSVSNAP2``: the payload is an 8-byte little-endian length, a JSON header of that
length, then the store's binary dump (:func:`write_blob_snapshot`).

Examples
--------
>>> import tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "v.snap")
>>> write_snapshot(p, {"a": [1, None, "x"]})
>>> read_snapshot(p)
{'a': [1, None, 'x']}
>>> write_snapshot_forked(p, lambda: {"b": 2}, lock=None) if can_fork() else None
>>> read_snapshot(p) == ({"b": 2} if can_fork() else {"a": [1, None, "x"]})
True
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import hashlib
import json
import os
import secrets
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import StoreError

__all__ = ["write_snapshot", "write_snapshot_forked", "read_snapshot", "clean_stale", "can_fork", "MAGIC",
           "MAGIC_BLOB", "write_blob_snapshot", "read_any_snapshot"]

MAGIC = b"FSVSNAP1\n"
MAGIC_BLOB = b"FSVSNAP2\n"


def can_fork() -> bool:
    """Whether this platform has ``os.fork`` (POSIX); elsewhere snapshots serialise in place."""
    return hasattr(os, "fork")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_stale(path: str | os.PathLike[str]) -> list[str]:
    """Remove temporary files of snapshots of ``path`` whose writer process no longer runs.

    Returns the removed file names. A temporary file of a live writer (another
    snapshot in progress) is left alone.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    head = f".{target.name}."
    for name in names:
        if not (name.startswith(head) and name.endswith(".tmp")):
            continue
        parts = name[len(head):-len(".tmp")].split(".")
        pid = int(parts[0]) if len(parts) == 2 and parts[0].isdigit() else None
        if pid is not None and pid != os.getpid() and _alive(pid):
            continue
        with contextlib.suppress(OSError):
            os.unlink(folder / name)
            removed.append(name)
    return removed


def write_snapshot(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write ``payload`` (JSON-serialisable) atomically to ``path``.

    Raises
    ------
    StoreError
        When the file cannot be written (the previous snapshot, if any, is intact).
    """
    data = gzip.compress(json.dumps(payload, separators=(",", ":")).encode("utf-8"), compresslevel=3, mtime=0)
    _atomic_write(Path(path), MAGIC, [data])


def write_blob_snapshot(path: str | os.PathLike[str], meta: dict[str, Any], blob: bytes) -> None:
    """Write a JSON header ``meta`` and a binary ``blob`` atomically to ``path`` (``FSVSNAP2``).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "v.snap")
    >>> write_blob_snapshot(p, {"format": "x"}, b"state")
    >>> read_any_snapshot(p)
    ('blob', {'format': 'x'}, b'state')
    """
    head = json.dumps(meta, separators=(",", ":")).encode("utf-8")
    _atomic_write(Path(path), MAGIC_BLOB, [len(head).to_bytes(8, "little"), head, blob])


def _atomic_write(target: Path, magic: bytes, parts: list[bytes]) -> None:
    """Temporary file ``.<name>.<pid>.<random>.tmp``, fsync, rename over ``target``, fsync the folder."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    digest = h.hexdigest().encode("ascii") + b"\n"
    folder = target.parent if str(target.parent) else Path(".")
    tmp = folder / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(magic)
            fh.write(digest)
            for part in parts:
                fh.write(part)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StoreError(f"cannot write velocity snapshot {str(target)!r}: {exc.strerror or exc}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    try:  # make the rename durable
        dfd = os.open(str(folder), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def write_snapshot_forked(path: str | os.PathLike[str], build: Callable[[], dict[str, Any]],
                          lock: Any = None) -> None:
    """Fork (holding ``lock``), let the child build the payload and write it; wait for the child.

    Only the ``fork()`` call happens under ``lock``: the caller's other threads
    keep working on their (now copy-on-write) state while the child serialises a
    consistent, frozen copy. Returns when the file is written.

    Raises
    ------
    StoreError
        When the child fails (its error message is passed back) or dies.
    """
    clean_stale(path)
    r, w = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "multi-threaded, use of fork()": the child only
        with lock if lock is not None else contextlib.nullcontext():  # serialises and writes, then _exit()s
            pid = os.fork()
    if pid == 0:  # child: never return into the caller's stack
        code = 1
        try:
            os.close(r)
            gc.disable()  # the collector would touch (and so copy) every tracked object
            write_snapshot(path, build())
            code = 0
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            with contextlib.suppress(BaseException):
                os.write(w, f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[:4000])
        finally:
            os._exit(code)
    os.close(w)
    try:
        chunks = []
        while True:
            b = os.read(r, 4096)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(r)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        msg = b"".join(chunks).decode("utf-8", "replace") or f"snapshot writer exited with status {status}"
        clean_stale(path)
        raise StoreError(msg.split(": ", 1)[1] if msg.startswith("StoreError: ") else msg)


def read_snapshot(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and verify a snapshot; raise StoreError if missing, truncated or altered."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read velocity snapshot {str(path)!r}: {exc.strerror}") from None
    if raw.startswith(MAGIC_BLOB):
        raise StoreError(f"{str(path)!r} was written by the compiled MemoryStore; restore it with the compiled "
                         "store (the fraudscore C extension is not in use here)")
    if not raw.startswith(MAGIC) or len(raw) < len(MAGIC) + 65:
        raise StoreError(f"{str(path)!r} is not a fraudscore velocity snapshot")
    digest = raw[len(MAGIC):len(MAGIC) + 64].decode("ascii", "replace")
    data = raw[len(MAGIC) + 65:]
    if hashlib.sha256(data).hexdigest() != digest:
        raise StoreError(f"velocity snapshot {str(path)!r} failed its checksum (truncated or altered)")
    try:
        payload = json.loads(gzip.decompress(data).decode("utf-8"))
    except (OSError, ValueError, RecursionError, EOFError) as exc:
        raise StoreError(f"velocity snapshot {str(path)!r} is unreadable: {type(exc).__name__}") from None
    if not isinstance(payload, dict):
        raise StoreError(f"velocity snapshot {str(path)!r} has an unexpected layout")
    return payload


def read_any_snapshot(path: str | os.PathLike[str]) -> tuple[str, dict[str, Any], bytes | None]:
    """Read and verify either kind: ``("json", payload, None)`` or ``("blob", meta, blob)``."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(len(MAGIC))
    except OSError as exc:
        raise StoreError(f"cannot read velocity snapshot {str(path)!r}: {exc.strerror}") from None
    if magic != MAGIC_BLOB:
        return "json", read_snapshot(path), None
    raw = Path(path).read_bytes()
    n = len(MAGIC_BLOB)
    if len(raw) < n + 65 + 8:
        raise StoreError(f"velocity snapshot {str(path)!r} is truncated")
    digest = raw[n:n + 64].decode("ascii", "replace")
    data = memoryview(raw)[n + 65:]
    if hashlib.sha256(data).hexdigest() != digest:
        raise StoreError(f"velocity snapshot {str(path)!r} failed its checksum (truncated or altered)")
    size = int.from_bytes(data[:8], "little")
    try:
        meta = json.loads(bytes(data[8:8 + size]).decode("utf-8"))
    except ValueError as exc:
        raise StoreError(f"velocity snapshot {str(path)!r} is unreadable: {exc}") from None
    if not isinstance(meta, dict):
        raise StoreError(f"velocity snapshot {str(path)!r} has an unexpected layout")
    return "blob", meta, bytes(data[8 + size:])
