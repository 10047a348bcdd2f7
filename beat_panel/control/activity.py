"""The activity log: what was done to beat and what happened to it (starts, stops,
restarts, schedule saves, deaths, keep-alive restarts and give-ups, alerts sent), kept as
JSON lines in the user's data folder so the window can show it later."""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from beat_panel import paths
from beat_panel.files.atomic import atomic_write, remove_orphaned_temp_files

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
    ALERT = "alert"  # an alert e-mailed or given to the alert command, or why it was not

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
    line = (json.dumps(event.to_json()) + "\n").encode("utf-8")
    path = activity_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            # Opened under the lock: a trim replaces the file, and an append must never
            # go into the file it replaced.
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                         | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
            try:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    raise OSError(errno.EINVAL, "not a regular file")
                size = info.st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # after the torn line of a writer that was killed
                os.write(fd, line)
                size += len(line)
            finally:
                os.close(fd)
            if size > MAX_LINES * TRIM_LINE_BYTES:
                _trim(path)
    except OSError as exc:
        log.warning("Could not write the activity log %s: %s", path, exc)


# The log is trimmed back to MAX_LINES when it grows past this many bytes a line: it is
# not rewritten on every append.
TRIM_LINE_BYTES = 400
# Reading goes back from the end at most this far, whatever the file's size.
READ_LIMIT_BYTES = 8 * 1024 * 1024
_CHUNK = 64 * 1024


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """The one lock of every change to the log (appends and trims), by any process. A
    file beside the log, so that the log itself can be replaced."""
    fd = os.open(path.with_name(f"{path.name}.lock"),
                 os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _trim(path: Path) -> None:
    """Keep the last MAX_LINES lines (under the lock): written whole to a new file that
    replaces the log, so a crash leaves the old log or the trimmed one. Only the end of
    the log is read, however big it has grown."""
    lines = [line for line in _last_lines(path, MAX_LINES)
             if line.startswith(b"{") and line.endswith(b"\n")]
    remove_orphaned_temp_files(path.parent, {path.name}, older_than=0)
    atomic_write(path, b"".join(lines))


def _last_lines(path: Path, count: int, limit: int = READ_LIMIT_BYTES) -> list[bytes]:
    """The last `count` whole lines of `path` (each with its newline, the last one
    perhaps without), reading back from its end no further than `limit` bytes."""
    with open(path, "rb") as fh:
        end = position = fh.seek(0, os.SEEK_END)
        chunks: list[bytes] = []
        newlines = 0
        while position > 0 and newlines <= count and end - position < limit:
            size = min(_CHUNK, position, limit - (end - position))
            position -= size
            fh.seek(position)
            chunk = fh.read(size)
            chunks.append(chunk)
            newlines += chunk.count(b"\n")
    lines = b"".join(reversed(chunks)).splitlines(keepends=True)
    if position > 0 and lines:
        lines = lines[1:]  # begins inside a line
    return lines[-count:]


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
    try:
        lines = _last_lines(activity_file(), MAX_LINES, limit=_TAIL_BYTES)
    except OSError:
        return None
    for line in reversed(lines):
        try:
            data = json.loads(line)
            if data["project"] == project and Kind(data["what"]) in ACTIONS:
                return float(data["at"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def read(project: str | None = None, limit: int = 500) -> list[Event]:
    """The latest events, newest first (only this project's when given): of the last
    MAX_LINES the log keeps, read from its end only, whatever its size."""
    try:
        lines = _last_lines(activity_file(), MAX_LINES)
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
