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
    [[features.features]]
    agg = "count"
    key = "device_id"
    window = "24h"

    [rules]             # optional: a rules file (default: the shipped loan rules)
    path = "rules.toml"

    [inputs]            # optional: features the model must not see
    exclude = ["applicant_id__age"]

    [schema]            # optional: the event schema (inline, or path = "schema.toml")
    path = "schema.toml"

Any other section (a misspelled ``[modle]``) is an error. Relative paths are
read from the configuration file's folder.
"""

from __future__ import annotations

import datetime as _dt
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .batch import ColumnBatch
from .bundle import Bundle
from ._compat import progress as _progress
from .categories import Categories, Vocabulary, category_feature
from .errors import ConfigError, InputError
from .keys import Keys
from .model import TrainConfig, train_model
from .pipeline import RECORD_EXTRA_FIELDS, FeaturePipeline
from .policy import Policy
from .rules import RuleSet
from .schema import DEFAULT_SCHEMA, Schema
from .scorer import Scorer
from .timeutil import to_epoch_ms
from .velocity import FeatureSet
from .velocity.defaults import default_feature_set, derived_feature_set

__all__ = ["train", "load_config", "TrainResult", "unused_fields", "SECTIONS"]

log = logging.getLogger("fraudscore")


SECTIONS: tuple[str, ...] = ("features", "inputs", "model", "rules", "schema")
"""The sections a training configuration may have."""
_SECTION_KEYS = {"inputs": {"exclude"}, "rules": {"path"},
                 "features": {"allowed_lateness", "features", "feature", "specs"}}


def load_config(source: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    """Read a training configuration (TOML path, TOML text or a mapping) and check its sections.

    Raises
    ------
    ConfigError
        For TOML that does not parse, or a section or key this version does not
        know (a misspelled ``[modle]`` is an error, never silently ignored).

    Examples
    --------
    >>> load_config('[model]\\nseed = 3')["model"]
    {'seed': 3}
    >>> load_config('[modle]\\nseed = 3')
    Traceback (most recent call last):
    ...
    fraudscore.errors.ConfigError: unknown section [modle] in the training configuration; did you mean [model]? Known sections: [features], [inputs], [model], [rules], [schema]
    """
    if source is None:
        return {}
    base = None
    if isinstance(source, Mapping):
        cfg = dict(source)
    else:
        p = Path(source)
        is_file = p.suffix == ".toml" and "\n" not in str(source)
        if is_file and not p.is_file():
            raise ConfigError(f"{p}: no such configuration file")
        text = p.read_text(encoding="utf-8") if is_file else str(source)
        base = p.parent if is_file else None
        try:
            cfg = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"training configuration does not parse: {exc}") from None
    known = ", ".join(f"[{k}]" for k in SECTIONS)
    for key, value in cfg.items():
        if key == "_base":
            continue
        if key not in SECTIONS:
            import difflib

            close = difflib.get_close_matches(key, SECTIONS, n=1)
            hint = f"; did you mean [{close[0]}]?" if close else ";"
            raise ConfigError(f"unknown section [{key}] in the training configuration{hint} Known sections: {known}")
        if not isinstance(value, Mapping):
            raise ConfigError(f"[{key}] in the training configuration must be a section (a table), not a value")
        allowed = _SECTION_KEYS.get(key)
        extra = sorted(set(value) - allowed) if allowed is not None else []
        if extra:
            raise ConfigError(f"unknown key {extra[0]!r} in section [{key}] of the training configuration; "
                              f"known: {', '.join(sorted(allowed))}")  # type: ignore[arg-type]
    if base is not None:
        cfg["_base"] = str(base)
    return cfg


def _relative(cfg: Mapping[str, Any], path: str) -> Path:
    """A path from the configuration, relative to the configuration file's folder when it exists there."""
    p = Path(path)
    if not p.is_absolute() and "_base" in cfg and (Path(cfg["_base"]) / p).exists():
        return Path(cfg["_base"]) / p
    return p


