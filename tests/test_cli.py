"""The command line as a user meets it: every error is one line with a distinct exit code, never a traceback.

Exit codes (``fraudscore.cli``): 0 done, 1 check failed, 2 usage, 3 bad input, 4 internal error.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from fraudscore.cli import EXIT_CODES, main

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

SECRET = "cli-test-secret-0123456789"


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small history (CSV), its labels and a bundle trained on it (CLI-made)."""
    d = tmp_path_factory.mktemp("cli")
    mp = pytest.MonkeyPatch()
    mp.setenv("FRAUDSCORE_KEY", SECRET)
    assert main(["synth", str(d / "h.csv"), "--labels", str(d / "l.csv"), "--days", "10", "--per-day", "120",
                 "--seed", "5"]) == 0
    cfg = d / "fraudscore.toml"
    cfg.write_text('[model]\nnum_boost_round = 15\ngap = "1d"\n')
    assert main(["train", str(d / "h.csv"), str(d / "l.csv"), "--out", str(d / "b"), "--config", str(cfg),
                 "--no-progress"]) == 0
    mp.undo()
    return d


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("FRAUDSCORE_KEY", SECRET)


def _edit(src, dst, fn):
    h = pd.read_csv(src, dtype=str, keep_default_na=False)
    out = fn(h)
    (h if out is None else out).to_csv(dst, index=False)
    return dst


def _score(files, inp, out, *extra):
    return main(["score", str(inp), "--bundle", str(files / "b"), "--out", str(out), "--no-progress", *extra])


def test_exit_codes_are_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    for code, meaning in EXIT_CODES.items():
        assert f"| {code} |" in doc and meaning in doc


@pytest.mark.parametrize("column, value, field", [("amount", "lots", "amount"), ("ts", "yesterday", "ts")])
def test_a_bad_cell_rejects_its_row_only(files, tmp_path, capsys, column, value, field):
    src = _edit(files / "h.csv", tmp_path / "bad.csv", lambda h: h.__setitem__(column, h[column].where(
        h.index != 5, value)))
    assert _score(files, src, tmp_path / "o.csv") == 0  # 1 of 1200 rows: below --max-rejected
    cap = capsys.readouterr()
    assert "1 row(s) rejected" in cap.err and f"field '{field}'" in cap.err and value not in cap.err
    errors = pd.read_csv(tmp_path / "o.errors.csv")
    assert errors["row"].tolist() == [5] and errors["field"].tolist() == [field]
    assert len(pd.read_csv(tmp_path / "o.csv")) == 1199
    # the same file with no tolerance: bad input, one line
    assert _score(files, src, tmp_path / "o2.csv", "--max-rejected", "0") == 3
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("fraudscore score: error: 1 of 1,200 rows") and "row 5" in line


def test_a_bad_cell_in_training_is_one_rejected_row(files, tmp_path, capsys):
    src = _edit(files / "h.csv", tmp_path / "bad.csv", lambda h: h.__setitem__("amount", h["amount"].where(
        h.index != 7, "lots")))
    assert main(["train", str(src), str(files / "l.csv"), "--out", str(tmp_path / "b"), "--config",
                 str(files / "fraudscore.toml"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "(1 rejected)" in out and "row 7: field 'amount'" in out


def test_a_renamed_column_is_one_line_naming_it(files, tmp_path, capsys):
    src = _edit(files / "h.csv", tmp_path / "renamed.csv", lambda h: h.rename(columns={"ts": "timestamp"}))
    assert _score(files, src, tmp_path / "o.csv") == 3
    line = _one_error_line(capsys.readouterr().err)
    assert "no column 'ts'" in line and "timestamp" in line and "Rename that column" in line
    assert main(["train", str(src), str(files / "l.csv"), "--out", str(tmp_path / "b")]) == 3
    assert "no column 'ts'" in _one_error_line(capsys.readouterr().err)


def test_a_row_with_the_wrong_number_of_fields(files, tmp_path, capsys):
    lines = (files / "h.csv").read_text().splitlines()
    lines[8] += ",surplus"  # data row 7, file line 9
    lines[12] = ",".join(lines[12].split(",")[:5])  # data row 11: too few fields
    src = tmp_path / "fields.csv"
    src.write_text("\n".join(lines) + "\n")
    assert _score(files, src, tmp_path / "o.csv") == 0
    capsys.readouterr()
    errors = pd.read_csv(tmp_path / "o.errors.csv").sort_values("row")
    assert errors["row"].tolist() == [7, 11] and set(errors["field"]) == {"<row>"}
    assert "file line 9" in errors["error"].iloc[0] and "has 5 fields" in errors["error"].iloc[1]
    assert len(pd.read_csv(tmp_path / "o.csv")) == 1198


def test_a_folder_of_parquet_files_is_one_dataset(files, tmp_path, capsys):
    h = pd.read_csv(files / "h.csv", dtype={c: str for c in ("application_id", "applicant_id", "phone", "email",
                                                            "bank_card", "ip", "inviter_id", "product", "channel")})
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(h)), 3)):
        h.iloc[part].to_parquet(folder / f"part-{i}.parquet")
    assert _score(files, folder, tmp_path / "from_folder.csv") == 0
    assert _score(files, files / "h.csv", tmp_path / "from_csv.csv") == 0
    capsys.readouterr()
    a, b = pd.read_csv(tmp_path / "from_folder.csv"), pd.read_csv(tmp_path / "from_csv.csv")
    assert len(a) == len(h) and (a["score"].to_numpy() == b["score"].to_numpy()).all()
    assert main(["backtest", str(folder), str(files / "l.csv")]) == 0


