"""Property-based adversarial suite: events, batches, labels and bundles built to break things.

Invariants, for any input:

* no foreign exception type: bad input is always a ``FraudscoreError`` (``EventError``
  for events and labels, ``BundleError`` for bundles) naming a field or file;
* ``score()`` and ``score_batch()`` give the same verdict on every row (accepted with
  the same action, or rejected naming the same field);
* error messages never echo user data (a marker planted in keys and values never
  shows up in an error);
* bundles: any mutation is refused with ``BundleError`` or loads, with bounded memory;
  no raw identifier of a kind list is in any file of a saved bundle.

The ``ci`` profile runs 30 examples per property; ``HYPOTHESIS_PROFILE=thorough`` many
more. ``benchmarks/fuzz.py`` runs the same invariants over 1e5 events and 1e4 bundles.
"""

from __future__ import annotations

import functools
import re
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fraudscore as fs
from fraudscore.bundle import Bundle
from fraudscore.errors import BundleError, EventError, FraudscoreError
from fraudscore.keys import Keys
from fraudscore.labels import LabelIndex
from fraudscore.schema import DEFAULT_SCHEMA
from fraudscore.velocity.defaults import default_feature_set

from .bundle_tools import read_dir, resign_files, write_dir, write_zip
from .helpers import SECRET, small_bundle, synthetic

MARKER = "13912345678"  # planted in keys and values: must never appear in an error message
KEY = Keys(SECRET)
INVISIBLE = "\u200b\u200d\u2060\ufeff\u00ad\u200e\u202e"

# -- values -------------------------------------------------------------------------------------------
_huge_ints = st.builds(lambda sign, e: sign * 10**e if e < 1000 else sign * 2**e,
                       st.sampled_from([1, -1]), st.sampled_from([19, 400, 5000, 1023, 1024, 17000]))
_floats = st.floats(allow_nan=True, allow_infinity=True)
_text = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.sampled_from(list("0123456789+-@. x") + list(INVISIBLE) + ["\x00", "\ud800", "１"]),
            max_size=30),
    st.sampled_from([MARKER, f"+86{MARKER}", f"{MARKER}@mail.com", "x" * 513, "y" * 2049, " ", ""]),
    st.builds(lambda n: "z" * n, st.integers(250, 3000)),
)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), _huge_ints, _floats, _text,
                    st.binary(max_size=8), st.sampled_from([np.int64(3), np.float64("nan"), np.bool_(True)]))
_value = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                      max_leaves=8)
_keys = st.one_of(st.sampled_from(["promo", "ip_country", "_private", "device.os", "x" * 70, MARKER, f"a{MARKER}",
                                   "", " "]),
                  st.integers(-3, 3), st.none(), st.tuples(st.integers(0, 2)))
_device_keys = st.one_of(st.sampled_from(["os", "user_agent", "screen", "languages", "timezone", "model",
                                          "color_depth", MARKER, "x" * 70, ""]),
                         st.text(max_size=6), st.integers(0, 2))
_device = st.one_of(
    st.dictionaries(_device_keys, _value, max_size=6),
    st.dictionaries(st.sampled_from([f"u{i}" for i in range(80)]), st.sampled_from(["x" * 300, "y" * 2000]),
                    max_size=80),
    _value,
)


@st.composite
def events(draw) -> dict:
    """A plausible event with some fields replaced by adversarial values and keys."""
    base = dict(draw(st.sampled_from(synthetic().to_records()[:40])))
    for field in draw(st.lists(st.sampled_from(DEFAULT_SCHEMA.names), max_size=3, unique=True)):
        base[field] = draw(_device if field == "device" else _value)
    for k, v in draw(st.lists(st.tuples(_keys, _value), max_size=3)):
        base[k] = v
    if draw(st.booleans()):
        base["phone"] = draw(st.sampled_from([MARKER, f"{MARKER[:3]}{INVISIBLE[0]}{MARKER[3:]}", "１" + MARKER[1:]]))
    return base