def _schema_from_config(cfg: Mapping[str, Any]) -> Schema | None:
    section = cfg.get("schema")
    if section is None:
        return None
    if "path" in section:
        if len(section) > 1:
            raise ConfigError("[schema] holds either 'path' (a schema TOML file) or the schema itself, not both")
        return Schema.from_toml(_relative(cfg, section["path"]))
    return Schema.from_dict(section)


def _feature_set_from_config(section: Mapping[str, Any]) -> FeatureSet:
    specs = section.get("features", section.get("feature", section.get("specs", [])))
    return FeatureSet.from_dict({"allowed_lateness": section.get("allowed_lateness", "1h"), "features": specs})


def _train_config(section: Mapping[str, Any]) -> TrainConfig:
    known = {f.name for f in dc_fields(TrainConfig)}
    unknown = set(section) - known
    if unknown:
        raise ConfigError(f"unknown [model] parameters {sorted(unknown)}; known: {sorted(known)}")
    return TrainConfig(**section)


def unused_fields(schema: Schema, columns: Any = ()) -> dict[str, list[str]]:
    """Schema fields and input columns that can never reach the model, by reason.

    ``text``: plain text fields (no identifier kind, not an entity): rules can read
    them, the model cannot (declare an identifier kind and ``entity = true`` to
    count by them). ``extra``: input columns the schema does not declare.

    Examples
    --------
    >>> from fraudscore.schema import Field
    >>> s = Schema((Field("id", "str", required=True), Field("at", "timestamp", required=True),
    ...             Field("browser", "str")), id_field="id", time_field="at")
    >>> unused_fields(s, ["id", "at", "browser", "color"])
    {'text': ['browser'], 'extra': ['color']}
    """
    text = [f.name for f in schema.fields if f.type == "str" and f.identifier is None and not f.entity
            and f.name != schema.id_field]
    declared = set(schema.names)
    extra = [str(c) for c in columns if str(c) not in declared and not str(c).startswith(("device.", "_"))
             and not ("device" in declared and str(c) == "device")]
    return {"text": text, "extra": extra}


