"""A bundle is a security boundary: nothing outside it is read, every bad bundle is a BundleError
with bounded memory, malformed model text never reaches LightGBM, no raw identifier is written."""

from __future__ import annotations

import json
import os
import re
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fraudscore as fs
from fraudscore.bundle import Bundle
from fraudscore.errors import BundleError, ConfigError
from fraudscore.keys import Keys
from fraudscore.limits import MAX_BUNDLE_FILE_BYTES
from fraudscore.model.text_check import check_model_text
from fraudscore.rules import RuleSet
from fraudscore.schema import DEFAULT_SCHEMA
from fraudscore.velocity.defaults import default_feature_set

from .bundle_tools import read_dir, replace_file, resign_files, write_dir, write_zip
from .helpers import SECRET, small_bundle

KEY = Keys(SECRET)
RAW = {"phone": "+8613800138000", "national_id": "11010519491231002X", "email": "victim@example.com",
       "bank_card": "6222020200112233445"}


def _rules_bundle(rules_toml: str, **kw) -> Bundle:
    return Bundle(schema=DEFAULT_SCHEMA.to_dict(), features=default_feature_set().to_dict(), rules_toml=rules_toml,
                  fingerprint={"scheme_version": 1, "key_id": KEY.key_id}, **kw)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sec") / "b"
    small_bundle().save(path, key=KEY)
    return path


