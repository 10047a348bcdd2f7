"""What was done and how it went: every start, stop, restart and schedule save, kept as
JSON lines in the user's data folder so the window can show it later."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from beat_panel import paths

MAX_LINES = 2000


@dataclass(frozen=True)
class Event:
    at: float
    project: str
    what: str  # start | stop | restart | save
    success: bool
    message: str

    def to_json(self) -> dict:
        return {"at": self.at, "project": self.project, "what": self.what,
                "success": self.success, "message": self.message}


def history_file() -> Path:
    return paths.data_dir() / "history.jsonl"


def record(project: str, what: str, success: bool, message: str) -> None:
    """Append one event; a history that cannot be written never fails the action."""
    event = Event(time.time(), project, what, success, message)
    path = history_file()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            fh.write(json.dumps(event.to_json()) + "\n")
        if path.stat().st_size > MAX_LINES * 400:
            _trim(path)


def _trim(path: Path) -> None:
    lines = path.read_text("utf-8").splitlines(keepends=True)[-MAX_LINES:]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(lines), "utf-8")
    os.replace(tmp, path)


def read(project: str | None = None, limit: int = 500) -> list[Event]:
    """The latest events, newest first (only this project's when given)."""
    try:
        lines = history_file().read_text("utf-8").splitlines()
    except OSError:
        return []
    events = []
    for line in reversed(lines):
        try:
            data = json.loads(line)
            event = Event(float(data["at"]), str(data["project"]), str(data["what"]),
                          bool(data["success"]), str(data["message"]))
        except (ValueError, KeyError, TypeError):
            continue
        if project is None or event.project == project:
            events.append(event)
            if len(events) >= limit:
                break
    return events
