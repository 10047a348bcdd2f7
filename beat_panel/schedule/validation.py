"""Parsing and validation of entries and schedules, from the file's dicts or from a
form. Validation goes through `celery.schedules` itself, so what the panel accepts is what
beat runs."""

from __future__ import annotations

import json
import math
import unicodedata
from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from beat_panel.schedule.model import (
    CRON_FIELDS,
    MAX_INTERVAL,
    MAX_PRIORITY,
    MIN_INTERVAL,
    OPTION_NAMES,
    PERIODS,
    SOLAR_EVENTS,
    Clocked,
    Crontab,
    Entry,
    Interval,
    Options,
    ScheduleError,
    ScheduleSpec,
    Solar,
)

if TYPE_CHECKING:
    pass

# celery is imported where it is used, not here: the window imports this module at start
# and celery.schedules alone costs some 70 ms there.

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


def show_value(value: Any) -> str:
    """A value as the person typed it (JSON), shortened, for error messages."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return "a number too large to use"
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = object.__repr__(value)
    return text if len(text) <= 80 else text[:77] + "..."


# Characters that change how the text around them is shown (right-to-left overrides,
# isolates, marks): in a name they make one entry look like another.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                           "\u2066\u2067\u2068\u2069")
_UNSEEN = frozenset({"Cf", "Zs", "Zl", "Zp", "Cc"})


def text_problem(text: str, what: str, lines: bool = False) -> str | None:
    """Why `text` cannot be `what` ("a name"): a control character (a newline unless
    `lines`), a character that reorders the text around it, or nothing visible."""
    if text.isprintable() and not text.isspace():
        return None  # the usual case, at C speed: no control, format or odd space at all
    for char in text:
        if lines and char in "\n\t":
            continue
        code = f"U+{ord(char):04X}"
        if unicodedata.category(char) == "Cs":
            return (f"contains bytes that are not UTF-8 text ({code}, a lone surrogate); "
                    f"{what} must be text a file can hold")
        if unicodedata.category(char) == "Cc":
            return (f"contains a control character ({code}); {what} is one line of "
                    "visible text")
        if char in _BIDI_CONTROLS:
            return (f"contains {unicodedata.name(char, code).lower()} ({code}), which changes "
                    f"how the text around it is shown; {what} cannot hold it")
    if text and all(unicodedata.category(c) in _UNSEEN for c in text):
        return f"has no visible character (only spaces or invisible ones); give {what}"
    return None


def json_problem(value: Any) -> str | None:
    """Why `value` (args, kwargs, headers...) cannot be written to a JSON file that every
    tool reads, or None: NaN or Infinity (not JSON), text that is not Unicode (a lone
    surrogate), a number too long to write, or nesting too deep to read back."""
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start:exc.end] if isinstance(exc.object, str) else ""
        code = f" (U+{ord(bad[0]):04X})" if bad else ""
        return (f"contains text that is not valid Unicode{code}, such as bytes that are not "
                "UTF-8; a schedule file cannot hold it")
    except RecursionError:
        return "is nested too deeply to be written and read back; keep it a few levels deep"
    except ValueError as exc:
        if "float" in str(exc):  # "Out of range float values are not JSON compliant"
            return ("contains NaN or Infinity, which are not JSON: other tools cannot read "
                    "them; use a number or null")
        return "contains a number with more digits than can be written; use a shorter one"
    except TypeError:
        return "holds something that is not a JSON value"
    return None


def parse_schedule(data: Any, now: datetime | None = None,
                   check_past: bool = False) -> ScheduleSpec:
    """Build a schedule from its JSON form, checked by celery itself."""
    if not isinstance(data, dict):
        raise ScheduleError([("schedule", "must be an object with a 'kind'")])
    kind = data.get("kind")
    if kind == "interval":
        every = _number(data.get("every"))
        period = data.get("period", "seconds")
        if not isinstance(period, str) or period not in PERIODS:
            raise ScheduleError([("schedule.period", f"must be one of {', '.join(PERIODS)}, "
                                                     f"not {show_value(period)}")])
        if every is None or every <= 0:
            raise ScheduleError([("schedule.every", "must be a number greater than 0, not "
                                                    f"{show_value(data.get('every'))}")])
        seconds = every * PERIODS[period]
        if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
            raise ScheduleError([("schedule.every", f"{every:g} {period} is out of range: an "
                                                    f"interval runs from {MIN_INTERVAL:g} s "
                                                    "to 100 years")])
        relative = data.get("relative", False)
        if not isinstance(relative, bool):
            raise ScheduleError([("schedule.relative", "must be true or false")])
        return Interval(every, period, relative)
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
                                               f"not {show_value(event)}"))
        lat, lon = _number(data.get("latitude")), _number(data.get("longitude"))
        if lat is None or not -90 <= lat <= 90:
            problems.append(("schedule.latitude", "must be a number from -90 to 90, not "
                                                  f"{show_value(data.get('latitude'))}"))
        if lon is None or not -180 <= lon <= 180:
            problems.append(("schedule.longitude", "must be a number from -180 to 180, not "
                                                   f"{show_value(data.get('longitude'))}"))
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
                                                 "2026-12-01T09:00:00+00:00, not "
                                                 f"{show_value(raw)}")])
        if at.tzinfo is None:
            raise ScheduleError([("schedule.at", f"{show_value(raw)} has no time zone; add "
                                                 "one, such as +00:00")])
        if check_past and at <= (now or datetime.now(timezone.utc)):
            raise ScheduleError([("schedule.at", f"{raw} is in the past; a clocked entry "
                                                 "runs once, at a time still to come")])
        return Clocked(at)
    known = "interval, crontab, solar, clocked"
    raise ScheduleError([("schedule.kind", f"unknown kind {show_value(kind)}; known kinds: "
                                           f"{known}")])


# What celery's crontab raises for text it cannot read: ParseException (for '*/', '1,',
# '-1') is not a ValueError, and must never escape as a traceback.
_CRON_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, IndexError,
                                             ZeroDivisionError)


# What each crontab field holds, said in words: (the field as a person names it, the
# smallest and largest number, the names it also takes).
CRON_RULES: dict[str, tuple[str, int, int, str]] = {
    "minute": ("minute", 0, 59, ""),
    "hour": ("hour", 0, 23, ""),
    "day_of_month": ("day of month", 1, 31, ""),
    "month_of_year": ("month", 1, 12, "jan–dec"),
    "day_of_week": ("day of week", 0, 6, "sun–sat"),
}
_CRON_NAMED = {"month_of_year": "a month name", "day_of_week": "a day name"}


def cron_allowed(name: str) -> str:
    """What crontab field `name` takes, in words: "0–59", "0–6 or sun–sat"."""
    _, low, high, names = CRON_RULES[name]
    return f"{low}–{high}" + (f" or {names}" if names else "")


def _cron_field_problem(name: str, value: str) -> str:
    """Why celery refused `value` for crontab field `name`, said without celery's parser
    text: the number out of range, the unknown name, the zero step, or the form."""
    from celery.schedules import ParseException, crontab

    label, low, high, names = CRON_RULES[name]
    allowed = f"the {label} is {cron_allowed(name)}"
    if len(value.split()) > 1:
        return (f"{value!r} holds several fields; the {label} field takes one, such as "
                "*/5 (a whole expression goes in the five fields, one part each)")
    for part in value.split(","):
        base, slash, step = part.partition("/")
        if slash and step.isdigit() and int(step) == 0:
            return f"{part!r} has a step of 0, which never moves on; use */1 or more"
        for bound in base.split("-"):
            if bound.isdigit() and not low <= int(bound) <= high:
                return f"{int(bound)} is out of range; {allowed}"
            if bound.isalpha():
                try:
                    crontab(**{name: bound})
                except (*_CRON_ERRORS, ParseException):
                    kind = f"{_CRON_NAMED[name]} or a number" if names else "a number"
                    return f"{bound!r} is not {kind}; {allowed}"
    return (f"{value!r} cannot be read; {allowed}, written as a number, a list (1,15), "
            "a range (1-5), a step (*/5) or *")


@lru_cache(maxsize=4096)
def _crontab_problems(fields: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Celery's verdict on a crontab, cached: schedules repeat the same few expressions.
    One check of the whole crontab; only when it fails, field by field to say which, in
    words (the field's range, not celery's parser text)."""
    from celery.schedules import ParseException, crontab

    errors = (*_CRON_ERRORS, ParseException)

    values = dict(zip(CRON_FIELDS, fields, strict=True))
    try:
        crontab(**values)
        return ()
    except errors:
        problems = []
        for name, value in values.items():
            try:
                crontab(**{name: value})
            except errors:
                problems.append((f"schedule.{name}", _cron_field_problem(name, value)))
        # Valid alone but impossible together (31 February): name the day of month.
        day, month = values["day_of_month"], values["month_of_year"]
        return tuple(problems) or (
            ("schedule.day_of_month", f"day {day} never occurs in month {month}, so the "
                                      "entry would never run; pick a day that month has"),)