def _columns_of(history: Any) -> list[str]:
    if hasattr(history, "columns"):
        return [str(c) for c in history.columns]
    if hasattr(history, "column_names"):
        return [str(c) for c in history.column_names]
    if isinstance(history, Mapping):
        return [str(c) for c in history]
    return []


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
    notes : list of str
        What training left out and why (derived defaults, fields that never reach the model).
    """

    def __init__(self, bundle: Bundle, X: np.ndarray, y: np.ndarray, ts: np.ndarray,
                 feature_names: tuple[str, ...], errors: list[Any], keys: Keys | None = None) -> None:
        self.bundle, self.X, self.y, self.ts = bundle, X, y, ts
        self.feature_names, self.errors = feature_names, errors
        self.model_rows: np.ndarray = ~np.isnan(y)
        self.model_columns: list[int] = list(range(X.shape[1] if X.ndim == 2 else 0))
        self._keys = keys  # in memory only: signs the bundle on save
        self.notes: list[str] = []

    def report(self, **kwargs: Any) -> Any:
        """The model report on the validation rows (:func:`fraudscore.model.report.model_report`).

        ``result.report().save(dir)`` writes ``report.md``, ``report.json`` and the PNG charts.
        """
        from .model.report import model_report

        rows = self.model_rows
        return model_report(self.bundle.model, self.X[rows][:, self.model_columns], self.y[rows].astype(np.int64),
                            self.ts[rows], **kwargs)

    def save(self, path: str | Path, *, zip: bool = False, key: Keys | bytes | str | None = None) -> Path:
        """Save the bundle signed with the training key (see :meth:`fraudscore.bundle.Bundle.save`).

        ``key`` overrides the key :func:`train` was given (it must have the same id).
        Returns where the bundle went.
        """
        path = Path(path)
        self.bundle.save(path, zip=zip, key=key if key is not None else self._keys)
        if zip and path.suffix != ".zip":
            path = path.with_name(path.name + ".zip")
        return path


def train(
    history: Any,
    labels: Any,
    *,
    key: Keys | bytes | str | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    schema: Schema | None = None,
    feature_set: FeatureSet | None = None,
    rules: RuleSet | None = None,
    exclude_features: list[str] | None = None,
    train_period: tuple[Any, Any] | None = None,
    entity_field: str | None = None,
    progress: bool = False,
    max_rejected: float | None = None,
    client: Any = None,
) -> TrainResult:
    """Train a bundle on a labelled history.

    Parameters
    ----------
    history : any batch form (list of dicts, mapping of columns, DataFrame, Arrow Table)
        Applications in arrival order.
    labels : mapping of columns or DataFrame
        The schema's id field (``application_id`` by default; a column of that
        name is accepted for any schema), ``is_fraud`` (0/1) and ``label_time``
        (or ``label_ts`` in epoch ms): when each label became known. The label
        time may be left out when no feature is label-delayed.
    key : Keys, bytes or str, optional
        The caller's secret; only its id is stored in the bundle.
    config : TOML path or text, or mapping, optional
        ``[model]``, ``[features]``, ``[rules]``, ``[inputs]`` and ``[schema]``
        sections (module docstring); an unknown section is an error.
    schema : Schema, optional
        The event schema (default: the configuration's ``[schema]``, else the
        default loan schema).
    feature_set, rules : optional
        Override the defaults. With the default loan schema the defaults are the
        loan velocity features and rules; with another schema they are derived
        from it (:func:`fraudscore.velocity.defaults.derived_feature_set`, and the
        default rules whose fields exist): what is left out is logged and listed
        in ``TrainResult.notes``.
    exclude_features : list of str, optional
        Pipeline features the model must not see. Default: the features derived
        from protected characteristics (the schema's ``protected`` fields, and
        the age and gender read from ID numbers; see
        :meth:`fraudscore.pipeline.FeaturePipeline.protected_features`); also
        ``[inputs] exclude`` in the configuration. Pass ``[]`` to give the model
        everything.
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
    progress : bool, default False
        Show progress (features, then boosting rounds) with ``rich`` (extra ``cli``).
    max_rejected : float, optional
        Largest share of history rows that may be rejected (bad cells, late
        events); above it training stops with an :class:`~fraudscore.errors.InputError`
        naming the first bad row, before the model is fitted.
    client : distributed.Client, optional
        Compute the point-in-time features on this Dask cluster (extra ``dask``;
        :func:`fraudscore.distributed.features_dask`): ``history`` is then a
        Parquet file or folder (read by the workers) or a DataFrame, in arrival
        order. The features, and so the model, equal those computed in process.

    Returns
    -------
    TrainResult
        ``.bundle`` is ready for :func:`fraudscore.load` after ``.save(path)``.
    """
    keys = Keys.resolve(key)
    cfg = load_config(config)
    tcfg = _train_config(cfg.get("model", {}))
    notes: list[str] = []
    if schema is None:
        schema = _schema_from_config(cfg) or DEFAULT_SCHEMA
    custom = schema != DEFAULT_SCHEMA
    if feature_set is None:
        if "features" in cfg:
            feature_set = _feature_set_from_config(cfg["features"])
        elif not custom:
            feature_set = default_feature_set()
        else:
            probe = FeaturePipeline(schema, keys, FeatureSet([]))
            entities = [*schema.entities, *(["device_id"] if (probe.has_device or probe.device_id_field) else [])]
            feature_set, more = derived_feature_set(probe.record_fields, entities)
            notes += more
    rules_cfg = cfg.get("rules", {})
    if rules is None and "path" in rules_cfg:
        rules = RuleSet.from_toml(_relative(cfg, rules_cfg["path"]))
    default_rules = rules is None
    # A scorer without a model computes exactly the features score() and score_batch() will use.
    proto = Bundle(model=None, schema=schema.to_dict(), features=feature_set.to_dict(),
                   rules_toml="", lists={},
                   fingerprint={"scheme_version": _scheme_version(), "key_id": keys.key_id},
                   policy=Policy().to_dict(), training={}, metadata={})
    scorer = Scorer(proto, keys)
    if default_rules:
        known = (*scorer.pipeline.record_fields, *scorer.pipeline.feature_names)
        rules, skipped = RuleSet.default().for_names(known)
        if skipped:
            notes.append(f"{len(skipped)} default rule(s) need fields or features this schema lacks and are left "
                         f"out: {', '.join(skipped)}" if len(rules.rules) else
                         "no default rule applies to this schema (they are written for loan applications); "
                         "give your own with [rules] path")
    assert rules is not None
    rules.compile((*scorer.pipeline.record_fields, *scorer.pipeline.feature_names),
                  list_transform=scorer.pipeline.identity.pseudonym,
                  identifier_names=(*scorer.pipeline.identifier_fields, *RECORD_EXTRA_FIELDS))
    unused = unused_fields(schema, _columns_of(history))
    ignored = []
    text = [f for f in unused["text"] if f not in (schema.protected or ())]
    if text:
        from .schema import _FIELD_TYPES

        hint = 'declare short lists of values type = "category", or ' if "category" in _FIELD_TYPES else ""
        ignored.append("text fields never reach the model (rules can read them): " + ", ".join(text)
                       + f"; {hint}give an identifier kind and entity = true to count by them")
    if unused["extra"]:
        ignored.append("input columns not in the schema (kept as extra fields for rules, never in the model): "
                       + ", ".join(unused["extra"][:20]) + (" ..." if len(unused["extra"]) > 20 else ""))
    for note in ignored:
        log.warning("%s", note)
    for note in notes:
        log.info("%s", note)
    index = scorer.label_index(labels)
    with _progress(progress, unit="rows") as bar:
        task = bar.add_task("point-in-time features", total=None)
        if client is None:
            cb, rec, X = scorer.features_batch(history, index)
        else:
            cb, rec, X = _features_on_dask(client, scorer, history, index, entity_field)
        bar.update(task, total=cb.n_input, completed=cb.n_input)
    if max_rejected is not None and cb.n_input and len(cb.errors) / cb.n_input > max_rejected:
        raise InputError(f"{len(cb.errors):,} of {cb.n_input:,} history rows ({len(cb.errors) / cb.n_input:.1%}) "
                         f"were rejected, more than the {max_rejected:.0%} allowed; first: {cb.errors[0]}")
    lab = index.align(cb.columns[schema.id_field])
    y = lab["is_fraud"]
    known_y = ~np.isnan(y)
    ts = np.asarray(cb.columns[schema.time_field], dtype=np.int64)
    if train_period is not None:
        lo, hi = (to_epoch_ms(v) for v in train_period)
        known_y &= (ts >= lo) & (ts < hi)
    if entity_field is not None and entity_field not in rec:
        raise ConfigError(
            f"The 'entity_field' parameter of train must name a schema field. Got {entity_field!r} instead.")
    if known_y.sum() < 50 or len(np.unique(y[known_y])) < 2:
        raise ConfigError(f"training needs at least 50 labelled rows with both classes; got {int(known_y.sum())} "
                          f"labelled rows ({int(np.nansum(y[known_y]))} frauds) matching the history's "
                          f"{schema.id_field!r} values")
    names = list(scorer.pipeline.feature_names)
    if exclude_features is None:
        exclude_features = cfg.get("inputs", {}).get("exclude", scorer.pipeline.protected_features())
    unknown = sorted(set(exclude_features) - set(names))
    if unknown:
        raise ConfigError(f"The 'exclude_features' parameter of train names unknown features. Got {unknown} instead.")
    cols = [j for j, n in enumerate(names) if n not in set(exclude_features)]
    model_names = [names[j] for j in cols]
    # category fields: a vocabulary from the model's rows, the same codes score() and score_batch() will give
    vocabs = {f: Vocabulary.fit(np.asarray(rec[f], dtype=object)[known_y], min_count=tcfg.category_min_count,
                                max_size=tcfg.max_categories)
              for f in scorer.pipeline.category_fields if category_feature(f) in model_names}
    categories = Categories(vocabs)
    if vocabs:
        codes = scorer.pipeline.category_codes(rec, cb.n, categories)
        for j, f in enumerate(scorer.pipeline.category_fields):
            X[:, names.index(category_feature(f))] = codes[:, j]
    entity = None if entity_field is None else np.asarray(rec[entity_field], dtype=object)[known_y]
    with _progress(progress, unit="rounds") as bar:
        task = bar.add_task("boosting rounds", total=tcfg.num_boost_round)

        def _round(env: Any) -> None:
            bar.update(task, completed=env.iteration + 1)

        model = train_model(X[known_y][:, cols], y[known_y].astype(np.int8), ts[known_y], model_names, config=tcfg,
                            entity=entity, callbacks=[_round], categorical=categories.features,
                            categories=categories)
        bar.update(task, total=model.training.get("best_iteration") or tcfg.num_boost_round,
                   completed=model.training.get("best_iteration") or tcfg.num_boost_round)
    model.reference = _reference(model, X[known_y][:, cols], y[known_y], ts[known_y])
    th = model.thresholds
    policy = Policy(review=int(th.review), decline=int(th.decline))
    training = {
        "rows": int(cb.n),
        "excluded_features": list(exclude_features),
        "labelled_rows": int(known_y.sum()),
        "fraud_rate": float(np.nanmean(y)),
        "rejected_rows": len(cb.errors),
        "time_range": [int(ts.min()), int(ts.max())],
        "model_time_range": [int(ts[known_y].min()), int(ts[known_y].max())],
        "config": {f.name: getattr(tcfg, f.name) for f in dc_fields(TrainConfig)},
        "metrics": model.metrics,
        "thresholds": th.to_dict() if hasattr(th, "to_dict") else dict(vars(th)),
        "notes": notes + ignored,
    }
    bundle = Bundle(model=model, schema=schema.to_dict(), features=feature_set.to_dict(),
                    rules_toml=rules.to_toml(), lists={}, link_model=scorer.linker.model,
                    fingerprint={"scheme_version": _scheme_version(), "key_id": keys.key_id},
                    policy=policy.to_dict(), training=training,
                    metadata={"created_by": f"fraudscore {__version__}",
                              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
    result = TrainResult(bundle, X, y, ts, scorer.pipeline.feature_names, cb.errors, keys)
    result.model_rows = known_y
    result.model_columns = cols
    result.notes = notes + ignored
    return result


def _features_on_dask(client: Any, scorer: Scorer, history: Any, index: Any,
                      entity_field: str | None) -> tuple[ColumnBatch, dict[str, np.ndarray], np.ndarray]:
    """:meth:`Scorer.features_batch` computed on a Dask cluster (history in arrival order)."""
    from .distributed import features_dask

    got = features_dask(client, scorer, history, labels=index, sort_by_time=False,
                        keep=(entity_field,) if entity_field else ())
    schema = scorer.schema
    cols = got["columns"]
    cb = ColumnBatch({schema.id_field: cols[schema.id_field], schema.time_field: cols[schema.time_field]},
                     got["rows"], got["errors"], got["n_input"])
    return cb, cols, got["X"]


def _reference(model: Any, Xm: np.ndarray, y: np.ndarray, ts: np.ndarray) -> dict[str, Any]:
    """The monitoring reference: feature and score distributions over the model's validation rows.

    The validation rows are the most recent rows the model saw and the ones its
    thresholds were chosen on; features that trend with accumulated state (device
    link confidence as the device graph grows, counts over long windows) are
    compared with their latest training-time level, not the average over the
    whole training period.
    """
    from .model import score_scale_array
    from .monitor import build_reference

    valid = ts >= int(model.training.get("valid_start_ms", ts.min()))
    scores = score_scale_array(model.predict_proba(Xm[valid]))
    return build_reference(Xm[valid], model.feature_names, scores, ts=ts[valid], score_ts=ts[valid], y=y[valid],
                           thresholds=model.thresholds.to_dict())


def _scheme_version() -> int:
    from .fingerprint import SCHEME_VERSION

    return int(SCHEME_VERSION)
