"""The schedule model: entries, their schedule kinds and a whole schedule document.

This module imports celery (lazily) and the standard library only: the beat plugin loads it
inside the user's beat process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from beat_panel.errors import PanelError

if TYPE_CHECKING:
    from celery import Celery
    from celery.schedules import BaseSchedule

# celery is imported where it is used, not here: the window imports this module at start
# and celery.schedules alone costs some 70 ms there.

FORMAT_NAME = "beat-panel-schedule"
FORMAT_VERSION = 1
PERIODS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
SOLAR_EVENTS = ("dawn_astronomical", "dawn_civil", "dawn_nautical", "dusk_astronomical",
                "dusk_civil", "dusk_nautical", "solar_noon", "sunrise", "sunset")  # celery's
# Those events in words, in the order they come in a day.
SOLAR_WORDS = {"dawn_astronomical": "dawn (astronomical)", "dawn_nautical": "dawn (nautical)",
               "dawn_civil": "dawn (civil)", "sunrise": "sunrise",
               "solar_noon": "solar noon", "sunset": "sunset", "dusk_civil": "dusk (civil)",
               "dusk_nautical": "dusk (nautical)",
               "dusk_astronomical": "dusk (astronomical)"}
MAX_PRIORITY = 255
MIN_INTERVAL = 0.1  # seconds; shorter would have beat send without pause
MAX_INTERVAL = 100 * 365 * 86400.0


class ScheduleError(PanelError, ValueError):
    """One or more problems with an entry or a schedule file.

    `problems` is a list of (field, message); str() reads well for a person.
    """

    def __init__(self, problems: list[tuple[str, str]], context: str = "") -> None:
        self.problems = problems
        self.context = context
        lines = [f"{f}: {m}" if f else m for f, m in problems]
        prefix = f"{context}: " if context else ""
        super().__init__(prefix + "; ".join(lines))


# ---------------------------------------------------------------------------
# Schedule kinds
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    every: float
    period: str = "seconds"
    relative: bool = False  # Celery's relative=True: runs on the period's clock boundaries
    kind: str = field(default="interval", init=False)

    @property
    def seconds(self) -> float:
        return self.every * PERIODS[self.period]

    def to_json(self) -> dict:
        every: float | int = int(self.every) if float(self.every).is_integer() else self.every
        data = {"kind": "interval", "every": every, "period": self.period}
        if self.relative:
            data["relative"] = True
        return data

    def describe(self) -> str:
        every = int(self.every) if float(self.every).is_integer() else self.every
        unit = self.period[:-1] if every == 1 else self.period
        text = f"every {unit}" if every == 1 else f"every {every} {unit}"
        return f"{text}, aligned to the clock" if self.relative else text

    def celery(self, app: Celery | None = None, nowfun: Any = None) -> BaseSchedule:
        from celery.schedules import schedule

        return schedule(timedelta(seconds=self.seconds), relative=self.relative, app=app,
                        nowfun=nowfun)


def cron_fields(expression: str) -> dict[str, str]:
    """Split `m h dom mon dow` into Celery's crontab field names."""
    parts = expression.split()
    if len(parts) != len(CRON_FIELDS):
        raise ScheduleError([("cron", f"needs 5 fields (minute hour day-of-month month "
                                      f"day-of-week), got {len(parts)}: {expression!r}")])
    return dict(zip(CRON_FIELDS, parts, strict=True))


@dataclass(frozen=True)
class Crontab:
    minute: str = "*"
    hour: str = "*"
    day_of_month: str = "*"
    month_of_year: str = "*"
    day_of_week: str = "*"
    kind: str = field(default="crontab", init=False)

    @classmethod
    def from_expression(cls, expression: str) -> Crontab:
        """From the five fields `m h dom mon dow`, as in crontab(5), unchecked."""
        return cls(**cron_fields(expression))

    @property
    def expression(self) -> str:
        return " ".join(getattr(self, f) for f in CRON_FIELDS)

    def to_json(self) -> dict:
        return {"kind": "crontab", **{f: getattr(self, f) for f in CRON_FIELDS}}

    def describe(self) -> str:
        try:
            from cron_descriptor import get_description
        except ImportError:  # the plugin may run where it is not installed
            return f"cron {self.expression}"
        try:
            text = get_description(self.expression)
        except Exception:  # a description must never break the list
            return f"cron {self.expression}"
        return text[0].lower() + text[1:] if text else self.expression

    def celery(self, app: Celery | None = None, nowfun: Any = None) -> BaseSchedule:
        from celery.schedules import crontab

        return crontab(**{f: getattr(self, f) for f in CRON_FIELDS}, app=app, nowfun=nowfun)


@dataclass(frozen=True)
class Solar:
    event: str
    latitude: float
    longitude: float
    kind: str = field(default="solar", init=False)

    def to_json(self) -> dict:
        return {"kind": "solar", "event": self.event, "latitude": self.latitude,
                "longitude": self.longitude}

    def describe(self) -> str:
        return (f"at {SOLAR_WORDS.get(self.event, self.event)} at "
                f"{self.latitude:.4g}, {self.longitude:.4g}")

    def celery(self, app: Celery | None = None, nowfun: Any = None) -> BaseSchedule:
        from celery.schedules import solar

        return solar(self.event, self.latitude, self.longitude, app=app, nowfun=nowfun)


@dataclass(frozen=True)
class Clocked:
    at: datetime  # timezone-aware
    kind: str = field(default="clocked", init=False)

    def to_json(self) -> dict:
        return {"kind": "clocked", "at": self.at.isoformat()}

    def describe(self) -> str:
        return f"once at {self.at.strftime('%Y-%m-%d %H:%M %Z').strip()}"

    def celery(self, app: Celery | None = None, nowfun: Any = None) -> BaseSchedule:
        from beat_panel.schedule.clocked import clocked

        return clocked(self.at, app=app, nowfun=nowfun)


