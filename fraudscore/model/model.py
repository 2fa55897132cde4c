"""The trained model: booster + calibration + thresholds + metrics.

:class:`Model` is what :func:`~fraudscore.model.training.train_model` returns and
what a bundle stores. It predicts in batch (``Booster.predict`` on the whole
matrix, no per-row Python) and one row at a time through the C fast path
(:class:`~fraudscore.model.fast.FastPredictor`); both return the same numbers.

Saved form (a directory, or the dict of :meth:`Model.to_files`):

* ``model.txt`` -- LightGBM text format (best iteration only);
* ``calibration.json`` -- the calibration breakpoints;
* ``model.json`` -- format version, library version, feature names, thresholds,
  validation metrics, training metadata and, for models with categorical
  features, their vocabularies (``categories``; format version 2, which older
  libraries refuse with "upgrade fraudscore" instead of scoring without them).

Examples
--------
>>> import lightgbm as lgb
>>> rng = np.random.default_rng(1)
>>> X = rng.normal(size=(400, 2)); y = (X[:, 0] > 1).astype(int)
>>> b = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, y, feature_name=["amount", "term_months"]), 5)
>>> m = Model(b, ["amount", "term_months"])
>>> m.predict_one(X[0]) == float(m.predict_proba(X[:1])[0])
True
>>> sorted(m.to_files())
['calibration.json', 'model.json', 'model.txt']
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..categories import Categories
from ..errors import BundleError, ConfigError
from .calibration import Calibrator
from .engines import BATCH_ENGINE_ENV, REASON_MARGIN, SINGLE_ROW_ENV, ModelEngines  # noqa: F401 (re-exported)
from .fast import FastPredictor
from .thresholds import Thresholds, score_scale, score_scale_array

__all__ = ["Model", "MODEL_FORMAT_VERSION", "MODEL_FILES", "jsonable", "model_files"]

MODEL_FORMAT_VERSION = 2  # 2: category vocabularies (written only when a model has some; else 1)
MODEL_FILES = ("model.txt", "calibration.json", "model.json")
REFERENCE_FILE = "reference.json"
_MODEL_FILE = re.compile(r"^(model\.txt|calibration\.json|model\.json|model_member_\d+\.txt|reference\.json)$")


def model_files(files: Mapping[str, bytes], prefix: str = "") -> dict[str, bytes]:
    """The files of one saved model among ``files`` (names under ``prefix``, prefix removed).

    A single model has :data:`MODEL_FILES`; an ensemble adds ``model_member_<i>.txt``.

    Examples
    --------
    >>> sorted(model_files({"model.txt": b"", "rules.toml": b"", "challenger/model.txt": b"1"}))
    ['model.txt']
    >>> model_files({"challenger/model.txt": b"1"}, prefix="challenger/")
    {'model.txt': b'1'}
    """
    out = {}
    for name, data in files.items():
        if name.startswith(prefix) and _MODEL_FILE.match(name[len(prefix):]):
            out[name[len(prefix):]] = data
    return out


def jsonable(obj: Any) -> Any:
    """Recursively turn numpy scalars to Python and NaN/inf to ``None`` (strict JSON).

    Examples
    --------
    >>> jsonable({"a": np.float64("nan"), "b": [np.int64(3), 1.5]})
    {'a': None, 'b': [3, 1.5]}
    """
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


def _dumps(obj: Any) -> bytes:
    return (json.dumps(jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n").encode("utf-8")


class Model(ModelEngines):
    """A binary LightGBM fraud model with calibration and thresholds.

    Parameters
    ----------
    booster : lightgbm.Booster
        Trained binary booster whose feature names are ``feature_names``.
    feature_names : sequence of str
        Column names, in matrix order.
    calibrator : Calibrator, optional
        Raw -> calibrated probability (identity by default).
    thresholds : Thresholds, optional
        Review / decline thresholds on the 0..1000 score scale.
    metrics : dict, optional
        Validation metrics.
    training : dict, optional
        Training metadata (config, sizes, periods).
    fast : bool
        Use the C single-row fast path when available.
    reference : dict, optional
        Training-time distributions of the score and of each feature
        (:func:`fraudscore.monitor.build_reference`), saved as ``reference.json``
        and read by ``fraudscore monitor``.
    compiled : bool
        Evaluate the trees with the compiled engine
        (:class:`~fraudscore.model.compiled.CompiledForest`, bit-identical to
        LightGBM, faster one row at a time and in batch). Needs a C compiler and
        the Python headers on first use; when they are missing, the engine fails
        its load-time check, or ``FRAUDSCORE_NO_COMPILED=1`` is set, the model
        warns (except for the variable) and uses the fast path instead. A saved
        model remembers the choice (:attr:`compiled_info`).
    categories : Categories or mapping, optional
        Vocabularies of the categorical features (:mod:`fraudscore.categories`).

    Examples
    --------
    >>> import lightgbm as lgb
    >>> X = np.arange(60.0).reshape(30, 2); y = np.arange(30) % 2
    >>> b = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 2}, lgb.Dataset(X, y, feature_name=["x1", "x2"]), 3)
    >>> m = Model(b, ["x1", "x2"], thresholds=Thresholds(review=500, decline=900))
    >>> 0 <= m.score_one([1.0, float("nan")]) <= 1000
    True
    >>> m.contributions(X[:2]).shape
    (2, 3)
    """

    def __init__(
        self,
        booster: Any,
        feature_names: Sequence[str],
        *,
        calibrator: Calibrator | None = None,
        thresholds: Thresholds | None = None,
        metrics: Mapping[str, Any] | None = None,
        training: Mapping[str, Any] | None = None,
        fast: bool = True,
        reference: Mapping[str, Any] | None = None,
        compiled: bool = False,
        categories: Categories | Mapping[str, Any] | None = None,
    ) -> None:
        self.booster = booster
        self.feature_names: list[str] = [str(s) for s in feature_names]
        if booster.num_feature() != len(self.feature_names):
            raise ConfigError(
                f"The 'feature_names' parameter of Model must name the booster's {booster.num_feature()} features. "
                f"Got {len(self.feature_names)} instead."
            )
        if list(booster.feature_name()) != self.feature_names:
            raise ConfigError(
                "The 'feature_names' parameter of Model must equal the booster's feature names "
                "(train with lgb.Dataset(..., feature_name=...)). Got different names instead."
            )
        self.calibrator = calibrator or Calibrator.identity()
        self.thresholds = thresholds or Thresholds(review=500, decline=800)
        self.metrics: dict[str, Any] = dict(metrics or {})
        self.training: dict[str, Any] = dict(training or {})
        self.categories = categories if isinstance(categories, Categories) else Categories.from_dict(categories)
        unknown = [f for f in self.categories.features if f not in self.feature_names]
        if unknown:
            raise ConfigError(f"The 'categories' parameter of Model has vocabularies for features the model lacks: "
                              f"{unknown[:5]}.")
        self.reference: dict[str, Any] | None = None if reference is None else dict(reference)
        self._fast: Any = FastPredictor(booster, enabled=fast)
        self._one: Any = None  # the single-row engine's predict_one, chosen on first use (prepare_single_row)
        self._one_path = "pending"
        self._compiled: Any = None
        self._explainer: Any = None
        self._batch: Any = None  # the compiled forest for matrices, chosen on first use (batch_path)
        self._batch_path = "pending"
        self._shap: Any = None  # the compiled forest with FastTreeSHAP tables for contributions, chosen on first use
        self._shap_path = "pending"
        self._one_forest: Any = None  # the single-row engine's compiled forest (prepare_single_row), if any
        self._unsplit: np.ndarray | None = None  # features no tree splits on (unsplit_features)
        self.compiled_info: dict[str, Any] | None = None
        if compiled:
            self.compile()

    def compile(self, *, expected_sha256: str | None = None) -> Model:
        """Switch prediction to compiled trees (see the ``compiled`` parameter); returns ``self``.

        ``expected_sha256`` is the hash of the node tables a bundle recorded: a
        different hash raises :class:`BundleError`. The compiled engine is
        checked bit for bit against ``Booster.predict`` on probe rows before it
        is used. Whether or not it could be built here, :attr:`compiled_info`
        records the choice, so a saved model asks for compiled trees wherever
        it is loaded.
        """
        from .compiled import DISABLE_ENV, ENGINE, TABLES_VERSION, CompileError, CompiledForest, forest_tables

        try:
            tables = forest_tables(self.booster.model_to_string())
        except ConfigError as e:
            warnings.warn(f"compiled trees are not available for this model ({e}); using the {self._fast.mode} path",
                          RuntimeWarning, stacklevel=2)
            return self
        digest = tables.sha256()
        if expected_sha256 is not None and expected_sha256 != digest:
            raise BundleError("compiled trees: the node tables built from model.txt do not match the sha256 "
                              "recorded for them (model.json or model.txt was changed)")
        self.compiled_info = {"engine": ENGINE, "tables_version": TABLES_VERSION, "tables_sha256": digest}
        if os.environ.get(DISABLE_ENV) == "1":
            return self
        try:
            forest = CompiledForest(tables)
        except CompileError as e:
            warnings.warn(f"compiled trees could not be built ({e}); using the {self._fast.mode} path",
                          RuntimeWarning, stacklevel=2)
            return self
        bad = forest.verify(self.booster)
        if bad:  # pragma: no cover - would be a bug in the engine
            warnings.warn(f"compiled trees differ from LightGBM on {bad} probe rows; using the {self._fast.mode} "
                          "path", RuntimeWarning, stacklevel=2)
            return self
        self._compiled = forest
        self._fast = forest
        self._one, self._one_path = forest.predict_one, "compiled"
        self._explainer = None
        if forest.explains:
            bad = forest.verify_contributions(self.booster, n=8)
            if bad:  # pragma: no cover - would be a bug in the engine
                warnings.warn(f"compiled TreeSHAP differs from LightGBM on {bad} probe rows; explaining with "
                              "LightGBM", RuntimeWarning, stacklevel=2)
            else:
                self._explainer = forest
        return self

    # -- prediction ---------------------------------------------------------
    @property
    def inference_path(self) -> str:
        """``"compiled"`` (compiled trees), ``"fast"`` (LightGBM's C single-row API) or ``"fallback"``
        (``Booster.predict``)."""
        return self._fast.mode

    def _matrix(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.num_features:
            raise ConfigError(
                f"The 'X' parameter must be a matrix with {self.num_features} columns. Got shape {X.shape} instead."
            )
        return X

    def predict_raw(self, X: Any) -> np.ndarray:
        """Uncalibrated LightGBM probabilities for a matrix (``Booster.predict``)."""
        X = self._matrix(X)
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        engine = self._compiled if self._compiled is not None else self._batch_engine()
        if engine is not None:
            return engine.predict(X)
        return np.asarray(self.booster.predict(X), dtype=np.float64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated fraud probabilities for a matrix."""
        return self.calibrator.apply(self.predict_raw(X))

    def predict_one(self, x: Any) -> float:
        """Calibrated probability for one row; equals ``predict_proba(x[None])[0]`` exactly."""
        one = self._one
        if one is None:
            self.prepare_single_row()
            one = self._one
        return self.calibrator.apply_one(one(x))

    def score(self, X: Any) -> np.ndarray:
        """Scores (0..1000, ``int64``) for a matrix."""
        return score_scale_array(self.predict_proba(X))

    def score_one(self, x: Any) -> int:
        """Score (0..1000) for one row."""
        return score_scale(self.predict_one(x))

    def contributions(self, X: Any, *, exact: bool = False) -> np.ndarray:
        """TreeSHAP contributions (``pred_contrib``): shape ``(n, k + 1)``, the last column the bias, in log-odds.

        With compiled trees, or the compiled explainer a model without them builds on first use
        (:attr:`explain_path` ``"compiled"``), they come from the compiled TreeSHAP:
        its FastTreeSHAP tables equal ``Booster.predict(X, pred_contrib=True)`` to
        rounding (within :attr:`contribution_margin`), and ``exact=True`` (the classic
        algorithm) bit for bit (both checked on probe rows when the forest is built).
        """
        X = self._matrix(X)
        engine = self._explain_engine()
        if engine is not None:
            return engine.contributions(X, classic=exact)
        return np.asarray(self.booster.predict(X, pred_contrib=True), dtype=np.float64)

    # -- persistence --------------------------------------------------------
    def to_files(self) -> dict[str, bytes]:
        """The saved form as ``{file name: bytes}``."""
        import lightgbm as lgb

        meta = {
            "format_version": MODEL_FORMAT_VERSION if self.categories else 1,
            "library_version": __version__,
            "lightgbm_version": lgb.__version__,
            "feature_names": self.feature_names,
            "thresholds": self.thresholds.to_dict(),
            "metrics": self.metrics,
            "training": self.training,
        }
        if self.categories:
            meta["categories"] = self.categories.to_dict()
        if self.compiled_info is not None:
            meta["compiled"] = self.compiled_info
        files = {
            "model.txt": self.booster.model_to_string().encode("utf-8"),
            "calibration.json": _dumps(self.calibrator.to_dict()),
            "model.json": _dumps(meta),
        }
        if self.reference is not None:
            files[REFERENCE_FILE] = _dumps(self.reference)
        return files

    @classmethod
    def from_files(cls, files: Mapping[str, bytes], *, fast: bool = True, compiled: bool | None = None) -> Model:
        """Inverse of :meth:`to_files`; raises :class:`BundleError` naming what is wrong.

        ``model.txt`` is validated in Python (:func:`~fraudscore.model.text_check.check_model_text`)
        before LightGBM parses it, and the JSON files are size- and depth-checked first.
        ``compiled``: ``None`` follows the saved choice (``model.json``), ``True``
        compiles the trees anyway, ``False`` never does.
        """
        import lightgbm as lgb

        from ..bundle_files import loads_json
        from .text_check import check_model_text

        for name in MODEL_FILES:
            if name not in files:
                raise BundleError(f"model file {name!r} is missing")
        meta = loads_json(files["model.json"], "model.json")
        cal = loads_json(files["calibration.json"], "calibration.json")
        if not isinstance(meta, dict) or not isinstance(cal, dict):
            raise BundleError("model metadata is invalid: model.json and calibration.json must hold objects")
        version = meta.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise BundleError("model.json has no integer 'format_version'")
        if version > MODEL_FORMAT_VERSION:
            raise BundleError(
                f"model.json has format version {version}, newer than this library reads ({MODEL_FORMAT_VERSION}); "
                "upgrade fraudscore"
            )
        if version < 1:
            raise BundleError(f"model.json has an unknown format version {version}")
        reference = None
        if REFERENCE_FILE in files:
            reference = loads_json(files[REFERENCE_FILE], REFERENCE_FILE)
            if not isinstance(reference, dict):
                raise BundleError(f"{REFERENCE_FILE} must hold an object")
        kind = meta.get("kind", "single")
        if kind not in ("single", "ensemble"):
            raise BundleError(f"model.json has an unknown model kind {str(kind)[:40]!r}; upgrade fraudscore")
        try:
            text = files["model.txt"].decode("utf-8")
        except UnicodeDecodeError:
            raise BundleError("model.txt is not a valid LightGBM model: not UTF-8 text") from None
        checked = check_model_text(text)
        names = meta.get("feature_names")
        if not isinstance(names, list) or checked.feature_names != names:
            raise BundleError("feature mismatch: model.json feature names differ from those in model.txt")
        if kind == "ensemble":
            from .ensemble import EnsembleModel

            try:
                calibrator = Calibrator.from_dict(cal)
            except (ConfigError, KeyError, TypeError, ValueError, AttributeError) as e:
                raise BundleError(f"model metadata is invalid: {type(e).__name__}: {str(e)[:200]}") from None
            ensemble = EnsembleModel.from_meta(files, meta, calibrator=calibrator, fast=fast)
            ensemble.reference = reference
            return ensemble._compile_saved(meta, compiled)
        try:
            booster = lgb.Booster(model_str=text)
        except Exception as e:  # LightGBMError and whatever its Python side raises on odd text
            raise BundleError(f"model.txt is not a valid LightGBM model: {type(e).__name__}: {str(e)[:200]}") from None
        if booster.feature_name() != names:
            raise BundleError("feature mismatch: model.json feature names differ from those in model.txt")
        for part in ("metrics", "training"):
            if not isinstance(meta.get(part) or {}, dict):
                raise BundleError(f"model metadata is invalid: model.json field {part!r} must be an object")
        try:
            model = cls(
                booster,
                names,
                calibrator=Calibrator.from_dict(cal),
                thresholds=Thresholds.from_dict(meta["thresholds"]),
                metrics=meta.get("metrics") or {},
                training=meta.get("training") or {},
                fast=fast,
                categories=Categories.from_dict(meta.get("categories")),
                reference=reference,
            )
        except (ConfigError, KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            raise BundleError(f"model metadata is invalid: {type(e).__name__}: {str(e)[:200]}") from None
        return model._compile_saved(meta, compiled)

    def _compile_saved(self, meta: Mapping[str, Any], compiled: bool | None) -> Model:
        """Apply ``from_files``' ``compiled`` argument (``None``: the choice saved in ``model.json``); returns ``self``."""
        info = meta.get("compiled")
        if info is not None and not isinstance(info, dict):
            raise BundleError("model.json has an invalid 'compiled' section")
        if compiled or (compiled is None and info):
            from .compiled import ENGINE, TABLES_VERSION

            same = bool(info) and info.get("engine") == ENGINE and info.get("tables_version") == TABLES_VERSION
            self.compile(expected_sha256=info.get("tables_sha256") if same and info else None)
        return self

    def save(self, directory: str | Path) -> list[str]:
        """Write the model files into ``directory`` (created if needed); returns their names.

        Examples
        --------
        >>> import lightgbm as lgb, tempfile
        >>> X = np.arange(60.0).reshape(30, 2); y = np.arange(30) % 2
        >>> b = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 2}, lgb.Dataset(X, y, feature_name=["x1", "x2"]), 3)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     names = Model(b, ["x1", "x2"]).save(d)
        ...     m2 = Model.load(d)
        >>> names, m2.feature_names
        (['calibration.json', 'model.json', 'model.txt'], ['x1', 'x2'])
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = self.to_files()
        for name, data in files.items():
            (directory / name).write_bytes(data)
        return sorted(files)

    @classmethod
    def load(cls, directory: str | Path, *, fast: bool = True, compiled: bool | None = None) -> Model:
        """Read a model written by :meth:`save`."""
        directory = Path(directory)
        files: dict[str, bytes] = {}
        for name in MODEL_FILES:
            path = directory / name
            if not path.is_file():
                raise BundleError(f"model file {name!r} is missing in {directory}")
            files[name] = path.read_bytes()
        for path in [*directory.glob("model_member_*.txt"), directory / REFERENCE_FILE]:
            if path.is_file() and _MODEL_FILE.match(path.name):
                files[path.name] = path.read_bytes()
        return cls.from_files(files, fast=fast, compiled=compiled)

    def __repr__(self) -> str:
        return (
            f"Model({self.num_features} features, {self.booster.num_trees()} trees, "
            f"review={self.thresholds.review}, decline={self.thresholds.decline}, path={self.inference_path!r})"
        )
