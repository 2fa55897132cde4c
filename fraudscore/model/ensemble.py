"""Ensembles of LightGBM boosters, served as one booster.

A seed (or bagging) ensemble trains several boosters on the same rows with
different random seeds and averages them. Averaging *raw scores* (log-odds)
is the same as one model holding every member's trees with each leaf value
multiplied by the member's weight, so :func:`merge_model_texts` rewrites the
members' LightGBM text into that single model. Everything downstream of a
booster then works unchanged on an ensemble: batch prediction, the C
single-row fast path (:class:`~fraudscore.model.fast.FastPredictor`),
TreeSHAP contributions (SHAP values are additive over trees, so the merged
contributions are the weighted mean of the members'), compiled trees
(:mod:`fraudscore.model.compiled`: ``EnsembleModel(..., compiled=True)``), and
lazy ``Decision.reasons`` (TreeSHAP on the merged booster, on first access).

:class:`EnsembleModel` is a :class:`~fraudscore.model.model.Model` whose
booster is the merged one; it keeps the member texts. Saved form: the usual
``model.txt`` (the merged booster: any reader of a single model gets the same
predictions), ``calibration.json`` and ``model.json`` (with ``"kind":
"ensemble"`` and one entry per member: file, sha256, weight, seed, best
iteration), plus one ``model_member_<i>.txt`` per member. Loading checks each
member's hash and that merging the members gives ``model.txt`` byte for byte.

Examples
--------
>>> import lightgbm as lgb
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(600, 3)); y = (X[:, 0] + rng.normal(size=600) > 1).astype(int)
>>> boosters = [lgb.train({"objective": "binary", "verbose": -1, "seed": s, "bagging_fraction": 0.7,
...                        "bagging_freq": 1}, lgb.Dataset(X, y, feature_name=["a", "b", "c"]), 10)
...             for s in range(3)]
>>> m = EnsembleModel(boosters, ["a", "b", "c"])
>>> raw = np.mean([b.predict(X[:5], raw_score=True) for b in boosters], axis=0)
>>> bool(np.allclose(m.booster.predict(X[:5], raw_score=True), raw, rtol=0, atol=1e-12))
True
>>> m.predict_one(X[0]) == float(m.predict_proba(X[:1])[0]), m.n_members
(True, 3)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import BundleError, ConfigError
from .calibration import Calibrator
from .model import Model, _dumps
from .thresholds import Thresholds

__all__ = ["EnsembleModel", "merge_model_texts", "member_file", "MEMBER_FILE"]

#: file name pattern of the member texts in a saved ensemble
MEMBER_FILE = re.compile(r"^model_member_(\d+)\.txt$")
_SCALED_KEYS = ("leaf_value", "internal_value")


def member_file(i: int) -> str:
    """The saved file name of member ``i``.

    Examples
    --------
    >>> member_file(3)
    'model_member_3.txt'
    """
    return f"model_member_{int(i)}.txt"


def _split_model(text: str) -> tuple[list[str], list[str], str]:
    """``(header lines without tree_sizes, tree blocks, trailer)`` of one LightGBM model text."""
    start = text.find("\nTree=")
    end = text.find("\nend of trees")
    if start < 0 or end < 0:
        raise ConfigError("A LightGBM model text must hold at least one tree ('Tree=0' ... 'end of trees').")
    header = [ln for ln in text[:start].split("\n") if ln and not ln.startswith("tree_sizes=")]
    body = text[start + 1 : end + 1]
    blocks = ["Tree=" + b for b in body.split("Tree=") if b]
    trailer = text[end + 1 :]
    return header, blocks, trailer


def _header_value(header: Sequence[str], key: str) -> str | None:
    for ln in header:
        if ln.startswith(key + "="):
            return ln[len(key) + 1 :]
    return None


def _scale_block(block: str, index: int, weight: float) -> str:
    lines = block.split("\n")
    lines[0] = f"Tree={index}"
    for j, ln in enumerate(lines):
        key, sep, vals = ln.partition("=")
        if not sep:
            continue
        if key in _SCALED_KEYS and weight != 1.0:
            lines[j] = key + "=" + " ".join(repr(float(v) * weight) for v in vals.split())
        elif key == "is_linear" and vals.strip() not in ("", "0"):
            raise ConfigError("Ensembles of linear-tree LightGBM models are not supported (is_linear=1).")
    return "\n".join(lines)


def merge_model_texts(texts: Sequence[str], weights: Sequence[float] | None = None) -> str:
    """One LightGBM model text whose raw score is ``sum(w_i * raw_i)`` over the member texts.

    With the default weights ``1 / k`` the merged raw score is the mean of the
    members' raw scores (log-odds). Members must be binary models over the same
    features (same names and objective); their trees are copied in order with
    ``leaf_value`` and ``internal_value`` multiplied by the member's weight. The
    header and trailer (parameters) come from the first member.

    Examples
    --------
    >>> import lightgbm as lgb
    >>> X = np.arange(200.0).reshape(100, 2); y = (np.arange(100) % 3 == 0).astype(int)
    >>> t = [lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 5, "seed": s},
    ...                lgb.Dataset(X, y), 4).model_to_string() for s in (1, 2)]
    >>> merged = lgb.Booster(model_str=merge_model_texts(t))
    >>> merged.num_trees()
    8
    >>> merge_model_texts(t, [1.0]) # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fraudscore.errors.ConfigError: The 'weights' parameter of merge_model_texts must hold one finite positive weight per member (2). Got [1.0] instead.
    """
    if not texts:
        raise ConfigError("The 'texts' parameter of merge_model_texts must hold at least one model. Got none instead.")
    k = len(texts)
    w = [1.0 / k] * k if weights is None else [float(x) for x in weights]
    if len(w) != k or not all(math.isfinite(x) and x > 0 for x in w):
        raise ConfigError(
            "The 'weights' parameter of merge_model_texts must hold one finite positive weight per member "
            f"({k}). Got {list(weights) if weights is not None else None} instead."
        )
    header0, _, trailer0 = _split_model(texts[0])
    for key in ("num_class", "num_tree_per_iteration"):
        if _header_value(header0, key) != "1":
            raise ConfigError(f"Ensemble members must be binary models ({key}=1). Got {_header_value(header0, key)} instead.")
    blocks: list[str] = []
    for i, (text, wi) in enumerate(zip(texts, w)):
        header, member_blocks, _ = _split_model(text)
        for key in ("feature_names", "objective", "max_feature_idx"):
            if _header_value(header, key) != _header_value(header0, key):
                raise ConfigError(f"Ensemble member {i} differs from member 0 in {key!r}; members must share features "
                                  "and objective.")
        blocks.extend(_scale_block(b, len(blocks), wi) for b in member_blocks)
    sizes = " ".join(str(len(b.encode("utf-8"))) for b in blocks)
    head = "\n".join(header0) + f"\ntree_sizes={sizes}\n\n"
    # the trailer's feature_importances section describes member 0 only: drop it (LightGBM recomputes importances)
    trailer = re.sub(r"feature_importances:\n(?:[^\n]+\n)*\n", "", trailer0, count=1)
    return head + "".join(blocks) + trailer


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


class EnsembleModel(Model):
    """A :class:`~fraudscore.model.model.Model` that averages several LightGBM boosters.

    Parameters
    ----------
    members : sequence of lightgbm.Booster or str
        The members (boosters or their LightGBM text), same features and objective.
    feature_names : sequence of str
        Column names, in matrix order.
    weights : sequence of float, optional
        Positive weight per member; default ``1 / k`` (the mean raw score).
    member_info : sequence of dict, optional
        Metadata per member (seed, best iteration), saved in ``model.json``.
    calibrator, thresholds, metrics, training, fast, reference, compiled, categories
        As for :class:`~fraudscore.model.model.Model`. The merged booster is one
        LightGBM model, so ``compiled=True`` (or :meth:`compile`) evaluates it
        with the compiled trees like any other: one table-driven forest holding
        every member's trees, bit-identical to ``Booster.predict`` on the
        merged text, and recorded in ``model.json`` so a loaded ensemble asks
        for it again.

    Examples
    --------
    >>> import lightgbm as lgb, tempfile
    >>> rng = np.random.default_rng(1)
    >>> X = rng.normal(size=(500, 2)); y = (X[:, 1] > 1).astype(int)
    >>> bs = [lgb.train({"objective": "binary", "verbose": -1, "seed": s, "feature_fraction": 0.5},
    ...                 lgb.Dataset(X, y, feature_name=["x", "z"]), 5) for s in (0, 1)]
    >>> m = EnsembleModel(bs, ["x", "z"], member_info=[{"seed": 0}, {"seed": 1}])
    >>> sorted(m.to_files())
    ['calibration.json', 'model.json', 'model.txt', 'model_member_0.txt', 'model_member_1.txt']
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = m.save(d)
    ...     back = Model.load(d)
    >>> type(back).__name__, back.n_members, back.predict_one(X[3]) == m.predict_one(X[3])
    ('EnsembleModel', 2, True)
    >>> m.contributions(X[:1]).shape           # TreeSHAP on the merged booster
    (1, 3)
    """

    kind = "ensemble"

    def __init__(
        self,
        members: Sequence[Any],
        feature_names: Sequence[str],
        *,
        weights: Sequence[float] | None = None,
        member_info: Sequence[Mapping[str, Any]] | None = None,
        calibrator: Calibrator | None = None,
        thresholds: Thresholds | None = None,
        metrics: Mapping[str, Any] | None = None,
        training: Mapping[str, Any] | None = None,
        fast: bool = True,
        reference: Mapping[str, Any] | None = None,
        compiled: bool = False,
        categories: Any = None,
    ) -> None:
        import lightgbm as lgb

        texts = [m if isinstance(m, str) else m.model_to_string() for m in members]
        k = len(texts)
        self.weights: list[float] = [1.0 / k] * k if weights is None else [float(x) for x in weights]
        merged = merge_model_texts(texts, self.weights)
        self.member_texts: list[str] = texts
        self.member_info: list[dict[str, Any]] = [dict(x) for x in (member_info or [{} for _ in texts])]
        if len(self.member_info) != k:
            raise ConfigError(f"The 'member_info' parameter of EnsembleModel must hold one entry per member ({k}). "
                              f"Got {len(self.member_info)} instead.")
        self._merged_text = merged
        self._members: list[Any] | None = None
        super().__init__(lgb.Booster(model_str=merged), feature_names, calibrator=calibrator,
                         thresholds=thresholds, metrics=metrics, training=training, fast=fast, reference=reference,
                         compiled=compiled, categories=categories)

    @property
    def n_members(self) -> int:
        """Number of member boosters."""
        return len(self.member_texts)

    def member_boosters(self) -> list[Any]:
        """The members as ``lightgbm.Booster`` objects (parsed on first use)."""
        if self._members is None:
            import lightgbm as lgb

            self._members = [lgb.Booster(model_str=t) for t in self.member_texts]
        return self._members

    def predict_members(self, X: Any) -> np.ndarray:
        """Raw scores (log-odds) of every member: shape ``(n, k)``; their spread measures disagreement."""
        X = self._matrix(X)
        return np.column_stack([b.predict(X, raw_score=True) for b in self.member_boosters()]) if len(X) else \
            np.empty((0, self.n_members))

    def to_files(self) -> dict[str, bytes]:
        """The single-model files (``model.txt`` is the merged booster) plus one text per member."""
        files = super().to_files()
        files["model.txt"] = self._merged_text.encode("utf-8")
        meta = json.loads(files["model.json"].decode("utf-8"))
        members = []
        for i, (text, w, info) in enumerate(zip(self.member_texts, self.weights, self.member_info)):
            data = text.encode("utf-8")
            files[member_file(i)] = data
            members.append({**info, "file": member_file(i), "sha256": _sha256(data), "weight": w})
        meta["kind"] = "ensemble"
        meta["combine"] = "weighted mean of raw scores (log-odds), merged into model.txt"
        meta["members"] = members
        files["model.json"] = _dumps(meta)
        return files

    @classmethod
    def from_meta(cls, files: Mapping[str, bytes], meta: Mapping[str, Any], *, calibrator: Calibrator,
                  fast: bool) -> EnsembleModel:
        """Rebuild from saved files (called by :meth:`Model.from_files` for ``kind == "ensemble"``).

        Each member text passes :func:`~fraudscore.model.text_check.check_model_text`
        before anything parses it, and the members' merge must equal ``model.txt``
        (already checked by the caller) byte for byte.
        """
        from .text_check import check_model_text

        members = meta.get("members")
        if not isinstance(members, list) or not members:
            raise BundleError("model.json of an ensemble has no 'members' list")
        texts, weights, infos = [], [], []
        for i, m in enumerate(members):
            if not isinstance(m, dict) or m.get("file") != member_file(i):
                raise BundleError(f"model.json ensemble member {i} must name file {member_file(i)!r}")
            data = files.get(member_file(i))
            if data is None:
                raise BundleError(f"model file {member_file(i)!r} is missing")
            if _sha256(data) != m.get("sha256"):
                raise BundleError(f"tampered file {member_file(i)!r}: its sha256 does not match model.json")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise BundleError(f"{member_file(i)} is not UTF-8 text") from None
            check_model_text(text, member_file(i))  # validated before LightGBM ever parses it
            texts.append(text)
            weights.append(m.get("weight"))
            infos.append({k: v for k, v in m.items() if k not in ("file", "sha256", "weight")})
        try:
            merged = merge_model_texts(texts, weights)
        except (ConfigError, TypeError, ValueError) as e:
            raise BundleError(f"ensemble members cannot be merged: {e}") from None
        if merged.encode("utf-8") != files["model.txt"]:
            raise BundleError("ensemble mismatch: model.txt is not the merge of the member files")
        try:
            return cls(texts, meta["feature_names"], weights=weights, member_info=infos, calibrator=calibrator,
                       thresholds=Thresholds.from_dict(meta["thresholds"]), metrics=meta.get("metrics") or {},
                       training=meta.get("training") or {}, fast=fast, categories=meta.get("categories"))
        except Exception as e:  # LightGBMError, ConfigError, KeyError
            raise BundleError(f"ensemble model is invalid: {e}") from None

    def __repr__(self) -> str:
        return (f"EnsembleModel({self.n_members} members, {self.num_features} features, "
                f"{self.booster.num_trees()} trees, review={self.thresholds.review}, "
                f"decline={self.thresholds.decline}, path={self.inference_path!r})")
