"""One schedule entry as RedBeat keeps it: a Redis hash at `<prefix><name>` with the
fields `definition` (JSON: name, task, args, kwargs, options, schedule, enabled) and
`meta` (JSON: last_run_at, total_run_count), plus a field of the panel's own,
`beat_panel` (JSON: what RedBeat has no place for, such as the description), which
RedBeat never reads.

Typed values are JSON objects with a `__type__`: `interval` (`every` in seconds and
`relative`, which RedBeat's decoder requires), `crontab` (five text fields), `rrule`
(RedBeat's own; the panel writes and reads only the one-shot form, `count` 1 at
`dtstart`) and `datetime` (fields and a `timezone`: a zone name, or an offset in
seconds). Pure: no Redis, no Celery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from beat_panel import schedule
from beat_panel.schedule.model import (
    PERIODS,
    Clocked,
    Crontab,
    Entry,
    Interval,
    ScheduleError,
    Solar,
)
from beat_panel.schedule.validation import show_value

DEFINITION = "definition"
META = "meta"
PANEL = "beat_panel"  # the panel's own field; RedBeat reads only the two above
RRULE_DAILY = 3  # dateutil's DAILY; a one-shot (count 1) never reaches a second day
# What RedBeat passes on to its entry class: any other field makes a stock beat fail.
DEFINITION_FIELDS = frozenset({"name", "task", "args", "kwargs", "options", "schedule",
                               "enabled"})
_RRULE_RULES = ("bysetpos", "bymonth", "bymonthday", "byyearday", "byeaster", "byweekno",
                "byweekday", "byhour", "byminute", "bysecond", "until")


@dataclass(frozen=True)
class RunState:
    """What RedBeat's `meta` says of an entry's runs."""

    last_run_at: datetime | None = None
    total_run_count: int = 0


# -- writing ----------------------------------------------------------------------------


def redbeat_problem(entry: Entry) -> tuple[str, str] | None:
    """(field, why) when a stock RedBeat beat cannot run `entry` as it is, else None."""
    if isinstance(entry.schedule, Solar):
        return ("schedule", "RedBeat cannot run a solar schedule (sunrise, sunset…); use "
                            "a crontab in the app's time zone instead")
    if entry.one_off and not isinstance(entry.schedule, Clocked):
        return ("one_off", "RedBeat has no run-once for an interval or a crontab; use "
                           "\"once, at a time\" instead")
    if entry.name.startswith(":"):
        return ("name", "a name for a Redis schedule must not start with ':' (RedBeat's "
                        "own keys are <prefix>:schedule, :statics and :lock)")
    return None


def check_redbeat(entry: Entry) -> None:
    """ScheduleError naming the field when RedBeat cannot run `entry`."""
    problem = redbeat_problem(entry)
    if problem is not None:
        raise ScheduleError([problem], entry.name)


def encode_datetime(moment: datetime) -> dict:
    """A datetime as RedBeat's decoder rebuilds it (aware; a zone name when it has one,
    else its UTC offset in seconds)."""
    if moment.tzinfo is None or moment.tzinfo is timezone.utc:
        zone: str | float = "UTC"
    elif getattr(moment.tzinfo, "key", None):
        zone = moment.tzinfo.key  # type: ignore[union-attr]
    else:
        offset = moment.utcoffset()
        zone = offset.total_seconds() if offset else 0.0
    return {"__type__": "datetime", "year": moment.year, "month": moment.month,
            "day": moment.day, "hour": moment.hour, "minute": moment.minute,
            "second": moment.second, "microsecond": moment.microsecond, "timezone": zone}


def _schedule_json(entry: Entry) -> dict:
    spec = entry.schedule
    if isinstance(spec, Interval):
        every: float | int = spec.seconds
        every = int(every) if float(every).is_integer() else every
        return {"__type__": "interval", "every": every, "relative": spec.relative}
    if isinstance(spec, Crontab):
        return {"__type__": "crontab", "minute": spec.minute, "hour": spec.hour,
                "day_of_week": spec.day_of_week, "day_of_month": spec.day_of_month,
                "month_of_year": spec.month_of_year}
    if isinstance(spec, Clocked):
        at = spec.at
        offset = at.utcoffset() or timedelta(0)
        return {"__type__": "rrule", "freq": RRULE_DAILY, "interval": 1, "wkst": None,
                "count": 1, "bysetpos": None, "bymonth": None, "bymonthday": None,
                "byyearday": None, "byeaster": None, "byweekno": None, "byweekday": None,
                "byhour": None, "byminute": None, "bysecond": None,
                "dtstart": int(at.timestamp()), "dtstart_tz": offset.total_seconds() / 60}
    check_redbeat(entry)  # solar: refused with its reason
    raise AssertionError(spec)  # pragma: no cover - every kind is handled above


def encode_definition(entry: Entry) -> str:
    """The `definition` field; ScheduleError when RedBeat cannot run the entry."""
    check_redbeat(entry)
    options: dict[str, Any] = {}
    for name, value in entry.options.celery().items():
        options[name] = encode_datetime(value) if isinstance(value, datetime) else value
    return json.dumps({"name": entry.name, "task": entry.task, "args": list(entry.args),
                       "kwargs": dict(entry.kwargs), "options": options,
                       "schedule": _schedule_json(entry), "enabled": entry.enabled},
                      ensure_ascii=False, sort_keys=True)


def encode_meta(state: RunState) -> str:
    return json.dumps({"last_run_at": encode_datetime(state.last_run_at)
                       if state.last_run_at else None,
                       "total_run_count": state.total_run_count})


def encode_panel(entry: Entry) -> str | None:
    """The panel's own field, or None when there is nothing RedBeat lacks."""
    return json.dumps({"description": entry.description}, ensure_ascii=False) \
        if entry.description else None


