"""Bundles: a whole scoring configuration, versioned, signed and integrity-checked.

A bundle is a directory (or the same files in a zip archive)::

    manifest.json        format and library versions, creation time, key id, schema,
                         feature specs and names, fingerprint scheme version,
                         thresholds, policy, training metadata and metrics, lists,
                         the compiled-trees option (engine and sha256 of the node
                         tables, or null; see docs/model.md), and the sha256 of
                         every other file
    signature.json       HMAC-SHA256 of manifest.json's bytes, keyed by a subkey of
                         the caller's secret (:attr:`Keys.bundle <fraudscore.keys.Keys>`)
    model.txt            LightGBM text format       (when the bundle has a model)
    calibration.json     calibration breakpoints    (idem)
    model.json           model metadata             (idem)
    rules.toml           the rule set source (lists inline)
    lists/<name>.txt     named lists without a kind, one entry per line
    linker.txt           the pairwise device-link model, LightGBM text (optional;
                         without it the package's default link model is used)
    model_member_<i>.txt ensemble members (when the model is an ensemble)
    challenger/...       a challenger model scored in shadow (same files as the model)

**A bundle is a security boundary.** :meth:`Bundle.load` needs the secret the
bundle was saved with. It first checks the signature over the exact bytes of
``manifest.json`` (so an edited threshold, lateness, key id or scheme version,
or a bundle saved with another key, is refused before anything is parsed), then
reads only the files the manifest names, from inside the bundle, each checked
against its sha256 before it is parsed: every byte of the bundle is covered. A
zip archive may hold nothing else. Every size is bounded
(:mod:`fraudscore.limits`, :mod:`fraudscore.bundle_files`), the JSON files are
depth-checked, ``model.txt`` is validated in Python
(:mod:`fraudscore.model.text_check`) before LightGBM sees it, and the rule set is
read as text (never as a path; ``[lists.x] file = ...`` is refused). Any
problem is a :class:`~fraudscore.errors.BundleError` naming it. Nothing is
unpickled; no secret is ever written (the manifest holds the key *id* only).

**No raw identifier in a bundle.** When a bundle is saved, the entries of rule
lists with an identifier ``kind`` (``phone``, ``national_id``, ``email``,
``bank_card``, ``ip``...) are replaced by their keyed pseudonyms, the form they
are compared with at scoring time.

**Unsigned bundles** (format version 1, written by fraudscore 0.1) are refused.
If you trust a copy, re-save it signed once::

    Bundle.load(old_path, key=key, allow_unsigned=True).save(new_path, key=key)

Examples
--------
>>> import tempfile
>>> from fraudscore.keys import Keys
>>> key = Keys(b"0123456789abcdef-demo-secret")
>>> b = Bundle(rules_toml='[[rule]]\\ncode = "X"\\nwhen = "amount > 1"\\n', lists={"deny_ip": "1.2.3.4\\n"},
...            fingerprint={"scheme_version": 1, "key_id": key.key_id}, metadata={"name": "demo"})
>>> with tempfile.TemporaryDirectory() as d:
...     names = b.save(d + "/b1", key=key)
...     b2 = Bundle.load(d + "/b1", key=key)
...     other = Keys(b"another-secret-0123456789")
...     try:
...         Bundle.load(d + "/b1", key=other)
...     except BundleError as e:
...         print(str(e)[:60])
signature mismatch: manifest.json was edited or the bundle w
>>> names
['lists/deny_ip.txt', 'manifest.json', 'rules.toml', 'signature.json']
>>> b2.lists == b.lists and b2.rules_toml == b.rules_toml and b2.metadata == {"name": "demo"}
True
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import io
import json
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._version import __version__
from .bundle_files import Reader, ZipReader, loads_json, open_reader
from .errors import BundleError, ConfigError
from .keys import Keys
from .limits import MAX_JSON_BYTES, MAX_RULES_BYTES, MAX_SIGNATURE_BYTES
from .model.model import MODEL_FILES, Model, jsonable, model_files

__all__ = ["Bundle", "BUNDLE_FORMAT", "BUNDLE_FORMAT_VERSION", "sha256_hex", "SIGNATURE_ALGORITHM"]

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
_SECRET_KEYS = re.compile(r"(secret|password|private|^key$|^keys$|^master)", re.IGNORECASE)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_MANIFEST_DICTS = ("schema", "features", "fingerprint", "policy", "training", "metrics", "metadata")


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``.

    Examples
    --------
    >>> sha256_hex(b"")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()


def _mac(keys: Keys, manifest: bytes) -> str:
    return hmac.new(keys.bundle, _SIGN_CONTEXT + manifest, hashlib.sha256).hexdigest()


def _version_tuple(v: Any) -> tuple[int, ...]:
    m = re.match(r"^(\d{1,6})\.(\d{1,6})(?:\.(\d{1,6}))?", str(v)[:64])
    if not m:
        raise BundleError(f"{MANIFEST} has an unreadable library_version")
    return tuple(int(g or 0) for g in m.groups())


def _known_schemes() -> set[int]:
    from .fingerprint.sections import SCHEMES

    return set(SCHEMES)


def _pseudonymised_rules(rules_toml: str, keys: Keys) -> str:
    """``rules_toml`` with the entries of every list that has a kind replaced by their keyed pseudonyms.

    The text is returned unchanged when there is nothing to replace; a ``file`` list is refused.
    """
    if not rules_toml:
        return rules_toml
    from .identity import Identity
    from .rules import RuleSet

    rs = RuleSet.from_toml(rules_toml, bundled=True)
    if not any(lst.has_raw_entries() for lst in rs.lists.values()):
        return rules_toml
    ident = Identity(keys)
    lists = {name: lst.transformed(ident.pseudonym) for name, lst in rs.lists.items()}
    return RuleSet(rs.rules, lists).to_toml()


class Bundle:
    """Everything a scorer needs, saved and loaded as one signed, checked unit.

    Parameters
    ----------
    model : Model, optional
        The trained model (a rules-only bundle has none).
    schema : dict, optional
        ``Schema.to_dict()``.
    features : dict, optional
        The feature set specs (plain data).
    rules_toml : str
        Rule set source (TOML). Lists are inline (``values = [...]``) or named in
        ``lists``; ``[lists.x] file = ...`` is refused when the bundle is saved.
    lists : mapping of str to str, optional
        Named lists without a kind, as text; names match ``[A-Za-z0-9_][A-Za-z0-9_.-]*``.
    fingerprint : dict, optional
        ``{"scheme_version": int, "key_id": str}`` -- never the key itself.
    policy : dict, optional
        Policy settings (e.g. ``Policy.to_dict()``).
    training : dict, optional
        Training metadata beyond the model's own (data period, pipeline config).
    metadata : dict, optional
        Free-form descriptive data (name, owner, notes).
    link_model : LinkModel, optional
        The pairwise device-link model (``linker.txt``, listed in the manifest under
        ``"linker"`` with its sha256); ``None`` uses the package's default.
    challenger : Model, optional
        A second model scored in shadow on every event: its score and action are
        recorded in each decision, it never acts (see ``docs/lifecycle.md``). It
        reads features of the same pipeline (its feature names must be pipeline
        features).
    challenger_policy : dict, optional
        The challenger's thresholds (``Policy.to_dict()``); default: its model's.

    Attributes
    ----------
    manifest : dict or None
        The manifest as read by :meth:`load` or written by :meth:`save`.
    created : str or None
        ISO-8601 UTC creation time (set by :meth:`save`).
    key_id : str or None
        The id of the key the bundle was signed with (set by :meth:`load` and :meth:`save`).

    Examples
    --------
    >>> Bundle(fingerprint={"scheme_version": 1, "key_id": "ab", "secret": "x"})
    Traceback (most recent call last):
    ...
    fraudscore.errors.ConfigError: The 'fingerprint' parameter of Bundle must not hold a key or secret (field 'secret'); store only 'key_id'. Got a secret-like field instead.
    """

    def __init__(
        self,
        model: Model | None = None,
        schema: Mapping[str, Any] | None = None,
        features: Mapping[str, Any] | None = None,
        rules_toml: str = "",
        lists: Mapping[str, str] | None = None,
        fingerprint: Mapping[str, Any] | None = None,
        policy: Mapping[str, Any] | None = None,
        training: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        link_model: Any = None,
        challenger: Model | None = None,
        challenger_policy: Mapping[str, Any] | None = None,
    ) -> None:
        if model is not None and not isinstance(model, Model):
            raise ConfigError(f"The 'model' parameter of Bundle must be a Model or None. Got {type(model).__name__} instead.")
        if challenger is not None and not isinstance(challenger, Model):
            raise ConfigError(
                f"The 'challenger' parameter of Bundle must be a Model or None. Got {type(challenger).__name__} instead.")
        if challenger is None and challenger_policy:
            raise ConfigError("The 'challenger_policy' parameter of Bundle needs a challenger model. Got no challenger "
                              "instead.")
        if not isinstance(rules_toml, str):
            raise ConfigError(f"The 'rules_toml' parameter of Bundle must be a str. Got {type(rules_toml).__name__} instead.")
        lists = dict(lists or {})
        for name, text in lists.items():
            if not isinstance(name, str) or not _LIST_NAME.match(name):
                raise ConfigError(
                    f"The 'lists' parameter of Bundle must use names of letters, digits, '_', '.', '-'. Got {name!r} instead."
                )
            if not isinstance(text, str):
                raise ConfigError(f"The 'lists' parameter of Bundle must map names to text. Got {type(text).__name__} for {name!r} instead.")
        fingerprint = dict(fingerprint or {})
        for k in fingerprint:
            if k != "key_id" and _SECRET_KEYS.search(str(k)):
                raise ConfigError(
                    f"The 'fingerprint' parameter of Bundle must not hold a key or secret (field {k!r}); "
                    "store only 'key_id'. Got a secret-like field instead."
                )
        self.model = model
        self.schema: dict[str, Any] = dict(schema or {})
        self.features: dict[str, Any] = dict(features or {})
        self.rules_toml = rules_toml
        self.lists: dict[str, str] = lists
        self.fingerprint: dict[str, Any] = fingerprint
        self.policy: dict[str, Any] = dict(policy or {})
        self.training: dict[str, Any] = dict(training or {})
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.challenger = challenger
        self.challenger_policy: dict[str, Any] = dict(challenger_policy or {})
        if challenger is not None and not self.challenger_policy:
            self.challenger_policy = {"review": int(challenger.thresholds.review),
                                      "decline": int(challenger.thresholds.decline)}
        self.manifest: dict[str, Any] | None = None
        self.created: str | None = None
        self.key_id: str | None = fingerprint.get("key_id") if isinstance(fingerprint.get("key_id"), str) else None
        if link_model is not None:
            from .fingerprint.linkmodel import LinkModel

            if not isinstance(link_model, LinkModel):
                raise ConfigError("The 'link_model' parameter of Bundle must be a LinkModel or None. "
                                  f"Got {type(link_model).__name__} instead.")
        self.link_model = link_model

    @property
    def feature_names(self) -> list[str]:
        """The model's feature names (empty without a model)."""
        return list(self.model.feature_names) if self.model is not None else []

    # -- writing ------------------------------------------------------------
    def to_files(self, key: Keys | bytes | str | None = None) -> dict[str, bytes]:
        """All files of the bundle, manifest and signature included, as ``{relative path: bytes}``.

        ``key`` is the caller's secret (``FRAUDSCORE_KEY`` when omitted): it signs the
        manifest and pseudonymises identifier lists. It must be the key whose id the
        bundle's ``fingerprint`` records, when it records one.
        """
        keys = Keys.resolve(key)
        want = self.fingerprint.get("key_id")
        if want is not None and want != keys.key_id:
            raise ConfigError(f"The 'key' parameter of Bundle.save must be the bundle's key (id {want!r}). "
                              f"Got a key with id {keys.key_id!r} instead.")
        try:
            rules_toml = _pseudonymised_rules(self.rules_toml, keys)
        except ConfigError as e:
            raise ConfigError(f"The rule set of the bundle cannot be saved: {e}") from None
        files: dict[str, bytes] = {}
        if self.model is not None:
            files.update(self.model.to_files())
        files[RULES] = rules_toml.encode("utf-8")
        for name, text in sorted(self.lists.items()):
            files[f"lists/{name}.txt"] = text.encode("utf-8")
        if self.link_model is not None:
            files[LINKER] = self.link_model.text.encode("utf-8")
        if self.challenger is not None:
            files.update({CHALLENGER + n: d for n, d in self.challenger.to_files().items()})
        created = self.created or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        model = self.model
        manifest = {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_FORMAT_VERSION,
            "library_version": __version__,
            "created": created,
            "key_id": keys.key_id,
            "signature": SIGNATURE_ALGORITHM,
            "has_model": model is not None,
            "schema": self.schema,
            "features": self.features,
            "feature_names": self.feature_names,
            "fingerprint": self.fingerprint,
            "thresholds": model.thresholds.to_dict() if model is not None else None,
            "policy": self.policy,
            "training": {**(model.training if model is not None else {}), **self.training},
            "metrics": model.metrics if model is not None else {},
            "compiled": model.compiled_info if model is not None else None,
            "metadata": self.metadata,
            "lists": sorted(self.lists),
            "linker": None if self.link_model is None else {"file": LINKER, "sha256": self.link_model.sha256},
            **self._manifest_extras(),
            "files": {name: sha256_hex(data) for name, data in sorted(files.items())},
        }
        text = json.dumps(jsonable(manifest), indent=2, sort_keys=True, allow_nan=False) + "\n"
        raw = text.encode("utf-8")
        files[MANIFEST] = raw
        signature = {"algorithm": SIGNATURE_ALGORITHM, "key_id": keys.key_id, "signed": MANIFEST,
                     "mac": _mac(keys, raw)}
        files[SIGNATURE] = (json.dumps(signature, indent=2, sort_keys=True) + "\n").encode("utf-8")
        self.created = created
        self.manifest = json.loads(text)
        self.key_id = keys.key_id
        self.rules_toml = rules_toml
        return files

    def _manifest_extras(self) -> dict[str, Any]:
        """Manifest entries of the optional parts (absent when unused, so older manifests are unchanged)."""
        out: dict[str, Any] = {}
        if self.challenger is not None:
            out["challenger"] = {"feature_names": list(self.challenger.feature_names),
                                 "kind": getattr(self.challenger, "kind", "single"),
                                 "thresholds": self.challenger.thresholds.to_dict(),
                                 "policy": self.challenger_policy, "metrics": self.challenger.metrics}
        return out

    def save(self, path: str | Path, zip: bool = False, *, key: Keys | bytes | str | None = None) -> list[str]:
        """Write the bundle to directory ``path`` (or a zip archive); returns the file names.

        ``key`` is the caller's secret (``FRAUDSCORE_KEY`` when omitted), the one the
        bundle will be loaded with. With ``zip=True`` the files go into one archive at
        ``path`` (``.zip`` is appended when missing), with fixed entry timestamps.
        Entries of rule lists with an identifier kind are pseudonymised first.
        """
        files = self.to_files(key)
        path = Path(path)
        if zip:
            if path.suffix != ".zip":
                path = path.with_name(path.name + ".zip")
            path.parent.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for name in sorted(files):
                    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, files[name])
            path.write_bytes(buf.getvalue())
        else:
            path.mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                target = path / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        return sorted(files)

    # -- reading ------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, *, key: Keys | bytes | str | None = None, fast: bool = True,
             allow_unsigned: bool = False, compiled: bool | None = None) -> Bundle:
        """Read, verify and validate a bundle directory or zip archive.

        Parameters
        ----------
        path : str or Path
            The bundle directory or zip archive.
        key : Keys, bytes or str, optional
            The secret the bundle was saved with (``FRAUDSCORE_KEY`` when omitted).
        fast : bool, default True
            Use the model's C single-row fast path.
        allow_unsigned : bool, default False
            Read an unsigned format-1 bundle (fraudscore 0.1) after checking its file
            hashes, to re-save it signed. Only for a copy you trust: without a
            signature, edits to its manifest cannot be detected.
        compiled : bool, optional
            ``None`` (default) evaluates the trees with the compiled engine when the
            bundle asks for it (``manifest["compiled"]``, see ``docs/model.md``),
            ``False`` never, ``True`` always.

        Raises
        ------
        BundleError
            Naming the problem: unsigned or foreign-key bundle, edited manifest,
            missing or tampered file, unknown format or scheme version, a file over
            a size limit, malformed JSON, TOML or model text, feature mismatch.
        """
        keys = Keys.resolve(key)
        reader = open_reader(Path(path))
        try:
            return cls._from_reader(reader, keys, fast=fast, allow_unsigned=allow_unsigned, compiled=compiled)
        finally:
            reader.close()

    @classmethod
    def _from_reader(cls, reader: Reader, keys: Keys, *, fast: bool, allow_unsigned: bool,
                     compiled: bool | None = None) -> Bundle:
        raw = reader.read(MANIFEST, MAX_JSON_BYTES)
        if raw is None:
            raise BundleError(f"missing file {MANIFEST!r}")
        sig_raw = reader.read(SIGNATURE, MAX_SIGNATURE_BYTES)
        if sig_raw is None:
            manifest = loads_json(raw, MANIFEST)
            version = manifest.get("format_version") if isinstance(manifest, dict) else None
            if version == 1 and allow_unsigned:
                warnings.warn("loading an unsigned format-1 bundle: its manifest cannot be checked for edits; "
                              "re-save it to sign it", UserWarning, stacklevel=3)
                return cls._from_manifest(reader, manifest, raw, keys, fast=fast, signed=False)
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
        if not isinstance(mac, str) or not _HEX64.match(mac) or not hmac.compare_digest(mac, _mac(keys, raw)):
            their = sig.get("key_id")
            hint = (f" (the signature names key id {their!r}; this key's id is {keys.key_id!r})"
                    if isinstance(their, str) and re.fullmatch(r"[0-9a-f]{16}", their) and their != keys.key_id
                    else "")
            raise BundleError(f"signature mismatch: {MANIFEST} was edited or the bundle was signed with another "
                              f"key{hint}")
        manifest = loads_json(raw, MANIFEST)
        return cls._from_manifest(reader, manifest, raw, keys, fast=fast, signed=True, compiled=compiled)

    @classmethod
    def _from_manifest(cls, reader: Reader, manifest: Any, raw: bytes, keys: Keys, *, fast: bool,
                       signed: bool, compiled: bool | None = None) -> Bundle:
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
                stacklevel=4,
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
        files: dict[str, bytes] = {}
        for name, digest in sorted(listed.items()):
            limit = MAX_RULES_BYTES if name == RULES else (MAX_JSON_BYTES if name.endswith(".json") else None)
            data = reader.read(name) if limit is None else reader.read(name, limit)
            if data is None:
                raise BundleError(f"missing file {name!r}")
            if not hmac.compare_digest(sha256_hex(data), digest):
                raise BundleError(f"tampered file {name!r}: its sha256 does not match {MANIFEST}")
            files[name] = data
        model = Model.from_files(model_files(files), fast=fast, compiled=compiled) if has_model else None
        if model is not None and (manifest.get("compiled") or None) != (
                loads_json(files["model.json"], "model.json").get("compiled") or None):
            raise BundleError(f"compiled trees mismatch: {MANIFEST} and model.json record different compiled trees")
        ch = manifest.get("challenger")
        challenger = None
        if ch is not None:
            if not isinstance(ch, dict):
                raise BundleError(f"{MANIFEST} has an invalid 'challenger' entry")
            challenger = Model.from_files(model_files(files, CHALLENGER), fast=fast, compiled=compiled)
            if challenger.feature_names != ch.get("feature_names"):
                raise BundleError(f"feature mismatch: the challenger's feature names differ from those in {MANIFEST}")

        names = manifest.get("feature_names") or []
        if model is not None and model.feature_names != names:
            raise BundleError(
                f"feature mismatch: the model has {len(model.feature_names)} features "
                f"that differ from the {len(names) if isinstance(names, list) else 0} feature names in {MANIFEST}"
            )
        if model is not None and manifest.get("thresholds") != model.thresholds.to_dict():
            raise BundleError(f"threshold mismatch: {MANIFEST} thresholds differ from model.json")
        try:
            lists = {n: files[f"lists/{n}.txt"].decode("utf-8") for n in list_names}
            rules = files[RULES].decode("utf-8")
        except UnicodeDecodeError as e:
            raise BundleError(f"a text file of the bundle is not UTF-8: {e.reason} at byte {e.start}") from None
        link_model = None
        if linker is not None:
            from .fingerprint.linkmodel import LinkModel

            link_model = LinkModel.from_bytes(files[LINKER], linker.get("sha256"))
        model_training = model.training if model is not None else {}
        extra_training = {
            k: v for k, v in (manifest.get("training") or {}).items() if k not in model_training or model_training[k] != v
        }
        try:
            b = cls(
                model=model,
                schema=manifest.get("schema") or {},
                features=manifest.get("features") or {},
                rules_toml=rules,
                lists=lists,
                fingerprint=fingerprint,
                policy=manifest.get("policy") or {},
                training=extra_training,
                metadata=manifest.get("metadata") or {},
                link_model=link_model,
                challenger=challenger,
                challenger_policy=(ch or {}).get("policy") if challenger is not None else None,
            )
        except ConfigError as e:
            raise BundleError(f"{MANIFEST} is invalid: {e}") from None
        b.check_parts()
        b.manifest = manifest
        created = manifest.get("created")
        b.created = created if isinstance(created, str) else None
        b.key_id = keys.key_id
        return b

    def check_parts(self) -> None:
        """Build the schema, feature set, policy and rule set once; any problem is a BundleError naming the part.

        A signed bundle is only as good as what was signed: this catches a bundle saved
        by a buggy or foreign writer before a scorer is built from it.
        """
        from .policy import Policy
        from .rules import RuleSet
        from .schema import Schema
        from .velocity import FeatureSet

        parts = (("schema", lambda: Schema.from_dict(self.schema) if self.schema else None),
                 ("features", lambda: FeatureSet.from_dict(self.features) if self.features else None),
                 ("policy", lambda: Policy.from_dict(self.policy) if self.policy else None),
                 ("rules.toml", lambda: RuleSet.from_toml(self.rules_toml, lists=self.lists, bundled=True)
                  if self.rules_toml else None))
        for what, build in parts:
            try:
                build()
            except BundleError:
                raise
            except (ConfigError, TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError) as e:
                raise BundleError(f"the bundle's {what} is invalid: {type(e).__name__}: {str(e)[:300]}") from None

    def __repr__(self) -> str:
        m = f"{len(self.feature_names)} features" if self.model is not None else "no model"
        ch = ", a challenger" if self.challenger is not None else ""
        return f"Bundle({m}{ch}, {len(self.lists)} lists, created={self.created!r})"
