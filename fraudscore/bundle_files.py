"""Reading the files of a bundle (directory or zip) within bounded memory, and its JSON safely.

Everything here runs before a bundle is trusted, so it assumes a hostile file:

* :class:`DirReader` reads only regular files inside the bundle directory (no
  symbolic links, devices or FIFOs, no path leaving the directory), each one up
  to :data:`~fraudscore.limits.MAX_BUNDLE_FILE_BYTES`, all of them together up to
  :data:`~fraudscore.limits.MAX_BUNDLE_BYTES`;
* :class:`ZipReader` checks the archive's end record before :mod:`zipfile`
  parses its directory (entry count, no zip64, size of the central directory),
  then every entry: no duplicates, no encryption, deflate or stored only,
  declared size within the limits and a bounded compression ratio; it streams
  each entry with a cap, so an entry that lies about its size is stopped at the
  limit, and corrupt data (``zlib.error``, bad CRC) is a :class:`BundleError`;
* :func:`loads_json` refuses JSON over a size limit or nested deeper than
  :data:`~fraudscore.limits.MAX_JSON_DEPTH` (checked on the text, before
  :func:`json.loads` could recurse), and non-standard constants (``NaN``).

Examples
--------
>>> loads_json(b'{"a": [1, 2]}', "x.json")
{'a': [1, 2]}
>>> loads_json(b"[" * 100 + b"]" * 100, "x.json")
Traceback (most recent call last):
...
fraudscore.errors.BundleError: x.json nests arrays or objects deeper than 64 levels
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BundleError
from .limits import (MAX_BUNDLE_BYTES, MAX_BUNDLE_ENTRIES, MAX_BUNDLE_FILE_BYTES, MAX_COMPRESSION_RATIO,
                     MAX_JSON_BYTES, MAX_JSON_DEPTH)

__all__ = ["Reader", "DirReader", "ZipReader", "open_reader", "loads_json", "json_depth"]

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_RATIO_FLOOR = 2**20  # the compression ratio is checked for entries larger than this
_STRING_RE = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(data: bytes) -> int:
    """Deepest nesting of arrays and objects in JSON text (strings skipped), without parsing it.

    Examples
    --------
    >>> json_depth(b'{"a": [1, {"b": "[[["}]}')
    3
    """
    bare = _STRING_RE.sub(b'""', data)
    codes = np.frombuffer(bare, dtype=np.uint8)
    step = np.zeros(codes.shape[0], dtype=np.int32)
    step[(codes == 0x5B) | (codes == 0x7B)] = 1
    step[(codes == 0x5D) | (codes == 0x7D)] = -1
    return int(np.cumsum(step).max()) if step.size else 0


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are unique: a repeated key (which JSON readers resolve differently) is an error."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("repeated object key")
    return out


def loads_json(data: bytes, name: str, *, limit: int = MAX_JSON_BYTES) -> Any:
    """Parse one JSON file of a bundle; any problem is a :class:`BundleError` naming ``name``.

    Examples
    --------
    >>> loads_json(b'{"a": 1}', "x.json")
    {'a': 1}
    >>> loads_json(b'{"a": 1, "a": 1}', "x.json")
    Traceback (most recent call last):
    ...
    fraudscore.errors.BundleError: x.json is not valid JSON: ValueError: repeated object key
    """
    if len(data) > limit:
        raise BundleError(f"{name} is larger than {limit // 2**20} MiB" if limit >= 2**20
                          else f"{name} is larger than {limit} bytes")
    if json_depth(data) > MAX_JSON_DEPTH:
        raise BundleError(f"{name} nests arrays or objects deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_constants, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise BundleError(f"{name} is not valid JSON: {type(e).__name__}: {str(e)[:200]}") from None


class Reader:
    """Reads named files of one bundle, counting the bytes read against :data:`MAX_BUNDLE_BYTES`."""

    def __init__(self) -> None:
        self.total = 0

    def names(self) -> set[str]:
        """Every file of the bundle (relative paths with ``/``)."""
        raise NotImplementedError  # pragma: no cover - interface

    def read(self, name: str, limit: int | None = None) -> bytes | None:
        """The bytes of ``name`` (``None`` when absent); :class:`BundleError` over ``limit``
        (default :data:`~fraudscore.limits.MAX_BUNDLE_FILE_BYTES`)."""
        raise NotImplementedError  # pragma: no cover - interface

    def _count(self, name: str, n: int) -> None:
        self.total += n
        if self.total > MAX_BUNDLE_BYTES:
            raise BundleError(f"the bundle's files are larger than {MAX_BUNDLE_BYTES // 2**20} MiB in all "
                              f"(reading {name!r})")

    def close(self) -> None:
        return None


def _too_big(name: str, limit: int) -> BundleError:
    size = f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit} bytes"
    return BundleError(f"file {name!r} of the bundle is larger than {size}")


class DirReader(Reader):
    """A bundle directory: regular files inside it only, read with a size cap."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def names(self) -> set[str]:
        out = set()
        for dirpath, _dirs, files in os.walk(self.root, followlinks=False):
            rel = Path(dirpath).relative_to(self.root)
            for f in files:
                out.add((rel / f).as_posix() if str(rel) != "." else f)
        return out

    def read(self, name: str, limit: int | None = None) -> bytes | None:
        limit = MAX_BUNDLE_FILE_BYTES if limit is None else min(limit, MAX_BUNDLE_FILE_BYTES)
        parts = name.split("/")
        p = self.root
        for i, part in enumerate(parts):
            p = p / part
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                return None
            except OSError as e:
                raise BundleError(f"file {name!r} of the bundle is unreadable: {e.strerror}") from None
            last = i == len(parts) - 1
            if stat.S_ISLNK(st.st_mode):
                raise BundleError(f"file {name!r} of the bundle is (or lies under) a symbolic link; "
                                  "bundles are read from their own directory only")
            if not last and not stat.S_ISDIR(st.st_mode):
                return None
        if not stat.S_ISREG(st.st_mode):
            raise BundleError(f"file {name!r} of the bundle is not a regular file")
        if st.st_size > limit:
            raise _too_big(name, limit)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(p, flags)
        except OSError as e:
            raise BundleError(f"file {name!r} of the bundle is unreadable: {e.strerror}") from None
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise BundleError(f"file {name!r} of the bundle is not a regular file")
            # read what the file holds (never a buffer sized by the limit), capped at the limit
            data = fh.read(min(st.st_size, limit) + 1)
        if len(data) > limit:
            raise _too_big(name, limit)
        self._count(name, len(data))
        return data