ScheduleSpec = Interval | Crontab | Solar | Clocked


# ---------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------


# The `apply_async` options a schedule can hold, in the order they are shown. Each is a
# plain JSON value; what each may be is checked in `validation.parse_options`.
OPTION_NAMES = ("queue", "exchange", "routing_key", "priority", "expires", "countdown",
                "time_limit", "soft_time_limit", "serializer", "compression", "headers",
                "ignore_result", "retry", "retry_policy", "shadow")


@dataclass(frozen=True)
class Options:
    """How each send is made: the keyword arguments beat gives `apply_async`."""

    queue: str | None = None
    exchange: str | None = None
    routing_key: str | None = None
    priority: int | None = None
    expires: float | datetime | None = None  # seconds after sending, or a fixed moment
    countdown: float | None = None  # seconds to hold each send back
    time_limit: float | None = None
    soft_time_limit: float | None = None
    serializer: str | None = None
    compression: str | None = None
    headers: dict | None = None
    ignore_result: bool | None = None
    retry: bool | None = None
    retry_policy: dict | None = None
    shadow: str | None = None

    def to_json(self) -> dict:
        data: dict[str, Any] = {}
        for name in OPTION_NAMES:
            value = getattr(self, name)
            if value is None:
                continue
            data[name] = value.isoformat() if isinstance(value, datetime) else value
        return data

    def celery(self) -> dict:
        """The keyword arguments for `apply_async` (a fixed `expires` as a datetime)."""
        return {name: getattr(self, name) for name in OPTION_NAMES
                if getattr(self, name) is not None}

    def without(self, *names: str) -> Options:
        """These options with the named ones unset."""
        return replace(self, **dict.fromkeys(names))


@dataclass(frozen=True)
class Entry:
    """One periodic task."""

    name: str
    task: str
    schedule: ScheduleSpec
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    options: Options = field(default_factory=Options)
    enabled: bool = True
    one_off: bool = False
    description: str = ""

    def to_json(self) -> dict:
        data: dict[str, Any] = {
            "name": self.name,
            "task": self.task,
            "schedule": self.schedule.to_json(),
            "args": list(self.args),
            "kwargs": dict(self.kwargs),
            "enabled": self.enabled,
        }
        if self.options.to_json():
            data["options"] = self.options.to_json()
        if self.one_off:
            data["one_off"] = True
        if self.description:
            data["description"] = self.description
        return data

    @cached_property
    def _fingerprint(self) -> str:
        data = self.to_json()
        for key in ("enabled", "description", "name"):
            data.pop(key, None)
        return json.dumps(data, sort_keys=True)

    def fingerprint(self) -> str:
        """What beat runs: equal fingerprints need no re-install (and no re-fire)."""
        return self._fingerprint

    def with_changes(self, **changes: Any) -> Entry:
        return replace(self, **changes)




@dataclass(frozen=True)
class Document:
    """A whole schedule file: its revision, time zone and entries."""

    entries: tuple[Entry, ...] = ()
    revision: int = 0
    timezone: str | None = None

    def to_json(self) -> dict:
        data: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                                "revision": self.revision}
        if self.timezone:
            data["timezone"] = self.timezone
        data["entries"] = [e.to_json() for e in self.entries]
        return data

    def dumps(self) -> str:
        """The file's text: readable, and one line per entry so diffs are clear."""
        head = self.to_json()
        entries = head.pop("entries")
        # allow_nan=False: NaN and Infinity are not JSON, and other tools refuse them.
        lines = [f'  "{key}": {json.dumps(value, ensure_ascii=False, allow_nan=False)},'
                 for key, value in head.items()]
        body = ",\n".join(f"    {json.dumps(e, ensure_ascii=False, allow_nan=False)}"
                           for e in entries)
        return "{\n" + "\n".join(lines) + '\n  "entries": [' + \
            (f"\n{body}\n  " if entries else "") + "]\n}\n"

    def get(self, name: str) -> Entry | None:
        return next((e for e in self.entries if e.name == name), None)

    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def require(self, name: str) -> Entry:
        entry = self.get(name)
        if entry is None:
            names = self.names()
            known = ", ".join(names[:20]) or "none yet"
            if len(names) > 20:
                known += f", and {len(names) - 20} more"
            raise ScheduleError([("name", f"no entry is named {name!r} (entries: {known})")])
        return entry

    def adding(self, entry: Entry) -> Document:
        """A copy with `entry` added; its name must be new."""
        if self.get(entry.name) is not None:
            raise ScheduleError([("name", f"an entry named {entry.name!r} already exists; "
                                          "choose another name or edit that one")])
        return replace(self, entries=(*self.entries, entry))

    def replacing(self, name: str, entry: Entry) -> Document:
        """A copy with the entry `name` replaced by `entry` (which may rename it)."""
        self.require(name)
        if entry.name != name and self.get(entry.name) is not None:
            raise ScheduleError([("name", f"an entry named {entry.name!r} already exists")])
        return replace(self, entries=tuple(entry if e.name == name else e
                                           for e in self.entries))

    def removing(self, names: list[str]) -> Document:
        for name in names:
            self.require(name)
        return replace(self, entries=tuple(e for e in self.entries if e.name not in names))

    def enabling(self, names: list[str], enabled: bool) -> Document:
        for name in names:
            self.require(name)
        return replace(self, entries=tuple(
            e.with_changes(enabled=enabled) if e.name in names else e for e in self.entries))

