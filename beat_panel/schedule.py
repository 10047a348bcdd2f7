"""The schedule model: entries, their schedule kinds, validation and next run times.

Validation and next runs go through `celery.schedules` itself, so what the panel accepts
is what beat runs. This module imports celery and the standard library only: the beat
plugin loads it inside the user's beat process.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from celery import Celery
    from celery.schedules import BaseSchedule

# celery is imported where it is used, not here: the window imports this module at start
# and celery.schedules alone costs some 70 ms there.

_LONE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
FORMAT_NAME = "beat-panel-schedule"
FORMAT_VERSION = 1
PERIODS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
SOLAR_EVENTS = ("dawn_astronomical", "dawn_civil", "dawn_nautical", "dusk_astronomical",
                "dusk_civil", "dusk_nautical", "solar_noon", "sunrise", "sunset")  # celery's
MAX_PRIORITY = 255
MIN_INTERVAL = 0.1  # seconds; shorter would have beat send without pause
MAX_INTERVAL = 100 * 365 * 86400.0


class ScheduleError(ValueError):
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
    kind: str = field(default="interval", init=False)

    @property
    def seconds(self) -> float:
        return self.every * PERIODS[self.period]

    def to_json(self) -> dict:
        every: float | int = int(self.every) if float(self.every).is_integer() else self.every
        return {"kind": "interval", "every": every, "period": self.period}

    def describe(self) -> str:
        every = int(self.every) if float(self.every).is_integer() else self.every
        unit = self.period[:-1] if every == 1 else self.period
        return f"every {unit}" if every == 1 else f"every {every} {unit}"

    def celery(self, app: Celery | None = None, nowfun: Any = None) -> BaseSchedule:
        from celery.schedules import schedule

        return schedule(timedelta(seconds=self.seconds), app=app, nowfun=nowfun)


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
        return (f"at {self.event.replace('_', ' ')} "
                f"({self.latitude:.4g}, {self.longitude:.4g})")

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
        from beat_panel.clocked import clocked

        return clocked(self.at, app=app, nowfun=nowfun)


ScheduleSpec = Interval | Crontab | Solar | Clocked


# ---------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    queue: str | None = None
    priority: int | None = None
    expires: float | None = None  # seconds after sending

    def to_json(self) -> dict:
        return {k: v for k, v in (("queue", self.queue), ("priority", self.priority),
                                  ("expires", self.expires)) if v is not None}

    def celery(self) -> dict:
        return self.to_json()


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

    def fingerprint(self) -> str:
        """What beat runs: equal fingerprints need no re-install (and no re-fire)."""
        data = self.to_json()
        for key in ("enabled", "description", "name"):
            data.pop(key, None)
        return json.dumps(data, sort_keys=True)

    def with_changes(self, **changes: Any) -> Entry:
        return replace(self, **changes)


# ---------------------------------------------------------------------------
# Parsing and validation (from the file's dicts or from a form)
# ---------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A finite number, or None (also for integers too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _show(value: Any) -> str:
    """A value as the person typed it (JSON), for error messages."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def parse_schedule(data: Any, now: datetime | None = None,
                   check_past: bool = False) -> ScheduleSpec:
    """Build a schedule from its JSON form, checked by celery itself."""
    if not isinstance(data, dict):
        raise ScheduleError([("schedule", "must be an object with a 'kind'")])
    kind = data.get("kind")
    if kind == "interval":
        every = _number(data.get("every"))
        period = data.get("period", "seconds")
        if period not in PERIODS:
            raise ScheduleError([("schedule.period", f"must be one of {', '.join(PERIODS)}, "
                                                     f"not {period!r}")])
        if every is None or every <= 0:
            raise ScheduleError([("schedule.every", "must be a number greater than 0, not "
                                                    f"{_show(data.get('every'))}")])
        seconds = every * PERIODS[period]
        if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
            raise ScheduleError([("schedule.every", f"{every:g} {period} is out of range: an "
                                                    f"interval runs from {MIN_INTERVAL:g} s "
                                                    "to 100 years")])
        return Interval(every, period)
    if kind == "crontab":
        values = {}
        problems = []
        for name in CRON_FIELDS:
            value = data.get(name, "*")
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str) or not value.strip():
                problems.append((f"schedule.{name}", "must be a text field such as '*' or "
                                                     "'*/5'"))
                continue
            values[name] = value.strip()
        if problems:
            raise ScheduleError(problems)
        problems = _crontab_problems(tuple(values[f] for f in CRON_FIELDS))
        if problems:
            raise ScheduleError(list(problems))
        return Crontab(**values)
    if kind == "solar":
        problems = []
        event = data.get("event")
        if event not in SOLAR_EVENTS:
            problems.append(("schedule.event", f"must be one of {', '.join(SOLAR_EVENTS)}, "
                                               f"not {event!r}"))
        lat, lon = _number(data.get("latitude")), _number(data.get("longitude"))
        if lat is None or not -90 <= lat <= 90:
            problems.append(("schedule.latitude", "must be a number from -90 to 90, not "
                                                  f"{data.get('latitude')!r}"))
        if lon is None or not -180 <= lon <= 180:
            problems.append(("schedule.longitude", "must be a number from -180 to 180, not "
                                                   f"{data.get('longitude')!r}"))
        if problems:
            raise ScheduleError(problems)
        return Solar(event, lat, lon)
    if kind == "clocked":
        raw = data.get("at")
        try:
            at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            at = None
        if at is None:
            raise ScheduleError([("schedule.at", "must be an ISO 8601 date and time such as "
                                                 f"2026-12-01T09:00:00+00:00, not {raw!r}")])
        if at.tzinfo is None:
            raise ScheduleError([("schedule.at", f"{raw!r} has no time zone; add one, such "
                                                 "as +00:00")])
        if check_past and at <= (now or datetime.now(timezone.utc)):
            raise ScheduleError([("schedule.at", f"{raw} is in the past; a clocked entry "
                                                 "runs once, at a time still to come")])
        return Clocked(at)
    known = "interval, crontab, solar, clocked"
    raise ScheduleError([("schedule.kind", f"unknown kind {kind!r}; known kinds: {known}")])


