"""Beat's log file: where it is and its last lines (for failed starts and the log pane).

The log pane follows the file by position (`follow`): a file replaced (rotated), cut
short, or cut short and written again past where the pane had read between two looks is
noticed by its identity (device and inode), its first bytes and the bytes just before
that position, and is then read again from its start. Only the regular file at the
log's path is read: a symbolic link there is not followed, and a FIFO or a folder never
hangs a read.

Each line the pane shows gets a level (`classify`): the one celery's format names, and for
lines that carry on a record (a traceback, an indented line) the level of that record, so
"Errors only" keeps a whole traceback."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from beat_panel.files.regular import open_regular

_TAIL_BYTES = 64 * 1024
_READ_BYTES = 4 * _TAIL_BYTES  # the most one look reads
_HEAD_BYTES = 1024
_ANCHOR_BYTES = 256
_WRITING_S = 2.0  # a last line without its newline this fresh is still being written


def _open(path: Path) -> int | None:
    """A descriptor of the regular file at `path` itself, or None: never through a link
    at that path (a root panel would show whatever file the link's maker chose), never
    waiting on a FIFO."""
    try:
        fd, _ = open_regular(path)
    except OSError:  # NotRegularFileError too: a link, a FIFO, a folder
        return None
    return fd


def _last_lines(fd: int, end: int, max_lines: int, since: int = 0) -> str:
    start = max(since if since <= end else 0, end - _TAIL_BYTES)
    data = os.pread(fd, end - start, start)
    if start > 0 and os.pread(fd, 1, start - 1) != b"\n":
        data = data[data.find(b"\n") + 1:]  # a line cut by the window: not shown half
    lines = data.decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-max_lines:])


def tail(path: Path | None, max_lines: int = 40, since: int = 0) -> str:
    """The last `max_lines` lines of the log written after byte offset `since`."""
    if path is None or (fd := _open(path)) is None:
        return ""
    try:
        return _last_lines(fd, os.fstat(fd).st_size, max_lines, since)
    except OSError:
        return ""
    finally:
        os.close(fd)


def read_new(path: Path | None, offset: int, first_lines: int = 200) -> tuple[str, int]:
    """Text appended since `offset`, and the new offset. At offset 0 (first look) only
    the last `first_lines` lines; a file that shrank (rotated) is read from its start."""
    if path is None:
        return "", 0
    if (fd := _open(path)) is None:
        return "", offset
    try:
        end = os.fstat(fd).st_size
        if offset == 0 or offset > end:
            return _last_lines(fd, end, first_lines), end
        data = os.pread(fd, min(end - offset, _READ_BYTES), offset)
    except OSError:
        return "", offset
    finally:
        os.close(fd)
    return data.decode("utf-8", "replace"), offset + len(data)


@dataclass(frozen=True)
class Position:
    """How far the log pane has read, and what tells that it is still the same file."""

    offset: int
    file: tuple[int, int]  # (device, inode)
    head: bytes  # the file's first bytes, up to `offset`
    anchor: bytes  # the bytes just before `offset`


def _position(fd: int, file: tuple[int, int], offset: int) -> Position:
    head = os.pread(fd, min(offset, _HEAD_BYTES), 0)
    anchor_at = max(0, offset - _ANCHOR_BYTES)
    return Position(offset, file, head, os.pread(fd, offset - anchor_at, anchor_at))


def _same_file(fd: int, file: tuple[int, int], end: int, seen: Position) -> bool:
    if file != seen.file or end < seen.offset:
        return False
    anchor_at = seen.offset - len(seen.anchor)
    return (os.pread(fd, len(seen.head), 0) == seen.head
            and os.pread(fd, len(seen.anchor), anchor_at) == seen.anchor)


def follow(path: Path | None, seen: Position | None,
           first_lines: int = 200) -> tuple[str, Position | None, bool]:
    """What the log pane shows next: (text, position, restarted).

    The first look (`seen` None) gives the last `first_lines` lines. Later looks give
    what was written since `seen`; `restarted` says the file is not the one read before
    (replaced, cut short, or cut short and grown again) and the text is the new file from
    its start. A missing or unreadable log gives nothing and keeps `seen`. At most 256 KB
    a look: the rest comes with the next ones."""
    if path is None or (fd := _open(path)) is None:
        return "", seen, False
    try:
        info = os.fstat(fd)
        end, file = info.st_size, (info.st_dev, info.st_ino)
        if seen is None:
            return _last_lines(fd, end, first_lines), _position(fd, file, end), False
        restarted = not _same_file(fd, file, end, seen)
        start = 0 if restarted else seen.offset
        data = os.pread(fd, min(end - start, _READ_BYTES), start)
        if (not data.endswith(b"\n") and b"\n" in data
                and (start + len(data) < end or time.time() - info.st_mtime < _WRITING_S)):
            # Never half a line (nor half a character): the rest comes with the next look.
            data = data[:data.rfind(b"\n") + 1]
        return (data.decode("utf-8", "replace"), _position(fd, file, start + len(data)),
                restarted)
    except OSError:
        return "", seen, False
    finally:
        os.close(fd)


# Celery's format: "[2026-11-26 09:00:00,123: WARNING/MainProcess] message".
_CELERY_LEVEL = re.compile(r"^\[[^\]]*?\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)/")
# Other formats ("WARNING:root:…", "2026-11-26 09:00:00 ERROR …"), near the line's start.
_ANY_LEVEL = re.compile(r"\b(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b")
_ANY_LEVEL_WITHIN = 40
# Python on stderr: an exception's last line ("ModuleNotFoundError: …"), click's "Error: …",
# and a warning ("…/platforms.py:841: SecurityWarning: …").
_EXCEPTION = re.compile(r"^[\w.]*(Error|Exception)(:|$)")
_PY_WARNING = re.compile(r"\b\w*Warning:")
_LEVELS = {"DEBUG": "debug", "INFO": "info", "WARNING": "warning", "WARN": "warning",
           "ERROR": "error", "CRITICAL": "error", "FATAL": "error"}


def line_level(line: str, carried: str | None = None) -> str | None:
    """A log line's level: "error", "warning", "info", "debug", or None when it names
    none. `carried` is the level of the line before: a line that carries on that record
    (indented, empty, a traceback's lines) has it too."""
    if found := _CELERY_LEVEL.match(line):
        return _LEVELS[found.group(1)]
    if line.startswith("Traceback (most recent call last)"):
        return "error"
    if not line.strip() or line[0].isspace():
        return carried
    if _EXCEPTION.match(line):
        return "error"
    if _PY_WARNING.search(line):
        return "warning"
    if found := _ANY_LEVEL.search(line, 0, _ANY_LEVEL_WITHIN):
        return _LEVELS[found.group(1)]
    return None


def classify(lines: Sequence[str], carried: str | None = None) -> list[str | None]:
    """The level of each line (see `line_level`); `carried` is the level of the line
    before the first."""
    levels = []
    for line in lines:
        carried = line_level(line, carried)
        levels.append(carried)
    return levels


def follow_lines(path: Path | None, seen: Position | None, carried: str | None = None,
                 first_lines: int = 200
                 ) -> tuple[list[tuple[str, str | None]], Position | None, bool]:
    """`follow`, as the lines the pane shows with their levels: (lines, position,
    restarted). `carried` is the level of the last line shown before (of no use when the
    file restarted)."""
    text, position, restarted = follow(path, seen, first_lines)
    lines = text.splitlines()
    levels = classify(lines, None if restarted or seen is None else carried)
    return list(zip(lines, levels, strict=True)), position, restarted
