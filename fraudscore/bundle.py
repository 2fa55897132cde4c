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
The signature and manifest checks live in :mod:`fraudscore.bundle_manifest`.

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
import io
import json
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._version import __version__
from .bundle_files import Reader, loads_json, open_reader
from .bundle_manifest import (_LIST_NAME, BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, CHALLENGER, LINKER, MANIFEST, RULES,
                              SIGNATURE, SIGNATURE_ALGORITHM, check_manifest, manifest_mac, read_listed_files,
                              read_signed_manifest, sha256_hex)
from .errors import BundleError, ConfigError
from .keys import Keys
from .model.model import Model, jsonable, model_files

__all__ = ["Bundle", "BUNDLE_FORMAT", "BUNDLE_FORMAT_VERSION", "sha256_hex", "SIGNATURE_ALGORITHM"]

_SECRET_KEYS = re.compile(r"(secret|password|private|^key$|^keys$|^master)", re.IGNORECASE)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


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
                     "mac": manifest_mac(keys, raw)}
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
        manifest, signed = read_signed_manifest(reader, keys, allow_unsigned)
        return cls._from_manifest(reader, manifest, keys, fast=fast, signed=signed, compiled=compiled)

    @classmethod
    def _from_manifest(cls, reader: Reader, manifest: Any, keys: Keys, *, fast: bool,
                       signed: bool, compiled: bool | None = None) -> Bundle:
        listed, list_names, has_model, linker = check_manifest(reader, manifest, keys, signed)
        fingerprint = manifest.get("fingerprint") or {}
        files = read_listed_files(reader, listed)
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
