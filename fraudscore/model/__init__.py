"""The model stage: training, calibration, thresholds, fast inference and explanations.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(2000, 3)); ts = np.arange(2000, dtype=np.int64) * 3_600_000
>>> y = (X[:, 1] + rng.normal(size=2000) > 2.0).astype(int)
>>> model = train_model(X, y, ts, ["amount", "count__device_id__24h", "term_months"],
...                     TrainConfig(num_boost_round=20, gap="1d"))
>>> model.predict_one(X[0]) == float(model.predict_proba(X[:1])[0])
True
>>> 0 <= score_scale(model.predict_one(X[0])) <= 1000
True
>>> model.thresholds.review <= model.thresholds.decline
True
"""

from .calibration import Calibrator, fit_isotonic
from .compiled import CompiledForest, CompileError, compiled_available
from .explain import REASON_TABLE, ModelReason, ReasonCode, describe_feature, explain_batch, explain_reasons
from .fast import FastPredictor, fast_path_available
from .metrics import (entity_precision_at_k, entity_precision_at_k_daily, evaluate, known_compromised_by_day,
                      recall_at_budget, recall_at_fpr)
from .model import MODEL_FORMAT_VERSION, Model
from .thresholds import SCORE_MAX, Thresholds, choose_thresholds, score_scale, score_scale_array
from .training import TrainConfig, time_split, train_model

__all__ = [
    "Model",
    "MODEL_FORMAT_VERSION",
    "TrainConfig",
    "train_model",
    "time_split",
    "Thresholds",
    "choose_thresholds",
    "score_scale",
    "score_scale_array",
    "SCORE_MAX",
    "Calibrator",
    "fit_isotonic",
    "FastPredictor",
    "fast_path_available",
    "CompiledForest",
    "CompileError",
    "compiled_available",
    "ModelReason",
    "ReasonCode",
    "REASON_TABLE",
    "describe_feature",
    "explain_reasons",
    "explain_batch",
    "evaluate",
    "recall_at_fpr",
    "recall_at_budget",
    "entity_precision_at_k",
    "entity_precision_at_k_daily",
    "known_compromised_by_day",
]
