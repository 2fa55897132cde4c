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

__all__ = ["pyplot", "save", "NO_PLOT_NOTE"]

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
