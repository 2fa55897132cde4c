"""The learned pairwise link model: LightGBM text, read and evaluated without LightGBM.

A :class:`LinkModel` holds a binary LightGBM model in LightGBM's text format
(never pickle) and its sha256. Prediction walks the trees in pure Python; every
split compares one feature with a threshold, so the result depends only on
which interval between a feature's thresholds each value falls in: those
interval indices key a bounded memo, and repeated situations (most are: the
features are small integers and flags) cost a dictionary look-up. The result is
the probability LightGBM's ``Booster.predict`` gives (tested to 1e-12).

The model shipped with the package (``default_link_model.txt``, checked against
``default_link_model.sha256``) is what a bundle without its own linker uses; it
is trained by :func:`fraudscore.fingerprint.linktrain.train_link_model`.

Examples
--------
>>> m = default_link_model()
>>> m.feature_names == list(PAIR_FEATURES), len(m.sha256)
(True, 64)
>>> 0.0 <= m.predict([0.0] * len(PAIR_FEATURES)) <= 1.0
True
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_left
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

from ..errors import BundleError, ConfigError
from .linkfeatures import PAIR_FEATURES

__all__ = ["LinkModel", "default_link_model", "DEFAULT_MODEL_FILE"]

DEFAULT_MODEL_FILE = "default_link_model.txt"
_MEMO_MAX = 1 << 16


class LinkModel:
    """A binary LightGBM model (text format) evaluated in pure Python.

    Parameters
    ----------
    text : str
        The model in LightGBM's text format (``Booster.model_to_string()``); its
        features must be :data:`~fraudscore.fingerprint.linkfeatures.PAIR_FEATURES`.

    Attributes
    ----------
    sha256 : str
        Hex sha256 of the UTF-8 text: the model's identity in bundles and reports.
    feature_names : list of str
    """

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text.startswith("tree"):
            raise ConfigError("The 'text' parameter of LinkModel must be a LightGBM model in text format.")
        self.text = text
        self.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
        header, _, rest = text.partition("\nTree=")
        fields = dict(line.split("=", 1) for line in header.splitlines() if "=" in line)
        self.feature_names = fields.get("feature_names", "").split()
        if self.feature_names != list(PAIR_FEATURES):
            raise ConfigError(f"LinkModel features {self.feature_names[:4]}... are not PAIR_FEATURES; "
                              "retrain with fraudscore.fingerprint.linktrain")
        objective = fields.get("objective", "")
        if not objective.startswith("binary"):
            raise ConfigError(f"LinkModel needs a binary objective. Got {objective!r} instead.")
        self._sigmoid = 1.0
        for part in objective.split():
            if part.startswith("sigmoid:"):
                self._sigmoid = float(part.split(":", 1)[1])
        self._trees = _parse_trees("Tree=" + rest)
        nf = len(self.feature_names)
        cuts: list[set[float]] = [set() for _ in range(nf)]
        for feats, thr, *_ in self._trees:
            for f, t in zip(feats, thr):
                cuts[f].add(t)
        self._cuts = [sorted(c) for c in cuts]
        self._used = [i for i in range(nf) if self._cuts[i]]
        self._memo: dict[tuple[int, ...], float] = {}

    def __repr__(self) -> str:
        return f"LinkModel(trees={len(self._trees)}, sha256={self.sha256[:12]}...)"

    def raw(self, x: Sequence[float]) -> float:
        """The raw score (sum of leaf values) of one feature row."""
        total = 0.0
        for feats, thr, left, right, leaves in self._trees:
            if not feats:
                total += leaves[0]
                continue
            node = 0
            while node >= 0:
                node = left[node] if x[feats[node]] <= thr[node] else right[node]
            total += leaves[~node]
        return total

    def predict(self, x: Sequence[float]) -> float:
        """Probability that the pair is the same device (memoised by threshold intervals)."""
        cuts = self._cuts
        key = tuple(bisect_left(cuts[i], x[i]) for i in self._used)
        p = self._memo.get(key)
        if p is None:
            p = 1.0 / (1.0 + math.exp(-self._sigmoid * self.raw(x)))
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            self._memo[key] = p
        return p

    @classmethod
    def from_bytes(cls, data: bytes, sha256: str | None = None) -> LinkModel:
        """Read a model from file bytes, checking ``sha256`` when given.

        Raises
        ------
        BundleError
            When the hash does not match or the text is not a link model.
        """
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise BundleError("tampered link model: its sha256 does not match")
        try:
            return cls(data.decode("utf-8"))
        except (UnicodeDecodeError, ConfigError, ValueError, IndexError) as e:
            raise BundleError(f"unreadable link model: {e}") from None


def _floats(s: str) -> list[float]:
    return [float(v) for v in s.split()] if s else []


def _ints(s: str) -> list[int]:
    return [int(v) for v in s.split()] if s else []


def _parse_trees(text: str) -> list[tuple[list[int], list[float], list[int], list[int], list[float]]]:
    trees = []
    for block in text.split("Tree=")[1:]:
        body = block.split("end of trees", 1)[0]
        f = dict(line.split("=", 1) for line in body.splitlines() if "=" in line)
        leaves = _floats(f["leaf_value"])
        if int(f.get("num_leaves", "1")) <= 1:
            trees.append(([], [], [], [], leaves))
            continue
        dt = _ints(f["decision_type"])
        if any(d & 1 for d in dt):
            raise ConfigError("LinkModel does not support categorical splits")
        if any((d >> 2) & 3 for d in dt):
            raise ConfigError("LinkModel needs a model trained with use_missing=false")
        trees.append((_ints(f["split_feature"]), _floats(f["threshold"]), _ints(f["left_child"]),
                      _ints(f["right_child"]), leaves))
    if not trees:
        raise ConfigError("LinkModel text has no trees")
    return trees


@lru_cache(maxsize=1)
def default_link_model() -> LinkModel:
    """The link model shipped with the package (its sha256 checked against the shipped hash file)."""
    pkg = resources.files("fraudscore.fingerprint")
    data = pkg.joinpath(DEFAULT_MODEL_FILE).read_bytes()
    want = pkg.joinpath(DEFAULT_MODEL_FILE.replace(".txt", ".sha256")).read_text().split()[0]
    return LinkModel.from_bytes(data, want)
