"""Reference bundles and event streams for the benchmarks.

* ``default``: :func:`fraudscore.train` on synthetic data with the default
  configuration (early stopping, the 20 shipped rules).
* ``large``: the same pipeline (about 55 features) with exactly ``n_trees``
  trees of up to 63 leaves and ``n_rules`` rules (the shipped rules plus
  generated threshold rules over the feature names). ``train`` keeps only the
  best early-stopping iteration, so the booster is refitted for exactly
  ``n_trees`` rounds on the same training rows and parameters, keeping the
  calibration and thresholds ``train`` chose.

Bundles are built once per run (:class:`BenchContext` caches them in memory and
saves each under its cache directory, so worker processes can load them).

Examples
--------
>>> text = extra_rules_toml(["amount", "term_months"], [[100.0, 6.0], [900.0, 36.0]], 3)
>>> text.count("[[rules]]"), "BENCH_R003" in text
(3, True)
"""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle import Bundle
from ..keys import Keys
from ..rules import RuleSet
from ..synth import generate
from .common import BENCH_SECRET, Settings

__all__ = ["BenchContext", "extra_rules_toml", "events_stream"]


def extra_rules_toml(names: list[str], X: Any, k: int, start: int = 1) -> str:
    """``k`` generated rules (TOML) over the columns of ``X``: ``name > its 99th percentile``.

    Every third rule is a conjunction of two features; actions are ``tag`` with a
    few points, so the rules cost evaluation time without swamping decisions.
    """
    X = np.asarray(X, dtype=np.float64)
    usable = []
    for j, name in enumerate(names):
        col = X[:, j]
        col = col[~np.isnan(col)]
        if col.size and np.unique(col).size > 1:
            usable.append((name, float(np.percentile(col, 99))))
    if not usable:
        raise ValueError("no varying feature to write rules over")
    out = []
    for i in range(k):
        name, q = usable[i % len(usable)]
        when = f"{name} > {q:.6g}"
        if i % 3 == 2:
            name2, q2 = usable[(i * 7 + 3) % len(usable)]
            when = f"{name} >= {q:.6g} and {name2} > {q2:.6g}"
        code = f"BENCH_R{start + i:03d}"
        out.append(f'[[rules]]\ncode = "{code}"\ndescription = "generated benchmark rule"\nwhen = "{when}"\n'
                   f'action = "tag"\nscore = 5\nreason = "generated rule {code}"\n')
    return "\n".join(out)


def events_stream(n: int, seed: int = 101, per_day: int = 2000, start: str = "2026-03-02") -> Any:
    """``n`` synthetic applications in arrival order (a :class:`~fraudscore.synth.SyntheticData`)."""
    per_day = max(1, min(per_day, n))
    days = max(1, math.ceil(n / per_day))
    return generate(n_days=days, per_day=per_day, seed=seed, start=start).slice(0, n)