def test_offline_commands_sort_by_time(files, tmp_path, capsys):
    h = pd.read_csv(files / "h.csv", dtype=str, keep_default_na=False)
    shuffled = tmp_path / "shuffled.csv"
    h.sample(frac=1.0, random_state=3).to_csv(shuffled, index=False)
    assert _score(files, shuffled, tmp_path / "o.csv") == 0
    assert "no rows rejected" in capsys.readouterr().out
    assert _score(files, files / "h.csv", tmp_path / "ref.csv") == 0
    a = pd.read_csv(tmp_path / "o.csv", dtype={"application_id": str}).set_index("application_id")
    b = pd.read_csv(tmp_path / "ref.csv", dtype={"application_id": str}).set_index("application_id")
    assert (a.loc[b.index, "score"] == b["score"]).all()
    # rows keep their input row number: row r of the output is row r of the shuffled file
    first = a.reset_index().iloc[0]
    assert h.sample(frac=1.0, random_state=3).iloc[int(first["row"])]["application_id"] == first["application_id"]
    assert main(["train", str(shuffled), str(files / "l.csv"), "--out", str(tmp_path / "b"), "--config",
                 str(files / "fraudscore.toml"), "--no-progress"]) == 0
    assert "(0 rejected)" in capsys.readouterr().out


