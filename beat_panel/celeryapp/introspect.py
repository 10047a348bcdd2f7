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
from datetime import timedelta
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
        return {"kind": "interval", "every": value.run_every.total_seconds(),
                "period": "seconds"}
    return {"kind": "unsupported", "repr": repr(value)}


def _entry(name: str, spec: dict) -> dict:
    options = dict(spec.get("options") or {})
    entry = {
        "name": name,
        "task": spec.get("task"),
        "schedule": _schedule(spec.get("schedule")),
        "args": list(spec.get("args") or ()),
        "kwargs": dict(spec.get("kwargs") or {}),
        "enabled": True,
    }
    kept = {k: options[k] for k in ("queue", "priority", "expires") if k in options}
    if kept:
        entry["options"] = kept
    try:
        json.dumps(entry)
    except (TypeError, ValueError):
        entry["args"], entry["kwargs"] = [], {}
        entry["problem"] = "its args or kwargs are not JSON values"
    return entry


def describe(app_name: str) -> dict:
    from celery.app.utils import find_app
    from kombu.utils.url import maybe_sanitize_url

    app = find_app(app_name)
    app.loader.import_default_modules()
    app.finalize(auto=True)
    schedule = app.conf.beat_schedule or {}
    return {
        "tasks": sorted(name for name in app.tasks if not name.startswith("celery.")),
        "beat_schedule": [_entry(name, spec) for name, spec in schedule.items()],
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
