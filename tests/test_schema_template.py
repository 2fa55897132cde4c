"""The compiled validator's output dict copied from a template and filled in place (round 16, `velident`).

The same keys in the same order, the same values and types, the same collector tracking as the item-by-item
inserts (and as the Python reference), and the same ``EventError`` for the same bad field -- for the default
schema, a custom one and one wider than the validator's 32-value stack buffer.
"""

from __future__ import annotations

import gc

from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.schema import DEFAULT_SCHEMA, Field, Schema
from tests.helpers import compiled_core
from tests.test_schema_compiled import CUSTOM, events, outcome, reference_of, typed

core = compiled_core("schema", "the compiled schema module")

WIDE = Schema(tuple([Field("id", "str", required=True), Field("at", "timestamp", required=True)]
                    + [Field(f"f{i}", ("str", "float", "int", "bool", "category")[i % 5]) for i in range(36)]
                    + [Field("device", "mapping")]), id_field="id", time_field="at")


def tracked_as_inserted(d: dict) -> bool:
    """Whether a dict built by inserting d's items one by one is tracked by the collector."""
    fresh = {}
    for k, v in d.items():
        fresh[k] = v
    return gc.is_tracked(fresh)


@settings(deadline=None, max_examples=300)
@given(st.data())
def test_filled_output_equals_reference_in_order_and_tracking(data):
    for schema in (DEFAULT_SCHEMA, CUSTOM, WIDE):
        ev = data.draw(events(schema))
        ev.setdefault(schema.id_field, data.draw(st.sampled_from(["A1", " A2 ", "", 7])))
        ev.setdefault(schema.time_field, data.draw(st.sampled_from([1772409930777, 1772409930, 10**20])))
        got, want = outcome(schema, ev), outcome(reference_of(schema), ev)
        assert typed(got) == typed(want), (ev, got, want)
        if got[0] == "ok":
            assert list(got[1]) == list(want[1])  # key order
            assert gc.is_tracked(got[1]) == gc.is_tracked(want[1]) == tracked_as_inserted(got[1])
        hit = schema._fast.validate(ev) if schema._fast is not None else None
        if hit is not None:  # the raw validator's dict: every plan field, in plan order
            out, _extra = hit
            assert list(out) == [f.name for f in schema.fields]
            assert gc.is_tracked(out) == tracked_as_inserted(out)


def test_outputs_are_independent_copies():
    ev = {"application_id": "A1", "ts": 1772409930777, "amount": 5, "device": {"os": "ios"}}
    a = DEFAULT_SCHEMA.validate(ev)
    a["amount"] = "changed"
    a["new"] = 1
    del a["device"]
    b = DEFAULT_SCHEMA.validate(ev)
    assert b == reference_of(DEFAULT_SCHEMA).validate(ev) and b["amount"] == 5.0 and "new" not in b
    assert gc.is_tracked(b)  # holds the device dict
    plain = DEFAULT_SCHEMA.validate({"application_id": "A2", "ts": 1772409930777, "amount": 5})
    assert not gc.is_tracked(plain)  # str / float / int / None only, as item-by-item inserts leave it
