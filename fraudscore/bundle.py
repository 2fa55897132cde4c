"""Bundles: a whole scoring configuration, versioned and integrity-checked.

A bundle is a directory (or the same files in a zip archive)::

    manifest.json        format and library versions, creation time, schema, feature
                         specs and names, fingerprint scheme version and key *id*,
                         thresholds, policy, training metadata and metrics, lists,
                         the compiled-trees option (engine and sha256 of the node
                         tables, or null; see docs/model.md), and the sha256 of
                         every other file
    model.txt            LightGBM text format       (when the bundle has a model)
    calibration.json     calibration breakpoints    (idem)
    model.json           model metadata             (idem)
    rules.toml           the rule set source
    lists/<name>.txt     named lists (allow / deny lists), one entry per line
    linker.txt           the pairwise device-link model, LightGBM text (optional;
                         without it the package's default link model is used)
    model_member_<i>.txt ensemble members (when the model is an ensemble)
    challenger/...       a challenger model scored in shadow (same files as the model)

:meth:`Bundle.load` reads only the files the manifest names, checks each one's
sha256, the bundle format version and the model's feature names, and raises
:class:`~fraudscore.errors.BundleError` naming what is wrong. Nothing is
unpickled: the model is LightGBM text, everything else JSON, TOML or text.
No secret is ever written: the fingerprint section holds a key *identifier*
only, and a section that looks like it carries a key is refused.

The hashes detect corruption and edits of any listed file; they do not stop
someone who can rewrite ``manifest.json`` as well (that needs a signature kept
outside the bundle).

Examples
--------
>>> import tempfile
>>> b = Bundle(rules_toml='[[rule]]\\ncode = "X"\\n', lists={"deny_ip": "1.2.3.4\\n"},
...            fingerprint={"scheme_version": 1, "key_id": "7c67137afddcd96b"}, metadata={"name": "demo"})
>>> with tempfile.TemporaryDirectory() as d:
...     names = b.save(d + "/b1")
...     b2 = Bundle.load(d + "/b1")
>>> names
['lists/deny_ip.txt', 'manifest.json', 'rules.toml']
>>> b2.lists == b.lists and b2.rules_toml == b.rules_toml and b2.metadata == {"name": "demo"}
True
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import BundleError, ConfigError
from .model.model import MODEL_FILES, Model, jsonable, model_files

__all__ = ["Bundle", "BUNDLE_FORMAT", "BUNDLE_FORMAT_VERSION", "sha256_hex"]

BUNDLE_FORMAT = "fraudscore-bundle"
BUNDLE_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
RULES = "rules.toml"
LINKER = "linker.txt"
CHALLENGER = "challenger/"
_LIST_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)?$")
_SECRET_KEYS = re.compile(r"(secret|password|private|^key$|^keys$|^master)", re.IGNORECASE)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``.

    Examples
    --------
    >>> sha256_hex(b"")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()


def _version_tuple(v: str) -> tuple[int, ...]:
    m = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", str(v))
    if not m:
        raise BundleError(f"manifest.json has an unreadable library_version {v!r}")
    return tuple(int(g or 0) for g in m.groups())


class Bundle:
    """Everything a scorer needs, saved and loaded as one checked unit.

    Parameters
    ----------
    model : Model, optional
        The trained model (a rules-only bundle has none).
    schema : dict, optional
        ``Schema.to_dict()``.
    features : dict, optional
        The feature set specs (plain data).
    rules_toml : str
        Rule set source (TOML).
    lists : mapping of str to str, optional
        Named lists as text; names match ``[A-Za-z0-9_][A-Za-z0-9_.-]*``.
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
    def to_files(self) -> dict[str, bytes]:
        """All files of the bundle, manifest included, as ``{relative path: bytes}``."""
        files: dict[str, bytes] = {}
        if self.model is not None:
            files.update(self.model.to_files())
        files[RULES] = self.rules_toml.encode("utf-8")
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
        files[MANIFEST] = text.encode("utf-8")
        self.created = created
        self.manifest = json.loads(text)
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

    def save(self, path: str | Path, zip: bool = False) -> list[str]:
        """Write the bundle to directory ``path`` (or a zip archive); returns the file names.

        With ``zip=True`` the files go into one archive at ``path`` (``.zip``
        is appended when missing), with fixed entry timestamps.
        """
        files = self.to_files()
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
    def load(cls, path: str | Path, *, fast: bool = True, compiled: bool | None = None) -> Bundle:
        """Read and verify a bundle directory or zip archive.

        ``compiled``: ``None`` (default) evaluates the trees with the compiled
        engine when the bundle asks for it (``manifest["compiled"]``, see
        ``docs/model.md``), ``False`` never, ``True`` always.

        Raises
        ------
        BundleError
            Naming the problem: missing file, tampered file (sha256 mismatch),
            newer format version, unreadable manifest, feature mismatch.
        """
        path = Path(path)
        if path.is_dir():
            reader = _DirReader(path)
        elif path.is_file() and zipfile.is_zipfile(path):
            reader = _ZipReader(path)
        elif path.exists():
            raise BundleError(f"bundle {path} is neither a directory nor a zip archive")
        else:
            raise BundleError(f"bundle {path} does not exist")
        try:
            return cls._from_reader(reader, fast=fast, compiled=compiled)
        finally:
            reader.close()

    @classmethod
    def _from_reader(cls, reader: _Reader, *, fast: bool, compiled: bool | None = None) -> Bundle:
        raw = reader.read(MANIFEST)
        if raw is None:
            raise BundleError(f"missing file {MANIFEST!r}")
        try:
            manifest = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BundleError(f"{MANIFEST} is not valid JSON: {e}") from None
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
        lib = manifest.get("library_version")
        if _version_tuple(lib) > _version_tuple(__version__):
            warnings.warn(
                f"bundle was written by fraudscore {lib}, newer than this {__version__}; format {version} is supported",
                UserWarning,
                stacklevel=3,
            )
        listed = manifest.get("files")
        if not isinstance(listed, dict):
            raise BundleError(f"{MANIFEST} has no 'files' table of sha256 hashes")
        has_model = bool(manifest.get("has_model"))
        required = [RULES] + (list(MODEL_FILES) if has_model else [])
        required += [f"lists/{n}.txt" for n in manifest.get("lists") or []]
        linker = manifest.get("linker")
        if linker is not None:
            if not isinstance(linker, dict) or linker.get("file") != LINKER:
                raise BundleError(f"{MANIFEST} has an invalid 'linker' entry")
            required.append(LINKER)
        for name in required:
            if name not in listed:
                raise BundleError(f"missing file {name!r}: not listed in {MANIFEST}")
        files: dict[str, bytes] = {}
        for name, digest in sorted(listed.items()):
            if not isinstance(name, str) or not _SAFE_PATH.match(name) or name == MANIFEST:
                raise BundleError(f"{MANIFEST} lists an unsafe file path {name!r}")
            data = reader.read(name)
            if data is None:
                raise BundleError(f"missing file {name!r}")
            if sha256_hex(data) != digest:
                raise BundleError(f"tampered file {name!r}: its sha256 does not match {MANIFEST}")
            files[name] = data
        model = Model.from_files(model_files(files), fast=fast, compiled=compiled) if has_model else None
        if model is not None and (manifest.get("compiled") or None) != (
                json.loads(files["model.json"].decode("utf-8")).get("compiled") or None):
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
                f"that differ from the {len(names)} feature names in {MANIFEST}"
            )
        if model is not None and manifest.get("thresholds") != model.thresholds.to_dict():
            raise BundleError(f"threshold mismatch: {MANIFEST} thresholds differ from model.json")
        try:
            lists = {n: files[f"lists/{n}.txt"].decode("utf-8") for n in manifest.get("lists") or []}
            rules = files[RULES].decode("utf-8")
        except UnicodeDecodeError as e:
            raise BundleError(f"a text file of the bundle is not UTF-8: {e}") from None
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
                fingerprint=manifest.get("fingerprint") or {},
                policy=manifest.get("policy") or {},
                training=extra_training,
                metadata=manifest.get("metadata") or {},
                link_model=link_model,
                challenger=challenger,
                challenger_policy=(ch or {}).get("policy") if challenger is not None else None,
            )
        except ConfigError as e:
            raise BundleError(f"{MANIFEST} is invalid: {e}") from None
        b.manifest = manifest
        b.created = manifest.get("created")
        return b

    def __repr__(self) -> str:
        m = f"{len(self.feature_names)} features" if self.model is not None else "no model"
        ch = ", a challenger" if self.challenger is not None else ""
        return f"Bundle({m}{ch}, {len(self.lists)} lists, created={self.created!r})"


class _Reader:
    def read(self, name: str) -> bytes | None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        return None


class _DirReader(_Reader):
    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, name: str) -> bytes | None:
        p = self.root / name
        return p.read_bytes() if p.is_file() else None


class _ZipReader(_Reader):
    def __init__(self, path: Path) -> None:
        try:
            self.zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile as e:
            raise BundleError(f"bundle {path} is not a readable zip archive: {e}") from None
        self.names = set(self.zf.namelist())

    def read(self, name: str) -> bytes | None:
        if name not in self.names:
            return None
        try:
            return self.zf.read(name)
        except (zipfile.BadZipFile, OSError) as e:
            raise BundleError(f"file {name!r} in the bundle archive is unreadable: {e}") from None

    def close(self) -> None:
        self.zf.close()
