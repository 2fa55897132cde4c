"""Drift with ground truth: change generated data from a known day on, to test monitoring.

Two kinds of change a lender meets in production, each starting on a known
day so that a monitor can be checked against it:

* :func:`shift_field` -- a change in one input (a new product raises the
  requested amounts, a partner sends a new channel): the field of every row
  from ``start_day`` on is multiplied (numbers) or replaced (text);
* :func:`add_campaign` -- a new fraud pattern: extra rows of one fraud
  scenario (by default one the data did not hold before) from ``start_day``
  on, labelled, with their own application ids.

Both return a new :class:`~fraudscore.synth.data.SyntheticData` in arrival
order, with ``params["shifts"]`` recording what was changed and from when.

Examples
--------
>>> from fraudscore.synth import generate
>>> data = generate(n_days=6, per_day=300, seed=2, scenario_mix={"device_farm": 1.0})
>>> shifted = shift_field(data, start_day=4, field="amount", factor=2.0)
>>> day = (shifted.columns["ts"] - shifted.params["start"]) // 86_400_000
>>> bool((shifted.columns["amount"][day >= 4] == 2.0 * data.columns["amount"][day >= 4]).all())
True
>>> more = add_campaign(data, start_day=4, scenario="proxy_burst", n=120, seed=9)
>>> len(more) - len(data), sorted(set(more.labels["scenario"][more.labels["scenario"] != "genuine"]))
(120, ['device_farm', 'proxy_burst'])
>>> bool(np.all(np.diff(more.columns["ts"]) >= 0)), more.params["shifts"][0]["kind"]
(True, 'campaign')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ._parts import DAY_MS, Context
from .data import EVENT_COLUMNS, SyntheticData
from .fraud import BUILDERS

__all__ = ["shift_field", "add_campaign"]


def _day_of(data: SyntheticData) -> np.ndarray:
    return (data.columns["ts"] - int(data.params["start"])) // DAY_MS


def _check_day(data: SyntheticData, start_day: int) -> None:
    n_days = int(data.params.get("n_days", 0))
    if not isinstance(start_day, (int, np.integer)) or not 0 <= start_day < n_days:
        raise ConfigError(f"The 'start_day' parameter must be a day of the data, 0..{n_days - 1}. Got "
                          f"{start_day!r} instead.")


def shift_field(data: SyntheticData, start_day: int, field: str, *, factor: float | None = None,
                value: Any = None) -> SyntheticData:
    """Multiply a numeric field by ``factor`` (or set any field to ``value``) from ``start_day`` on.

    Parameters
    ----------
    data : SyntheticData
    start_day : int
        First changed day, counted from the data's first day.
    field : str
        An event column (``amount``, ``term_months``, ``channel``...).
    factor : float, optional
        Multiplier for a numeric field.
    value : optional
        Replacement value (for text fields, e.g. a new ``channel``).
    """
    _check_day(data, start_day)
    if field not in data.columns or field in ("application_id", "ts"):
        raise ConfigError(f"The 'field' parameter of shift_field must name an event column other than "
                          f"application_id and ts. Got {field!r} instead.")
    if (factor is None) == (value is None):
        raise ConfigError("shift_field needs exactly one of 'factor' (numbers) or 'value' (any field).")
    col = data.columns[field].copy()
    sel = _day_of(data) >= start_day
    if factor is not None:
        if col.dtype.kind != "f":
            raise ConfigError(f"The 'factor' parameter of shift_field needs a numeric field. Got {field!r} instead.")
        col[sel] = col[sel] * float(factor)
    else:
        col[sel] = value
    params = dict(data.params)
    params["shifts"] = [*data.params.get("shifts", []), {"kind": "field", "field": field, "start_day": int(start_day),
                                                          "factor": factor, "value": value}]
    return SyntheticData({**data.columns, field: col}, dict(data.labels), dict(data.truth), params)


def add_campaign(data: SyntheticData, start_day: int, scenario: str = "proxy_burst", n: int = 500, *,
                 seed: int = 0, days: int | None = None) -> SyntheticData:
    """Add ``n`` fraud rows of ``scenario`` spread over ``[start_day, start_day + days)``.

    Parameters
    ----------
    data : SyntheticData
    start_day : int
        First day of the campaign.
    scenario : str
        A fraud scenario of :data:`~fraudscore.synth.SCENARIOS`; pick one the
        data was generated without (``scenario_mix``) for a pattern the model
        has never seen.
    n : int
        Rows to add.
    seed : int
        Seed of the new rows.
    days : int, optional
        Campaign length (default: to the end of the data).
    """
    _check_day(data, start_day)
    if scenario not in BUILDERS:
        raise ConfigError(f"The 'scenario' parameter of add_campaign must be one of {tuple(BUILDERS)}. Got "
                          f"{scenario!r} instead.")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"The 'n' parameter of add_campaign must be a positive integer. Got {n!r} instead.")
    n_days = int(data.params["n_days"])
    span = n_days - start_day if days is None else int(days)
    if not 1 <= span <= n_days - start_day:
        raise ConfigError(f"The 'days' parameter of add_campaign must be in 1..{n_days - start_day}. Got {days!r} "
                          "instead.")
    rng = np.random.default_rng(seed)
    genuine = data.labels["is_fraud"] == 0
    ctx = Context(rng, int(data.params["start"]) + int(start_day) * DAY_MS, span,
                  genuine_ids=np.unique(data.columns["applicant_id"][genuine].astype(str)).astype(object),
                  next_device=int(data.truth["device_truth"].max(initial=-1)) + 1,
                  next_group=int(data.truth["group"].max(initial=-1)) + 1)
    part = BUILDERS[scenario](ctx, int(n))
    m = len(part["ts"])
    ids = np.array([f"N{seed % 1000:03d}{i:010d}" for i in range(m)], dtype=object)
    delay = rng.integers(7 * DAY_MS, 45 * DAY_MS, size=m).astype(np.int64)
    cols = {k: np.concatenate([data.columns[k], ids if k == "application_id" else part[k]])
            for k in EVENT_COLUMNS}
    labels = {"application_id": cols["application_id"],
              "is_fraud": np.concatenate([data.labels["is_fraud"], np.ones(m, dtype=np.int8)]),
              "label_ts": np.concatenate([data.labels["label_ts"], part["ts"] + delay]),
              "scenario": np.concatenate([data.labels["scenario"], part["scenario"]])}
    truth = {"device_truth": np.concatenate([data.truth["device_truth"], part["device_truth"]]),
             "group": np.concatenate([data.truth["group"], part["group"]])}
    order = np.argsort(cols["ts"], kind="stable")
    params = dict(data.params)
    params["shifts"] = [*data.params.get("shifts", []), {"kind": "campaign", "scenario": scenario,
                                                          "start_day": int(start_day), "days": span, "n": m,
                                                          "seed": seed}]
    return SyntheticData({k: v[order] for k, v in cols.items()}, {k: v[order] for k, v in labels.items()},
                         {k: v[order] for k, v in truth.items()}, params)
