"""Atomic, checksummed snapshot files (JSON, gzip; never pickle).

Layout: a magic line ``FSVSNAP1``, a line with the SHA-256 of the payload (hex),
then the gzip-compressed JSON payload. Writing goes to a temporary file in the
same folder, is flushed and fsynced, then renamed over the target, so a crash
mid-write leaves the previous snapshot intact.

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

__all__ = ["write_snapshot", "read_snapshot", "MAGIC"]

MAGIC = b"FSVSNAP1\n"


def write_snapshot(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write ``payload`` (JSON-serialisable) atomically to ``path``."""
    target = Path(path)
    data = gzip.compress(json.dumps(payload, separators=(",", ":")).encode("utf-8"), compresslevel=3, mtime=0)
    digest = hashlib.sha256(data).hexdigest().encode("ascii") + b"\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=str(target.parent or "."))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(MAGIC)
            fh.write(digest)
            fh.write(data)
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
