"""Beat's log file: where it is and its last lines (for failed starts and the log pane)."""

from __future__ import annotations

from pathlib import Path

_TAIL_BYTES = 64 * 1024


def size(path: Path | None) -> int:
    """The current size of the log, 0 when it does not exist yet."""
    if path is None:
        return 0
    try:
        return path.stat().st_size
    except OSError:
        return 0


def tail(path: Path | None, max_lines: int = 40, since: int = 0) -> str:
    """The last `max_lines` lines of the log written after byte offset `since`."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as fh:
            end = fh.seek(0, 2)
            start = max(since if since <= end else 0, end - _TAIL_BYTES)
            fh.seek(start)
            data = fh.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-max_lines:])


def read_new(path: Path | None, offset: int, first_lines: int = 200) -> tuple[str, int]:
    """Text appended since `offset`, and the new offset. At offset 0 (first look) only
    the last `first_lines` lines; a file that shrank (rotated) is read from its start."""
    if path is None:
        return "", 0
    try:
        with open(path, "rb") as fh:
            end = fh.seek(0, 2)
            if offset == 0 or offset > end:
                return tail(path, first_lines), end
            fh.seek(offset)
            data = fh.read(min(end - offset, _TAIL_BYTES * 4))
    except OSError:
        return "", offset
    return data.decode("utf-8", "replace"), offset + len(data)
