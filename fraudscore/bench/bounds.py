"""The least wall time a batch's measured work could take on a given number of cores (Amdahl's law).

A batch stage whose rows depend on the rows before it cannot be split: the link loop links each row
against the devices that earlier rows made or moved, in event order, so it runs on one core whatever
the machine. Every other stage is taken here as perfectly divisible over the cores, with no cost for
splitting it; that is generous (the velocity replay is stateful per entity, the glue holds the GIL),
so the figure is a bound, not a forecast. With ``S`` CPU seconds in the sequential stages and ``T`` in
all stages, no schedule on ``c`` cores finishes in less than ``max(S, T / c)``.

Against a baseline's wall time measured in the same run (bare ``Booster.predict`` on all cores) this
gives the best ratio today's work could reach, and how far the work itself must shrink before a ratio
goal is reachable at all. ``benchmarks/bench_batch_stages.py --clock cpu`` prints it per bundle
(docs/benchmarks.md, "Round 18: how far the goals are").

Examples
--------
>>> from fraudscore.bench.bounds import wall_bound
>>> b = wall_bound({"link loop": 1.8, "model": 1.2, "identity": 0.4}, sequential=["link loop"], cores=2,
...                baseline_wall_s=2.0, goal_ratio=1.0)
>>> round(b.least_wall_s, 2), round(b.best_ratio, 3), round(b.shrink_needed, 2)
(1.8, 1.111, 0.9)
>>> b.sequential_limited
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["WallBound", "wall_bound"]


@dataclass(frozen=True)
class WallBound:
    """What :func:`wall_bound` found; all times in seconds.

    Attributes
    ----------
    total_s, sequential_s : float
        CPU seconds of all stages, and of the stages that cannot be split.
    cores : int
        Cores the schedule may use.
    least_wall_s : float
        ``max(sequential_s, total_s / cores)``: no schedule of this work is faster.
    baseline_wall_s : float
        The baseline's wall time for the same rows.
    best_ratio : float
        ``baseline_wall_s / least_wall_s``: the best ratio to the baseline this work could show.
    goal_ratio : float
        The ratio the goal asks for.
    shrink_needed : float
        ``least_wall_s * goal_ratio / baseline_wall_s``: the factor by which the least wall time must fall for
        the goal to be reachable at all (at most 1: reachable with a perfect schedule).
    sequential_limited : bool
        Whether the sequential stages alone set the bound (more cores would not help).
    """

    total_s: float
    sequential_s: float
    cores: int
    least_wall_s: float
    baseline_wall_s: float
    best_ratio: float
    goal_ratio: float
    shrink_needed: float
    sequential_limited: bool

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for JSON results)."""
        return asdict(self)


def wall_bound(stage_s: Mapping[str, float], sequential: Iterable[str], cores: int, baseline_wall_s: float,
               goal_ratio: float) -> WallBound:
    """The least wall time of ``stage_s``'s work on ``cores`` cores, against a baseline and a ratio goal.

    Parameters
    ----------
    stage_s : mapping of str to float
        CPU seconds per stage for one batch (stages that add up to the whole call).
    sequential : iterable of str
        The stages that must run on one core (names absent from ``stage_s`` count 0).
    cores : int
        Cores available (at least 1).
    baseline_wall_s : float
        The baseline's wall time for the same rows (positive).
    goal_ratio : float
        The goal, as ``baseline_wall_s / wall`` (higher is faster; positive).

    Returns
    -------
    WallBound

    Examples
    --------
    >>> b = wall_bound({"link loop": 1.0, "rest": 3.0}, ["link loop"], cores=2, baseline_wall_s=1.0, goal_ratio=0.5)
    >>> b.least_wall_s, b.best_ratio, b.shrink_needed, b.sequential_limited
    (2.0, 0.5, 1.0, False)
    """
    if cores < 1:
        raise ValueError(f"cores must be at least 1, got {cores}")
    if baseline_wall_s <= 0 or goal_ratio <= 0:
        raise ValueError("baseline_wall_s and goal_ratio must be positive")
    if any(v < 0 for v in stage_s.values()):
        raise ValueError("stage times must not be negative")
    seq_names = set(sequential)
    total = float(sum(stage_s.values()))
    seq = float(sum(v for k, v in stage_s.items() if k in seq_names))
    least = max(seq, total / cores)
    if least <= 0:
        raise ValueError("the stages hold no work")
    return WallBound(total_s=total, sequential_s=seq, cores=cores, least_wall_s=least,
                     baseline_wall_s=float(baseline_wall_s), best_ratio=baseline_wall_s / least,
                     goal_ratio=float(goal_ratio), shrink_needed=least * goal_ratio / baseline_wall_s,
                     sequential_limited=seq >= total / cores)
