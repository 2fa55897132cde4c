"""The compiled Redis call packer and record reader == their Python references, byte for byte (no server needed)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraudscore._redis import hash_bytes_py, resp_command, resp_evalsha
from fraudscore.velocity.redis_calls import _counts_py, app_hash, group_row_py
from fraudscore.velocity.redis_wire import identifier_hash, record_groups_py
from tests.helpers import compiled_core

core = compiled_core("redis_calls", "the compiled Redis call packer")

ARG = st.one_of(st.binary(max_size=40), st.text(max_size=20), st.integers(), st.integers(-2**63, 2**63 - 1),
                st.floats(allow_nan=True, allow_infinity=True))


def _bits(groups):
    """A record's groups with their outputs as bytes (NaN compares equal to itself)."""
    t, gs = groups
    return t, [(g, struct.pack(f"<{len(v)}d", *v)) for g, v in gs]


def _same(f, g, *args, key=lambda x: x):
    """Both return equal results, or both raise the same exception type."""
    try:
        a = f(*args)
    except Exception as exc:  # noqa: BLE001
        with pytest.raises(type(exc)):
            g(*args)
        return None
    assert key(g(*args)) == key(a)
    return a


@given(st.lists(ARG, max_size=12))
def test_command_is_the_reference(args):
    _same(resp_command, core.command, args)


def test_command_is_what_hiredis_sends():
    hiredis = pytest.importorskip("hiredis")
    args = ["EVALSHA", "ab" * 20, 3, "fs:v{1a2b.3}:7:00ff", "k\u00e9", b"\x00\xff\r\n", 0.1, -7, 10**30, 1e300]
    assert core.command(args) == resp_command(args) == hiredis.pack_command(tuple(args))


@pytest.mark.parametrize("bad", [True, None, [1], object()])
def test_command_refuses_other_types(bad):
    for f in (resp_command, core.command):
        with pytest.raises(TypeError):
            f(["SET", "k", bad])


@given(st.text(max_size=40), st.lists(st.text(max_size=20), max_size=8), st.lists(ARG, max_size=10))
def test_evalsha_is_the_reference(sha, keys, args):
    _same(resp_evalsha, core.evalsha, sha, keys, args)


KEY = st.sampled_from(["h1", "h2", "fs:c{ab.1}:x", "\u00e9"])
ITEM = st.tuples(st.tuples(KEY, st.text(max_size=12)), st.one_of(st.integers(-2**53, 2**53), st.floats()))


@given(st.lists(ITEM, max_size=20), st.lists(st.text(max_size=5), max_size=3), st.booleans())
def test_counts_are_the_reference(items, keys0, preset):
    hidx0 = {"h2": 1} if preset else {}
    k1, h1, k2, h2 = list(keys0), dict(hidx0), list(keys0), dict(hidx0)
    assert core.counts(items, k1, h1) == _counts_py(items, k2, h2)
    assert (k1, h1) == (k2, h2)


def test_counts_refuse_what_struct_refuses():
    for f in (core.counts, _counts_py):
        with pytest.raises(struct.error):
            f([(("h", "x" * 70_000), 1)], [], {})
        with pytest.raises(struct.error):
            f([(("h", "x"), 1)], [], {"h": 70_000})


def _record(t: float, ctx: bytes, extra: bytes, groups: list[tuple[int, list[float], bytes]]) -> bytes:
    out = [struct.pack("<d", t), b"N" * 8, struct.pack("<H", len(ctx)), ctx, struct.pack("<H", len(extra)), extra,
           struct.pack("<H", len(groups))]
    for gi, vals, row in groups:
        out += [struct.pack(f"<HH{len(vals)}d", gi, len(vals), *vals), struct.pack("<H", len(row)), row]
    return b"".join(out)


GROUP = st.tuples(st.integers(0, 65535), st.lists(st.floats(), max_size=5), st.binary(max_size=20))


@given(st.floats(-1e15, 1e15), st.binary(max_size=10), st.binary(max_size=10), st.lists(GROUP, max_size=6),
       st.integers(0, 80))
def test_record_groups_are_the_reference(t, ctx, extra, groups, cut):
    rec = _record(t, ctx, extra, groups)
    got = _same(record_groups_py, core.record_groups, rec, key=_bits)  # bit for bit, NaN outputs included
    assert got is not None and got[0] == int(t)
    _same(record_groups_py, core.record_groups, rec[:max(0, len(rec) - cut)], key=_bits)  # short: struct.error


