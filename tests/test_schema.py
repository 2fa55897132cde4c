"""Schema validation: normalisation, clear errors, and the hypothesis rejection property."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraudscore.errors import ConfigError, EventError, FraudscoreError
from fraudscore.schema import DEFAULT_SCHEMA, Field, Schema

BASE = {"application_id": "A1", "ts": "2026-11-29T10:00:00Z"}


def ev(**kw):
    return {**BASE, **kw}


def test_normalises_every_field_and_keeps_missing_as_none():
    out = DEFAULT_SCHEMA.validate(ev(amount=5000, term_months=6, channel=" app ", device={"os": "android"}))
    assert out["ts"] == 1795946400000
    assert out["amount"] == 5000.0 and isinstance(out["amount"], float)
    assert out["term_months"] == 6.0
    assert out["channel"] == "app"
    assert out["device"] == {"os": "android"}
    for name in ("applicant_id", "phone", "email", "bank_card", "ip", "product", "inviter_id"):
        assert out[name] is None
    assert set(DEFAULT_SCHEMA.names) <= set(out)


@pytest.mark.parametrize("ts", [1795946400, 1795946400000, 1795946400.0, "2026-11-29T10:00:00Z",
                                "2026-11-29T18:00:00+08:00", "2026-11-29 10:00:00",
                                dt.datetime(2026, 11, 29, 10, tzinfo=dt.timezone.utc),
                                dt.datetime(2026, 11, 29, 10), np.datetime64("2026-11-29T10:00:00")])
def test_timestamp_forms_agree(ts):
    assert DEFAULT_SCHEMA.validate(ev(ts=ts))["ts"] == 1795946400000


def test_pandas_timestamp_accepted():
    pd = pytest.importorskip("pandas")
    assert DEFAULT_SCHEMA.validate(ev(ts=pd.Timestamp("2026-11-29T10:00:00Z")))["ts"] == 1795946400000


@pytest.mark.parametrize(
    "event, field, fragment",
    [
        ({"ts": 1795946400}, "application_id", "is required"),
        ({"application_id": "A"}, "ts", "is required"),
        (ev(ts="soon"), "ts", "ISO-8601"),
        (ev(ts=True), "ts", "timestamp"),
        (ev(ts=-5), "ts", "between"),
        (ev(amount="100"), "amount", "finite number"),
        (ev(amount=float("inf")), "amount", "finite number"),
        (ev(amount=-1), "amount", ">= 0"),
        (ev(amount=True), "amount", "finite number"),
        (ev(term_months=6.5), "term_months", "whole number"),
        (ev(term_months=0), "term_months", ">= 1"),
        (ev(phone=13800138000.0), "phone", "string"),
        (ev(device="iphone"), "device", "mapping"),
        (ev(device={"screen": {"w": 1}}), "device.screen", "string, number"),
        (ev(device={"fonts": [1, None]}), "device.fonts", "list items"),
        (ev(application_id="   "), "application_id", "must not be empty"),
        (ev(extra_thing=[1, 2]), "extra_thing", "extra fields"),
    ],
)
def test_bad_fields_raise_event_error_naming_the_field(event, field, fragment):
    with pytest.raises(EventError) as info:
        DEFAULT_SCHEMA.validate(event)
    err = info.value
    assert err.field == field
    assert fragment in str(err)
    assert isinstance(err, ValueError) and isinstance(err, FraudscoreError)


def test_error_message_never_contains_the_raw_value():
    with pytest.raises(EventError) as info:
        DEFAULT_SCHEMA.validate(ev(phone=13800138000.5))
    assert "13800138000" not in str(info.value)
    assert info.value.value_type == "float"


def test_not_a_mapping():
    with pytest.raises(EventError) as info:
        DEFAULT_SCHEMA.validate(["A1", 1])
    assert info.value.field == "event"


def test_extra_fields_are_kept_or_refused():
    assert DEFAULT_SCHEMA.validate(ev(campaign="spring", score_hint=3))["campaign"] == "spring"
    strict = Schema(DEFAULT_SCHEMA.fields, allow_extra=False)
    with pytest.raises(EventError, match="not a field"):
        strict.validate(ev(campaign="spring"))


def test_custom_schema_in_python_and_toml_round_trip():
    s = Schema((Field("id", "str", required=True), Field("at", "timestamp", required=True),
                Field("buyer", "str", identifier="generic", entity=True), Field("v", "float", minimum=0)),
               id_field="id", time_field="at")
    assert Schema.from_dict(s.to_dict()) == s
    assert s.entities == ("buyer",) and s.identifiers == {"buyer": "generic"}
    assert s.validate({"id": "x", "at": 1795946400, "v": 2})["v"] == 2.0


@pytest.mark.parametrize("bad", [
    dict(fields=(Field("a", "str"),)),  # no id / time field
    dict(fields=(Field("application_id", "str", required=True), Field("ts", "float", required=True))),
])
def test_schema_roles_checked(bad):
    with pytest.raises(ConfigError):
        Schema(**bad)


def test_field_declaration_errors():
    with pytest.raises(ConfigError, match="'type' parameter"):
        Field("x", "complex")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'name' parameter"):
        Field("_private", "str")
    with pytest.raises(ConfigError, match="must have type 'str'"):
        Field("n", "float", identifier="phone")
    with pytest.raises(ConfigError, match="does not parse"):
        Schema.from_toml("fields = [")


# -- hypothesis: malformed events are rejected with EventError naming a field, never anything else --
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=30), st.binary(max_size=5), st.datetimes(), st.dates())
values = st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                   st.dictionaries(st.text(max_size=5), c, max_size=3)),
                      max_leaves=6)
field_names = st.sampled_from([*DEFAULT_SCHEMA.names, "extra", "_hidden", "1bad", "device"])


@given(st.dictionaries(field_names, values, max_size=8))
def test_arbitrary_events_either_validate_or_raise_event_error(event):
    try:
        out = DEFAULT_SCHEMA.validate(event)
    except EventError as err:
        assert isinstance(err.field, str) and err.field
        assert str(err).startswith(("field ", "row "))
        return
    assert isinstance(out["ts"], int)
    assert isinstance(out["application_id"], str)
    for name in ("amount", "term_months"):
        assert out[name] is None or (isinstance(out[name], float) and math.isfinite(out[name]))


@given(st.one_of(values, st.tuples(values), st.lists(values, max_size=2)))
def test_arbitrary_non_mappings_rejected(thing):
    if isinstance(thing, dict):
        return
    with pytest.raises(EventError):
        DEFAULT_SCHEMA.validate(thing)
