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
        (ev(device={"fonts": [1, None]}), "device.fonts", "list items"),  # a known attribute is named
        (ev(device={"my_fonts": [1, None]}), "device.<attribute>", "list items"),  # a caller's name is not
        (ev(application_id="   "), "application_id", "must not be empty"),
        (ev(extra_thing=[1, 2]), "<extra field>", "extra fields"),
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


# -- the compiled validator equals the reference (Field.check, field by field) ------------------------
def _reference_validate(schema: Schema, event):
    """The original, uncompiled validation loop (declared fields only)."""
    from fraudscore.schema import _is_missing

    out = {}
    for f in schema.fields:
        value = event.get(f.name)
        if _is_missing(value):
            if f.required:
                raise EventError(f.name, "is required")
            out[f.name] = None
            continue
        v = f.check(f.name, value)
        if v is None and f.required:
            raise EventError(f.name, "is required and must not be empty")
        out[f.name] = v
    return out


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**13), max_value=10**13), st.floats(),
    st.text(alphabet=st.sampled_from(" \t\x00aZ9+-.:@é"), max_size=12), st.text(min_size=510, max_size=520),
    st.sampled_from(["2026-11-29T10:00:00Z", "  ", "", "1795946400", "nan", "true", "0"]),
    st.builds(np.int64, st.integers(-5, 5)), st.builds(np.float64, st.floats()), st.builds(np.bool_, st.booleans()),
)
_dev_values = st.one_of(
    _scalars, st.lists(st.one_of(st.text(max_size=3), st.integers(-3, 3), st.floats(), st.booleans()), max_size=3),
    st.tuples(st.text(max_size=3)), st.text(min_size=2049, max_size=2050),
    st.dictionaries(st.text(max_size=2), st.none()),
)
_devices = st.one_of(_scalars, st.dictionaries(st.one_of(st.text(max_size=4), st.integers(0, 2)), _dev_values,
                                                max_size=5))


def _outcome(fn, event):
    try:
        return ("ok", fn(event))
    except EventError as exc:
        return ("error", str(exc))
    except Exception as exc:  # noqa: BLE001 - both paths must fail the same way
        return ("raise", type(exc).__name__)


def _same(a, b):
    return a == b or repr(a) == repr(b)  # NaN-free outputs compare equal; repr covers the rest


@given(st.fixed_dictionaries({}, optional={n: (_devices if n == "device" else _scalars) for n in DEFAULT_SCHEMA.names}))
def test_compiled_validation_matches_reference(raw):
    got = _outcome(DEFAULT_SCHEMA.validate, raw)
    want = _outcome(lambda e: _reference_validate(DEFAULT_SCHEMA, e), raw)
    if got[0] == "ok" and want[0] == "ok":
        got = ("ok", {k: got[1][k] for k in DEFAULT_SCHEMA.names})
        assert [type(v) for v in got[1].values()] == [type(v) for v in want[1].values()]
    assert _same(got, want)


def test_compiled_checkers_match_field_check_on_edge_values():
    from fraudscore.schema import compile_check

    fields = [Field("s", "str"), Field("f", "float", minimum=0, maximum=10), Field("i", "int", minimum=1),
              Field("b", "bool"), Field("t", "timestamp"), Field("m", "mapping")]
    values = [" x ", "", "\x00", "a" * 513, 0, 5, 5.5, -1.0, 11, float("inf"), float("nan"), 10**400, True, False,
              np.int64(3), np.float32(2.5), np.bool_(True), "true", 1795946400, 10**20, 1.7e12, -5,
              {"a": 1, "b": [1, "x"], "c": None, "d": True, "e": 1.5}, {"a": float("nan")}, {"": 1}, {1: 2},
              {"a": [True]}, {"a": (1, 2)}, {"a": {"b": 1}}, {"a": "x" * 2049}, {"a": list(range(300))},
              {f"k{i}": i for i in range(65)}, [1, 2]]
    for f in fields:
        fast = compile_check(f)
        for v in values:
            assert _same(_outcome(fast, v), _outcome(lambda x: f.check(f.name, x), v)), (f.type, repr(v)[:40])


@given(st.one_of(st.integers(), st.integers(min_value=-(10**14), max_value=10**14), st.floats(), st.booleans()))
def test_compiled_timestamp_and_number_checks_match_field_check(value):
    from fraudscore.schema import compile_check

    for f in (Field("t", "timestamp"), Field("x", "float", minimum=-1e6, maximum=1e12), Field("n", "int")):
        got = _outcome(compile_check(f), value)
        assert _same(got, _outcome(lambda x: f.check(f.name, x), value)), (f.type, value)
