"""The container for generated data: event columns, labels and ground truth.

Examples
--------
>>> from fraudscore.synth import generate
>>> data = generate(n_days=2, per_day=300, seed=0)
>>> part = data.slice(0, 10)
>>> len(part), part.columns["ts"].dtype.name, part.labels["is_fraud"].dtype.name
(10, 'int64', 'int8')
>>> rec = part.to_records()[0]
>>> rec["application_id"] == part.columns["application_id"][0] and "ts" in rec
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import MissingDependencyError

__all__ = ["SyntheticData", "SCENARIOS", "EVENT_COLUMNS", "LABEL_COLUMNS"]

SCENARIOS: tuple[str, ...] = (
    "genuine", "device_farm", "identity_theft", "synthetic_identity", "invitation_ring", "proxy_burst",
)
"""Scenario codes of :attr:`SyntheticData.labels` ``['scenario']``; the first is the only non-fraud one."""
EVENT_COLUMNS: tuple[str, ...] = (
    "application_id", "ts", "applicant_id", "phone", "email", "bank_card", "ip", "inviter_id", "product",
    "channel", "device", "amount", "term_months",
)
LABEL_COLUMNS: tuple[str, ...] = ("application_id", "is_fraud", "label_ts", "scenario")


@dataclass
class SyntheticData:
    """Generated loan applications (columns in arrival order), labels and ground truth.

    Attributes
    ----------
    columns : dict of str to numpy.ndarray
        The event fields of :data:`EVENT_COLUMNS`: ``ts`` int64 epoch ms (sorted),
        ``amount`` / ``term_months`` float64, ``device`` an object array of dicts
        (``None`` when the channel sends none; rows of one device state share the
        dict object: do not mutate), the other fields object arrays of ``str`` or ``None``.
    labels : dict of str to numpy.ndarray
        ``application_id``, ``is_fraud`` (int8), ``label_ts`` (int64 ms, always
        after ``ts``: when the outcome became known) and ``scenario`` (object, one of
        :data:`SCENARIOS`).
    truth : dict of str to numpy.ndarray
        ``device_truth`` (int64): the true physical device of each row, ``-1`` when
        there is no device; ``group`` (int64): the fraud campaign (farm, ring, burst,
        victim) a fraud row belongs to, ``-1`` for genuine rows.
    params : dict
        The generation parameters.

    Examples
    --------
    >>> from fraudscore.synth import generate
    >>> d = generate(n_days=1, per_day=200, seed=1)
    >>> ev, lab = d.to_pandas()
    >>> len(ev) == len(lab) == len(d), list(lab.columns)
    (True, ['application_id', 'is_fraud', 'label_ts', 'scenario'])
    """

    columns: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    truth: dict[str, np.ndarray]
    params: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.columns["ts"].shape[0])

    def __repr__(self) -> str:
        n = len(self)
        fraud = int(self.labels["is_fraud"].sum()) if n else 0
        return f"SyntheticData(n={n}, fraud={fraud}, params={self.params!r})"

    def slice(self, start: int | None, stop: int | None) -> SyntheticData:
        """Rows ``start:stop`` (positions in arrival order) as a new :class:`SyntheticData`."""
        s = slice(start, stop)
        return SyntheticData(
            columns={k: v[s] for k, v in self.columns.items()},
            labels={k: v[s] for k, v in self.labels.items()},
            truth={k: v[s] for k, v in self.truth.items()},
            params=dict(self.params),
        )

    def to_records(self) -> list[dict[str, Any]]:
        """Events as a caller would send them: one dict per row, missing fields left out.

        ``ts`` is an ``int`` (epoch ms), numbers are ``float``, ``device`` the
        attribute dict (shared with the columns; copy before mutating).
        """
        names = list(self.columns)
        cols = [self.columns[k].tolist() for k in names]
        out = []
        for row in zip(*cols):
            out.append({k: v for k, v in zip(names, row) if v is not None and v == v})
        return out

    def to_pandas(self, *, flatten_device: bool = False) -> tuple[Any, Any]:
        """``(events_df, labels_df)`` as pandas DataFrames (needs the ``pandas`` extra).

        With ``flatten_device=True`` the ``device`` mapping becomes one column per
        attribute, ``device.<name>`` (lists joined with commas), the form CSV and
        Parquet files use; :func:`fraudscore.batch.to_columns` folds them back.
        """
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - exercised only without pandas
            raise MissingDependencyError(
                "SyntheticData.to_pandas needs pandas: pip install 'fraudscore[pandas]'") from None
        cols = {k: self.columns[k] for k in self.columns}
        if flatten_device and "device" in cols:
            devices = cols.pop("device")
            names = sorted({a for d in devices if d for a in d})
            for a in names:
                col = np.empty(len(devices), dtype=object)
                for i, d in enumerate(devices):
                    v = d.get(a) if d else None
                    col[i] = ",".join(map(str, v)) if isinstance(v, list) else v
                cols[f"device.{a}"] = col
        events = pd.DataFrame(cols)
        labels = pd.DataFrame({k: self.labels[k] for k in LABEL_COLUMNS})
        return events, labels
