"""Health of what beat depends on (broker, workers, beat itself) and, per entry, why it
did not or will not run. No Qt: the window, the tray and the CLI call the same functions.

Probes that need the user's app run in the project's own Python (`probe.py`), each as its
own process killed at its deadline, at the same time; see `check` and `why`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Where each name lives; loaded on first use (PEP 562), so that a face that needs only
# the levels (`health.report`) does not load the checks and the probes at start.
_HOMES = {
    "HealthChecker": "check", "Route": "check", "check_health": "check",
    "BeatHealth": "report", "BeatPing": "report", "BrokerHealth": "report",
    "Health": "report", "Level": "report", "Problem": "report", "WorkerHealth": "report",
    "WorkersHealth": "report",
    "Reason": "why", "UnknownEntryError": "why", "WhyAnswer": "why", "WhyError": "why",
    "explain": "why", "explain_all": "why",
}

if TYPE_CHECKING:
    from beat_panel.health.check import HealthChecker, Route, check_health
    from beat_panel.health.report import (
        BeatHealth,
        BeatPing,
        BrokerHealth,
        Health,
        Level,
        Problem,
        WorkerHealth,
        WorkersHealth,
    )
    from beat_panel.health.why import (
        Reason,
        UnknownEntryError,
        WhyAnswer,
        WhyError,
        explain,
        explain_all,
    )


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = ["BeatHealth", "BeatPing", "BrokerHealth", "Health", "HealthChecker", "Level",
           "Problem", "Reason", "Route", "UnknownEntryError", "WhyAnswer", "WhyError",
           "WorkerHealth", "WorkersHealth", "check_health", "explain", "explain_all"]