@pytest.mark.parametrize("t", [float("nan"), float("inf")])
def test_record_groups_refuse_a_time_int_refuses(t):
    _same(record_groups_py, core.record_groups, _record(t, b"", b"", []))


class _Meta:
    def __init__(self, codes: tuple[int, ...]) -> None:
        fmt = "<d" + "".join(("B", "d", "d", "8s", "8s")[c] for c in codes)
        self.codes, self.code_bytes, self.pack = codes, bytes(codes), struct.Struct(fmt)


VALUE = {0: st.one_of(st.integers(0, 1), st.booleans()),
         1: st.one_of(st.integers(-10**9, 10**9), st.floats(allow_nan=False)),
         2: st.one_of(st.none(), st.integers(-10**6, 10**6), st.floats()),
         3: st.one_of(st.none(), st.text(max_size=10), st.integers(), st.tuples(st.text(max_size=4), st.integers())),
         4: st.one_of(st.none(), st.just(""), st.text(max_size=10))}


@st.composite
def rows(draw):
    codes = tuple(draw(st.lists(st.integers(0, 4), max_size=8)))
    return codes, [draw(VALUE[c]) for c in codes], draw(st.integers(0, 2**53))


@given(rows())
def test_group_row_is_the_reference(row):
    codes, cur, ts = row
    m = _Meta(codes)
    got = core.group_row(m.code_bytes, cur, ts, identifier_hash, app_hash)
    assert got == group_row_py(m, cur, ts)  # type: ignore[arg-type]


@pytest.mark.parametrize("code,value", [(0, 256), (0, -1), (0, 1.5), (0, "1"), (1, "x"), (1, None), (2, "x")])
def test_group_row_refuses_what_the_reference_refuses(code, value):
    m = _Meta((code,))
    _same(lambda: group_row_py(m, [value], 5), lambda: core.group_row(m.code_bytes, [value], 5, identifier_hash,
                                                                        app_hash))


@given(st.one_of(st.text(max_size=40), st.binary(max_size=300)), st.integers(1, 64),
       st.sampled_from([b"fs-velocity", b"fs-shard", b"fs-prefix", b"", b"x" * 16]))
def test_hash_bytes_is_hashlib(text, size, person):
    assert core.hash_bytes(text, size, person) == hash_bytes_py(text, size, person)
    assert core.hash_bytes(text) == hash_bytes_py(text)


@pytest.mark.parametrize("args", [("x", 0), ("x", 65), ("x", 8, b"y" * 17), ("\ud800",), (1,)])
def test_hash_bytes_refuses_what_hashlib_refuses(args):
    _same(hash_bytes_py, core.hash_bytes, *args)


# -- binary link records (fingerprint/linkstate_redis_ops.py) ------------------------------------------------
INT64 = st.integers(-2**63, 2**63 - 1)
FIELD = st.one_of(st.none(), st.booleans(), INT64, st.floats(), st.text(max_size=30),
                  st.lists(INT64, max_size=16), st.tuples(INT64, INT64))
ODD = st.one_of(st.integers(2**63, 2**70), st.lists(st.text(max_size=3), min_size=1, max_size=3),
                st.dictionaries(st.text(max_size=3), INT64, max_size=2), st.just("\ud800"), st.lists(st.booleans(),
                                                                                                      min_size=1))
NAME = st.text(max_size=12).filter(lambda k: k not in ("t", "n", "ip"))


@st.composite
def records(draw, odd=False):
    rec = draw(st.dictionaries(NAME, FIELD, max_size=14))
    if odd:
        rec[draw(NAME)] = draw(ODD)
    rec.update(t=draw(st.integers(0, 2**52)), n=draw(st.integers(0, 2**40)))
    if draw(st.booleans()):
        rec["ip"] = draw(st.integers(0, 2**32))
    return rec


