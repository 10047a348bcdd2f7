"""Look inside a Celery app from its own environment, and print what the panel needs.

Run as a script by the panel, never imported into it (user code stays out of the panel):

    python introspect.py APP

prints one JSON object: registered task names, the app's `beat_schedule` turned into
Beat Panel's entry form, its time zone, and its broker URL with the password masked.
Imports nothing from beat_panel, so it runs in any environment that has celery.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from typing import Any


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (set, frozenset, list, tuple)):
        return ",".join(str(v) for v in sorted(value))
    return str(value)


def _schedule(value: Any) -> dict:
    from celery.schedules import crontab, schedule, solar

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"kind": "interval", "every": value, "period": "seconds"}
    if isinstance(value, timedelta):
        return {"kind": "interval", "every": value.total_seconds(), "period": "seconds"}
    if isinstance(value, crontab):
        return {
            "kind": "crontab",
            "minute": _text(value._orig_minute),
            "hour": _text(value._orig_hour),
            "day_of_month": _text(value._orig_day_of_month),
            "month_of_year": _text(value._orig_month_of_year),
            "day_of_week": _text(value._orig_day_of_week),
        }
    if isinstance(value, solar):
        return {"kind": "solar", "event": value.event, "latitude": value.lat,
                "longitude": value.lon}
    if isinstance(value, schedule):
        interval = {"kind": "interval", "every": value.run_every.total_seconds(),
                    "period": "seconds"}
        if value.relative:
            interval["relative"] = True
        return interval
    return {"kind": "unsupported", "repr": repr(value)}


# The options Beat Panel's schedule keeps: the same names as the panel's model
# (beat_panel.schedule.model.OPTION_NAMES; a test keeps the two lists equal).
_KEPT_OPTIONS = ("queue", "exchange", "routing_key", "priority", "expires", "countdown",
                 "time_limit", "soft_time_limit", "serializer", "compression", "headers",
                 "ignore_result", "retry", "retry_policy", "shadow")
_BY_NAME = ("queue", "exchange")


def _json_value(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _option(key: str, value: Any, tz: Any) -> tuple[Any, str | None]:
    """The JSON form of one option, and a note when it was changed to fit."""
    if key == "expires" and isinstance(value, datetime):
        # Celery reads a naive expiry in the app's time zone; the file says which.
        return (value if value.tzinfo else value.replace(tzinfo=tz)).isoformat(), None
    if key in _BY_NAME and not isinstance(value, str) and isinstance(
            getattr(value, "name", None), str):
        return value.name, (f"options.{key}={type(value).__name__}({value.name!r}) kept as "
                            "its name; its other settings come from the app's own "
                            "configuration")
    return value, None


def _options(options: dict, tz: Any) -> tuple[dict, list[str]]:
    """The options the panel's schedule keeps, and a note for each one it cannot."""
    kept: dict = {}
    notes: list[str] = []
    for key, raw in options.items():
        if key not in _KEPT_OPTIONS:
            notes.append(f"options.{key}={_text(raw)!s:.60} dropped (apply_async accepts it, "
                         "but the panel's schedule cannot hold it)")
            continue
        value, note = _option(key, raw, tz)
        if note:
            notes.append(note)
        if _json_value(value):
            kept[key] = value
        else:
            notes.append(f"options.{key}={_text(raw)!s:.60} dropped (not a plain value the "
                         "schedule file can hold)")
    return kept, notes


def _entry(name: str, spec: dict, tz: Any) -> dict:
    kept, dropped = _options(dict(spec.get("options") or {}), tz)
    value = spec.get("schedule")
    entry = {
        "name": name,
        "task": spec.get("task"),
        "schedule": _schedule(value),
        "args": list(spec.get("args") or ()),
        "kwargs": dict(spec.get("kwargs") or {}),
        "enabled": True,
    }
    if kept:
        entry["options"] = kept
    try:
        json.dumps(entry)
    except (TypeError, ValueError):
        entry["args"], entry["kwargs"] = [], {}
        entry["problem"] = "its args or kwargs are not JSON values"
    if dropped:
        entry["dropped"] = dropped
    return entry


def _safe_entry(name: object, spec: object, tz: Any) -> dict:
    """One entry, or why it cannot be read: one odd entry never fails the import."""
    try:
        if not isinstance(spec, dict):
            raise TypeError(f"its definition is a {type(spec).__name__}, not a dict")
        return _entry(str(name), spec, tz)
    except Exception as exc:  # user data of any shape
        return {"name": str(name), "problem": f"cannot be read: {type(exc).__name__}: {exc}"}


def describe(app_name: str) -> dict:
    from celery.app.utils import find_app
    from kombu.utils.url import maybe_sanitize_url

    app = find_app(app_name)
    app.loader.import_default_modules()
    app.finalize(auto=True)
    schedule = app.conf.beat_schedule or {}
    return {
        "tasks": sorted(name for name in app.tasks if not name.startswith("celery.")),
        "beat_schedule": [_safe_entry(name, spec, app.timezone)
                          for name, spec in schedule.items()],
        "timezone": str(app.timezone),
        "broker": maybe_sanitize_url(app.conf.broker_url or "") or None,
    }


def send(app_name: str, task: str, args: str, kwargs: str, options: str) -> dict:
    """Send one task now, through the app's own broker."""
    from celery.app.utils import find_app

    app = find_app(app_name)
    result = app.send_task(task, args=json.loads(args), kwargs=json.loads(kwargs),
                           **json.loads(options))
    return {"id": result.id}


def main(argv: list[str]) -> int:
    sending = len(argv) == 7 and argv[2] == "--send"
    if not sending and len(argv) != 2:
        print("usage: introspect.py APP [--send TASK ARGS KWARGS OPTIONS]", file=sys.stderr)
        return 2
    try:
        result = send(argv[1], *argv[3:]) if sending else describe(argv[1])
    except Exception as exc:  # report any failure of user code as data
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
