"""Training: history + labels -> point-in-time features -> LightGBM -> a :class:`~fraudscore.bundle.Bundle`.

:func:`train` runs the batch feature pipeline (the same one ``score_batch``
uses) over the history in arrival order, feeding the labels in only from their
label time on, so every row's features are the ones the online path would
have computed at that moment. The model is then fitted on a time-ordered split
with a label-delay gap (:func:`fraudscore.model.train_model`), thresholds are
chosen on validation, and everything is packed into a bundle.

Configuration can come from a TOML file (``fraudscore.toml``)::

    [model]             # any TrainConfig parameter
    seed = 0
    num_boost_round = 400
    target_review_rate = 0.05
    max_fpr = 0.01

    [features]          # optional: replaces the default velocity spec set
    allowed_lateness = "1h"
    [[features.specs]]
    agg = "count"
    key = "device_id"
    window = "24h"

    [rules]             # optional: a rules file (default: the shipped loan rules)
    path = "rules.toml"
"""

from __future__ import annotations

import datetime as _dt
import tomllib
from collections.abc import Mapping
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .bundle import Bundle
from .errors import ConfigError
from .keys import Keys
from .model import TrainConfig, train_model
from .pipeline import protected_features
from .policy import Policy
from .rules import RuleSet
from .schema import DEFAULT_SCHEMA, Schema
from .scorer import Scorer, labels_for_rows
from .timeutil import to_epoch_ms
from .velocity import FeatureSet
from .velocity.defaults import default_feature_set

__all__ = ["train", "load_config", "TrainResult"]


