"""Test helpers: edit a saved bundle directory as a key holder could (re-hash and re-sign).

Tests of what lies *behind* the signature (a malformed model text, pathological JSON
or TOML, an unknown version) need bundles that pass the signature check: these
helpers rewrite files, recompute their sha256 in the manifest and sign it again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fraudscore.bundle_manifest import _SIGN_CONTEXT
from fraudscore.keys import Keys


def sign(keys: Keys, manifest: bytes) -> bytes:
    """The bytes of ``signature.json`` for ``manifest``."""
    mac = hmac.new(keys.bundle, _SIGN_CONTEXT + manifest, hashlib.sha256).hexdigest()
    return json.dumps({"algorithm": "hmac-sha256", "key_id": keys.key_id, "signed": "manifest.json",
                       "mac": mac}).encode()


def resign_files(files: dict[str, bytes], keys: Keys, edit: Callable[[dict[str, Any]], Any] | None = None, *,
                 rehash: bool = True, raw_manifest: bytes | None = None) -> dict[str, bytes]:
    """``files`` (a bundle's ``{name: bytes}``) with the manifest re-hashed, edited and re-signed."""
    files = dict(files)
    if raw_manifest is None:
        m = json.loads(files["manifest.json"])
        if rehash:
            m["files"] = {n: hashlib.sha256(files[n]).hexdigest() for n in m["files"] if n in files}
        if edit is not None:
            edit(m)
        raw_manifest = json.dumps(m, indent=2, sort_keys=True).encode()
    files["manifest.json"] = raw_manifest
    files["signature.json"] = sign(keys, raw_manifest)
    return files


def read_dir(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def write_dir(path: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)


def write_zip(path: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            zf.writestr(name, files[name])


def resign(path: Path, keys: Keys, edit: Callable[[dict[str, Any]], Any] | None = None, *,
           rehash: bool = True) -> None:
    """Re-hash, edit and re-sign a bundle directory in place."""
    write_dir(path, resign_files(read_dir(path), keys, edit, rehash=rehash))


def replace_file(path: Path, keys: Keys, name: str, data: bytes) -> None:
    """Replace one file of a bundle directory, as a key holder would (its hash updated, re-signed)."""
    files = read_dir(path)
    files[name] = data
    write_dir(path, resign_files(files, keys))