def _json_form(rec):
    """What the JSON of earlier versions reads back as (tuples are lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in rec.items()}


def _canon(rec):
    return repr(sorted((k, struct.pack("<d", v) if isinstance(v, float) else v) for k, v in rec.items()))


@given(records(), st.binary(min_size=8, max_size=8))
def test_link_records_are_the_reference(rec, version):
    from fraudscore.fingerprint.linkstate_redis_ops import RECORD_LAYOUT, decode_record_py, encode_record_py

    raw = core.encode_record(version, rec)
    assert raw is not None and raw == encode_record_py(version, rec)
    assert raw[:8] == version and raw[32] == RECORD_LAYOUT
    back, ref = core.decode_record(raw), decode_record_py(raw)
    assert _canon(back) == _canon(ref) and list(back) == list(ref)
    want = {**_json_form(rec), "ip": rec.get("ip", 0)}
    assert _canon(back) == _canon(want)


@given(records(odd=True), st.binary(min_size=8, max_size=8))
def test_link_records_layout_1_cannot_hold_stay_json(rec, version):
    from fraudscore.fingerprint.linkstate_redis_ops import decode_record_py, encode_record, encode_record_py

    assert core.encode_record(version, rec) is None
    raw = encode_record(version, rec)
    assert raw == encode_record_py(version, rec) and raw[32:33] == b"{"
    assert _canon(core.decode_record(raw)) == _canon(decode_record_py(raw))


def test_records_of_earlier_versions_are_read():
    from fraudscore.fingerprint.linkstate_redis_ops import _JSON, _TAIL, decode_record_py

    rec = {"id": "d_a_b", "fp": "fp1", "bf": None, "ov": [12], "c": [0, 163962130126506], "f": 1772411029318}
    raw = b"V" * 8 + _TAIL.pack(5, 2, 7) + _JSON.encode(rec).encode()  # (what round 9 wrote)
    want = {**rec, "t": 5, "n": 2, "ip": 7}
    assert core.decode_record(raw) == decode_record_py(raw) == want


@given(records(), st.integers(1, 60), st.binary(max_size=3))
def test_damaged_link_records_raise_alike(rec, cut, junk):
    from fraudscore.fingerprint.linkstate_redis_ops import decode_record_py

    raw = core.encode_record(b"\0" * 8, rec)
    for bad in (raw[:max(0, len(raw) - cut)], raw + junk, raw[:33] + b"\x09" + raw[34:]):
        _same(decode_record_py, core.decode_record, bad, key=_canon)


def _typed(x):
    """A value with its types and order, for an exact comparison (floats by their bytes, NaN included)."""
    if isinstance(x, dict):
        return ("dict", [(k, _typed(v)) for k, v in x.items()])
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [_typed(v) for v in x])
    if isinstance(x, float):
        return ("float", struct.pack("<d", x))
    return (type(x).__name__, x)


TAILS = st.sampled_from(["keep", "keep", "keep", "missing", 1.5, -0.0, float("inf"), float("nan"), 2**80, 2**64 + 1,
                         "x", True, None])


@given(st.one_of(records(), records(odd=True)), TAILS, st.sampled_from(["t", "n", "ip"]))
def test_parsed_form_of_a_written_record_is_the_reference(rec, tail, field):
    """``record_parsed`` (the form the worker's cache keeps for a record it wrote) == its reference, which is
    ``decode_record(encode_record(v, rec))`` in layout 1, or None for both (layout 1 cannot hold a field, or the
    tail would not read back), with the same types and field order."""
    from fraudscore.fingerprint.linkstate_redis_ops import decode_record_py, encode_record_py, record_parsed_py

    if tail == "missing":
        rec.pop(field, None)
    elif tail != "keep":
        rec[field] = tail
    ref = record_parsed_py(rec)
    got = core.record_parsed(rec)
    assert _typed(got) == _typed(ref)
    if ref is not None:
        assert _typed(ref) == _typed(decode_record_py(encode_record_py(b"\0" * 8, rec)))
        assert got is not rec


def test_parsed_form_declines_what_is_not_a_record():
    from fraudscore.fingerprint.linkstate_redis_ops import record_parsed_py

    from collections import OrderedDict

    for bad in (None, [], {"t": 1}, {"t": 1, "n": 2, 3: 4}, {"t": 1, "n": 2, "s": "\ud800"},
                OrderedDict(t=1, n=2, a=3)):
        assert core.record_parsed(bad) is None and record_parsed_py(bad) is None


# -- the call's link keys, versions, writes and group rows (redis_calls.call_args) ---------------------------
def _writes():
    from fraudscore.fingerprint.linkstate_redis_ops import BlockOp, Touch

    b4 = st.binary(min_size=0, max_size=6)
    touch = st.builds(Touch, st.integers(0, 2**52), st.integers(0, 2**32), b4)
    block = st.builds(BlockOp, st.text(max_size=12), b4, b4, b4, st.integers(0, 65535))
    return st.one_of(st.none(), st.binary(max_size=40), touch, block)


LKEY = st.sampled_from(["fs:x{ab.1}:f", "fs:r{ab.2}:d_a_b", "fs:b{ab.1}:blk", "fs:\u00e9"])
GKEY = st.sampled_from(["fs:v{ab.1}:3:00", "fs:v{ab.2}:3:01", "fs:v{ab.1}:4:02", "fs:v{cd.9}:5:ff"])


@given(st.lists(st.tuples(LKEY, st.one_of(st.none(), st.just(b""), st.binary(min_size=8, max_size=8))),
                max_size=6),
       st.lists(st.tuples(LKEY, _writes()), max_size=6),
       st.lists(st.tuples(st.integers(1, 4), GKEY, st.binary(max_size=24)), max_size=8),
       st.binary(min_size=4, max_size=4).map(lambda b: bytes(x & 1 for x in b)))
def test_layout_is_the_reference(sreads, swrites, groups, labels):
    from fraudscore.velocity.redis_calls import _layout_py

    gs = [(cfg, 0, 0, row) for cfg, _k, row in groups]
    gkeys = [k for _c, k, _r in groups]
    k1, k2 = ["rec"], ["rec"]
    assert core.layout(k1, sreads, swrites, gs, gkeys, labels, "fs:") == _layout_py(k2, sreads, swrites, gs, gkeys,
                                                                                    labels, "fs:")
    assert k1 == k2


def test_layout_tells_a_touch_by_its_now_as_the_reference():
    """A link write with ``now`` is a touch, one without a block move (round 14: looked up without an
    AttributeError); an error other than AttributeError while looking ``now`` up propagates in both."""
    from fraudscore.fingerprint.linkstate_redis_ops import BlockOp, Touch
    from fraudscore.velocity.redis_calls import _layout_py

    class Broken:
        @property
        def now(self):  # noqa: D401 - a failing attribute
            raise RuntimeError("boom")

    for w in (Touch(5, 7, b"abcd"), BlockOp("d_x_1", b"v", b"s", b"c", 3)):
        assert core.layout(["r"], [], [("k", w)], [], [], b"", "fs:") == _layout_py(["r"], [], [("k", w)], [], [],
                                                                                      b"", "fs:")
    for fn in (core.layout, _layout_py):
        with pytest.raises(RuntimeError, match="boom"):
            fn(["r"], [], [("k", Broken())], [], [], b"", "fs:")


# -- an event's features from its records (redis_calls.outputs) ----------------------------------------------
def _stores():
    from fraudscore.velocity import FeatureSet, FeatureSpec, RedisStore
    from fraudscore.velocity.plan import Plan

    from .conftest import parity_feature_set

    out = []
    extra = FeatureSet([FeatureSpec("count", key="ip", window="1h"), FeatureSpec("distinct", key="ip", of="phone",
                                                                                 window="1d"),
                        FeatureSpec("ratio_to_mean", key="ip", field="amount", window="1d"),
                        FeatureSpec("sum", key="phone", field="amount", window="1h")])
    for fs in (parity_feature_set(), extra):
        plan = Plan(fs)
        store = RedisStore(object())
        store.bind(plan)
        out.append((plan, store._meta))
    return out


STORES = _stores()
RAW = st.one_of(st.integers(-10**12, 10**12).map(float), st.just(0.0), st.just(float("nan")),
                st.sampled_from([float("inf"), 2.5, -0.0, 1e300]))


@st.composite
def record_sets(draw):
    from fraudscore.velocity.redis_args import n_outputs

    plan, meta = draw(st.sampled_from(STORES))
    recs = []
    for _ in range(draw(st.integers(0, 3))):
        gis = draw(st.lists(st.integers(1, len(plan.groups)), max_size=len(plan.groups), unique=True))
        groups = []
        for gi in gis:
            k = n_outputs(plan.groups[gi - 1])
            if draw(st.integers(0, 20)) == 0:
                k = draw(st.integers(0, k + 1))  # a damaged record: the reference decides
            groups.append((gi, [draw(RAW) for _ in range(k)], draw(st.binary(max_size=4))))
        t = draw(st.one_of(st.integers(0, 2**45).map(float), st.sampled_from([float("nan"), 7.5])))
        recs.append(_record(t, b"", b"", groups))
    statuses = [draw(st.sampled_from(["ok", "dup"])) for _ in recs]
    return plan, meta, {f"t{i}": (s, r) for i, (s, r) in enumerate(zip(statuses, recs))}, draw(st.integers(0, 2**45))


@given(record_sets())
def test_outputs_are_the_reference(case):
    from fraudscore.velocity.redis_calls import outputs, outputs_py

    plan, meta, done, ts = case
    _same(outputs_py, outputs, meta, plan, ts, done, key=lambda r: (r[0].tobytes(), r[1], r[2]))
