"""Thin wrapper: ``python benchmarks/run_suite.py [--quick] [--out DIR] [--only NAME...]`` = ``fraudscore bench``."""

from __future__ import annotations

import sys

from fraudscore.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
