"""One start / stop / restart of a project's beat at a time, across every Beat Panel
process (window, tray, CLI); the lock file also says which action runs."""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from beat_panel.config import Config
from beat_panel.control.states import Action, Phase
from beat_panel.errors import PanelError
from beat_panel.files import trust

log = logging.getLogger(__name__)


class Busy(PanelError):
    """Another start/stop/restart of the same beat is in flight."""


def _lock_path(config: Config) -> Path:
    return config.run_dir / "action.lock"


class LockRefused(PanelError):
    """The lock file is not one the panel may use: a link, not a file, or another
    user's (planted in the state folder), or it is in a folder others can change."""


def _open_lock(path: Path, flags: int) -> int:
    """The lock file's descriptor, opened without following a link or waiting on a FIFO;
    LockRefused when it or a folder on its way breaks the trust rule
    (`beat_panel.files.trust`): a link, not a file, another user's, or in a folder others
    can change. UncheckablePathError when the way to it cannot be looked at."""
    try:
        fd, _ = trust.open_to_write("action lock", path, flags, 0o644)
    except trust.UncheckablePathError:
        raise  # not refused: the caller runs unguarded, or sees no action under way
    except trust.UntrustedPathError as exc:
        raise LockRefused(_refused_text(path, exc)) from None
    return fd


def _refused_text(path: Path, exc: trust.UntrustedPathError) -> str:
    said = f"Cannot take the action lock: {path} {exc.predicate}."
    if exc.in_folder:
        return " ".join(filter(None, (said, exc.fix)))
    return (f"{said} Beat Panel does not use a lock file like that (another user may have "
            "put it there); remove it and try again.")


@contextmanager
def action_lock(config: Config, action: Action | str) -> Iterator[None]:
    """Hold the project's action lock; raise Busy when another action holds it, and
    LockRefused when the lock file is a link, not a file, or another user's, or in a
    folder others can change.

    The lock file also says which action runs, so `status` can show "restarting".
    """
    path = _lock_path(config)
    try:
        trust.check_file_to_write("action lock", path)  # before a folder is made there
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_lock(path, os.O_RDWR | os.O_CREAT)
    except (OSError, trust.UncheckablePathError) as exc:
        # A state folder this user cannot make, enter or write: run unguarded, but say so.
        log.warning("Cannot take the action lock %s (%s): running unguarded", path, exc)
        yield
        return
    except trust.UntrustedPathError as exc:
        raise LockRefused(_refused_text(path, exc)) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(_in_flight_text(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"action": str(action), "pid": os.getpid()}).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _in_flight_text(fd: int) -> str:
    try:
        marker = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        marker = {}
    if not isinstance(marker, dict):
        marker = {}
    what = marker.get("action", "another action")
    holder = marker.get("pid", "?")
    return f"Beat Panel (pid {holder}) is already doing a {what}; try again when it ends."


def action_in_flight(config: Config) -> Phase | None:
    """STARTING / STOPPING / RESTARTING while any Beat Panel holds the lock (never when
    the lock file is a link, a FIFO or another user's: that one nobody holds)."""
    path = _lock_path(config)
    try:
        fd = _open_lock(path, os.O_RDONLY)
    except (OSError, LockRefused, trust.UncheckablePathError):
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            held = True
        else:
            held = False
            fcntl.flock(fd, fcntl.LOCK_UN)
        if not held:
            return None
        try:
            return Action(json.loads(os.pread(fd, 4096, 0) or b"{}").get("action")).phase
        except (ValueError, AttributeError):
            return Phase.RESTARTING  # held, but the marker is not written yet
    finally:
        os.close(fd)
