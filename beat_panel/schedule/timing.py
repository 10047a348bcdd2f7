"""Next run times, computed by Celery's own schedule objects as beat sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    return ZoneInfo(tz_name or DEFAULT_ZONE)


def known_zone(name: object) -> bool:
    """`name` is a time zone this machine knows (an IANA name such as Europe/Berlin)."""
    if not isinstance(name, str) or not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return False
    return True


# ---------------------------------------------------------------------------
# The zone beat uses: one answer for every face
# ---------------------------------------------------------------------------

DEFAULT_ZONE = "UTC"  # Celery's own default (timezone unset, enable_utc on)

# Where the zone is known from, for a person.
_SOURCES = {
    "beat": "the zone the running beat reports",
    "schedule": "the zone the schedule file records (import writes the app's)",
    "last beat": "the zone beat reported when it last ran",
    "default": "Celery's default, as the schedule file records no time zone (import "
               "from the app records the app's)",
}


@dataclass(frozen=True)
class BeatClock:
    """The time zone beat runs the schedule in. Beat computes crontab and solar times in
    its app's zone, so every next or last run is computed and shown in this one zone, and
    each face names it."""

    name: str  # an IANA name, e.g. "Europe/Berlin"
    source: str = "default"  # "beat", "schedule", "last beat" or "default"
    note: str | None = None  # the running beat's zone is not the one the file records

    @property
    def tzinfo(self) -> tzinfo:
        return zone(self.name)

    @property
    def why(self) -> str:
        """Where the zone is known from, in words."""
        return _SOURCES.get(self.source, self.source)

    def local(self, when: datetime) -> datetime:
        """`when` (aware) as a wall time in this zone."""
        return when.astimezone(self.tzinfo)

    def text(self, when: datetime, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        return self.local(when).strftime(fmt)

    def describe(self, spec: ScheduleSpec) -> str:
        """The schedule in words; a one-off time in this zone (its file offset may not be)."""
        if isinstance(spec, Clocked):
            return f"once at {self.text(spec.at, '%Y-%m-%d %H:%M %Z')}"
        return spec.describe()

    def to_json(self) -> dict:
        return {"name": self.name, "source": self.source, "note": self.note}


def beat_clock(recorded: str | None, reported: str | None = None,
               running: bool = True) -> BeatClock:
    """The zone beat uses, known from (first that is a known zone): the zone the running
    beat reports (`reported`, when `running`); else the one the schedule file records
    (`recorded`: import and the project check write the app's there); else the zone the
    last beat reported; else Celery's default, UTC."""
    reported = reported if known_zone(reported) else None
    recorded = recorded if known_zone(recorded) else None
    if reported and running:
        note = None
        if recorded and recorded != reported:
            note = (f"The running beat uses {reported}; the schedule file records "
                    f"{recorded}. Times are shown in {reported}, as beat runs them; "
                    "import from the app to record its zone.")
        return BeatClock(reported, "beat", note)
    if recorded:
        return BeatClock(recorded, "schedule")
    if reported:
        return BeatClock(reported, "last beat")
    return BeatClock(DEFAULT_ZONE, "default")


def next_runs(spec: ScheduleSpec, now: datetime, count: int = 5,
              last_run_at: datetime | None = None, tz_name: str | None = None) -> list[datetime]:
    """The next `count` times beat will send the entry, computed by Celery's own
    schedule objects as beat sees them at `now` (an aware datetime)."""
    app = _preview_app(tz_name or DEFAULT_ZONE)
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
