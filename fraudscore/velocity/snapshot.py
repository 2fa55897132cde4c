"""Atomic, checksummed snapshot files (JSON, gzip; never pickle).

Layout: a magic line ``FSVSNAP1``, a line with the SHA-256 of the payload (hex),
then the gzip-compressed JSON payload. Writing goes to a temporary file in the
same folder, is flushed and fsynced, then renamed over the target, so a crash
mid-write leaves the previous snapshot intact.

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
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import StoreError

__all__ = ["write_snapshot", "read_snapshot", "MAGIC", "MAGIC_BLOB", "write_blob_snapshot", "read_any_snapshot"]

MAGIC = b"FSVSNAP1\n"
MAGIC_BLOB = b"FSVSNAP2\n"


def write_snapshot(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write ``payload`` (JSON-serialisable) atomically to ``path``."""
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
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    digest = h.hexdigest().encode("ascii") + b"\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=str(target.parent or "."))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(magic)
            fh.write(digest)
            for part in parts:
                fh.write(part)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename durable
        dfd = os.open(str(target.parent or "."), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


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
    except (OSError, ValueError) as exc:
        raise StoreError(f"velocity snapshot {str(path)!r} is unreadable: {exc}") from None
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
