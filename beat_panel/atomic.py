"""Write a file so that a crash leaves the old or the new content, never a torn one.

A new file gets the permissions any program would give it under the person's umask (not
the 0600 of a temp file): a beat running as a service user must be able to read the
schedule a person saved. A file that exists keeps its mode, and its owner and group as far
as this process may set them."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` to a temp file in the same folder, fsync it, rename it over `path`,
    then fsync the folder so the rename itself survives a power cut."""
    folder = path.parent
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _take_over_permissions(tmp, path, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def current_umask() -> int:
    """This process's umask, read without changing it (os.umask can only set it, and
    setting it back leaves a moment when other threads create files with another one)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _take_over_permissions(tmp: str, path: Path, mode: int | None) -> None:
    try:
        existing = path.stat()
    except FileNotFoundError:
        existing = None
    if mode is not None:
        os.chmod(tmp, mode)
    elif existing is not None:
        os.chmod(tmp, existing.st_mode & 0o7777)
    else:
        os.chmod(tmp, 0o666 & ~current_umask())
    if existing is not None and (existing.st_uid, existing.st_gid) != (os.geteuid(),
                                                                        os.getegid()):
        # Root may give the file back to its owner; anyone may keep a group they are in.
        for uid, gid in ((existing.st_uid, existing.st_gid), (-1, existing.st_gid)):
            try:
                os.chown(tmp, uid, gid)
                break
            except PermissionError:
                continue
