"""The library speaks through the ``fraudscore`` logger and never prints."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

import fraudscore as fs

from .helpers import SECRET, small_bundle, synthetic

PACKAGE = Path(fs.__file__).resolve().parent
# Command-line code may print: the console script's modules and the command functions of others.
PRINTING_MODULES = {"cli.py", "demo.py", "rescore/cli.py", "rules/cli.py"}
PRINTING_FUNCTIONS = {"_run", "_run_score", "_run_diff"}


def test_no_print_in_the_library():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in PRINTING_MODULES:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.name not in PRINTING_FUNCTIONS:
                for node in ast.walk(fn):
                    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                        offenders.append(f"{rel}:{node.lineno} in {fn.name}")
                    if isinstance(node, ast.Name) and node.id == "print" and not isinstance(node.ctx, ast.Store) \
                            and fn.name not in PRINTING_FUNCTIONS:
                        offenders.append(f"{rel}:{node.lineno} uses print in {fn.name}")
    assert not offenders, offenders


def test_the_logger_has_a_null_handler():
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("fraudscore").handlers)


def test_bundle_loaded_and_rows_rejected_are_logged(tmp_path, caplog):
    path = tmp_path / "b"
    small_bundle().save(path, key=SECRET)
    with caplog.at_level(logging.INFO, logger="fraudscore"):
        scorer = fs.load(str(path), key=SECRET)
        scorer.score_batch([{"application_id": "A", "ts": "yesterday"}, *synthetic().to_records()[:3]])
    msgs = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"bundle loaded from {path}") for m in msgs)
    assert any("1 of 4 rows rejected" in m and "field 'ts'" in m for m in msgs)


def test_degraded_decisions_and_store_errors_are_logged(caplog):
    from fraudscore.errors import StoreError
    from fraudscore.velocity import MemoryStore

    class Broken(MemoryStore):
        def update_and_read(self, plan, record, ts):
            raise StoreError("connection refused")

        def apply(self, plan, record, ts=None, link=None):  # what scoring calls (exactly once per application)
            raise StoreError("connection refused")

    ev = synthetic().to_records()[0]
    with caplog.at_level(logging.WARNING, logger="fraudscore"):
        d = fs.Scorer(small_bundle(), SECRET, store=Broken(), degrade=True).score(ev)
        with pytest.raises(StoreError):
            fs.Scorer(small_bundle(), SECRET, store=Broken()).score(ev)
    msgs = [r.getMessage() for r in caplog.records]
    assert d.degraded and any("degraded decision" in m for m in msgs)
    assert sum("velocity store error" in m and "connection refused" in m for m in msgs) == 2
