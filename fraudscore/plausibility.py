"""``fraudscore plausibility``: is a claimed anti-fraud call volume plausible?

The default example is the argument of an article on Chinese online lending: a
vendor claimed about 30 million anti-fraud API calls a day from 3,000 client
institutions, while the central bank's credit reference centre -- the
institution lenders query most -- answers about 1 million queries a day.

Two sides are checked, each with its arithmetic shown:

* **compute**: cores (and machines of ``cores_per_machine``) needed to serve
  the claim at peak (average rate times ``peak_factor``) with fraudscore's
  measured single-event and batch rates per core. Serving the volume is cheap,
  so computing power never makes such a claim implausible by itself.
* **demand**: implied checks per adult per month, per client per day, and the
  ratio to the reference centre's volume. A vendor that answers many times the
  queries of the most-queried institution, or that would check most adults
  every month, is not plausible.

Assumptions (documented defaults): China's adult population about 1.1e9
(National Bureau of Statistics, 7th census 2020: 1.41e9 people, about 82 % aged
15+, rounded down to adults 18+); peak-to-average factor 3 (a diurnal profile
with night traffic near zero and an evening peak, typical of consumer lending
apps: the busiest hour carries about 3 times the mean hourly volume);
30-day months.

Examples
--------
>>> r = assess(Inputs(single_per_core=5000.0, batch_per_core=8000.0))
>>> round(r.checks_per_adult_month, 2), r.reference_ratio, r.per_client_day
(0.82, 30.0, 10000.0)
>>> r.cores_single, r.demand_plausible, r.compute_plausible
(1, False, True)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

__all__ = ["Inputs", "Assessment", "assess", "rates_from_suite", "measure_rates", "render", "plot", "add_command"]

SECONDS_PER_DAY = 86_400
DAYS_PER_MONTH = 30
# Used when no suite results exist: single-event p50 ~200 us on one core; batch ~15k events/s on 2 cores
# (the quick suite on the 2-core development machine, 2026-11).
DEFAULT_SINGLE_PER_CORE = 5_000.0
DEFAULT_BATCH_PER_CORE = 7_500.0


@dataclass(frozen=True)
class Inputs:
    """The figures a plausibility report starts from (defaults: the article's example).

    Parameters
    ----------
    calls_per_day : float
        Claimed anti-fraud calls per day.
    peak_factor : float
        Peak-to-average ratio of the diurnal profile.
    clients : int
        Claimed client institutions.
    adults : float
        Adult population of the market.
    reference_per_day : float
        Daily queries at the reference institution (the most-queried one).
    single_per_core, batch_per_core : float
        fraudscore events/s per core, one event at a time and in batch.
    cores_per_machine : int
        Cores of one serving machine.
    max_reference_ratio, max_checks_per_adult_month : float
        Demand verdict limits: above either, the claim is implausible.
    rates_source : str
        Where the rates came from.
    """

    calls_per_day: float = 30e6
    peak_factor: float = 3.0
    clients: int = 3000
    adults: float = 1.1e9
    reference_per_day: float = 1e6
    single_per_core: float = DEFAULT_SINGLE_PER_CORE
    batch_per_core: float = DEFAULT_BATCH_PER_CORE
    cores_per_machine: int = 32
    max_reference_ratio: float = 1.0
    max_checks_per_adult_month: float = 0.25
    rates_source: str = "documented defaults"


@dataclass(frozen=True)
class Assessment:
    """The computed figures and verdicts (see :func:`assess`)."""

    inputs: Inputs
    avg_per_s: float
    peak_per_s: float
    cores_single: int
    cores_batch: int
    machines_single: int
    machines_batch: int
    checks_per_adult_month: float
    per_client_day: float
    reference_ratio: float
    compute_plausible: bool
    demand_plausible: bool


def assess(inp: Inputs) -> Assessment:
    """Compute both sides of the report."""
    avg = inp.calls_per_day / SECONDS_PER_DAY
    peak = avg * inp.peak_factor
    cs = max(1, math.ceil(peak / inp.single_per_core))
    cb = max(1, math.ceil(peak / inp.batch_per_core))
    per_adult = inp.calls_per_day * DAYS_PER_MONTH / inp.adults
    ratio = inp.calls_per_day / inp.reference_per_day
    return Assessment(
        inputs=inp, avg_per_s=avg, peak_per_s=peak, cores_single=cs, cores_batch=cb,
        machines_single=math.ceil(cs / inp.cores_per_machine), machines_batch=math.ceil(cb / inp.cores_per_machine),
        checks_per_adult_month=per_adult, per_client_day=inp.calls_per_day / inp.clients, reference_ratio=ratio,
        compute_plausible=True,  # any volume can be bought in cores; the figure says how many
        demand_plausible=ratio <= inp.max_reference_ratio and per_adult <= inp.max_checks_per_adult_month,
    )


def rates_from_suite(path: str | Path) -> tuple[float, float, str] | None:
    """Single-event and batch events/s per core from a ``suite.json``, or ``None`` when unusable.

    Single event: ``1e6 / p50`` of the large bundle (else the default one), one core.
    Batch: the largest measured batch size's events/s divided by the machine's cores.
    """
    p = Path(path)
    if not p.is_file():
        return None
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        rows = {r["name"]: r for r in doc["results"]}
        cores = int(doc.get("machine", {}).get("cpu_count") or 1)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    single = rows.get("single/large/e2e_p50") or rows.get("single/default/e2e_p50")
    batch = [r for r in doc["results"] if r["name"].startswith("batch/")]
    if single is None or not batch:
        return None
    batch.sort(key=lambda r: (r["params"].get("batch_size", 0), r["params"].get("bundle") == "large"))
    b = batch[-1]
    return (1e6 / single["value"], b["value"] / cores,
            f"{p} ({doc.get('mode', '?')} run {doc.get('created', '?')}: {single['name']}, {b['name']} / {cores} cores)")


def _n(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"


def render(a: Assessment) -> str:
    """The text report, arithmetic included."""
    i = a.inputs
    lines = [
        "fraudscore plausibility report",
        "",
        "Inputs",
        f"  claimed calls per day       {_n(i.calls_per_day)}",
        f"  peak-to-average factor      {i.peak_factor:g}",
        f"  client institutions         {_n(i.clients)}",
        f"  adults                      {_n(i.adults)}",
        f"  reference queries per day   {_n(i.reference_per_day)}",
        f"  fraudscore rates per core   single event {_n(i.single_per_core)}/s, batch {_n(i.batch_per_core)}/s",
        f"    from {i.rates_source}",
        "",
        "Compute side",
        f"  average rate  {_n(i.calls_per_day)} / {SECONDS_PER_DAY:,} s = {_n(a.avg_per_s)} calls/s",
        f"  peak rate     {_n(a.avg_per_s)} x {i.peak_factor:g} = {_n(a.peak_per_s)} calls/s",
        f"  single event  {_n(a.peak_per_s)} / {_n(i.single_per_core)} per core = {a.cores_single} cores "
        f"= {a.machines_single} machine(s) of {i.cores_per_machine} cores",
        f"  batch         {_n(a.peak_per_s)} / {_n(i.batch_per_core)} per core = {a.cores_batch} cores "
        f"= {a.machines_batch} machine(s) of {i.cores_per_machine} cores",
        f"  verdict: plausible -- serving the claim takes {a.cores_single} core(s) one event at a time; "
        "compute is not what makes it doubtful",
        "",
        "Demand side",
        f"  checks per adult per month  {_n(i.calls_per_day)} x {DAYS_PER_MONTH} / {_n(i.adults)} "
        f"= {a.checks_per_adult_month:.2f}",
        f"  checks per client per day   {_n(i.calls_per_day)} / {_n(i.clients)} = {_n(a.per_client_day)}",
        f"  ratio to reference centre   {_n(i.calls_per_day)} / {_n(i.reference_per_day)} = {a.reference_ratio:,.1f}x",
    ]
    if a.demand_plausible:
        lines.append("  verdict: plausible -- within the limits "
                     f"(<= {i.max_reference_ratio:g}x the reference, <= {i.max_checks_per_adult_month:g} "
                     "checks per adult per month)")
    else:
        why = []
        if a.reference_ratio > i.max_reference_ratio:
            why.append(f"{a.reference_ratio:,.1f}x the queries of the most-queried institution "
                       f"(limit {i.max_reference_ratio:g}x)")
        if a.checks_per_adult_month > i.max_checks_per_adult_month:
            why.append(f"{a.checks_per_adult_month:.2f} loan checks per adult every month "
                       f"(limit {i.max_checks_per_adult_month:g})")
        lines.append("  verdict: NOT plausible -- " + "; ".join(why))
    return "\n".join(lines)


def plot(a: Assessment, path: str | Path) -> Path:
    """Write a PNG: required vs available cores, and implied per-capita demand (extra ``plot``)."""
    from ._compat import optional_import

    mpl = optional_import("matplotlib", extra="plot")
    mpl.use("Agg")
    plt = optional_import("matplotlib.pyplot", extra="plot")
    i = a.inputs
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.bar(["single event", "batch"], [a.cores_single, a.cores_batch], label="required at peak")
    ax1.axhline(i.cores_per_machine, color="k", ls="--", label=f"one {i.cores_per_machine}-core machine")
    ax1.set_ylabel("cores")
    ax1.set_title("Compute: cores needed at peak")
    ax1.legend()
    ax2.bar(["claim", "reference centre"], [a.checks_per_adult_month,
                                            i.reference_per_day * DAYS_PER_MONTH / i.adults])
    ax2.axhline(i.max_checks_per_adult_month, color="r", ls="--", label="plausibility limit")
    ax2.set_ylabel("checks per adult per month")
    ax2.set_title("Demand: implied checks per adult")
    ax2.legend()
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``fraudscore plausibility``."""
    d = Inputs()
    p = subparsers.add_parser("plausibility", help="is a claimed anti-fraud call volume plausible?",
                              description="Compute and demand sides of a claimed anti-fraud call volume; with no "
                                          "arguments, the article example (30M calls/day, 3,000 clients).")
    p.add_argument("--calls-per-day", type=float, default=d.calls_per_day)
    p.add_argument("--peak-factor", type=float, default=d.peak_factor)
    p.add_argument("--clients", type=int, default=d.clients)
    p.add_argument("--adults", type=float, default=d.adults)
    p.add_argument("--reference-per-day", type=float, default=d.reference_per_day)
    p.add_argument("--cores-per-machine", type=int, default=d.cores_per_machine)
    p.add_argument("--single-rate", type=float, help="events/s per core, one at a time")
    p.add_argument("--batch-rate", type=float, help="events/s per core in batch")
    p.add_argument("--results", metavar="SUITE_JSON",
                   help="take the rates from this suite.json (written by 'fraudscore bench'); without it and "
                        "without --single-rate/--batch-rate the rates are measured on this machine (about a minute)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--plot", metavar="PNG", help="also write a chart (needs the 'plot' extra)")
    p.set_defaults(func=_run)
    return p


def measure_rates(settings: Any = None) -> tuple[float, float, str]:
    """Measure single-event and batch events/s per core on this machine (the suite's quick ``single`` and
    ``batch`` groups, in a temporary folder); returns ``(single, batch, source)``."""
    import tempfile

    from .bench import run_suite
    from .bench.common import Settings

    with tempfile.TemporaryDirectory() as tmp:
        run_suite(quick=True, out=tmp, only=["single", "batch"], settings=settings or Settings.quick_settings())
        rates = rates_from_suite(Path(tmp) / "suite.json")
    if rates is None:  # pragma: no cover - the suite always writes both groups
        raise RuntimeError("the quick benchmark run did not produce single-event and batch rates")
    return rates[0], rates[1], "measured on this machine just now (quick suite: single, batch)"


def _run(args: argparse.Namespace) -> int:
    from .errors import InputError

    inp = Inputs(calls_per_day=args.calls_per_day, peak_factor=args.peak_factor, clients=args.clients,
                 adults=args.adults, reference_per_day=args.reference_per_day,
                 cores_per_machine=args.cores_per_machine)
    if args.single_rate and args.batch_rate:
        rates: tuple[float, float, str] | None = (args.single_rate, args.batch_rate, "command line")
    elif args.results:
        if not Path(args.results).is_file():
            raise InputError(f"--results {args.results}: no such file")
        rates = rates_from_suite(args.results)
        if rates is None:
            raise InputError(f"--results {args.results}: not a suite.json with single-event and batch results "
                             "(write one with 'fraudscore bench')")
    else:
        print("measuring single-event and batch rates on this machine (about a minute; --results SUITE_JSON "
              "reuses a benchmark run)", file=sys.stderr)
        rates = measure_rates()
    inp = replace(inp, single_per_core=rates[0], batch_per_core=rates[1], rates_source=rates[2])
    if (args.single_rate or args.batch_rate) and not (args.single_rate and args.batch_rate):
        inp = replace(inp, single_per_core=args.single_rate or inp.single_per_core,
                      batch_per_core=args.batch_rate or inp.batch_per_core,
                      rates_source=inp.rates_source + " (overridden on the command line)")
    a = assess(inp)
    if args.json:
        doc = asdict(a)
        print(json.dumps(doc, indent=2))
    else:
        print(render(a))
    if args.plot:
        print(f"chart -> {plot(a, args.plot)}")
    return 0