def test_a_misspelled_config_section_names_the_known_ones(files, tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[modle]\nseed = 1\n")
    assert main(["train", str(files / "h.csv"), str(files / "l.csv"), "--out", str(tmp_path / "b"),
                 "--config", str(cfg)]) == 3
    line = _one_error_line(capsys.readouterr().err)
    assert "unknown section [modle]" in line and "did you mean [model]?" in line
    assert "[features], [inputs], [model], [rules], [schema]" in line


def test_configuration_errors_speak_of_sections_not_parameters(files, tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[model]\ngap = "soon"\n')
    assert main(["train", str(files / "h.csv"), str(files / "l.csv"), "--out", str(tmp_path / "b"),
                 "--config", str(cfg)]) == 3
    line = _one_error_line(capsys.readouterr().err)
    assert "[model] gap in the training configuration must be" in line and "TrainConfig" not in line


def test_zip_writes_the_directory_and_the_zip(files, tmp_path, capsys):
    out = tmp_path / "bz"
    assert main(["train", str(files / "h.csv"), str(files / "l.csv"), "--out", str(out), "--zip", "--config",
                 str(files / "fraudscore.toml"), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert (out / "manifest.json").is_file() and zipfile.is_zipfile(tmp_path / "bz.zip")
    assert f"bundle written to {out}" in text and "bz.zip" in text
    assert "validation: " in text and "calibration " in text and "class weighting " in text  # what training chose
    assert main(["score", str(files / "h.csv"), "--bundle", str(tmp_path / "bz.zip"), "--out",
                 str(tmp_path / "z.csv"), "--no-progress"]) == 0


def test_no_errors_file_when_nothing_is_rejected_and_stale_ones_go(files, tmp_path, capsys):
    stale = tmp_path / "o.errors.csv"
    stale.write_text("row,field,error\n1,x,old\n")
    assert _score(files, files / "h.csv", tmp_path / "o.csv") == 0
    assert "no rows rejected" in capsys.readouterr().out
    assert not stale.exists()


def test_usage_errors_are_one_line_with_code_2(files, tmp_path, capsys, monkeypatch):
    assert main(["score", str(files / "h.csv"), "--out", str(tmp_path / "o.csv")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--bundle" in line and "--help" in line
    assert main(["no-such-command"]) == 2
    _one_error_line(capsys.readouterr().err)
    monkeypatch.delenv("FRAUDSCORE_KEY")
    assert _score(files, files / "h.csv", tmp_path / "o.csv") == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "FRAUDSCORE_KEY" in line and "--key-env" in line and "key=" not in line
    monkeypatch.setenv("SHORT", "abc")
    assert main(["score", str(files / "h.csv"), "--bundle", str(files / "b"), "--out", str(tmp_path / "o.csv"),
                 "--key-env", "SHORT"]) == 2
    assert "SHORT is too short" in _one_error_line(capsys.readouterr().err)


def test_a_wrong_key_speaks_of_the_environment_variable(files, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FRAUDSCORE_KEY", "another-secret-0123456789")
    assert _score(files, files / "h.csv", tmp_path / "o.csv") == 3
    line = _one_error_line(capsys.readouterr().err)
    assert "set FRAUDSCORE_KEY to the key the bundle was trained with" in line


def test_bad_input_files(files, tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("")
    assert _score(files, tmp_path / "empty.csv", tmp_path / "o.csv") == 3
    assert "empty" in _one_error_line(capsys.readouterr().err)
    assert _score(files, tmp_path / "missing.csv", tmp_path / "o.csv") == 3
    assert "no such file" in _one_error_line(capsys.readouterr().err)
    (tmp_path / "x.json").write_text("{}")
    assert _score(files, tmp_path / "x.json", tmp_path / "o.csv") == 3
    assert "unknown file type" in _one_error_line(capsys.readouterr().err)
    (tmp_path / "rules.toml").write_text('[[rules]]\ncode = "X"\nwhen = "amount >> 3"\n')
    assert main(["backtest", str(files / "h.csv"), str(files / "l.csv"), "--rules", str(tmp_path / "rules.toml")]) == 3
    assert "rule 'X'" in _one_error_line(capsys.readouterr().err)


def test_an_internal_error_is_one_line_with_code_4(files, tmp_path, capsys, monkeypatch):
    import fraudscore.rescore as rescore_mod

    def boom(*a, **k):
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(rescore_mod, "rescore", boom)
    assert _score(files, files / "h.csv", tmp_path / "o.csv") == 4
    line = _one_error_line(capsys.readouterr().err)
    assert "internal error: RuntimeError: something inside broke" in line and "--debug" in line
    assert _score(files, files / "h.csv", tmp_path / "o.csv", "--debug") == 4
    assert "Traceback" in capsys.readouterr().err


def test_warm_start_on_the_command_line(files, tmp_path, capsys):
    h = pd.read_csv(files / "h.csv", dtype=str, keep_default_na=False)
    half = len(h) // 2
    h.iloc[:half].to_csv(tmp_path / "m1.csv", index=False)
    h.iloc[half:].to_csv(tmp_path / "m2.csv", index=False)
    assert _score(files, tmp_path / "m1.csv", tmp_path / "o1.csv", "--labels", str(files / "l.csv"),
                  "--state-out", str(tmp_path / "s1")) == 0
    assert _score(files, tmp_path / "m2.csv", tmp_path / "o2.csv", "--labels", str(files / "l.csv"),
                  "--state-in", str(tmp_path / "s1"), "--state-out", str(tmp_path / "s2")) == 0
    assert _score(files, files / "h.csv", tmp_path / "all.csv", "--labels", str(files / "l.csv")) == 0
    capsys.readouterr()
    both = pd.concat([pd.read_csv(tmp_path / "o1.csv"), pd.read_csv(tmp_path / "o2.csv")], ignore_index=True)
    whole = pd.read_csv(tmp_path / "all.csv")
    assert (both["score"].to_numpy() == whole["score"].to_numpy()).all()
    assert json.loads((tmp_path / "s2" / "state.json").read_text())["rows"] == len(h)
    # a state from another key is bad input
    assert _score(files, tmp_path / "m2.csv", tmp_path / "o3.csv", "--state-in", str(tmp_path / "nothing")) == 3
    assert "not a saved scoring state" in _one_error_line(capsys.readouterr().err)


def test_the_late_event_message_reads_the_right_way_round():
    """Live scoring keeps the lateness rule; its message says the event is *older* than the newest one seen."""
    from fraudscore import Scorer

    from .helpers import SECRET, small_bundle, synthetic

    recs = synthetic().to_records()
    batch = Scorer(small_bundle(), SECRET).score_batch([recs[-1], recs[0]])  # two weeks apart, wrong order
    (err,) = batch.errors
    assert err.row == 1 and str(err).startswith("row 1: field 'ts': is more than the allowed lateness (1h) older "
                                                "than the newest event already seen")