def parse_entry(data: Any, check_past: bool = False) -> Entry:
    """Build one entry from its JSON form; every problem is named with its field."""
    if not isinstance(data, dict):
        raise ScheduleError([("", "an entry must be an object")])
    problems: list[tuple[str, str]] = []
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(("name", "must not be empty"))
    elif (problem := text_problem(name, "a name")) is not None:
        problems.append(("name", problem))
    task = data.get("task")
    if not isinstance(task, str) or not task.strip():
        problems.append(("task", "must be a task name such as proj.tasks.cleanup"))
    elif any(c.isspace() for c in task.strip()):
        problems.append(("task", f"{task!r} contains spaces; a task name has none"))
    elif (problem := text_problem(task, "a task name")) is not None:
        problems.append(("task", problem))
    args = data.get("args", [])
    if not isinstance(args, list):
        problems.append(("args", f"must be a JSON list such as [1, \"a\"], not {show_value(args)}"))
    elif args and (problem := json_problem(args)) is not None:
        problems.append(("args", problem))
    kwargs = data.get("kwargs", {})
    if not isinstance(kwargs, dict):
        problems.append(("kwargs", f"must be a JSON object such as {{\"x\": 1}}, not "
                                   f"{show_value(kwargs)}"))
    elif kwargs and (problem := json_problem(kwargs)) is not None:
        problems.append(("kwargs", problem))
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
    elif (problem := text_problem(description, "a description", lines=True)) is not None:
        problems.append(("description", problem))
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