def load_config(source: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    """Read a training configuration (TOML path, TOML text or a mapping)."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return dict(source)
    p = Path(source)
    text = p.read_text(encoding="utf-8") if p.suffix == ".toml" and p.exists() else str(source)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"training configuration does not parse: {exc}") from None


def _train_config(section: Mapping[str, Any]) -> TrainConfig:
    known = {f.name for f in dc_fields(TrainConfig)}
    unknown = set(section) - known
    if unknown:
        raise ConfigError(f"unknown [model] parameters {sorted(unknown)}; known: {sorted(known)}")
    return TrainConfig(**section)


class TrainResult:
    """What :func:`train` returns: the bundle plus the training matrix (for reports).

    Attributes
    ----------
    bundle : Bundle
    X : numpy.ndarray
        Point-in-time features of every valid history row.
    y : numpy.ndarray
        Labels aligned with ``X`` (NaN where unknown).
    ts : numpy.ndarray
        Event times (epoch ms).
    feature_names : tuple of str
    errors : list
        Rejected history rows.
    model_rows : numpy.ndarray of bool
        The rows the model was fitted and validated on (labelled, inside ``train_period``).
    model_columns : list of int
        The columns of ``X`` the model reads (``feature_names`` minus excluded features).
    """

    def __init__(self, bundle: Bundle, X: np.ndarray, y: np.ndarray, ts: np.ndarray,
                 feature_names: tuple[str, ...], errors: list[Any]) -> None:
        self.bundle, self.X, self.y, self.ts = bundle, X, y, ts
        self.feature_names, self.errors = feature_names, errors
        self.model_rows: np.ndarray = ~np.isnan(y)
        self.model_columns: list[int] = list(range(X.shape[1] if X.ndim == 2 else 0))

    def report(self, **kwargs: Any) -> Any:
        """The model report on the validation rows (:func:`fraudscore.model.report.model_report`).

        ``result.report().save(dir)`` writes ``report.md``, ``report.json`` and the PNG charts.
        """
        from .model.report import model_report

        rows = self.model_rows
        return model_report(self.bundle.model, self.X[rows][:, self.model_columns], self.y[rows].astype(np.int64),
                            self.ts[rows], **kwargs)

    def save(self, path: str | Path, *, zip: bool = False) -> Path:
        """Save the bundle (see :meth:`fraudscore.bundle.Bundle.save`); returns where it went."""
        path = Path(path)
        self.bundle.save(path, zip=zip)
        if zip and path.suffix != ".zip":
            path = path.with_name(path.name + ".zip")
        return path


def train(
    history: Any,
    labels: Any,
    *,
    key: Keys | bytes | str | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    schema: Schema = DEFAULT_SCHEMA,
    feature_set: FeatureSet | None = None,
    rules: RuleSet | None = None,
    exclude_features: list[str] | None = None,
    train_period: tuple[Any, Any] | None = None,
    entity_field: str | None = None,
) -> TrainResult:
    """Train a bundle on a labelled history.

    Parameters
    ----------
    history : any batch form (list of dicts, mapping of columns, DataFrame, Arrow Table)
        Applications in arrival order.
    labels : mapping of columns or DataFrame
        ``application_id``, ``is_fraud`` (0/1) and ``label_time`` (or ``label_ts``
        in epoch ms): when each label became known.
    key : Keys, bytes or str, optional
        The caller's secret; only its id is stored in the bundle.
    config : TOML path or text, or mapping, optional
        ``[model]``, ``[features]`` and ``[rules]`` sections (module docstring).
    schema, feature_set, rules : optional
        Override the defaults (the default loan schema, velocity specs and rules).
    exclude_features : list of str, optional
        Pipeline features the model must not see. Default: the features derived
        from protected characteristics (age, gender; see
        :func:`fraudscore.pipeline.protected_features`); also ``[inputs] exclude``
        in the configuration. Pass ``[]`` to give the model everything.
    train_period : (start, end), optional
        Event times (any timestamp form) bounding the model's rows,
        ``start <= ts < end``. Rows outside the period still run through the
        pipeline (they warm up the velocity windows, and their labels feed the
        label-delayed features from their label time on) and are in
        ``TrainResult.X``, but the model never sees them. Default: every
        labelled row.
    entity_field : str, optional
        A schema field (e.g. a card or applicant identifier): the model's
        validation metrics then include Entity Precision@100 per day over its
        pseudonyms (:func:`fraudscore.model.train_model`'s ``entity``).

    Returns
    -------
    TrainResult
        ``.bundle`` is ready for :func:`fraudscore.load` after ``.save(path)``.
    """
    keys = Keys.resolve(key)
    cfg = load_config(config)
    tcfg = _train_config(cfg.get("model", {}))
    if feature_set is None:
        feature_set = FeatureSet.from_dict(cfg["features"]) if "features" in cfg else default_feature_set()
    if rules is None:
        rules_cfg = cfg.get("rules", {})
        rules = RuleSet.from_toml(Path(rules_cfg["path"])) if "path" in rules_cfg else RuleSet.default()
    # A scorer without a model computes exactly the features score() and score_batch() will use.
    proto = Bundle(model=None, schema=schema.to_dict(), features=feature_set.to_dict(),
                   rules_toml=rules.to_toml(), lists={},
                   fingerprint={"scheme_version": _scheme_version(), "key_id": keys.key_id},
                   policy=Policy().to_dict(), training={}, metadata={})
    scorer = Scorer(proto, keys)
    cb, rec, X = scorer.features_batch(history, labels)
    lab = labels_for_rows(labels, cb.columns[schema.id_field])
    y = lab["is_fraud"]
    known = ~np.isnan(y)
    ts = np.asarray(cb.columns[schema.time_field], dtype=np.int64)
    if train_period is not None:
        lo, hi = (to_epoch_ms(v) for v in train_period)
        known &= (ts >= lo) & (ts < hi)
    if entity_field is not None and entity_field not in rec:
        raise ConfigError(
            f"The 'entity_field' parameter of train must name a schema field. Got {entity_field!r} instead.")
    if known.sum() < 50 or len(np.unique(y[known])) < 2:
        raise ConfigError("training needs at least 50 labelled rows with both classes")
    names = list(scorer.pipeline.feature_names)
    if exclude_features is None:
        exclude_features = cfg.get("inputs", {}).get("exclude", protected_features(names))
    unknown = sorted(set(exclude_features) - set(names))
    if unknown:
        raise ConfigError(f"The 'exclude_features' parameter of train names unknown features. Got {unknown} instead.")
    cols = [j for j, n in enumerate(names) if n not in set(exclude_features)]
    model_names = [names[j] for j in cols]
    entity = None if entity_field is None else np.asarray(rec[entity_field], dtype=object)[known]
    model = train_model(X[known][:, cols], y[known].astype(np.int8), ts[known], model_names, config=tcfg,
                        entity=entity)
    model.reference = _reference(model, X[known][:, cols], y[known], ts[known])
    th = model.thresholds
    policy = Policy(review=int(th.review), decline=int(th.decline))
    training = {
        "rows": int(cb.n),
        "excluded_features": list(exclude_features),
        "labelled_rows": int(known.sum()),
        "fraud_rate": float(np.nanmean(y)),
        "rejected_rows": len(cb.errors),
        "time_range": [int(ts.min()), int(ts.max())],
        "model_time_range": [int(ts[known].min()), int(ts[known].max())],
        "config": {f.name: getattr(tcfg, f.name) for f in dc_fields(TrainConfig)},
        "metrics": model.metrics,
        "thresholds": th.to_dict() if hasattr(th, "to_dict") else dict(vars(th)),
    }
    bundle = Bundle(model=model, schema=schema.to_dict(), features=feature_set.to_dict(),
                    rules_toml=rules.to_toml(), lists={},
                    fingerprint={"scheme_version": _scheme_version(), "key_id": keys.key_id},
                    policy=policy.to_dict(), training=training,
                    metadata={"created_by": f"fraudscore {__version__}",
                              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
    result = TrainResult(bundle, X, y, ts, scorer.pipeline.feature_names, cb.errors)
    result.model_rows = known
    result.model_columns = cols
    return result


def _reference(model: Any, Xm: np.ndarray, y: np.ndarray, ts: np.ndarray) -> dict[str, Any]:
    """The monitoring reference: feature distributions over the model's rows, scores over its validation rows."""
    from .model import score_scale_array
    from .monitor import build_reference

    valid = ts >= int(model.training.get("valid_start_ms", ts.min()))
    scores = score_scale_array(model.predict_proba(Xm[valid]))
    return build_reference(Xm, model.feature_names, scores, ts=ts, score_ts=ts[valid], y=y[valid],
                           thresholds=model.thresholds.to_dict())


def _scheme_version() -> int:
    from .fingerprint import SCHEME_VERSION

    return int(SCHEME_VERSION)