def _online(events_: list) -> list:
    sc = fs.Scorer(small_bundle(), SECRET)
    out = []
    for ev in events_:
        try:
            d = sc.score(ev)
            out.append(("ok", d.action, d.score))
        except EventError as e:
            _assert_clean(e)
            out.append(("err", e.field))
    return out


def _batch(events_: list) -> list:
    b = fs.Scorer(small_bundle(), SECRET).score_batch(events_)
    out: list = [None] * len(events_)
    for i, r in enumerate(b.rows.tolist()):
        out[r] = ("ok", b.action[i], int(b.score[i]))
    for e in b.errors:
        _assert_clean(e)
        out[e.row] = ("err", e.field)
    return out


def _assert_clean(e: Exception) -> None:
    assert isinstance(e, FraudscoreError), type(e)
    text = str(e) + " " + str(getattr(e, "field", ""))
    assert MARKER not in text and MARKER[3:] not in text, text


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(events(), min_size=1, max_size=6))
def test_events_same_verdict_online_and_batch_and_no_foreign_errors(evs):
    assert _online(evs) == _batch(evs)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(events(), _value), max_size=5))
def test_any_batch_is_scored_or_reported_row_by_row(rows):
    try:
        b = fs.Scorer(small_bundle(), SECRET).score_batch(rows)
    except EventError as e:  # only a batch that is not a list of rows at all
        _assert_clean(e)
        return
    assert sorted(b.rows.tolist() + [e.row for e in b.errors]) == list(range(len(rows)))
    for e in b.errors:
        _assert_clean(e)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["application_id", "ts", "amount", "phone", "device", "promo"]),
                       st.lists(_value, min_size=2, max_size=2), min_size=1))
def test_any_mapping_of_columns(columns):
    try:
        b = fs.Scorer(small_bundle(), SECRET).score_batch(columns)
    except EventError as e:
        _assert_clean(e)
        return
    assert len(b) + len(b.errors) == 2


# -- labels ---------------------------------------------------------------------------------------------
@given(app=_value, fraud=_value, when=_value)
def test_labels_are_stored_as_documented_or_refused(app, fraud, when):
    sc = fs.Scorer(small_bundle(), SECRET)
    try:
        sc.record_label(app, fraud, when)
    except EventError as e:
        _assert_clean(e)
        assert sc.velocity.store.stats()["labels"] == 0
        return
    assert isinstance(fraud, (bool, int, float, str, np.integer, np.floating, np.bool_)) and fraud is not None
    assert isinstance(app, (str, int, np.integer)) and not isinstance(app, bool)
    stored = sc.velocity.store.stats()["labels"]  # fraud labels are kept; a legitimate one is not
    assert (stored == 1) == bool(fraud if not isinstance(fraud, str) else fraud.strip().lower() in
                                      ("true", "yes", "fraud", "1"))


@given(st.lists(st.tuples(_value, _value, _value), min_size=1, max_size=4))
def test_label_tables_are_read_strictly(rows):
    table = {"application_id": [r[0] for r in rows], "is_fraud": [r[1] for r in rows],
             "label_time": [r[2] for r in rows]}
    try:
        idx = LabelIndex(table)
    except EventError as e:
        _assert_clean(e)
        return
    assert set(np.unique(idx.fraud).tolist()) <= {0.0, 1.0}


# -- bundles ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _bundle_files() -> tuple[tuple[str, bytes], ...]:
    """The files of a saved small bundle (a tuple: hypothesis never prints it)."""
    with tempfile.TemporaryDirectory() as d:
        small_bundle().save(Path(d) / "b", key=KEY)
        return tuple(sorted(read_dir(Path(d) / "b").items()))


_names = st.sampled_from(["manifest.json", "signature.json", "model.txt", "model.json", "calibration.json",
                          "rules.toml"])


