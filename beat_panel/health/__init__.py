"""Health of what beat depends on (broker, workers, beat itself) and, per entry, why it
did not or will not run. No Qt: the window, the tray and the CLI call the same functions.

Probes that need the user's app run in the project's own Python (`probe.py`), each as its
own process killed at its deadline, at the same time; see `check` and `why`.
"""

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

__all__ = ["BeatHealth", "BeatPing", "BrokerHealth", "Health", "HealthChecker", "Level",
           "Problem", "Reason", "Route", "UnknownEntryError", "WhyAnswer", "WhyError",
           "WorkerHealth", "WorkersHealth", "check_health", "explain", "explain_all"]