_NAME_OPTIONS = ("queue", "exchange", "routing_key", "serializer", "compression", "shadow")
_SECONDS_OPTIONS = ("countdown", "time_limit", "soft_time_limit")
# The longest expires, countdown or time limit: beat adds it to the time of each send, and
# much more (1e12 s) overflows a date (celery logs "date value out of range" at every run).
MAX_SECONDS = MAX_INTERVAL
# The serializers and compressions kombu registers (kombu.serialization.registry and
# kombu.compression, with their aliases), named without importing the user's app: beat
# cannot send an entry with any other.
_KNOWN_NAMES = {
    "serializer": ("json", "pickle", "yaml", "msgpack"),
    "compression": ("zlib", "gzip", "bzip2", "bzip", "lzma", "xz", "zstd", "zstandard",
                    "brotli"),
}
_FLAG_OPTIONS = ("ignore_result", "retry")
_RETRY_POLICY = {"max_retries": "a whole number of 0 or more, or null",
                 "interval_start": "a number of seconds of 0 or more",
                 "interval_step": "a number of seconds of 0 or more",
                 "interval_max": "a number of seconds of 0 or more"}


def _moment(value: str) -> datetime | None:
    """An ISO 8601 date-time with its UTC offset, or None."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None


def _retry_policy_problems(policy: Any) -> list[tuple[str, str]]:
    field = "options.retry_policy"
    if not isinstance(policy, dict):
        return [(field, "must be an object such as {\"max_retries\": 3}")]
    problems = []
    for key, value in policy.items():
        if key not in _RETRY_POLICY:
            problems.append((f"{field}.{key}", f"is not a retry policy setting (known: "
                                               f"{', '.join(_RETRY_POLICY)})"))
        elif key == "max_retries":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):
                problems.append((f"{field}.{key}", f"must be {_RETRY_POLICY[key]}, not "
                                                   f"{show_value(value)}"))
        elif (number := _number(value)) is None or number < 0:
            problems.append((f"{field}.{key}", f"must be {_RETRY_POLICY[key]}, not "
                                               f"{show_value(value)}"))
    return problems


def parse_options(data: dict) -> Options:
    """The `apply_async` options of an entry; every problem names its option."""
    problems: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    for key, value in data.items():
        field = f"options.{key}"
        if value is None or key not in OPTION_NAMES:
            continue
        if key in _NAME_OPTIONS:
            if not isinstance(value, str) or not value.strip():
                problems.append((field, f"must be a name, not {show_value(value)}"))
            elif (problem := text_problem(value, "a name")) is not None:
                problems.append((field, problem))
            elif key in _KNOWN_NAMES and value not in _KNOWN_NAMES[key]:
                problems.append((field, f"{show_value(value)} is not a {key} kombu knows; "
                                        f"use one of {', '.join(_KNOWN_NAMES[key])}"))
            else:
                values[key] = value
        elif key == "priority":
            if isinstance(value, bool) or not isinstance(value, int) \
                    or not 0 <= value <= MAX_PRIORITY:
                problems.append((field, f"must be a whole number from 0 to {MAX_PRIORITY}, "
                                        f"not {show_value(value)}"))
            else:
                values[key] = value
        elif key == "expires":
            number = _number(value)
            moment = _moment(value) if isinstance(value, str) else None
            if moment is not None:
                values[key] = moment
            elif number is not None and 0 < number <= MAX_SECONDS:
                values[key] = float(value)
            else:
                problems.append((field, f"must be a number of seconds greater than 0 and at "
                                        f"most {MAX_SECONDS:.0f} (100 years), or a "
                                        "date-time with its UTC offset such as "
                                        f"2030-01-31T18:00:00+00:00, not {show_value(value)}"))
        elif key in _SECONDS_OPTIONS:
            number = _number(value)
            if number is None or number < 0 or (number == 0 and key != "countdown") \
                    or number > MAX_SECONDS:
                bound = "0" if key == "countdown" else "greater than 0"
                problems.append((field, f"must be a number of seconds from {bound} to "
                                        f"{MAX_SECONDS:.0f} (100 years), not "
                                        f"{show_value(value)}"))
            else:
                values[key] = float(value)
        elif key in _FLAG_OPTIONS:
            if not isinstance(value, bool):
                problems.append((field, "must be true or false"))
            else:
                values[key] = value
        elif key == "headers":
            if not isinstance(value, dict):
                problems.append((field, "must be a JSON object such as {\"tenant\": \"a\"}"))
            elif value and (problem := json_problem(value)) is not None:
                problems.append((field, problem))
            else:
                values[key] = dict(value)
        elif key == "retry_policy":
            found = _retry_policy_problems(value)
            if found:
                problems += found
            else:
                values[key] = dict(value)
    unknown = set(data) - set(OPTION_NAMES)
    if unknown:
        problems.append(("options", f"unknown option(s): {', '.join(sorted(unknown))}; "
                                    f"known: {', '.join(OPTION_NAMES)}"))
    if problems:
        raise ScheduleError(problems)
    return Options(**values)


def check_unique_names(entries: list[Entry]) -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise ScheduleError([("name", f"{entry.name!r} is used by more than one entry; "
                                          "names must be unique")])
        seen.add(entry.name)