@st.composite
def mutations(draw) -> tuple[dict[str, bytes], bool]:
    """Files of a bundle after 1-3 mutations; the flag says whether to re-sign as a key holder would."""
    files = dict(_bundle_files())
    for _ in range(draw(st.integers(1, 3))):
        name = draw(_names)
        data = bytearray(files.get(name, b""))
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete_file", "replace", "duplicate_line"]))
        if op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif op == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif op == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.sampled_from([b"[" * 300, b"{", b"\x00", b"nan", b"-1", b"Tree=0\n", b"\n\n",
                                              b"999999999999", b'"', b"\xff\xfe"]))
        elif op == "delete_file":
            files.pop(name, None)
            continue
        elif op == "replace":
            data = bytearray(draw(st.binary(max_size=64)))
        elif op == "duplicate_line" and data:
            lines = bytes(data).split(b"\n")
            j = draw(st.integers(0, len(lines) - 1))
            lines.insert(draw(st.integers(0, len(lines))), lines[j])
            data = bytearray(b"\n".join(lines))
        files[name] = bytes(data)
    resign = draw(st.booleans())
    if resign and "manifest.json" in files:
        try:
            files = resign_files(files, KEY)
        except (ValueError, KeyError, TypeError, AttributeError):  # the manifest itself no longer parses
            pass
    return files, resign


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=40)
@given(mutated=mutations(), as_zip=st.booleans())
def test_mutated_bundles_are_refused_or_load(mutated, as_zip):
    files, resigned = mutated
    with tempfile.TemporaryDirectory() as d:
        _load_mutated(Path(d) / "m", files, resigned, as_zip)


def _load_mutated(path: Path, files: dict[str, bytes], resigned: bool, as_zip: bool) -> None:
    if as_zip:
        path = path.with_suffix(".zip")
        write_zip(path, files)
    else:
        write_dir(path, files)
    tracemalloc.start()
    try:
        fs.load(str(path), key=KEY)  # verify, validate and build a scorer
        assert resigned or files == dict(_bundle_files())
    except BundleError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 64 * 2**20


_phones = st.builds(lambda d: "+861" + "3" + d, st.text(alphabet="0123456789", min_size=9, max_size=9))
_emails = st.builds(lambda a, b: f"{a}@{b}.com", st.text(alphabet="abcdefgh", min_size=3, max_size=8),
                    st.text(alphabet="xyz", min_size=3, max_size=5))


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=15)
@given(phones=st.lists(_phones, min_size=1, max_size=5), emails=st.lists(_emails, min_size=1, max_size=3),
       as_zip=st.booleans())
def test_no_raw_identifier_in_any_file_of_a_saved_bundle(phones, emails, as_zip):
    with tempfile.TemporaryDirectory() as d:
        _check_saved_lists(Path(d), phones, emails, as_zip)


def _check_saved_lists(tmp_path: Path, phones: list[str], emails: list[str], as_zip: bool) -> None:
    def q(vals):
        return ", ".join(f'"{v}"' for v in vals)
    toml = (f'[lists.p]\nkind = "phone"\nvalues = [{q(phones)}]\n[lists.e]\nkind = "email"\nvalues = [{q(emails)}]\n'
            '[[rules]]\ncode = "P"\nwhen = "phone in @p or email in @e"\naction = "decline"\n')
    b = Bundle(schema=DEFAULT_SCHEMA.to_dict(), features=default_feature_set().to_dict(), rules_toml=toml,
               fingerprint={"scheme_version": 1, "key_id": KEY.key_id})
    out = tmp_path / f"b{abs(hash((tuple(phones), tuple(emails))))}"
    b.save(out, zip=as_zip, key=KEY)
    if as_zip:
        out = out.with_name(out.name + ".zip")
        with zipfile.ZipFile(out) as zf:
            blobs = [zf.read(n) for n in zf.namelist()] + [out.read_bytes()]
    else:
        blobs = list(read_dir(out).values())
    for raw in phones + emails:
        needle = re.sub(r"^\+86", "", raw).encode()
        assert not any(needle in blob for blob in blobs), raw
    sc = fs.Scorer(Bundle.load(out, key=KEY), KEY)
    assert sc.score({"application_id": "A", "ts": 1795946400, "phone": phones[0]}).rule_hits == ["P"]
    assert sc.score({"application_id": "B", "ts": 1795946401, "email": emails[0].upper()}).rule_hits == ["P"]