def _end_record(path: Path) -> tuple[int, int]:
    """``(entries, central directory size)`` from the end record, checked before zipfile parses anything."""
    size = path.stat().st_size
    if size > MAX_BUNDLE_BYTES:
        raise BundleError(f"bundle {path} is larger than {MAX_BUNDLE_BYTES // 2**20} MiB")
    with open(path, "rb") as fh:
        tail_len = min(size, 22 + 65_535)
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
    i = tail.rfind(_EOCD)
    if i < 0 or len(tail) - i < 22:
        raise BundleError(f"bundle {path} is not a readable zip archive (no end record)")
    _sig, disk, cd_disk, n_disk, n_total, cd_size, cd_offset, _clen = struct.unpack("<4s4H2LH", tail[i:i + 22])
    if _EOCD64_LOCATOR in tail[max(0, i - 20):i] or 0xFFFF in (n_disk, n_total) or 0xFFFFFFFF in (cd_size, cd_offset):
        raise BundleError(f"bundle {path} is a zip64 archive; bundles are plain zip archives")
    if disk or cd_disk or n_disk != n_total:
        raise BundleError(f"bundle {path} is a multi-disk zip archive")
    if n_total > MAX_BUNDLE_ENTRIES:
        raise BundleError(f"bundle {path} has {n_total} entries; at most {MAX_BUNDLE_ENTRIES}")
    if cd_size > 2_048 * (MAX_BUNDLE_ENTRIES + 1):
        raise BundleError(f"bundle {path} has an oversized zip directory")
    return n_total, cd_size


