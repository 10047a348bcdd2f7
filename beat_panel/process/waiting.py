"""Waiting for processes to exit, woken by the exit itself (a pidfd per process) rather
than by a polling timer, so a stop or a failed start is seen the moment it happens."""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections.abc import Iterable

_FALLBACK_POLL = 0.02  # seconds, where pidfds are missing (old kernels, other systems)


def _pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return opener(pid)
    except ProcessLookupError:
        return -1  # already gone
    except OSError:
        return None


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def wait_any_exit(pids: Iterable[int], timeout: float) -> bool:
    """Wait up to `timeout` seconds until one of `pids` exits (a zombie has exited).
    True when one did; False when the time ran out first."""
    fds: list[int] = []
    polled: list[int] = []
    try:
        for pid in pids:
            fd = _pidfd(pid)
            if fd == -1:
                return True
            if fd is None:
                polled.append(pid)
            else:
                fds.append(fd)
        if not polled:
            if not fds:
                return False
            readable, _, _ = select.select(fds, [], [], max(timeout, 0))
            return bool(readable)
        deadline = time.monotonic() + timeout
        while True:
            if any(_gone(pid) for pid in polled):
                return True
            if fds and select.select(fds, [], [], 0)[0]:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(_FALLBACK_POLL, left))
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