def _copy(saved: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "b"
    write_dir(dst, read_dir(saved))
    return dst


# -- nothing outside the bundle is read --------------------------------------------------------------
def test_rules_toml_content_is_never_a_path(tmp_path):
    outside = tmp_path / "outside.toml"
    outside.write_text('[[rules]]\ncode = "OUT"\nwhen = "amount > 0"\naction = "decline"\n')
    path = tmp_path / "b"
    _rules_bundle("").save(path, key=KEY)
    for content in (str(outside), "outside.toml", "../outside.toml"):
        replace_file(path, KEY, "rules.toml", content.encode())
        with pytest.raises(BundleError, match="rules.toml is invalid.*TOML"):
            Bundle.load(path, key=KEY)
    with pytest.raises(ConfigError, match="TOML"):
        RuleSet.from_toml(str(outside), bundled=True)


def test_list_files_are_refused_inside_a_bundle(tmp_path):
    secret_file = tmp_path / "etc_passwd.txt"
    secret_file.write_text("+8613800138000\n")
    toml = f'[lists.x]\nkind = "phone"\nfile = "{secret_file}"\n[[rules]]\ncode = "A"\nwhen = "phone in @x"\n'
    with pytest.raises(ConfigError, match="names a file"):
        _rules_bundle(toml).save(tmp_path / "a", key=KEY)
    path = tmp_path / "b"
    _rules_bundle("").save(path, key=KEY)
    for target in (str(secret_file), "x.txt", "lists/x.txt"):
        replace_file(path, KEY, "rules.toml",
                     f'[lists.x]\nfile = "{target}"\n[[rules]]\ncode = "A"\nwhen = "phone in @x"\n'.encode())
        with pytest.raises(BundleError, match="names a file"):
            Bundle.load(path, key=KEY)
    with pytest.raises(ConfigError, match="names a file"):  # a scorer built from an in-memory bundle too
        fs.Scorer(_rules_bundle(f'[lists.x]\nfile = "{secret_file}"\n'), KEY)


def test_symlinks_and_special_files_are_refused(saved, tmp_path):
    path = _copy(saved, tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_bytes((path / "rules.toml").read_bytes())
    (path / "rules.toml").unlink()
    os.symlink(outside, path / "rules.toml")
    with pytest.raises(BundleError, match="symbolic link"):
        Bundle.load(path, key=KEY)
    (path / "rules.toml").unlink()
    os.mkfifo(path / "rules.toml")  # reading a FIFO would block forever
    with pytest.raises(BundleError, match="not a regular file"):
        Bundle.load(path, key=KEY)


def test_one_line_rules_without_trailing_newline(tmp_path):
    for text in ("# no rules yet", "rules = []", '[lists.a]\nvalues = ["x"]'):
        _rules_bundle(text).save(tmp_path / "b", key=KEY)
        back = Bundle.load(tmp_path / "b", key=KEY)
        assert back.rules_toml == text
        fs.Scorer(back, KEY)
    assert len(RuleSet.from_toml("# no rules yet").rules) == 0


# -- every byte is covered; zip archives hold nothing else -------------------------------------------
def test_zip_with_unlisted_or_duplicate_entries(saved, tmp_path):
    files = read_dir(saved)
    write_zip(tmp_path / "a.zip", {**files, "extra.txt": b"hello"})
    with pytest.raises(BundleError, match="not listed"):
        Bundle.load(tmp_path / "a.zip", key=KEY)
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        with pytest.warns(UserWarning, match="Duplicate"):
            zf.writestr("rules.toml", b"# other")
    with pytest.raises(BundleError, match="two entries"):
        Bundle.load(tmp_path / "d.zip", key=KEY)


# -- bounded memory for every bad bundle ---------------------------------------------------------------
def _patch_sizes(data: bytes, name: bytes, size: int) -> bytes:
    """Rewrite the uncompressed size of entry ``name`` in its local and central headers."""
    out = bytearray(data)
    for m in re.finditer(re.escape(b"PK\x03\x04"), data):
        if data[m.start() + 30: m.start() + 30 + len(name)] == name:
            struct.pack_into("<L", out, m.start() + 22, size)
    for m in re.finditer(re.escape(b"PK\x01\x02"), data):
        if data[m.start() + 46: m.start() + 46 + len(name)] == name:
            struct.pack_into("<L", out, m.start() + 24, size)
    return bytes(out)


def _peak_mib(fn) -> float:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2**20


def test_declared_huge_entry_is_refused_before_reading(saved, tmp_path):
    files = read_dir(saved)
    write_zip(tmp_path / "ok.zip", files)
    bomb = _patch_sizes((tmp_path / "ok.zip").read_bytes(), b"model.txt", 2**30)
    (tmp_path / "bomb.zip").write_bytes(bomb)

    def load():
        with pytest.raises(BundleError, match="larger than"):
            Bundle.load(tmp_path / "bomb.zip", key=KEY)
    assert _peak_mib(load) < 16


def test_entry_larger_than_declared_is_stopped(saved, tmp_path):
    files = read_dir(saved)
    write_zip(tmp_path / "ok.zip", files)
    lie = _patch_sizes((tmp_path / "ok.zip").read_bytes(), b"model.txt", 100)
    (tmp_path / "lie.zip").write_bytes(lie)
    with pytest.raises(BundleError, match="model.txt"):
        Bundle.load(tmp_path / "lie.zip", key=KEY)


def test_highly_compressed_entry_is_refused(saved, tmp_path):
    files = read_dir(saved)
    files["lists/zeros.txt"] = b"0" * (4 * 2**20)  # 4 MiB compressing ~1000:1
    write_zip(tmp_path / "z.zip", files)
    with pytest.raises(BundleError, match="compressed more than"):
        Bundle.load(tmp_path / "z.zip", key=KEY)


def test_oversized_files_are_refused_with_bounded_memory(saved, tmp_path, monkeypatch):
    import fraudscore.bundle_files as bf

    monkeypatch.setattr(bf, "MAX_BUNDLE_FILE_BYTES", 4096)
    path = _copy(saved, tmp_path)
    with pytest.raises(BundleError, match="'manifest.json' of the bundle is larger than 4096 bytes"):
        Bundle.load(path, key=KEY)
    assert MAX_BUNDLE_FILE_BYTES >= 2**20  # the real limit is far above any test bundle


def test_corrupted_zip_data_is_a_bundle_error(saved, tmp_path):
    files = read_dir(saved)
    write_zip(tmp_path / "ok.zip", files)
    data = bytearray((tmp_path / "ok.zip").read_bytes())
    start = data.index(b"model.txt") + len(b"model.txt") + 200
    for i in range(start, start + 64):
        data[i] ^= 0x5A
    (tmp_path / "bad.zip").write_bytes(bytes(data))
    with pytest.raises(BundleError):
        Bundle.load(tmp_path / "bad.zip", key=KEY)
    (tmp_path / "trunc.zip").write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(BundleError):
        Bundle.load(tmp_path / "trunc.zip", key=KEY)
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04" + os.urandom(500))
    with pytest.raises(BundleError):
        Bundle.load(tmp_path / "junk.zip", key=KEY)


@pytest.mark.parametrize("name, payload", [
    ("manifest.json", b"[" * 100_000 + b"]" * 100_000),
    ("model.json", b'{"a": ' * 5000 + b"1" + b"}" * 5000),
    ("calibration.json", b'{"kind": "piecewise_linear", "x": [NaN], "y": [1]}'),
    ("calibration.json", b'{"kind": "piecewise_linear", "x": [[[1]]], "y": {"a": 1}}'),
    ("model.json", b'{"format_version": 1, "feature_names": "x", "thresholds": 5}'),
])
def test_pathological_json_behind_a_valid_signature(saved, tmp_path, name, payload):
    path = _copy(saved, tmp_path)
    files = read_dir(path)
    if name == "manifest.json":
        write_dir(path, resign_files(files, KEY, raw_manifest=payload))
    else:
        files[name] = payload
        write_dir(path, resign_files(files, KEY))
    with pytest.raises(BundleError):
        Bundle.load(path, key=KEY)


@pytest.mark.parametrize("payload", [
    "x = " + "[" * 5000 + "]" * 5000,
    "x = " + "{a = " * 3000 + "1" + "}" * 3000,
    '[[rules]]\ncode = "A"\nwhen = "' + "(" * 5000 + "amount" + ")" * 5000 + '"\n',
    "[lists.a]\nvalues = 5\n",
    '[[rules]]\ncode = 5\nwhen = "amount > 1"\n',
    "\x00",
])
def test_pathological_toml_behind_a_valid_signature(saved, tmp_path, payload):
    path = _copy(saved, tmp_path)
    replace_file(path, KEY, "rules.toml", payload.encode())
    with pytest.raises(BundleError, match="rules.toml"):
        Bundle.load(path, key=KEY)


# -- model.txt is validated before LightGBM sees it --------------------------------------------------
def _model_mutations(text: str) -> dict[str, str]:
    tree0 = text.index("Tree=0")
    out = {
        "tree_sizes": re.sub(r"tree_sizes=(\d+)", lambda m: f"tree_sizes={int(m.group(1)) + 7}", text, count=1),
        "tree_sizes_short": re.sub(r"tree_sizes=\d+ ", "tree_sizes=", text, count=1),
        "child_out_of_range": text[:tree0] + re.sub(r"left_child=(-?\d+)", "left_child=999", text[tree0:], count=1),
        "child_cycle": text[:tree0] + re.sub(r"left_child=(-?\d+) (-?\d+)", r"left_child=1 0", text[tree0:], count=1),
        "split_feature": text[:tree0] + re.sub(r"split_feature=(\d+)", "split_feature=4000", text[tree0:], count=1),
        "decision_type": text[:tree0] + re.sub(r"decision_type=(\d+)", "decision_type=13", text[tree0:], count=1),
        "nan_leaf": text[:tree0] + re.sub(r"leaf_value=(\S+)", "leaf_value=nan", text[tree0:], count=1),
        "short_array": text[:tree0] + re.sub(r"threshold=(\S+) ", "threshold=", text[tree0:], count=1),
        "num_leaves": text[:tree0] + re.sub(r"num_leaves=(\d+)", "num_leaves=2147483647", text[tree0:], count=1),
        "max_feature_idx": text.replace("max_feature_idx=", "max_feature_idx=9", 1),
        "num_class": text.replace("num_class=1", "num_class=3", 1),
        "objective": text.replace("objective=binary", "objective=lambdarank", 1),
        "no_end": text[: text.index("end of trees")],
        "tree_order": text.replace("Tree=1\n", "Tree=5\n", 1),
        "categorical": text[:tree0] + re.sub(r"decision_type=(\d+)", "decision_type=1", text[tree0:], count=1),
        "linear": text.replace("is_linear=0", "is_linear=1", 1),
        "pandas_categorical": text.replace("pandas_categorical:null", "pandas_categorical:" + "[" * 3000),
        "trailing": text + "Tree=99\nnum_leaves=1\n",
        "binary": text.replace("tree\n", "tree\x00\n", 1),
    }
    return {k: v for k, v in out.items() if v != text}


def test_malformed_model_text_never_reaches_lightgbm(saved, tmp_path, monkeypatch):
    import lightgbm as lgb

    text = (saved / "model.txt").read_text()
    check_model_text(text)
    calls = []
    real = lgb.Booster

    def spy(*a, **k):
        calls.append(1)
        return real(*a, **k)
    monkeypatch.setattr(lgb, "Booster", spy)
    mutations = _model_mutations(text)
    assert len(mutations) >= 18
    path = _copy(saved, tmp_path)
    for name, bad in mutations.items():
        replace_file(path, KEY, "model.txt", bad.encode())
        with pytest.raises(BundleError, match="model.txt"):
            Bundle.load(path, key=KEY)
        assert not calls, name
    replace_file(path, KEY, "model.txt", text.encode())
    Bundle.load(path, key=KEY)
    assert calls  # the intact text does reach LightGBM


# -- no raw identifier in any bundle file; kind lists match at scoring time ---------------------------
def _identifier_rules() -> str:
    lists = "".join(f'[lists.bad_{k}]\nkind = "{k}"\nvalues = ["{v}", " {v} "]\n' for k, v in RAW.items())
    return lists + (
        '[[rules]]\ncode = "BAD_PHONE"\nwhen = "phone in @bad_phone"\naction = "decline"\n'
        '[[rules]]\ncode = "BAD_ID"\nwhen = "applicant_id in @bad_national_id"\naction = "decline"\n'
        '[[rules]]\ncode = "BAD_EMAIL"\nwhen = "email in @bad_email"\naction = "decline"\n'
        '[[rules]]\ncode = "BAD_CARD"\nwhen = "bank_card in @bad_bank_card"\naction = "decline"\n')


@pytest.mark.parametrize("as_zip", [False, True])
def test_no_raw_identifier_in_any_bundle_file(tmp_path, as_zip):
    b = _rules_bundle(_identifier_rules())
    b.save(tmp_path / "b", zip=as_zip, key=KEY)
    if as_zip:
        with zipfile.ZipFile(tmp_path / "b.zip") as zf:
            blobs = {n: zf.read(n) for n in zf.namelist()}
        blobs["<archive>"] = (tmp_path / "b.zip").read_bytes()
    else:
        blobs = read_dir(tmp_path / "b")
    digits = {v: re.sub(r"\D", "", v) for v in RAW.values()}
    for name, data in blobs.items():
        for raw in RAW.values():
            assert raw.encode() not in data and raw.lower().encode() not in data, (name, raw)
            if len(digits[raw]) >= 11:
                assert digits[raw][-11:].encode() not in data, (name, raw)
    loaded = Bundle.load(tmp_path / ("b.zip" if as_zip else "b"), key=KEY)
    scorer = fs.Scorer(loaded, KEY)
    base = {"application_id": "A", "ts": "2026-11-29T10:00:00Z", "amount": 100}
    fields = {"phone": "BAD_PHONE", "applicant_id": "BAD_ID", "email": "BAD_EMAIL", "bank_card": "BAD_CARD"}
    raw_of = {"phone": RAW["phone"], "applicant_id": RAW["national_id"], "email": RAW["email"],
              "bank_card": RAW["bank_card"]}
    for i, (field, code) in enumerate(fields.items()):
        ev = {**base, "application_id": f"A{i}", field: raw_of[field]}
        d = scorer.score(ev)
        assert code in d.rule_hits and d.action == "decline", field
        batch = scorer.score_batch([ev])
        assert code in batch.rule_hits[0]
    assert scorer.score({**base, "application_id": "Z", "phone": "+8613900000000"}).rule_hits == []


def test_pseudonymised_lists_with_a_kind_match(tmp_path):
    scorer0 = fs.Scorer(_rules_bundle(""), KEY)
    p = scorer0.pipeline.identity.pseudonym("phone", RAW["phone"])
    toml = f'[lists.bad]\nkind = "phone"\nvalues = ["{p}"]\n[[rules]]\ncode = "P"\nwhen = "phone in @bad"\n'
    scorer = fs.Scorer(_rules_bundle(toml), KEY)  # already pseudonymised: kept as they are
    assert scorer.score({"application_id": "A", "ts": 1795946400, "phone": RAW["phone"]}).rule_hits == ["P"]
    b = _rules_bundle(toml)
    b.save(tmp_path / "b", key=KEY)
    assert Bundle.load(tmp_path / "b", key=KEY).rules_toml == toml  # nothing to rewrite: byte-identical


def test_train_result_saves_a_loadable_signed_bundle(tmp_path):
    from .helpers import synthetic

    data = synthetic()
    res = fs.train(data.columns, data.labels, key=SECRET, config={"model": {"num_boost_round": 5}})
    path = res.save(tmp_path / "t")
    scorer = fs.load(path, key=SECRET)
    assert scorer.bundle.key_id == KEY.key_id
    with pytest.raises(BundleError, match="signature mismatch"):
        fs.load(path, key=b"some-other-secret-0123456789")
    X = res.X[:5]
    assert np.isfinite(scorer.model.predict_proba(X[:, : scorer.model.num_features])).all()


def test_scan_of_manifest_only_json(tmp_path):
    from fraudscore.bundle_files import json_depth, loads_json

    assert json_depth(b'{"a": "[[[[", "b": [[1]]}') == 3
    assert json_depth(b'"\\"[[["') == 0
    with pytest.raises(BundleError, match="larger than"):
        loads_json(b"[" + b"1," * 100 + b"1]", "x.json", limit=50)
    with pytest.raises(BundleError, match="not valid JSON"):
        loads_json(b"[NaN]", "x.json")
    with pytest.raises(BundleError, match="not valid JSON"):
        loads_json(b"\xff\xfe", "x.json")
    assert json.loads(b"[1]") == loads_json(b"[1]", "x.json")


def test_a_signed_bundle_whose_rules_name_no_feature_is_a_bundle_error(saved, tmp_path):
    """Found by benchmarks/fuzz.py: a key holder's bundle whose rule names an unknown feature."""
    path = _copy(saved, tmp_path)
    text = (path / "rules.toml").read_text().replace("count__inviter_id__24h", "count__inviter_id__20h")
    replace_file(path, KEY, "rules.toml", text.encode())
    Bundle.load(path, key=KEY)  # the bundle itself is intact
    with pytest.raises(BundleError, match="does not build a scorer.*count__inviter_id__20h"):
        fs.load(str(path), key=KEY)