class ZipReader(Reader):
    """A bundle zip archive, checked entry by entry and read with caps (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        _end_record(path)
        try:
            self.zf = zipfile.ZipFile(path)
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error,
                UnicodeDecodeError, NotImplementedError) as e:
            raise BundleError(f"bundle {path} is not a readable zip archive: {type(e).__name__}") from None
        if len(infos) > MAX_BUNDLE_ENTRIES:
            self.zf.close()
            raise BundleError(f"bundle {path} has {len(infos)} entries; at most {MAX_BUNDLE_ENTRIES}")
        self.infos: dict[str, zipfile.ZipInfo] = {}
        declared = 0
        try:
            for info in infos:
                name = info.filename
                if name in self.infos:
                    raise BundleError(f"bundle {path} holds two entries named {name!r}")
                if info.flag_bits & 0x1:
                    raise BundleError(f"entry {name!r} of the bundle is encrypted")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise BundleError(f"entry {name!r} of the bundle uses an unsupported compression method")
                if info.file_size > MAX_BUNDLE_FILE_BYTES:
                    raise _too_big(name, MAX_BUNDLE_FILE_BYTES)
                if info.file_size > _RATIO_FLOOR and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
                    raise BundleError(f"entry {name!r} of the bundle is compressed more than "
                                      f"{MAX_COMPRESSION_RATIO}:1")
                declared += info.file_size
                self.infos[name] = info
        except BundleError:
            self.zf.close()
            raise
        if declared > MAX_BUNDLE_BYTES:
            self.zf.close()
            raise BundleError(f"the bundle's files are larger than {MAX_BUNDLE_BYTES // 2**20} MiB in all")

    def names(self) -> set[str]:
        return set(self.infos)

    def read(self, name: str, limit: int | None = None) -> bytes | None:
        limit = MAX_BUNDLE_FILE_BYTES if limit is None else min(limit, MAX_BUNDLE_FILE_BYTES)
        info = self.infos.get(name)
        if info is None:
            return None
        if info.file_size > limit:
            raise _too_big(name, limit)
        buf = io.BytesIO()
        try:
            with self.zf.open(info) as fh:
                while True:
                    chunk = fh.read(min(1 << 20, limit + 1 - buf.tell()))
                    if not chunk:
                        break
                    buf.write(chunk)
                    if buf.tell() > limit:
                        raise _too_big(name, limit)
        except BundleError:
            raise
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError, struct.error,
                NotImplementedError) as e:
            raise BundleError(f"entry {name!r} of the bundle archive is unreadable: {type(e).__name__}") from None
        data = buf.getvalue()
        if len(data) != info.file_size:
            raise BundleError(f"entry {name!r} of the bundle archive is not the size its header declares")
        self._count(name, len(data))
        return data

    def close(self) -> None:
        self.zf.close()


def open_reader(path: Path) -> Reader:
    """A reader for a bundle directory or zip archive at ``path``."""
    if path.is_dir():
        return DirReader(path)
    if path.is_file():
        try:
            with open(path, "rb") as fh:
                magic = fh.read(4)
        except OSError as e:
            raise BundleError(f"bundle {path} is unreadable: {e.strerror}") from None
        if magic in (b"PK\x03\x04", b"PK\x05\x06"):
            return ZipReader(path)
        raise BundleError(f"bundle {path} is neither a directory nor a zip archive")
    if path.exists():
        raise BundleError(f"bundle {path} is neither a directory nor a zip archive")
    raise BundleError(f"bundle {path} does not exist")