# -- reading ----------------------------------------------------------------------------


def decode_datetime(data: Any, what: str) -> datetime:
    if not isinstance(data, dict) or data.get("__type__") != "datetime":
        raise ScheduleError([(what, "must be a RedBeat datetime object")])
    zone = data.get("timezone", "UTC")
    try:
        if isinstance(zone, int | float) and not isinstance(zone, bool):
            tz: Any = timezone(timedelta(seconds=zone))
        elif isinstance(zone, str):
            tz = schedule.zone(zone)
        else:
            raise ValueError(f"a time zone of {show_value(zone)}")
        return datetime(*(int(data.get(k, 0)) for k in ("year", "month", "day", "hour",
                                                         "minute", "second",
                                                         "microsecond")),
                        tzinfo=tz)
    except (TypeError, ValueError, OverflowError, KeyError) as exc:  # (KeyError: a zone
        # name this machine's tz database does not have)
        raise ScheduleError([(what, f"is not a date and time the panel can read here: "
                                    f"{exc}")]) from None


def _loads(text: Any, what: str) -> Any:
    if not isinstance(text, str):
        raise ScheduleError([(what, "is missing")])
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ScheduleError([(what, f"is not JSON: {str(exc)[:120]}")]) from None


def _interval_form(seconds: float) -> dict:
    """Seconds in the largest period that divides them, as the editor shows them."""
    for period in ("days", "hours", "minutes"):
        size = PERIODS[period]
        if seconds >= size and float(seconds / size).is_integer():
            return {"every": int(seconds // size), "period": period}
    every: float | int = int(seconds) if float(seconds).is_integer() else seconds
    return {"every": every, "period": "seconds"}


def _schedule_form(data: Any) -> dict:
    """RedBeat's typed schedule as the schedule file's form (checked by the model)."""
    if not isinstance(data, dict):
        raise ScheduleError([("schedule", "must be a RedBeat schedule object")])
    kind = data.get("__type__")
    if kind == "interval":
        if "relative" not in data:
            raise ScheduleError([("schedule.relative", "is missing: a stock RedBeat beat "
                                                       "drops such an entry")])
        every = data.get("every")
        if isinstance(every, bool) or not isinstance(every, int | float):
            raise ScheduleError([("schedule.every", "must be a number of seconds")])
        return {"kind": "interval", **_interval_form(float(every)),
                "relative": data.get("relative")}
    if kind == "crontab":
        return {"kind": "crontab", **{f: data.get(f, "*") for f in schedule.CRON_FIELDS}}
    if kind == "rrule":
        start = data.get("dtstart")
        if data.get("count") != 1 or isinstance(start, bool) or \
                not isinstance(start, int | float) or \
                any(data.get(rule) is not None for rule in _RRULE_RULES):
            raise ScheduleError([("schedule", "a RedBeat rrule other than the one-shot "
                                              "form the panel edits (count 1 at dtstart, "
                                              "no by-rules)")])
        minutes = data.get("dtstart_tz") or 0
        if isinstance(minutes, bool) or not isinstance(minutes, int | float):
            raise ScheduleError([("schedule.dtstart_tz", "must be minutes from UTC")])
        try:
            at = datetime.fromtimestamp(start, timezone(timedelta(minutes=minutes)))
        except (ValueError, OverflowError, OSError) as exc:
            raise ScheduleError([("schedule.dtstart", f"is not a time: {exc}")]) from None
        return {"kind": "clocked", "at": at.isoformat()}
    shown = show_value(kind)
    raise ScheduleError([("schedule.__type__", f"{shown} is not a schedule RedBeat runs")])


def _option(name: str, value: Any) -> Any:
    """An option as the schedule file holds it (a RedBeat datetime as ISO text)."""
    if isinstance(value, dict) and value.get("__type__") == "datetime":
        return decode_datetime(value, f"options.{name}").isoformat()
    return value


def decode_entry(fields: dict[str, str], name: str) -> Entry:
    """The entry in a RedBeat hash (its fields as text), checked as a schedule file's
    entry is; ScheduleError names every problem. `name` is the one the key gives: a
    definition naming another entry is refused (editing it would write elsewhere)."""
    data = _loads(fields.get(DEFINITION), DEFINITION)
    if not isinstance(data, dict):
        raise ScheduleError([(DEFINITION, "must be a JSON object")])
    extra = sorted(set(data) - DEFINITION_FIELDS)
    if extra:
        raise ScheduleError([(DEFINITION, f"has field(s) {', '.join(map(repr, extra))} a stock "
                                          "RedBeat beat fails on (a custom entry class?); the "
                                          "panel leaves it as it is")])
    if data.get("name", name) != name:
        raise ScheduleError([("name", f"the definition names {data.get('name')!r}, the key "
                                      f"{name!r}")])
    options = data.get("options") or {}
    if isinstance(options, dict):
        options = {k: _option(k, v) for k, v in options.items()}
    form: dict[str, Any] = {
        "name": name, "task": data.get("task"), "args": data.get("args") or [],
        "kwargs": data.get("kwargs") or {}, "options": options,
        "schedule": _schedule_form(data.get("schedule")),
        "enabled": data.get("enabled", True),
    }
    if form["schedule"]["kind"] == "clocked":
        form["one_off"] = True
    extra = fields.get(PANEL)
    if extra is not None:
        panel = _loads(extra, PANEL)
        if isinstance(panel, dict) and panel.get("description"):
            form["description"] = panel["description"]
    return schedule.parse_entry(form)


def decode_meta(text: str | None) -> RunState:
    """RedBeat's run state; a missing or damaged `meta` is no runs (never an error: it
    is RedBeat's to write)."""
    if not text:
        return RunState()
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return RunState()
    if not isinstance(data, dict):
        return RunState()
    last = None
    if data.get("last_run_at") is not None:
        try:
            last = decode_datetime(data["last_run_at"], "meta.last_run_at")
        except ScheduleError:
            last = None
    count = data.get("total_run_count")
    count = count if isinstance(count, int) and not isinstance(count, bool) else 0
    return RunState(last, count)