_CRON_ERRORS = (ValueError, TypeError, IndexError, ZeroDivisionError)


@lru_cache(maxsize=4096)
def _crontab_problems(fields: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Celery's verdict on a crontab, cached: schedules repeat the same few expressions.
    One check of the whole crontab; only when it fails, field by field to say which."""
    from celery.schedules import crontab

    values = dict(zip(CRON_FIELDS, fields, strict=True))
    try:
        crontab(**values)
        return ()
    except _CRON_ERRORS as whole:
        problems = []
        for name, value in values.items():
            try:
                crontab(**{name: value})
            except _CRON_ERRORS as exc:
                problems.append((f"schedule.{name}", f"{value!r} is not valid: {exc}"))
        # Valid alone but impossible together (31 February): name the day of month.
        return tuple(problems) or (("schedule.day_of_month", str(whole)),)


def parse_entry(data: Any, check_past: bool = False) -> Entry:
    """Build one entry from its JSON form; every problem is named with its field."""
    if not isinstance(data, dict):
        raise ScheduleError([("", "an entry must be an object")])
    problems: list[tuple[str, str]] = []
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(("name", "must not be empty"))
    task = data.get("task")
    if not isinstance(task, str) or not task.strip():
        problems.append(("task", "must be a task name such as proj.tasks.cleanup"))
    elif any(c.isspace() for c in task.strip()):
        problems.append(("task", f"{task!r} contains spaces; a task name has none"))
    args = data.get("args", [])
    if not isinstance(args, list):
        problems.append(("args", f"must be a JSON list such as [1, \"a\"], not {_show(args)}"))
    kwargs = data.get("kwargs", {})
    if not isinstance(kwargs, dict):
        problems.append(("kwargs", f"must be a JSON object such as {{\"x\": 1}}, not "
                                   f"{_show(kwargs)}"))
    options = Options()
    raw_options = data.get("options", {})
    if not isinstance(raw_options, dict):
        problems.append(("options", "must be an object"))
    else:
        try:
            options = parse_options(raw_options)
        except ScheduleError as exc:
            problems += exc.problems
    spec: ScheduleSpec | None = None
    try:
        spec = parse_schedule(data.get("schedule"), check_past=check_past)
    except ScheduleError as exc:
        problems += exc.problems
    for flag in ("enabled", "one_off"):
        if flag in data and not isinstance(data[flag], bool):
            problems.append((flag, "must be true or false"))
    description = data.get("description", "")
    if not isinstance(description, str):
        problems.append(("description", "must be text"))
    unknown = set(data) - {"name", "task", "schedule", "args", "kwargs", "options",
                           "enabled", "one_off", "description"}
    if unknown:
        problems.append(("", f"unknown field(s): {', '.join(sorted(unknown))}"))
    if problems:
        raise ScheduleError(problems)
    assert spec is not None
    return Entry(
        name=name.strip(), task=task.strip(), schedule=spec, args=tuple(args),
        kwargs=dict(kwargs), options=options, enabled=data.get("enabled", True),
        one_off=data.get("one_off", False), description=description,
    )


def parse_options(data: dict) -> Options:
    problems = []
    queue = data.get("queue")
    if queue is not None and (not isinstance(queue, str) or not queue.strip()):
        problems.append(("options.queue", "must be a queue name"))
    priority = data.get("priority")
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)
                                 or not 0 <= priority <= MAX_PRIORITY):
        problems.append(("options.priority", f"must be a whole number from 0 to "
                                             f"{MAX_PRIORITY}, not {priority!r}"))
    expires = data.get("expires")
    if expires is not None and (_number(expires) is None or expires <= 0):
        problems.append(("options.expires", f"must be a number of seconds greater than 0, "
                                            f"not {expires!r}"))
    unknown = set(data) - {"queue", "priority", "expires"}
    if unknown:
        problems.append(("options", f"unknown option(s): {', '.join(sorted(unknown))}"))
    if problems:
        raise ScheduleError(problems)
    return Options(queue=queue, priority=priority,
                   expires=float(expires) if expires is not None else None)


def check_unique_names(entries: list[Entry]) -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise ScheduleError([("name", f"{entry.name!r} is used by more than one entry; "
                                          "names must be unique")])
        seen.add(entry.name)


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
        lines = [f'  "{key}": {json.dumps(value, ensure_ascii=False)},'
                 for key, value in head.items()]
        body = ",\n".join(f"    {json.dumps(e, ensure_ascii=False)}" for e in entries)
        return "{\n" + "\n".join(lines) + '\n  "entries": [' + \
            (f"\n{body}\n  " if entries else "") + "]\n}\n"

    def get(self, name: str) -> Entry | None:
        return next((e for e in self.entries if e.name == name), None)

    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def require(self, name: str) -> Entry:
        entry = self.get(name)
        if entry is None:
            known = ", ".join(self.names()) or "none yet"
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


def loads(text: str, source: str = "schedule file") -> Document:
    """Parse a schedule file's text; errors say where (line and column, or the entry)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScheduleError([("", f"not valid JSON at line {exc.lineno}, column {exc.colno}: "
                                  f"{exc.msg}")], source) from None
    if _LONE_SURROGATE.search(text):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ScheduleError([("", "contains an escaped character that is not valid "
                                      f"Unicode ({exc.object[exc.start:exc.end]!r}); replace "
                                      "it")], source) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise ScheduleError([("", f"not a Beat Panel schedule (no \"format\": "
                                  f"\"{FORMAT_NAME}\")")], source)
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ScheduleError([("version", "missing or not a whole number")], source)
    if version > FORMAT_VERSION:
        raise ScheduleError([("version", f"the file is format version {version}, written by "
                                         f"a newer Beat Panel; this one reads up to "
                                         f"{FORMAT_VERSION}. Upgrade Beat Panel; the file "
                                         "was left as it is")], source)
    raw_entries = data.get("entries", [])
    if not isinstance(raw_entries, list):
        raise ScheduleError([("entries", "must be a list")], source)
    entries = []
    for index, raw in enumerate(raw_entries, start=1):
        try:
            entries.append(parse_entry(raw))
        except ScheduleError as exc:
            label = raw.get("name") if isinstance(raw, dict) else None
            where = f"entry {index}" + (f" ({label!r})" if label else "")
            raise ScheduleError([(f"{where} {f}".strip(), m) for f, m in exc.problems],
                                source) from None
    try:
        check_unique_names(entries)
    except ScheduleError as exc:
        raise ScheduleError(exc.problems, source) from None
    revision = data.get("revision", 0)
    tz = data.get("timezone")
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ScheduleError([("timezone", f"unknown time zone {tz!r}")], source) from None
    return Document(tuple(entries), revision if isinstance(revision, int) else 0, tz)


def state_path(schedule_path: Path) -> Path:
    """Where the beat plugin records what it applied and when each entry last ran."""
    return schedule_path.with_name(f".{schedule_path.name}.beat-state.json")


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
