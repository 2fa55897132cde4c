"""Thin wrapper: ``python benchmarks/run_suite.py [--quick] [--out DIR] [--only NAME...]`` = ``fraudscore bench``.

Without ``--out`` it writes the committed results, ``benchmarks/results`` (the
command itself writes to the current directory and refuses that folder
without ``--update-committed``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fraudscore.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--out" not in argv:
        argv += ["--out", str(Path(__file__).resolve().parent / "results"), "--update-committed"]
    sys.exit(main(["bench", *argv]))
