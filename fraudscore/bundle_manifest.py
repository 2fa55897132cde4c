"""Signing and checking a bundle's manifest: what :meth:`Bundle.load <fraudscore.bundle.Bundle.load>` trusts.

A format-2 bundle's ``signature.json`` holds an HMAC-SHA256 of ``manifest.json``'s
bytes keyed by :attr:`Keys.bundle <fraudscore.keys.Keys>` (:func:`manifest_mac`);
:func:`read_signed_manifest` checks it before the manifest is parsed for use.
:func:`check_manifest` then checks the manifest's shape (format and versions, key
ids, fingerprint scheme, the files table and the files a model, rule lists and a
link model need), and :func:`read_listed_files` reads exactly the listed files,
each against its sha256. Every problem is a :class:`~fraudscore.errors.BundleError`
naming it, and no user data is echoed.

Examples
--------
>>> from fraudscore.keys import Keys
>>> from fraudscore.bundle_files import DirReader
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "manifest.json").write_text("{}")
>>> read_signed_manifest(DirReader(d), Keys(b"0123456789abcdef-demo-secret"), False)
Traceback (most recent call last):
...
fraudscore.errors.BundleError: missing file 'signature.json': the bundle is not signed
"""

from __future__ import annotations

import hashlib
import hmac
import re
import warnings
from typing import Any

from ._version import __version__
from .bundle_files import Reader, ZipReader, loads_json
from .errors import BundleError
from .keys import Keys
from .limits import MAX_JSON_BYTES, MAX_RULES_BYTES, MAX_SIGNATURE_BYTES
from .model.model import MODEL_FILES

__all__ = ["BUNDLE_FORMAT", "BUNDLE_FORMAT_VERSION", "MANIFEST", "SIGNATURE", "RULES", "LINKER", "CHALLENGER",
           "SIGNATURE_ALGORITHM", "sha256_hex", "manifest_mac", "read_signed_manifest", "check_manifest",
           "read_listed_files"]

BUNDLE_FORMAT = "fraudscore-bundle"
BUNDLE_FORMAT_VERSION = 2
"""2: signed (``signature.json``), identifier lists pseudonymised. 1 (fraudscore 0.1): unsigned."""
MANIFEST = "manifest.json"
SIGNATURE = "signature.json"
RULES = "rules.toml"
SIGNATURE_ALGORITHM = "hmac-sha256"
_SIGN_CONTEXT = b"fraudscore-bundle-manifest\x00"
LINKER = "linker.txt"
CHALLENGER = "challenger/"
_LIST_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_MANIFEST_DICTS = ("schema", "features", "fingerprint", "policy", "training", "metrics", "metadata")


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``.

    Examples
    --------
    >>> sha256_hex(b"")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()


def manifest_mac(keys: Keys, manifest: bytes) -> str:
    """Hex HMAC-SHA256 of the manifest's bytes under the caller's bundle subkey (what ``signature.json`` holds)."""
    return hmac.new(keys.bundle, _SIGN_CONTEXT + manifest, hashlib.sha256).hexdigest()


def _version_tuple(v: Any) -> tuple[int, ...]:
    m = re.match(r"^(\d{1,6})\.(\d{1,6})(?:\.(\d{1,6}))?", str(v)[:64])
    if not m:
        raise BundleError(f"{MANIFEST} has an unreadable library_version")
    return tuple(int(g or 0) for g in m.groups())


def _known_schemes() -> set[int]:
    from .fingerprint.sections import SCHEMES

    return set(SCHEMES)


def read_signed_manifest(reader: Reader, keys: Keys, allow_unsigned: bool) -> tuple[Any, bool]:
    """The parsed manifest, once its signature is checked, and whether it was signed.

    An unsigned format-1 bundle (fraudscore 0.1) is read only with ``allow_unsigned``
    (with a warning); anything else without a valid signature is a ``BundleError``.
    """
    raw = reader.read(MANIFEST, MAX_JSON_BYTES)
    if raw is None:
        raise BundleError(f"missing file {MANIFEST!r}")
    sig_raw = reader.read(SIGNATURE, MAX_SIGNATURE_BYTES)
    if sig_raw is None:
        manifest = loads_json(raw, MANIFEST)
        version = manifest.get("format_version") if isinstance(manifest, dict) else None
        if version == 1 and allow_unsigned:
            warnings.warn("loading an unsigned format-1 bundle: its manifest cannot be checked for edits; "
                          "re-save it to sign it", UserWarning, stacklevel=4)
            return manifest, False
        if version == 1:
            raise BundleError(
                "unsigned bundle (format version 1, written by fraudscore 0.1): bundles are signed since format "
                "version 2 and unsigned ones are refused. If you trust this copy, re-save it once: "
                "Bundle.load(path, key=key, allow_unsigned=True).save(new_path, key=key)")
        raise BundleError(f"missing file {SIGNATURE!r}: the bundle is not signed")
    sig = loads_json(sig_raw, SIGNATURE, limit=MAX_SIGNATURE_BYTES)
    if not isinstance(sig, dict) or sig.get("algorithm") != SIGNATURE_ALGORITHM or sig.get("signed") != MANIFEST:
        raise BundleError(f"{SIGNATURE} is not a {SIGNATURE_ALGORITHM} signature of {MANIFEST}")
    mac = sig.get("mac")
    if not isinstance(mac, str) or not _HEX64.match(mac) or not hmac.compare_digest(mac, manifest_mac(keys, raw)):
        their = sig.get("key_id")
        hint = (f" (the signature names key id {their!r}; this key's id is {keys.key_id!r})"
                if isinstance(their, str) and re.fullmatch(r"[0-9a-f]{16}", their) and their != keys.key_id
                else "")
        raise BundleError(f"signature mismatch: {MANIFEST} was edited or the bundle was signed with another "
                          f"key{hint}")
    return loads_json(raw, MANIFEST), True