class BenchContext:
    """Settings, key, cached bundles and notes shared by the benchmark groups of one run."""

    def __init__(self, settings: Settings, cache_dir: str | Path | None = None, log: Any = None) -> None:
        self.settings = settings
        self.log = log if log is not None else logging.getLogger("fraudscore").info
        self.keys = Keys(BENCH_SECRET)
        self._tmp = None
        if cache_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fraudscore-bench-")
            cache_dir = self._tmp.name
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._bundles: dict[str, Bundle] = {}
        self.notes: list[str] = []
        self.train_X: np.ndarray | None = None

    def close(self) -> None:
        """Remove the temporary cache directory (when the context made one)."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def compiled_bundle(self, name: str) -> Bundle | None:
        """The bundle ``name`` with compiled trees (same files and predictions), or None when they cannot be
        built here (noted)."""
        key = name + "+compiled"
        if key not in self._bundles:
            import warnings

            from ..model import Model

            b = self.bundle(name)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model = Model.from_files(b.model.to_files(), compiled=True)
            if model.inference_path != "compiled":
                self.note(f"compiled trees unavailable: {'; '.join(str(w.message) for w in caught) or 'disabled'}")
                return None
            self._bundles[key] = Bundle(model=model, schema=b.schema, features=b.features, rules_toml=b.rules_toml,
                                        lists=b.lists, fingerprint=b.fingerprint, policy=b.policy,
                                        training=b.training, metadata=b.metadata)
        return self._bundles[key]

    def feature_matrix(self, name: str, n: int = 20_000, seed: int = 404) -> np.ndarray:
        """The model's feature matrix of ``n`` synthetic applications scored by bundle ``name`` (``float64``,
        one column per model feature in model order): real feature vectors for model-only benchmarks."""
        from ..scorer import Scorer

        bundle = self.bundle(name)
        res = Scorer(bundle, self.keys).score_batch(events_stream(n, seed=seed).columns, return_features=True,
                                                    explain=False)
        return np.column_stack([res.features[f] for f in bundle.model.feature_names])

    def note(self, text: str) -> None:
        """Record a note for the report (skipped sizes, missing servers)."""
        self.notes.append(text)
        self.log(f"  note: {text}")

    # -- bundles ----------------------------------------------------------------------
    def bundle_path(self, name: str) -> Path:
        """Directory of a saved bundle (built on first use)."""
        self.bundle(name)
        return self.cache_dir / name

    def bundle(self, name: str) -> Bundle:
        """The ``default`` or ``large`` reference bundle."""
        if name not in self._bundles:
            b = self._build_default() if name == "default" else self._build_large()
            b.save(self.cache_dir / name, key=self.keys)
            self._bundles[name] = b
        return self._bundles[name]

    def _train(self, config: dict[str, Any], rules: RuleSet | None = None) -> Any:
        from ..train import train

        s = self.settings
        data = generate(n_days=s.train_days, per_day=s.train_per_day, seed=11)
        return train(data.columns, data.labels, key=self.keys, config=config, rules=rules)

    def _build_default(self) -> Bundle:
        self.log("  building the default bundle ...")
        res = self._train({"model": {"seed": 0, "gap": "2d"}})
        self.train_X = res.X
        self._feature_names = list(res.feature_names)
        return res.bundle

    def _build_large(self) -> Bundle:
        import lightgbm as lgb

        from ..model import Model

        s = self.settings
        self.log(f"  building the large bundle ({s.large_trees} trees, 63 leaves, {s.large_rules} rules) ...")
        if self.train_X is None:
            self.bundle("default")
        assert self.train_X is not None
        default_rules = RuleSet.default()
        extra = max(0, s.large_rules - len(default_rules))
        rules_text = default_rules.to_toml() + "\n" + extra_rules_toml(self._feature_names, self.train_X, extra)
        rules = RuleSet.from_toml(rules_text)
        cfg = {"model": {"seed": 0, "gap": "2d", "num_leaves": 63, "num_boost_round": 20, "early_stopping_rounds": 10**6,
                         "min_data_in_leaf": 20}}
        res = self._train(cfg, rules)
        m = res.bundle.model
        params = dict(m.training["lgb_params"])
        names = list(m.feature_names)
        cols = [list(res.feature_names).index(n) for n in names]
        known = ~np.isnan(res.y)
        X, y = res.X[known][:, cols], res.y[known]
        # A latency reference, not a model to judge: refit on every labelled row so the trees can grow to 63 leaves.
        train_rows = np.ones(y.shape, dtype=bool)
        params["min_data_in_leaf"] = 5
        ds = lgb.Dataset(X[train_rows], y[train_rows], feature_name=names, free_raw_data=True)
        booster = lgb.train(params, ds, s.large_trees)
        booster = lgb.Booster(model_str=booster.model_to_string())
        training = dict(m.training)
        training["best_iteration"] = s.large_trees
        training["forced_trees"] = s.large_trees
        model = Model(booster, names, calibrator=m.calibrator, thresholds=m.thresholds, metrics=m.metrics,
                      training=training)
        b = res.bundle
        return Bundle(model=model, schema=b.schema, features=b.features, rules_toml=b.rules_toml, lists=b.lists,
                      fingerprint=b.fingerprint, policy=b.policy, training=b.training,
                      metadata={"name": "fraudscore-bench-large"})

    def describe(self, name: str) -> dict[str, Any]:
        """Trees, leaves, features and rules of a built bundle (for the report)."""
        b = self.bundle(name)
        info: dict[str, Any] = {"rules": len(RuleSet.from_toml(b.rules_toml)) if b.rules_toml else 0}
        if b.model is not None:
            dump = b.model.booster.dump_model()
            leaves = [t["num_leaves"] for t in dump["tree_info"]]
            info.update(trees=len(leaves), max_leaves=int(max(leaves)), mean_leaves=round(float(np.mean(leaves)), 1),
                        features=b.model.num_features)
        return info
