"""Explanations from the FastTreeSHAP tables give the reasons of LightGBM's exact contributions: rows whose
reasons a rounding difference could change (near ties, contributions near zero) are explained again exactly,
in a batch and one row at a time alike; the batch engine of a model without compiled trees equals LightGBM."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.model import Model, explain_batch, explain_reasons
from fraudscore.model.compiled import DISABLE_ENV
from fraudscore.model.model import REASON_MARGIN
from tests.model.forest_data import same_bits


class _Stub:
    """Rounded contributions with a near tie (features 0 and 1) that the exact ones order the other way."""

    feature_names = ["amount", "email__disposable", "term_months"]
    contribution_margin = REASON_MARGIN

    def __init__(self) -> None:
        self.exact_calls = 0

    def contributions(self, X, exact: bool = False):
        X = np.asarray(X, dtype=np.float64)
        if exact:
            self.exact_calls += 1
            row = [0.5, 0.5 + 1e-13, 0.2, -1.0]  # LightGBM: feature 1 first
        else:
            row = [0.5 + 1e-13, 0.5, 0.2, -1.0]  # the tables: feature 0 first (within rounding)
        clear = [0.1, 0.9, 0.0, -1.0]  # no tie: explained from the tables
        return np.array([row if x[0] > 0 else clear for x in X])


def _codes(lists):
    return [[r.code for r in rs] for rs in lists]


def test_near_ties_are_explained_exactly():
    stub = _Stub()
    X = np.array([[100.0, 1.0, 6.0], [-1.0, 0.0, 6.0], [5.0, 1.0, 3.0]])
    got = explain_batch(stub, X)
    assert _codes(got) == [["MODEL_EMAIL_DISPOSABLE", "MODEL_AMOUNT", "MODEL_TERM"], ["MODEL_EMAIL_DISPOSABLE",
                           "MODEL_AMOUNT"], ["MODEL_EMAIL_DISPOSABLE", "MODEL_AMOUNT", "MODEL_TERM"]]
    assert stub.exact_calls == 1  # one call for both tied rows
    assert _codes([explain_reasons(stub, x) for x in X]) == _codes(got)


def test_a_contribution_near_zero_is_decided_exactly():
    class Z(_Stub):
        def contributions(self, X, exact: bool = False):
            self.exact_calls += exact
            c = 0.0 if exact else 1e-17  # the tables: a crumb above zero; exactly zero in LightGBM
            return np.array([[0.3, c, -0.1, 0.0] for _ in np.asarray(X)])

    z = Z()
    assert _codes(explain_batch(z, np.zeros((2, 3)))) == [["MODEL_AMOUNT"], ["MODEL_AMOUNT"]]
    assert z.exact_calls == 1


def test_certain_zeros_need_no_exact_pass():
    """A row whose reasons stop at contributions of features no tree splits on (exactly 0.0 in every engine)
    is explained from the tables; an uncertain zero still sends it to the exact pass."""
    class Zeros(_Stub):
        unsplit_features = np.array([False, True, True])

        def contributions(self, X, exact: bool = False):
            self.exact_calls += exact
            return np.array([[0.3, 0.0, 0.0, -1.0] for _ in np.asarray(X)])

    z = Zeros()
    assert _codes(explain_batch(z, np.zeros((4, 3)))) == [["MODEL_AMOUNT"]] * 4 and z.exact_calls == 0
    assert _codes([explain_reasons(z, np.zeros(3))]) == [["MODEL_AMOUNT"]] and z.exact_calls == 0
    z.unsplit_features = np.array([False, False, True])  # feature 1 is split on: its 0.0 may be a rounded crumb
    assert _codes(explain_batch(z, np.zeros((4, 3)))) == [["MODEL_AMOUNT"]] * 4 and z.exact_calls == 1


@pytest.fixture(scope="module")
def engines(model):
    if os.environ.get(DISABLE_ENV) == "1" or os.environ.get("FRAUDSCORE_PURE_PYTHON") == "1":
        pytest.skip("the compiled forest is off")
    lgbm = Model(model.booster, model.feature_names, fast=False)  # LightGBM for matrices and pred_contrib
    auto = Model(model.booster, model.feature_names)
    assert lgbm.batch_path == "pending" and auto.batch_path == "pending"
    return auto, lgbm


def test_the_batch_engine_equals_lightgbm(data, model, engines):
    auto, lgbm = engines
    X = data[0][:3000]
    assert same_bits(auto.predict_raw(X), model.booster.predict(X))
    assert same_bits(auto.predict_proba(X), lgbm.predict_proba(X))
    assert auto.batch_path == "compiled" and lgbm.batch_path == "lightgbm"
    assert auto.explain_path == "compiled" and lgbm.explain_path == "lightgbm"
    assert same_bits(auto.contributions(X[:200], exact=True), model.booster.predict(X[:200], pred_contrib=True))
    unsplit = model.booster.feature_importance("split") == 0
    assert np.array_equal(auto.unsplit_features, unsplit) and lgbm.unsplit_features is None
    assert np.all(model.booster.predict(X[:200], pred_contrib=True)[:, :-1][:, unsplit] == 0.0)
    assert np.all(auto.contributions(X[:200])[:, :-1][:, unsplit] == 0.0)
    one = Model(model.booster, model.feature_names)
    assert one.prepare_single_row() == "compiled" and one.batch_path == "pending"
    assert same_bits(one.predict_raw(X), model.booster.predict(X))  # matrices share the single-row forest
    assert one._batch is one._one_forest and one._shap_path == "pending"  # noqa: SLF001 - no tables built


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 19_000), st.integers(1, 40), st.lists(st.integers(0, 19), max_size=4),
       st.sampled_from([0.0, 1.0, float("nan")]))
def test_reasons_equal_lightgbms(data, engines, start, n, cols, fill):
    """Rows of the data, some columns overwritten with one value (which makes ties), explained by the tables
    (with the exact re-explanation of near ties) and by LightGBM's pred_contrib: the same reasons."""
    auto, lgbm = engines
    X = np.array(data[0][start:start + n])
    X[:, cols] = fill
    want = explain_batch(lgbm, X)
    strip = lambda lists: [[(r.code, r.message, r.feature) for r in rs] for rs in lists]  # noqa: E731
    assert strip(explain_batch(auto, X)) == strip(want)
    assert strip([explain_reasons(auto, x) for x in X[:3]]) == strip(want[:3])


NAMES = ["amount", "term_months", "count__card__cal1d", "fraud_rate__device_id__30d__delay7d", "browser__category",
         "time_since_last__applicant_id", "first_seen_age__phone__30d", "ratio_to_mean__amount__by__card__cal30d",
         "applicant_id__checksum_ok", "distinct__applicant_id__by__device_id__24h", "something_new"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(NAMES), st.one_of(st.floats(allow_nan=True, allow_infinity=False), st.sampled_from(
    [0.0, -0.0, 1.0, 3.0, 0.25, float("nan")]), st.sampled_from(["Opera", "0.0", "-0.0", "nan"])))
def test_remembered_messages_equal_describe_feature(name, value):
    from fraudscore.model.explain import REASON_TABLE, _describe, describe_feature

    want = describe_feature(name, value)
    assert _describe(name, value, REASON_TABLE) == want
    assert _describe(name, value, REASON_TABLE) == want  # the second time from the memo
