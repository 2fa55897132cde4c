"""Matplotlib for the reports, when installed (extra ``plot``); reports fall back to text without it.

Examples
--------
>>> plt = pyplot()
>>> plt is None or hasattr(plt, "subplots")
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["pyplot", "save", "write_report", "NO_PLOT_NOTE"]

#: what a report says instead of its charts when matplotlib is missing
NO_PLOT_NOTE = "Charts were not drawn: matplotlib is not installed (pip install 'fraudscore[plot]')."


def pyplot() -> Any | None:
    """``matplotlib.pyplot`` with the non-interactive Agg backend, or ``None`` without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as a PNG (100 dpi), close it, and return the path."""
    plt = pyplot()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    if plt is not None:
        plt.close(fig)
    return out


def write_report(report: Any, directory: str | Path, name: str, draw: Any, *, charts: bool = True) -> dict[str, Path]:
    """Write ``<name>.json``, ``<name>.md`` and (with matplotlib) the PNG charts of ``report`` into ``directory``.

    ``report`` has ``charts`` and ``notes`` lists, ``to_dict()`` and ``render()``;
    ``draw(report, directory)`` returns the chart paths and a note (or ``None``).
    Returns the written paths: each chart by its stem, ``json`` and ``markdown``.
    """
    import json

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if charts:
        paths, note = draw(report, out)
        report.charts = [p.name for p in paths]
        written.update({p.stem: p for p in paths})
        if note and note not in report.notes:
            report.notes.append(note)
    (out / f"{name}.json").write_text(json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n",
                                      encoding="utf-8")
    (out / f"{name}.md").write_text(report.render(), encoding="utf-8")
    written["json"], written["markdown"] = out / f"{name}.json", out / f"{name}.md"
    return written
