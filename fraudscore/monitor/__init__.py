"""Monitoring: score and feature stability, action rates and performance as labels arrive, with alerts.

* :mod:`~fraudscore.monitor.reference` -- the training-time reference a bundle
  carries (``reference.json``) and the population stability index;
* :mod:`~fraudscore.monitor.report` -- :func:`monitor` over scored output,
  :class:`MonitorReport` (JSON, Markdown and PNG charts);
* ``fraudscore monitor`` on the command line (:mod:`~fraudscore.monitor.cli`).

See ``docs/monitoring.md``.
"""

from .cli import add_command
from .reference import PSI_ALERT, PSI_WARN, bin_counts, bin_reference, build_reference, psi, psi_from_counts
from .report import Alert, AlertRules, MonitorReport, PeriodStats, monitor

__all__ = ["build_reference", "bin_reference", "bin_counts", "psi", "psi_from_counts", "PSI_WARN", "PSI_ALERT",
           "monitor", "MonitorReport", "AlertRules", "Alert", "PeriodStats", "add_command"]
