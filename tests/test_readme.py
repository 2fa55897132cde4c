"""The README's first command gives a working command line (its extras bring what the CLI needs)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _extras(names: set[str], table: dict[str, list[str]]) -> set[str]:
    out: set[str] = set()
    todo = list(names)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for req in table[name]:
            m = re.fullmatch(r"fraudscore\[([^\]]+)\]", req)
            if m:
                todo += [x.strip() for x in m.group(1).split(",")]
            else:
                out.add(re.split(r"[<>=\[ ]", req, maxsplit=1)[0].lower())
    return out


def test_first_command_installs_what_the_cli_and_the_tour_need():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = next(line for line in readme.splitlines() if "pip install" in line)
    assert first.count("&&") == 3 and first.rstrip().endswith("fraudscore demo")  # one line, ends with the demo
    extras = set(re.search(r'pip install "\.\[([^\]]+)\]"', first).group(1).split(","))
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pkgs = _extras(extras, table)
    # train/score/diff/backtest read CSV and Parquet; the tour calls batch.to_pandas(); training needs
    # scikit-learn; progress bars need rich; the demo's chart needs matplotlib
    assert {"pandas", "pyarrow", "rich", "scikit-learn", "matplotlib"} <= pkgs
    # and the quickstart says the same
    quick = (ROOT / "docs" / "quickstart.md").read_text(encoding="utf-8")
    assert first.strip() in quick
