"""Categorical fields: vocabularies learnt at training, one encoding for every path.

A schema field of type ``category`` (``Field("browser", "category")``, or
``type = "category"`` in TOML) holds a short text value from a small set
(browser, traffic source, state, transaction type). It reaches the model as
the feature ``<field>__category``: an integer *code* that LightGBM treats as a
categorical feature. The codes come from a :class:`Vocabulary` built when the
model is trained and stored with it (``model.json``), so the same value gets the
same code online, in batch and in training, and a bundle scores exactly as it
was validated.

The vocabulary and the unseen-category policy
---------------------------------------------
* **Built on the training rows**: values seen at least ``min_count`` times, the
  ``max_size`` most frequent, get codes ``0 .. k-1`` (most frequent first, ties
  by value).
* **Unseen and rare values** get the one *other* code ``k``: a value the model
  never saw (a new browser version, a new state), and the values too rare to
  learn from, which trained that code. Scoring never fails on a new value and
  never invents a code LightGBM did not see in training.
* **Missing** (``None``, empty text) is ``NaN``: LightGBM's missing value.

Identifier fields (``identifier=...``: ID numbers, phones, cards, IPs) can never
be ``category`` fields: they are pseudonymised, and their values must never be
kept in a vocabulary stored in a bundle.

Examples
--------
>>> v = Vocabulary.fit(["Chrome", "IE", "Chrome", "Opera", None, "Chrome", "IE"], min_count=2)
>>> v.values, v.other_code
(('Chrome', 'IE'), 2)
>>> v.encode_one("IE"), v.encode_one("Edge"), v.encode_one(None)
(1.0, 2.0, nan)
>>> v.encode(np.array(["Opera", "Chrome", None], dtype=object)).tolist()
[2.0, 0.0, nan]
>>> v.decode(2.0), v.decode(float("nan"))
('(other)', '(missing)')
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = ["Vocabulary", "Categories", "CATEGORY_SUFFIX", "category_feature", "UNSEEN_POLICY"]

CATEGORY_SUFFIX = "__category"
#: what unseen values become (documented above; the only policy)
UNSEEN_POLICY = "other"
_NAN = float("nan")


def category_feature(field: str) -> str:
    """The model feature name of a category field.

    Examples
    --------
    >>> category_feature("browser")
    'browser__category'
    """
    return field + CATEGORY_SUFFIX


class Vocabulary:
    """Value -> code for one categorical field (see the module docstring).

    Parameters
    ----------
    values : sequence of str
        The values with their own code, in code order.
    """

    def __init__(self, values: Sequence[str]) -> None:
        vals = tuple(values)
        if not all(isinstance(v, str) and v for v in vals):
            raise ConfigError("The 'values' parameter of Vocabulary must hold non-empty strings. Got other values.")
        if len(set(vals)) != len(vals):
            raise ConfigError("The 'values' parameter of Vocabulary must hold distinct strings. Got duplicates.")
        self.values = vals
        self.index = {v: i for i, v in enumerate(vals)}
        self.other_code = len(vals)

    @classmethod
    def fit(cls, values: Iterable[Any], *, min_count: int = 10, max_size: int = 200) -> Vocabulary:
        """The vocabulary of ``values`` (``None`` ignored): frequent values first, ties by value."""
        counts = Counter(v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v)))
        ranked = sorted(((c, str(v)) for v, c in counts.items() if c >= min_count), key=lambda cv: (-cv[0], cv[1]))
        return cls([v for _, v in ranked[:max_size]])

    def encode_one(self, value: Any) -> float:
        """Code of one normalised value (``NaN`` when missing, the other code when unseen)."""
        if value is None:
            return _NAN
        return float(self.index.get(value, self.other_code))

    def encode(self, column: np.ndarray) -> np.ndarray:
        """Codes of a column of normalised values (object array, ``None`` = missing), as :meth:`encode_one`."""
        get, other = self.index.get, self.other_code
        return np.array([_NAN if v is None else float(get(v, other)) for v in np.asarray(column, dtype=object).tolist()],
                        dtype=np.float64)

    def decode(self, code: float) -> str:
        """The value behind a code, ``"(other)"`` for the other code, ``"(missing)"`` for NaN."""
        if code is None or (isinstance(code, float) and math.isnan(code)):
            return "(missing)"
        c = int(code)
        return self.values[c] if 0 <= c < len(self.values) else "(other)"

    def __len__(self) -> int:
        return len(self.values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.values == other.values

    def __repr__(self) -> str:
        return f"Vocabulary({len(self.values)} values + other)"


class Categories:
    """The vocabularies of a model, by field name; stored in ``model.json``.

    Examples
    --------
    >>> c = Categories({"browser": Vocabulary(["Chrome", "IE"])})
    >>> c.to_dict()
    {'unseen': 'other', 'fields': {'browser': ['Chrome', 'IE']}}
    >>> Categories.from_dict(c.to_dict()) == c, c.features
    (True, ['browser__category'])
    """

    def __init__(self, vocabularies: Mapping[str, Vocabulary] | None = None) -> None:
        self.vocabularies: dict[str, Vocabulary] = dict(vocabularies or {})

    @property
    def features(self) -> list[str]:
        """The model feature names of the fields."""
        return [category_feature(f) for f in self.vocabularies]

    def get(self, field: str) -> Vocabulary | None:
        """The vocabulary of ``field`` (None when the model has none for it)."""
        return self.vocabularies.get(field)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"unseen": UNSEEN_POLICY, "fields": {f: list(v.values) for f, v in self.vocabularies.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Categories:
        """Inverse of :meth:`to_dict` (``None`` or ``{}`` give no vocabularies)."""
        if not data:
            return cls()
        if not isinstance(data, Mapping) or data.get("unseen", UNSEEN_POLICY) != UNSEEN_POLICY \
                or not isinstance(data.get("fields", {}), Mapping):
            raise ConfigError(f"The category vocabularies must be {{'unseen': 'other', 'fields': {{...}}}}. "
                              f"Got {type(data).__name__} with keys {sorted(data) if isinstance(data, Mapping) else []}.")
        return cls({str(f): Vocabulary(v) for f, v in data.get("fields", {}).items()})

    def __bool__(self) -> bool:
        return bool(self.vocabularies)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Categories) and self.vocabularies == other.vocabularies

    def __repr__(self) -> str:
        return f"Categories({', '.join(self.vocabularies) or 'none'})"
