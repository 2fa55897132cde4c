"""The learned pairwise link model: LightGBM text with a content hash.

A :class:`LinkModel` holds a binary LightGBM model in LightGBM's text format
(never pickle) and its sha256. It predicts one candidate pair at a time
through LightGBM's single-row C path (:class:`~fraudscore.model.fast.FastPredictor`:
a few microseconds, equal to ``Booster.predict``), the linker's hot path.

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
from array import array
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from ..errors import BundleError, ConfigError
from .linkfeatures import PAIR_FEATURES

__all__ = ["LinkModel", "default_link_model", "DEFAULT_MODEL_FILE"]

DEFAULT_MODEL_FILE = "default_link_model.txt"


class LinkModel:
    """A binary LightGBM model over :data:`~fraudscore.fingerprint.linkfeatures.PAIR_FEATURES`.

    Parameters
    ----------
    text : str
        The model in LightGBM's text format (``Booster.model_to_string()``).

    Attributes
    ----------
    text : str
    sha256 : str
        Hex sha256 of the UTF-8 text: the model's identity in bundles and reports.
    feature_names : list of str
    engine : str
        The prediction path: ``"compiled"`` (the compiled tree engine) or LightGBM's.
    """

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text.startswith("tree"):
            raise ConfigError("The 'text' parameter of LinkModel must be a LightGBM model in text format.")
        import lightgbm as lgb

        from ..model.fast import FastPredictor

        header = text.split("\nTree=", 1)[0]
        fields = dict(line.split("=", 1) for line in header.splitlines() if "=" in line)
        names = fields.get("feature_names", "").split()
        if names != list(PAIR_FEATURES):
            raise ConfigError(f"LinkModel features {names[:3]}... are not PAIR_FEATURES; "
                              "retrain with fraudscore.fingerprint.linktrain")
        if not fields.get("objective", "").startswith("binary"):
            raise ConfigError(f"LinkModel needs a binary objective. Got {fields.get('objective')!r} instead.")
        try:
            booster = lgb.Booster(model_str=text)
        except lgb.basic.LightGBMError as e:
            raise ConfigError(f"LinkModel text does not load: {e}") from None
        self.text = text
        self.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self.feature_names = names
        self.booster = booster
        self._fast = FastPredictor(booster)
        self.predict = self._fast.predict_one
        self.engine = self._fast.mode
        self._compiled: Any = None  # the compiled forest (``predict_rows`` scores several rows in one call)
        self._compiled_one: Any = None
        self._use_compiled(text, booster)

    def _use_compiled(self, text: str, booster: object) -> None:
        """Predict with the compiled tree engine (:mod:`fraudscore.model.compiled`, a few times faster per row
        than LightGBM's single-row path) when it builds here and agrees with ``Booster.predict`` bit for bit on
        probe rows; else keep LightGBM's path. ``FRAUDSCORE_NO_COMPILED=1`` keeps LightGBM's path."""
        import os

        from ..model.compiled import DISABLE_ENV, CompileError, CompiledForest, forest_tables

        if os.environ.get(DISABLE_ENV) == "1":
            return
        try:
            forest = CompiledForest(forest_tables(text))
        except (CompileError, ConfigError, OSError):
            return
        if forest.verify(booster) == 0:
            self._compiled = forest
            self.predict = self._compiled_one = forest.predict_one
            self.engine = forest.mode

    def predict_rows(self, rows: bytes, n: int) -> array:
        """Probabilities of ``n`` rows of :data:`PAIR_FEATURES` packed as C-order float64 (``rows``).

        Equal, bit for bit, to ``predict`` of each row as a list: the compiled tree engine scores the
        rows in one call (the same trees, in the same order, from the same row values); LightGBM's
        path (or a replaced :meth:`predict`) gets one list per row.

        Examples
        --------
        >>> from array import array
        >>> m = default_link_model()
        >>> x = [0.0] * len(PAIR_FEATURES)
        >>> list(m.predict_rows(array("d", x + x).tobytes(), 2)) == [m.predict(x)] * 2
        True
        """
        X = memoryview(rows).cast("d")
        k = len(PAIR_FEATURES)
        if len(X) != n * k:
            raise ConfigError(f"predict_rows needs {n} rows of {k} values. Got {len(X)} values instead.")
        forest = self._compiled
        if forest is not None and self.predict is self._compiled_one:
            out = array("d", bytes(8 * n))
            if n:
                forest.predict_buffer(X, out)
            return out
        predict = self.predict
        return array("d", [predict(X[i * k:(i + 1) * k].tolist()) for i in range(n)])

    def best_rows(self, rows: bytes, n: int) -> array:
        """:meth:`predict_rows` where only the best row matters: the probability of every row that may be the
        best (all rows tied with the highest probability included), bit for bit, and ``-1.0`` for the rows
        whose probability is provably below it (the compiled engine stops walking a row's trees there, see
        :meth:`~fraudscore.model.compiled.CompiledForest.predict_best_buffer`); on LightGBM's path (or a
        replaced :meth:`predict`) every row's probability.

        Examples
        --------
        >>> from array import array
        >>> m = default_link_model()
        >>> x, y = [0.0] * len(PAIR_FEATURES), [1.0] * len(PAIR_FEATURES)
        >>> rows = array("d", x + y).tobytes()
        >>> best, every = m.best_rows(rows, 2), m.predict_rows(rows, 2)
        >>> max(best) == max(every) and all(b in (e, -1.0) for b, e in zip(best, every))
        True
        """
        forest = self._compiled
        if forest is None or self.predict is not self._compiled_one:
            return self.predict_rows(rows, n)
        X = memoryview(rows).cast("d")
        if len(X) != n * len(PAIR_FEATURES):
            raise ConfigError(f"best_rows needs {n} rows of {len(PAIR_FEATURES)} values. Got {len(X)} values "
                              "instead.")
        out = array("d", bytes(8 * n))
        if n:
            forest.predict_best_buffer(X, out)
        return out

    def __repr__(self) -> str:
        return f"LinkModel(trees={self.booster.num_trees()}, sha256={self.sha256[:12]}...)"

    def predict(self, x: Sequence[float]) -> float:  # replaced per instance by the fast path
        """Probability that the pair is the same device."""
        return self._fast.predict_one(x)  # pragma: no cover

    @classmethod
    def from_bytes(cls, data: bytes, sha256: str | None = None) -> LinkModel:
        """Read a model from file bytes, checking ``sha256`` when given.

        Raises
        ------
        BundleError
            When the hash does not match or the text is not a well-formed link model
            (checked by :func:`~fraudscore.model.text_check.check_model_text` first).
        """
        from ..model.text_check import check_model_text

        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise BundleError("tampered link model: its sha256 does not match")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BundleError("unreadable link model: linker.txt is not UTF-8 text") from None
        check_model_text(text, "linker.txt")  # before LightGBM's loader sees it (it trusts its input)
        try:
            return cls(text)
        except (UnicodeDecodeError, ConfigError, ValueError) as e:
            raise BundleError(f"unreadable link model: {e}") from None


@lru_cache(maxsize=1)
def default_link_model() -> LinkModel:
    """The link model shipped with the package (its sha256 checked against the shipped hash file)."""
    pkg = resources.files("fraudscore.fingerprint")
    data = pkg.joinpath(DEFAULT_MODEL_FILE).read_bytes()
    want = pkg.joinpath(DEFAULT_MODEL_FILE.replace(".txt", ".sha256")).read_text().split()[0]
    return LinkModel.from_bytes(data, want)
