"""A Celery schedule that is due once, at one date-time (the clocked schedule kind)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from celery import Celery
from celery.schedules import BaseSchedule


class clocked(BaseSchedule):  # lower case like celery's own schedule classes
    """Due once, at one date-time; never again after it ran."""

    def __init__(self, at: datetime, nowfun: Any = None, app: Celery | None = None) -> None:
        super().__init__(nowfun=nowfun, app=app)
        self.at = at

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        return self.at - self.now()

    def is_due(self, last_run_at: datetime) -> tuple[bool, float]:
        if last_run_at is not None and last_run_at >= self.at:
            return False, 3600.0  # already ran: check again in an hour (never due)
        remaining = (self.at - self.now()).total_seconds()
        if remaining <= 0:
            return True, 3600.0
        return False, remaining

    def __eq__(self, other: object) -> bool:
        return isinstance(other, clocked) and other.at == self.at

    def __hash__(self) -> int:
        return hash(self.at)

    def __repr__(self) -> str:
        return f"<clocked: {self.at.isoformat()}>"
