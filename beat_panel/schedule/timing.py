"""Next run times, computed by Celery's own schedule objects as beat sees them."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from beat_panel.schedule.model import Clocked, ScheduleSpec

if TYPE_CHECKING:
    from celery import Celery

# celery is imported where it is used, not here: the window imports this module at start
# and celery.schedules alone costs some 70 ms there.

# ---------------------------------------------------------------------------
# Next run times
# ---------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _preview_app(tz_name: str) -> Celery:
    """A Celery app that is never current, used only for its time zone."""
    from celery import Celery

    app = Celery("beat-panel-preview", set_as_current=False)
    app.conf.timezone = tz_name
    app.conf.enable_utc = True
    return app


def zone(tz_name: str | None) -> tzinfo:
    return ZoneInfo(tz_name or "UTC")


def next_runs(spec: ScheduleSpec, now: datetime, count: int = 5,
              last_run_at: datetime | None = None, tz_name: str | None = None) -> list[datetime]:
    """The next `count` times beat will send the entry, computed by Celery's own
    schedule objects as beat sees them at `now` (an aware datetime)."""
    app = _preview_app(tz_name or "UTC")
    last = last_run_at or now
    runs: list[datetime] = []
    for _ in range(count):
        try:
            remaining = spec.celery(app=app, nowfun=lambda: now).remaining_estimate(last)
        except Exception:  # e.g. a solar event that never happens at that latitude
            break
        when = now + max(remaining, timedelta(0))
        if isinstance(spec, Clocked):
            if last_run_at is None or last_run_at < spec.at:
                runs.append(max(spec.at, now))
            break
        if runs and when <= runs[-1]:
            break
        runs.append(when)
        last = when
    return runs