def check_manifest(reader: Reader, manifest: Any, keys: Keys,
                   signed: bool) -> tuple[dict[str, str], list[str], bool, dict[str, Any] | None]:
    """Check a manifest's shape against this library and key.

    Returns the files table (``{path: sha256}``), the rule-list names, whether the
    bundle has a model and its ``linker`` entry (or None).
    """
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{MANIFEST} is not a fraudscore bundle manifest (format must be {BUNDLE_FORMAT!r})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BundleError(f"{MANIFEST} has no integer 'format_version'")
    if version > BUNDLE_FORMAT_VERSION:
        raise BundleError(
            f"newer format: the bundle has format version {version}, this library (fraudscore {__version__}) "
            f"reads up to {BUNDLE_FORMAT_VERSION}; upgrade fraudscore"
        )
    if version < 1 or (signed and version < 2) or (not signed and version != 1):
        raise BundleError(f"unknown bundle format version {version}")
    lib = manifest.get("library_version")
    if _version_tuple(lib) > _version_tuple(__version__):
        warnings.warn(
            f"bundle was written by fraudscore {str(lib)[:32]}, newer than this {__version__}; "
            f"format {version} is supported",
            UserWarning,
            stacklevel=5,
        )
    if signed and manifest.get("key_id") != keys.key_id:
        raise BundleError(f"{MANIFEST} names key id {str(manifest.get('key_id'))[:32]!r}, not this key's id "
                          f"{keys.key_id!r}")
    for part in _MANIFEST_DICTS:
        if not isinstance(manifest.get(part) or {}, dict):
            raise BundleError(f"{MANIFEST} field {part!r} must be an object")
    fingerprint = manifest.get("fingerprint") or {}
    if "scheme_version" in fingerprint and fingerprint["scheme_version"] not in _known_schemes():
        raise BundleError(f"unknown fingerprint scheme version {str(fingerprint['scheme_version'])[:16]!r}: "
                          f"this library knows {sorted(_known_schemes())}; upgrade fraudscore")
    fp_key = fingerprint.get("key_id")
    if fp_key is not None and fp_key != keys.key_id:
        raise BundleError(f"the bundle's fingerprint key id {str(fp_key)[:32]!r} is not this key's id "
                          f"{keys.key_id!r}")
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise BundleError(f"{MANIFEST} has no 'files' table of sha256 hashes")
    list_names = manifest.get("lists") or []
    if not isinstance(list_names, list) or not all(isinstance(n, str) and _LIST_NAME.match(n) for n in list_names):
        raise BundleError(f"{MANIFEST} field 'lists' must be a list of list names")
    has_model = manifest.get("has_model")
    if not isinstance(has_model, bool):
        raise BundleError(f"{MANIFEST} field 'has_model' must be true or false")
    required = [RULES] + (list(MODEL_FILES) if has_model else [])
    required += [f"lists/{n}.txt" for n in list_names]
    linker = manifest.get("linker")
    if linker is not None:
        if not isinstance(linker, dict) or linker.get("file") != LINKER:
            raise BundleError(f"{MANIFEST} has an invalid 'linker' entry")
        required.append(LINKER)
    for name in required:
        if name not in listed:
            raise BundleError(f"missing file {name!r}: not listed in {MANIFEST}")
    for name, digest in listed.items():
        if not isinstance(name, str) or not _SAFE_PATH.match(name) or name in (MANIFEST, SIGNATURE):
            raise BundleError(f"{MANIFEST} lists an unsafe file path")
        if not isinstance(digest, str) or not _HEX64.match(digest):
            raise BundleError(f"{MANIFEST} lists file {name!r} without a sha256")
    if isinstance(reader, ZipReader):  # a zip archive holds exactly the bundle's files
        extra = reader.names() - set(listed) - {MANIFEST, SIGNATURE}
        if extra:
            raise BundleError(f"the bundle archive holds {len(extra)} entr{'y' if len(extra) == 1 else 'ies'} "
                              f"not listed in {MANIFEST}")
    return listed, list_names, has_model, linker


def read_listed_files(reader: Reader, listed: dict[str, str]) -> dict[str, bytes]:
    """Read every listed file (bounded by its kind's size limit), each checked against its sha256."""
    files: dict[str, bytes] = {}
    for name, digest in sorted(listed.items()):
        limit = MAX_RULES_BYTES if name == RULES else (MAX_JSON_BYTES if name.endswith(".json") else None)
        data = reader.read(name) if limit is None else reader.read(name, limit)
        if data is None:
            raise BundleError(f"missing file {name!r}")
        if not hmac.compare_digest(sha256_hex(data), digest):
            raise BundleError(f"tampered file {name!r}: its sha256 does not match {MANIFEST}")
        files[name] = data
    return files
