"""The activity log: what was done to beat and what happened to it (starts, stops,
restarts, schedule saves, deaths, keep-alive restarts and give-ups), kept as JSON lines in
the user's data folder so the window can show it later."""

from __future__ import annotations

import enum
import fcntl
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from beat_panel import paths

MAX_LINES = 2000
log = logging.getLogger(__name__)


class Kind(str, enum.Enum):
    """What an activity record is about."""

    START = "start"
    STOP = "stop"
    RESTART = "restart"
    SAVE = "save"  # a schedule save or restore
    DIED = "died"  # beat ended without anyone here asking
    KEEP_ALIVE = "keep-alive"  # keep-alive started beat again
    GAVE_UP = "gave-up"  # keep-alive stopped trying

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Event:
    at: float
    project: str
    kind: Kind
    success: bool
    message: str

    def to_json(self) -> dict:
        # "what" is the key files written by earlier versions use.
        return {"at": self.at, "project": self.project, "what": self.kind.value,
                "success": self.success, "message": self.message}


ACTIVITY_NAME = "activity.jsonl"
_OLD_NAME = "history.jsonl"  # what versions before 0.2 called it


def activity_file() -> Path:
    """The log file, taken over from its old name the first time it is asked for."""
    path = paths.data_dir() / ACTIVITY_NAME
    old = path.with_name(_OLD_NAME)
    if not path.exists() and old.exists():
        try:
            os.replace(old, path)
        except OSError as exc:
            log.warning("Could not rename %s to %s: %s", old, path, exc)
            return old
    return path


def record(project: str, kind: Kind | str, success: bool, message: str) -> None:
    """Append one event; a log that cannot be written never fails the action."""
    event = Event(time.time(), project, Kind(kind), success, message)
    path = activity_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+", encoding="utf-8") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            fh.write(json.dumps(event.to_json()) + "\n")
            fh.flush()
            if os.fstat(fh.fileno()).st_size > MAX_LINES * 400:
                _trim(fh)
    except OSError as exc:
        log.warning("Could not write the activity log %s: %s", path, exc)


def _trim(fh: IO[str]) -> None:
    """Keep the last lines, in place and under the writer's lock: a rename would let an
    appender waiting for the lock write into the replaced file."""
    fh.seek(0)
    lines = fh.read().splitlines(keepends=True)[-MAX_LINES:]
    fh.truncate(0)
    fh.write("".join(lines))
    fh.flush()


def problem() -> str | None:
    """Why the activity log cannot be kept, for a person to see; None when it can."""
    path = activity_file()
    folder = path.parent
    for place, kind in ((folder, "folder"), (path, "file")):
        if place.exists() and not (place.is_dir() if kind == "folder" else place.is_file()):
            return f"The activity log cannot be kept: {place} is not a {kind}."
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"The activity log cannot be kept: {path} may not be read and written."
    if not path.exists() and folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
        return f"The activity log cannot be kept: {folder} may not be written."
    return None


ACTIONS = (Kind.START, Kind.STOP, Kind.RESTART)
_TAIL_BYTES = 64 * 1024


def last_action_at(project: str) -> float | None:
    """When the latest start / stop / restart of `project` was recorded, by any Beat
    Panel process (reads only the end of the log: it runs with every status check)."""
    path = activity_file()
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - _TAIL_BYTES))
            tail = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        try:
            data = json.loads(line)
            if data["project"] == project and Kind(data["what"]) in ACTIONS:
                return float(data["at"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def read(project: str | None = None, limit: int = 500) -> list[Event]:
    """The latest events, newest first (only this project's when given)."""
    try:
        lines = activity_file().read_text("utf-8").splitlines()
    except OSError:
        return []
    events = []
    for line in reversed(lines):
        try:
            data = json.loads(line)
            event = Event(float(data["at"]), str(data["project"]), Kind(data["what"]),
                          bool(data["success"]), str(data["message"]))
        except (ValueError, KeyError, TypeError):
            continue
        if project is None or event.project == project:
            events.append(event)
            if len(events) >= limit:
                break
    return events
