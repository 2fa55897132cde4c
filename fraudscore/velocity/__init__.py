"""Velocity features: windowed aggregates per entity, online and in batch.

One :class:`FeatureSet` definition serves three paths that agree bit for bit:
online (:class:`OnlineVelocity` over a :class:`MemoryStore` or
:class:`RedisStore`), batch (:func:`replay`) and training (the same replay).
See ``docs/velocity.md`` and ``docs/stores.md``.

Examples
--------
>>> import numpy as np
>>> from fraudscore.velocity import FeatureSet, FeatureSpec, OnlineVelocity, replay
>>> fs = FeatureSet([FeatureSpec("distinct", key="device_id", of="applicant_id", window="24h")])
>>> recs = [{"application_id": str(i), "ts": 1000 * i, "device_id": "d", "applicant_id": a}
...         for i, a in enumerate(["x", "y", "x"])]
>>> online = OnlineVelocity(fs)
>>> [float(online.update_and_read(r)[0]) for r in recs]
[1.0, 2.0, 2.0]
>>> cols = {"ts": np.array([r["ts"] for r in recs]),
...         "device_id": np.array(["d"] * 3, dtype=object),
...         "applicant_id": np.array(["x", "y", "x"], dtype=object)}
>>> replay(fs, cols)[:, 0].tolist()
[1.0, 2.0, 2.0]
"""

from .memory import MemoryStore
from .online import OnlineVelocity
from .redis_store import RedisStore
from .replay import late_mask, replay
from .spec import FeatureSet, FeatureSpec

__all__ = ["FeatureSpec", "FeatureSet", "OnlineVelocity", "MemoryStore", "RedisStore", "replay", "late_mask"]
